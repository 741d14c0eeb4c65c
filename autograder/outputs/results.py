"""What a grade becomes: Gradescope's results.json, the student's feedback.md (and
feedback.html), the instructor's grades.csv and grader.log.

Pure functions turn a ``GradeReport`` into dicts and text; the ``write_*`` functions
at the bottom are the only ones that touch files. Student-visible fields carry the
hidden tests' diagnoses and nothing else: no traceback, no printed output, no path
on the grading machine. What the instructor needs goes to ``grader.log``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Iterable, Literal, get_args

from autograder.grading.model import GradeReport
from autograder.outputs import messages
from autograder.outputs.words import (
    FEEDBACK_HTML,
    FEEDBACK_MD,
    HAND_GRADED_NOTE,
    RESULTS_JSON,
    TOTAL,
    format_points,
    rounded_points,
)
from autograder.paths import NOTEBOOKS

GRADING_FAILED = ("Grading failed: the grader itself ran into a problem, so this score "
                  "of 0 is not a grade. It is not your fault; your instructor has been told.")
GRADES_COLUMNS = ("student", *NOTEBOOKS, TOTAL, "status")
#: When Gradescope shows a test to the student (its ``visibility`` field); the hidden
#: tests' is the instructor's choice (``grade --visibility``), ``visible`` unless told.
Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]
VISIBILITIES: tuple[str, ...] = get_args(Visibility)
#: A test's output is Markdown (``autograder.outputs.messages``): Gradescope renders it.
TEST_OUTPUT_FORMAT = "md"


def summary(report: GradeReport) -> str:
    """The top-level ``output`` of results.json: the score, the seed, the hand-graded part."""
    if report.failure is not None:
        return f"{GRADING_FAILED}\n\nGrading seed: {report.seed}."
    lines = [f"Autograded score: {format_points(report.score)} / {format_points(report.max_score)}."]
    for stem, (got, most) in report.by_notebook().items():
        lines.append(f"  {stem}: {format_points(got)} / {format_points(most)}")
    lines += ["", HAND_GRADED_NOTE,
              f"Grading seed: {report.seed} (grading again with the same seed gives the same result)."]
    return "\n".join(lines)


def results_json(report: GradeReport, visibility: Visibility = "visible") -> dict:
    """Gradescope's results.json for one submission; ``visibility``: every test's."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
    tests = []
    for test in report.tests:
        entry = {
            "name": test.name,
            "number": test.number,
            "score": rounded_points(test.score),
            "max_score": rounded_points(test.max_score),
            "status": test.status,
            "output": messages.markdown(test.output),
            "output_format": TEST_OUTPUT_FORMAT,
            "tags": list(test.tags),
            "visibility": visibility,
        }
        if test.diagnosis:
            entry["extra_data"] = {"diagnosis": test.diagnosis}
        tests.append(entry)
    data = {
        "score": rounded_points(report.score),
        "execution_time": round(report.execution_time, 3),
        "output": summary(report),
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    if report.confinement:  # Gradescope shows the top-level extra_data to instructors only
        data["extra_data"] = {"confinement": report.confinement}
    return data


def feedback_markdown(report: GradeReport, visibility: Visibility = "visible") -> str:
    """feedback.md: the score, then one card per mistake (``autograder.outputs.cards``):
    the function and the mistake, the checks it failed with their points, one example."""
    from autograder.outputs.cards import failure_cards

    title = f"# Backprop assignment: feedback for {report.student}" if report.student else \
        "# Backprop assignment: feedback"
    if report.failure is not None:
        return f"{title}\n\n{GRADING_FAILED}\n\nGrading seed: {report.seed}.\n"
    lines = ["# " + messages.inline_markdown(title[2:]), "",
             f"**Autograded score: {format_points(report.score)} / {format_points(report.max_score)}**", "",
             "| notebook | score |", "|---|---|"]
    for stem, (got, most) in report.by_notebook().items():
        lines.append(f"| {stem} | {format_points(got)} / {format_points(most)} |")
    cards = failure_cards(results_json(report, visibility)["tests"])
    failed = sum(1 for test in report.tests if test.status != "passed")
    if failed and not cards:
        lines += ["", "## Some checks failed", "",
                  f"{failed} {'check' if failed == 1 else 'checks'} failed; the hidden tests' details are not shown."]
    elif cards:
        lost = sum(card.points_lost for card in cards)
        lines += ["", "## What to fix", "",
                  f"{len(cards)} {'mistake' if len(cards) == 1 else 'mistakes'} cost {format_points(lost)} points. "
                  "Each is shown once, with the checks it failed and one example."]
    else:
        lines += ["", "## Every autograded check passed"]
    for number, card in enumerate(cards, 1):
        lines += ["", f"### {number}. {messages.inline_markdown(card.title)}", "",
                  f"{card.notebook}: {format_points(card.points_lost)} of {format_points(card.points_at_stake)} "
                  f"points lost in {len(card.checks)} {'check' if len(card.checks) == 1 else 'checks'}:", ""]
        for check in card.checks:
            via = f" (in `{check.through}`, which calls `{card.function}`)" if check.through else ""
            name = messages.inline_markdown(check.name.removeprefix(f"{card.notebook}: "))
            lines.append(f"- {check.number} {name}{via}: "
                         f"{format_points(check.score)} / {format_points(check.max_score)}")
        lines += ["", f"Example (check {card.example_number}):", "", messages.markdown(card.example)]
    lines += ["", HAND_GRADED_NOTE, "",
              f"Grading seed: {report.seed}.", ""]
    return "\n".join(lines)


#: A spreadsheet reads a cell starting with one of these as a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading formula character gets a ``'``."""
    value = str(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_value(cell: str) -> str:
    """The value ``csv_text`` neutralised, as it was."""
    cell = str(cell)
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def log_text(value, limit: int | None = None) -> str:
    """One line that cannot forge another or move a terminal's cursor: control
    characters (newlines, escape sequences) as ``\\n``, ``\\x1b``...; cut at ``limit``."""
    text = str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def grades_row(report: GradeReport) -> dict:
    """One row of grades.csv: each notebook's autograded score and the total."""
    row = {"student": csv_text(report.student)}
    for stem, (got, _) in report.by_notebook().items():
        if stem in NOTEBOOKS:
            row[stem] = format_points(got)
    row[TOTAL] = format_points(report.score)
    row["status"] = "grading failed (see grader.log)" if report.failure is not None else "graded"
    return row


def grades_csv(reports: Iterable[GradeReport], skipped: Iterable[tuple[str, str]] = ()) -> str:
    """grades.csv; ``skipped``: ``(student, reason)`` of folders that were not graded."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=GRADES_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for report in sorted(reports, key=lambda r: r.student):
        writer.writerow(grades_row(report))
    for student, reason in sorted(skipped):
        writer.writerow({"student": csv_text(student), "status": f"skipped: {reason}"})
    return buffer.getvalue()


def instructor_log(report: GradeReport) -> str:
    """What the instructor needs and the student must not see: harness failures,
    internal errors of single tests, the runner's own output when something went wrong."""
    head = (f"== {log_text(report.student or 'submission')}: score {format_points(report.score)}"
            f" / {format_points(report.max_score)}, seed {report.seed},"
            f" {report.execution_time:.2f} s")
    parts = [head]
    if report.failure is not None:
        parts.append("GRADING FAILED:\n" + _indented(report.failure))
    # Events quote the student's own messages (cell errors): one capped line each.
    parts += [f"sandbox: {log_text(event, EVENT_CHARACTERS)}" for event in report.events]
    parts += [f"integrity: {log_text(flag, EVENT_CHARACTERS)}" for flag in report.integrity]
    for test in report.tests:
        if test.internal_error:
            parts.append(f"internal error in {test.nodeid}:\n{_indented(test.internal_error)}")
    if report.log and (report.failure is not None or any(t.internal_error for t in report.tests)):
        parts.append("runner output (last 4000 characters):\n" + _indented(report.log[-4000:]))
    return "\n".join(parts) + "\n"


#: How much of one student-caused event (a cell's error message) the log keeps.
EVENT_CHARACTERS = 500


def _indented(text: str) -> str:
    """A multi-line block (a traceback) whose every line is indented and escaped, so
    none of it can pass for a line of the grader's own (``== student: score ...``)."""
    return "\n".join("    " + log_text(line) for line in str(text).rstrip().splitlines())


# ----------------------------------------------------------------------------- files


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically: a reader never sees half a file, and whatever stood
    there before (a file a submission forged, a symlink) is replaced, not written through."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_report(folder: Path, report: GradeReport, visibility: Visibility = "visible") -> None:
    """``folder/results.json``, ``feedback.md`` and ``feedback.html`` for one submission.
    The HTML page is rendered from the results.json content alone (``autograder.outputs.feedback``)."""
    from autograder.outputs.feedback import render_feedback

    data = results_json(report, visibility)
    write_text(folder / RESULTS_JSON, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    write_text(folder / FEEDBACK_MD, feedback_markdown(report, visibility))
    write_text(folder / FEEDBACK_HTML, render_feedback(data, student=report.student or None))


def write_grades(path: Path, reports: Iterable[GradeReport], skipped: Iterable[tuple[str, str]] = ()) -> None:
    write_text(path, grades_csv(reports, skipped))


def write_integrity(path: Path, reports: Iterable[GradeReport]) -> None:
    """The integrity scan's flags of a batch, student -> lines, for the class report
    (the instructor's; not in any student's folder)."""
    flags = {report.student: list(report.integrity) for report in reports if report.integrity}
    write_text(path, json.dumps(flags, indent=1, ensure_ascii=False) + "\n")


def append_log(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        log.write(text)


def text_table(rows: list[tuple[str, ...]], right_aligned: int = 0) -> str:
    """Rows (the first is the header) as aligned text with a rule under the header;
    the last ``right_aligned`` columns are aligned right (numbers)."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    first_right = len(widths) - right_aligned
    lines = ["  ".join(cell.rjust(width) if column >= first_right else cell.ljust(width)
                       for column, (cell, width) in enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def score_table(reports: Iterable[GradeReport]) -> str:
    """A plain-text table of scores for a terminal: one row per submission."""
    rows = [("student", *NOTEBOOKS, TOTAL)]
    for report in reports:
        notebooks = report.by_notebook()
        total = "failed" if report.failure is not None else format_points(report.score)
        rows.append((log_text(report.student, 60), *(format_points(notebooks[stem][0]) for stem in NOTEBOOKS), total))
    return text_table(rows, right_aligned=len(NOTEBOOKS) + 1)


def schema_problems(data) -> list[str]:
    """Every way ``data`` is not a results.json Gradescope accepts (empty: valid).
    The grader checks its own output with it, and so do the tests."""
    problems = []
    if not isinstance(data, dict):
        return ["not a JSON object"]
    for key, kind in (("score", (int, float)), ("execution_time", (int, float)), ("output", str),
                      ("stdout_visibility", str), ("tests", list)):
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            problems.append(f"{key} missing or not {kind}")
    for index, test in enumerate(data.get("tests") or []):
        if not isinstance(test, dict):
            problems.append(f"tests[{index}] is not an object")
            continue
        for key, kind in (("name", str), ("number", str), ("score", (int, float)), ("max_score", (int, float)),
                          ("status", str), ("output", str), ("tags", list), ("visibility", str)):
            if not isinstance(test.get(key), kind):
                problems.append(f"tests[{index}].{key} missing or not {kind}")
        if test.get("visibility") not in VISIBILITIES:
            problems.append(f"tests[{index}].visibility is {test.get('visibility')!r}")
        if test.get("output_format", "text") not in ("text", "html", "simple_format", "md", "ansi"):
            problems.append(f"tests[{index}].output_format is {test.get('output_format')!r}")
        if test.get("status") not in ("passed", "failed"):
            problems.append(f"tests[{index}].status is {test.get('status')!r}")
        if isinstance(test.get("score"), (int, float)) and isinstance(test.get("max_score"), (int, float)) \
                and not 0 <= test["score"] <= test["max_score"]:
            problems.append(f"tests[{index}].score outside 0..max_score")
    if not problems and abs(data["score"] - sum(test["score"] for test in data["tests"])) > 1e-6:
        problems.append("score is not the sum of the tests' scores")
    return problems
