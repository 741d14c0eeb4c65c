"""The words, file names and number formats every output shares, each defined once.

results.json, feedback.md, feedback.html, grades.csv, the class report and the
commands' tables all show points and name the same kinds of trouble; they take the
text from here, so a student and the instructor never read two versions of one fact.
"""

from __future__ import annotations

from typing import Literal

#: The files grading writes: per submission (in OUT, or OUT/<student> in a batch)...
RESULTS_JSON = "results.json"
FEEDBACK_MD = "feedback.md"
FEEDBACK_HTML = "feedback.html"
#: ...and at the top of a batch's OUT.
GRADES_CSV = "grades.csv"
GRADER_LOG = "grader.log"
REPORT_HTML = "report.html"
REPORT_CSV = "report.csv"
#: A batch's integrity flags, student -> flagged lines (instructor only).
INTEGRITY_JSON = "integrity.json"

#: The name of the whole submission's score beside the notebooks' (grades.csv, the class report).
TOTAL = "total"

#: Shown beside every autograded score: the derivation is not in it.
HAND_GRADED_NOTE = ("The written derivation in 04_bce (10 points) is graded by hand "
                    "and is not included in this score.")

#: A ``SubmissionError``'s diagnosis key (its class name), in a few words for a student:
#: "What went wrong: timed out (CallTimeout)". These are not mistakes in the maths.
ERROR_LABELS = {
    "CallTimeout": "timed out",
    "SandboxDied": "crashed",
    "FunctionStopped": "crashed its process twice; its other tests were not run",
    "UncheckableValue": "returned a value that could not be checked",
    "NotebookMissing": "notebook missing",
    "FunctionMissing": "function not defined",
    "StudentException": "the code raised an exception",
    "AutogradUsed": "used PyTorch where NumPy only is required",
    "NotPlainData": "returned a value the grader cannot accept",
}

#: The class report's kinds of problem with a submission (not mistakes in the maths).
ProblemKind = Literal["grading failed", "no results", "crashed", "timed out", "missing notebooks"]
#: Which errors make a problem of the submission, and of which kind; a student may miss
#: several notebooks, hence the plural there.
PROBLEM_KINDS: dict[str, ProblemKind] = {
    "CallTimeout": "timed out",
    "SandboxDied": "crashed",
    "FunctionStopped": "crashed",
    "NotebookMissing": "missing notebooks",
}


def rounded_points(value: float) -> float:
    """Sums of float points without 99.99999999 artefacts (the numbers in results.json)."""
    return round(float(value), 6)


def format_points(value: float) -> str:
    """Points as a person reads them: 3.0 -> "3", 2.5 -> "2.5"."""
    return f"{rounded_points(value):.2f}".rstrip("0").rstrip(".")


def points_range(low: float, high: float) -> str:
    """A histogram bin: "0-1" holds 0 <= score < 1; the top bin holds its upper end too
    ("34-35", or "15" alone)."""
    return format_points(low) if high <= low else f"{format_points(low)}-{format_points(high)}"
