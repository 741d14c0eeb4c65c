"""The class report an instructor reads at a glance (``python -m autograder report OUT``).

Reads a grading output folder (``OUT/<student>/results.json`` for a batch, or
``OUT/results.json`` for one submission; ``OUT/grades.csv`` names students whose
results are missing) and writes two files into it:

* ``report.html``: self-contained (inline CSS, histograms as inline SVG, no scripts).
  The score distribution of each notebook and of the total, the pass rate of every
  test, the most frequent named mistakes with the students who made them, and the
  submissions that timed out, crashed or lacked notebooks.
* ``report.csv``: the same figures as one long table with the columns
  ``section, name, statistic, value, detail``; ``section`` is one of ``score``
  (statistics of a notebook or of ``total``), ``histogram`` (``statistic`` is the bin,
  ``value`` the number of students), ``test`` (``pass_rate``, ``passed``, ``failed``;
  ``detail`` the test number), ``mistake`` (``students``, ``failures``; ``detail`` the
  students, ``;``-separated) and ``problem`` (``name`` a student, ``statistic`` the
  kind, ``detail`` what happened).

Loading and writing are the edges; :func:`summarize`, :func:`render_csv` and
:func:`render_html` are pure, and so is ``autograder.outputs.svg.histogram_svg``, which
draws the charts without matplotlib.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from urllib.parse import quote

from autograder.errors import InstructorError
from autograder.outputs.feedback import (
    BASE_CSS,
    FEEDBACK_HTML,
    diagnosis_of,
    mistake_label,
    notebook_of,
    notebook_order,
    notebook_scores,
    total_score,
)
from autograder.outputs.messages import first_line, plain_text
from autograder.outputs.svg import histogram_svg
from autograder.outputs.words import (
    GRADES_CSV,
    INTEGRITY_JSON,
    PROBLEM_KINDS,
    REPORT_CSV,
    REPORT_HTML,
    RESULTS_JSON,
    TOTAL,
    ProblemKind,
    points_range,
)
from autograder.outputs.words import format_points as points
from autograder.outputs.results import csv_text

#: How many mistakes the report lists before folding the rest away.
TOP_MISTAKES = 15
#: Diagnosis keys that describe a broken submission rather than a mistake in the maths.


# --- data --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Submission:
    """One student's graded submission; ``results`` is None when it could not be read."""

    student: str
    results: dict | None
    problem: str = ""  # why results is None
    has_feedback: bool = False


@dataclass(frozen=True)
class Distribution:
    name: str  # a notebook stem or "total"
    max_points: float
    scores: tuple[float, ...]

    def bins(self) -> list[tuple[float, float, int]]:
        """(low, high, students) with about 20 bins of whole points; the top bin holds the maximum."""
        width = max(1, math.ceil(self.max_points / 20))
        count = max(1, math.ceil(self.max_points / width)) if self.max_points else 1
        if self.max_points and self.max_points % width == 0:
            count += 1  # a bin of its own for full marks
        counts = [0] * count
        for score in self.scores:
            counts[min(count - 1, max(0, int(score // width)))] += 1
        return [(i * width, min((i + 1) * width, self.max_points) if i < count - 1 else self.max_points, c)
                for i, c in enumerate(counts)]

    def stats(self) -> dict[str, float]:
        s = self.scores
        if not s:
            return {"students": 0}
        return {
            "students": len(s), "max_points": self.max_points, "mean": statistics.fmean(s),
            "median": statistics.median(s), "std": statistics.pstdev(s), "lowest": min(s), "highest": max(s),
            "full_marks": sum(x >= self.max_points for x in s) / len(s), "zero": sum(x == 0 for x in s) / len(s),
        }


@dataclass
class TestStat:
    number: str
    name: str
    notebook: str
    max_score: float
    passed: int = 0
    failed: int = 0
    diagnoses: Counter = field(default_factory=Counter)

    @property
    def pass_rate(self) -> float:
        return self.passed / (self.passed + self.failed) if self.passed + self.failed else 0.0


@dataclass
class MistakeStat:
    key: str
    failures: int = 0
    students: list[str] = field(default_factory=list)
    tests: Counter = field(default_factory=Counter)
    example: str = ""


@dataclass(frozen=True)
class Problem:
    student: str
    kind: ProblemKind
    detail: str


@dataclass(frozen=True)
class ClassSummary:
    submissions: tuple[Submission, ...]
    distributions: tuple[Distribution, ...]  # notebooks in order, then the total
    tests: tuple[TestStat, ...]
    mistakes: tuple[MistakeStat, ...]  # most students first
    unnamed_failures: int
    problems: tuple[Problem, ...]
    #: (student, flagged lines) from the integrity scan; for the instructor, never a score.
    integrity: tuple[tuple[str, tuple[str, ...]], ...] = ()
    confinement: tuple[str, ...] = ()  # the sandboxes' levels (results.json extra_data), most common first


# --- the edges: reading OUT, writing the report --------------------------------------------

def load_class(out_dir) -> list[Submission]:
    """Every submission under ``out_dir``, sorted by student; raises InstructorError if none."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InstructorError(f"{out_dir} is not a folder of grading results")
    if (out_dir / RESULTS_JSON).is_file():
        return [_load_one(out_dir.resolve().name, out_dir)]
    submissions = {p.parent.name: _load_one(p.parent.name, p.parent)
                   for p in out_dir.glob(f"*/{RESULTS_JSON}")}
    for student in _students_in_grades_csv(out_dir):
        submissions.setdefault(student, Submission(student, None, "no results.json was written"))
    if not submissions:
        raise InstructorError(f"no {RESULTS_JSON} under {out_dir}: run `python -m autograder grade` first")
    return [submissions[s] for s in sorted(submissions)]


def _load_one(student: str, folder: Path) -> Submission:
    has_feedback = (folder / FEEDBACK_HTML).is_file()
    try:
        results = json.loads((folder / RESULTS_JSON).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return Submission(student, None, f"results.json could not be read ({type(error).__name__})", has_feedback)
    if not isinstance(results, dict) or not isinstance(results.get("tests", []), list):
        return Submission(student, None, "results.json is not in Gradescope's format", has_feedback)
    return Submission(student, results, "", has_feedback)


def load_integrity(out_dir: Path) -> dict[str, list[str]]:
    """The integrity flags of a batch (empty when there are none or they cannot be read)."""
    try:
        data = json.loads((Path(out_dir) / INTEGRITY_JSON).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    if type(data) is not dict:
        return {}
    return {str(student): [str(flag) for flag in flags] for student, flags in data.items() if type(flags) is list}


def _students_in_grades_csv(out_dir: Path) -> list[str]:
    from autograder.outputs.results import csv_value

    try:
        with open(out_dir / GRADES_CSV, newline="", encoding="utf-8") as handle:
            return [csv_value(row["student"]) for row in csv.DictReader(handle)
                    if row.get("student") and not str(row.get("status", "")).startswith("skipped")]
    except (OSError, KeyError, csv.Error):
        return []


def write_class_report(out_dir) -> Path:
    """Write ``report.html`` and ``report.csv`` into the grading output folder ``out_dir``.

    ``out_dir`` holds ``<student>/results.json`` per submission (and ``grades.csv``), or a
    single ``results.json``. Both files are self-contained and readable offline; a
    student's feedback.html is linked where it exists. Returns the path of report.html.
    Called by the grade command at the end of a batch, and by ``python -m autograder report``.
    Raises InstructorError if ``out_dir`` holds no results.
    """
    out_dir = Path(out_dir)
    summary = summarize(load_class(out_dir), load_integrity(out_dir))
    target = out_dir / REPORT_HTML
    target.write_text(render_html(summary, title=f"Class report: {out_dir.resolve().name}"),
                      encoding="utf-8")
    (out_dir / REPORT_CSV).write_text(render_csv(summary), encoding="utf-8", newline="")
    return target


# --- the figures ---------------------------------------------------------------------------

def summarize(submissions, integrity=None) -> ClassSummary:
    """Distributions, test pass rates, named mistakes and problems of a class. Pure.
    ``integrity``: student -> flagged lines (``autograder.notebooks.integrity``), if any."""
    submissions = tuple(submissions)
    flagged = tuple((str(student), tuple(str(flag) for flag in flags))
                    for student, flags in sorted((integrity or {}).items()) if flags)
    graded = [s for s in submissions if s.results is not None]
    notebook_max: dict[str, float] = {}
    per_notebook: dict[str, list[float]] = {}
    totals, total_max = [], 0.0
    tests: dict[str, TestStat] = {}
    mistakes: dict[str, MistakeStat] = {}
    unnamed = 0
    problems = [Problem(s.student, "no results", s.problem) for s in submissions if s.results is None]

    for sub in graded:
        if not sub.results.get("tests"):
            # the grader failed on this submission: its 0 is not a grade, so it stays out of the figures
            problems.append(Problem(sub.student, "grading failed",
                                    _first_line(sub.results.get("output")) or "no test results were recorded"))
            continue
        for stem, (got, most) in notebook_scores(sub.results).items():
            per_notebook.setdefault(stem, []).append(got)
            notebook_max[stem] = max(notebook_max.get(stem, 0.0), most)
        got, most = total_score(sub.results)
        totals.append(got)
        total_max = max(total_max, most)
        troubles: dict[str, list[str]] = {}
        for test in sub.results.get("tests", []):
            if not isinstance(test, dict):
                continue
            name = str(test.get("name", ""))
            stat = tests.get(name)
            if stat is None:
                stat = tests[name] = TestStat(str(test.get("number", "")), name, notebook_of(test),
                                              _number(test.get("max_score")))
            if test.get("status") == "passed":
                stat.passed += 1
                continue
            stat.failed += 1
            key = diagnosis_of(test)
            if key in PROBLEM_KINDS:
                detail = notebook_of(test) if key == "NotebookMissing" else _first_line(test.get("output"))
                troubles.setdefault(PROBLEM_KINDS[key], [])
                if detail not in troubles[PROBLEM_KINDS[key]]:
                    troubles[PROBLEM_KINDS[key]].append(detail)
                continue
            if key is None:
                unnamed += 1
                continue
            stat.diagnoses[key] += 1
            mistake = mistakes.setdefault(key, MistakeStat(key, example=plain_text(str(test.get("output", "")))))
            mistake.failures += 1
            mistake.tests[name] += 1
            if not mistake.students or mistake.students[-1] != sub.student:
                mistake.students.append(sub.student)
        for kind, details in troubles.items():
            if kind == "missing notebooks":
                detail = ", ".join(details)
            else:  # a dead process fails every later call: the first message or two say enough
                detail = " ".join(details[:2]) + (f" (and {len(details) - 2} more)" if len(details) > 2 else "")
            problems.append(Problem(sub.student, kind, detail))

    distributions = [Distribution(stem, notebook_max[stem], tuple(per_notebook[stem]))
                     for stem in notebook_order(per_notebook)]
    distributions.append(Distribution(TOTAL, total_max, tuple(totals)))
    kind_order = {"grading failed": 0, "no results": 1, "crashed": 2, "timed out": 3, "missing notebooks": 4}
    return ClassSummary(
        submissions=submissions,
        distributions=tuple(distributions),
        tests=tuple(sorted(tests.values(), key=_test_order)),
        mistakes=tuple(sorted(mistakes.values(), key=lambda m: (-len(m.students), -m.failures, m.key))),
        unnamed_failures=unnamed,
        problems=tuple(sorted(problems, key=lambda p: (kind_order.get(p.kind, 9), p.student))),
        integrity=flagged,
        confinement=_confinement_levels(graded),
    )


def _confinement_levels(graded) -> tuple[str, ...]:
    levels = Counter()
    for sub in graded:
        extra = sub.results.get("extra_data")
        if isinstance(extra, dict) and isinstance(extra.get("confinement"), str):
            levels[extra["confinement"]] += 1
    return tuple(level for level, _ in levels.most_common())


def _test_order(stat: TestStat):
    parts = [int(p) if p.isdigit() else 10**6 for p in stat.number.split(".")] if stat.number else [10**6]
    return (parts, stat.name)


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _first_line(text) -> str:
    line = first_line(str(text or ""))  # a test's output is Markdown: read as the student reads it
    return line if len(line) <= 300 else line[:300] + "..."


# --- report.csv ------------------------------------------------------------------------------

def render_csv(summary: ClassSummary) -> str:
    """report.csv as text (columns: section, name, statistic, value, detail)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "name", "statistic", "value", "detail"])
    for dist in summary.distributions:
        for statistic, value in dist.stats().items():
            writer.writerow(["score", dist.name, statistic, _csv_number(value), ""])
    for dist in summary.distributions:
        for low, high, count in dist.bins():
            writer.writerow(["histogram", dist.name, points_range(low, high), count, ""])
    for test in summary.tests:
        for statistic, value in (("pass_rate", test.pass_rate), ("passed", test.passed), ("failed", test.failed)):
            writer.writerow(["test", test.name, statistic, _csv_number(value), test.number])
    for mistake in summary.mistakes:
        writer.writerow(["mistake", mistake.key, "students", len(mistake.students),
                         csv_text(";".join(mistake.students))])
        writer.writerow(["mistake", mistake.key, "failures", mistake.failures,
                         ";".join(f"{name} ({n})" for name, n in mistake.tests.most_common())])
    for problem in summary.problems:
        writer.writerow(["problem", csv_text(problem.student), problem.kind, 1, csv_text(problem.detail)])
    for student, flags in summary.integrity:
        for flag in flags:
            writer.writerow(["integrity", csv_text(student), "flagged line", 1, csv_text(flag)])
    return buffer.getvalue()


def _csv_number(value) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


# --- report.html ------------------------------------------------------------------------------

REPORT_CSS = BASE_CSS + """
body { max-width: 78rem; }
.cards { display: flex; gap: .75rem; flex-wrap: wrap; margin: 1rem 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .9rem; min-width: 9rem; }
.card b { display: block; font-size: 1.6rem; line-height: 1.2; }
.charts { display: flex; flex-wrap: wrap; gap: .5rem; }
.charts figure { margin: 0 0 .75rem; max-width: 100%; }
.charts svg { max-width: 100%; height: auto; display: block; overflow: visible; }
.chart .bin:hover .bin-bar { fill: #0550ae; }
.scroll { max-height: 32rem; overflow: auto; border: 1px solid var(--line); border-radius: 4px; }
.students { max-height: 12rem; overflow: auto; font-size: .9rem; padding: .25rem 0; }
.rate { display: flex; align-items: center; gap: .5rem; } .rate .bar { flex: 1; }
.rate .bar > span.low { background: var(--bad); }
pre.example { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f8fa; padding: .5rem; margin: .3rem 0; }
td.key .tag { white-space: normal; }
"""


def render_html(summary: ClassSummary, charts: dict[str, str] | None = None, *,
                title: str = "Class report", top: int = TOP_MISTAKES) -> str:
    """report.html as text.

    ``charts``: ``<svg>`` markup per distribution name, embedded as it is (so trusted
    markup only); by default :func:`histogram_svg` of every distribution with scores.
    """
    if charts is None:
        charts = {d.name: histogram_svg(d) for d in summary.distributions if d.scores}
    links = {s.student for s in summary.submissions if s.has_feedback}
    total = summary.distributions[-1]
    stats = total.stats()
    graded = stats.get("students", 0)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{REPORT_CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1>",
        '<p class="muted">Backpropagation assignment &middot; generated '
        f'{time.strftime("%Y-%m-%d", time.gmtime())}'
        " &middot; autograded points only; the derivation (10 points) is graded by hand.</p>",
        _confinement_line(summary), "</header>",
        '<div class="cards">',
        _card("submissions", str(len(summary.submissions))),
        _card("mean total", f"{stats['mean']:.1f} / {points(total.max_points)}" if graded else "n/a"),
        _card("median total", f"{points(stats['median'])}" if graded else "n/a"),
        _card("full marks", f"{stats['full_marks']:.0%}" if graded else "n/a"),
        _card("problem submissions", str(len({p.student for p in summary.problems}))),
        "</div>",
        "<nav><a href=\"#scores\">Scores</a> &middot; <a href=\"#tests\">Tests</a> &middot; "
        "<a href=\"#mistakes\">Mistakes</a> &middot; <a href=\"#problems\">Problem submissions</a> &middot; "
        "<a href=\"#integrity\">Integrity</a> &middot; <a href=\"#students\">Students</a></nav>",
        _scores_section(summary, charts),
        _tests_section(summary),
        _mistakes_section(summary, links, top),
        _problems_section(summary, links),
        _integrity_section(summary, links),
        _students_section(summary, links),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _confinement_line(summary: ClassSummary) -> str:
    """Which sandbox the notebooks ran in; anything below full is said plainly."""
    if not summary.confinement:
        return ""
    levels = " / ".join(summary.confinement)
    if summary.confinement == ("full",):
        return '<p class="muted">Sandbox confinement: full.</p>'
    return (f"<p><b>Sandbox confinement: {escape(levels)}</b> (not full: see README.md, Confinement, "
            "for what each missing layer means).</p>")


def _card(label: str, value: str) -> str:
    return f'<div class="card"><b>{escape(value)}</b><span class="muted">{escape(label)}</span></div>'


def _student_link(student: str, links: set[str]) -> str:
    if student in links:
        return f'<a href="{escape(quote(student))}/{FEEDBACK_HTML}">{escape(student)}</a>'
    return escape(student)


def _scores_section(summary: ClassSummary, charts: dict[str, str]) -> str:
    rows = []
    for dist in summary.distributions:
        s = dist.stats()
        if not s.get("students"):
            continue
        rows.append(
            f"<tr><td>{escape(dist.name)}</td><td class=\"num\">{points(dist.max_points)}</td>"
            + "".join(f'<td class="num">{s[k]:.1f}</td>' for k in ("mean", "median", "std", "lowest", "highest"))
            + f'<td class="num">{s["full_marks"]:.0%}</td><td class="num">{s["zero"]:.0%}</td></tr>'
        )
    figures = [f"<figure>{charts[dist.name]}</figure>" for dist in summary.distributions if dist.name in charts]
    return ('<section id="scores"><h2>Score distributions</h2>'
            '<table><thead><tr><th>Notebook</th><th class="num">Max</th><th class="num">Mean</th>'
            '<th class="num">Median</th><th class="num">Std</th><th class="num">Lowest</th>'
            '<th class="num">Highest</th><th class="num">Full marks</th><th class="num">Zero</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>'
            f'<div class="charts">{"".join(figures)}</div></section>')


def _tests_section(summary: ClassSummary) -> str:
    rows = []
    for test in summary.tests:
        rate = test.pass_rate
        common = test.diagnoses.most_common(1)
        common_text = (f'<span class="tag">{escape(mistake_label(common[0][0]))}</span> &times;{common[0][1]}'
                       if common else "")
        rows.append(
            f"<tr><td>{escape(test.number)}</td><td>{escape(test.name)}</td>"
            f'<td class="num">{points(test.max_score)}</td>'
            f'<td><div class="rate"><div class="bar"><span{" class=low" if rate < 0.5 else ""} '
            f'style="width:{rate * 100:.1f}%"></span></div><span class="num">{rate:.0%}</span></div></td>'
            f'<td class="num">{test.failed}</td><td>{common_text}</td></tr>'
        )
    return ('<section id="tests"><h2>Pass rate of every test</h2>'
            '<p class="muted">Sorted by test number; a red bar means fewer than half the class passed.</p>'
            '<table><thead><tr><th>#</th><th>Test</th><th class="num">Points</th>'
            '<th style="width:14rem">Pass rate</th><th class="num">Failed</th><th>Most frequent mistake</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></section>')


def _mistake_row(rank: int, mistake: MistakeStat, links: set[str], graded: int) -> str:
    where = "<br>".join(f"{escape(name)} <span class=\"muted\">&times;{n}</span>"
                        for name, n in mistake.tests.most_common(3))
    if len(mistake.tests) > 3:
        where += f'<br><span class="muted">and {len(mistake.tests) - 3} more tests</span>'
    example = mistake.example if len(mistake.example) <= 1500 else mistake.example[:1500] + " [...]"
    students = ", ".join(_student_link(s, links) for s in mistake.students)
    return (
        f'<tr><td class="num">{rank}</td>'
        f'<td class="key"><span class="tag">{escape(mistake_label(mistake.key))}</span></td>'
        f'<td class="num">{len(mistake.students)}<br>'
        f'<span class="muted">{len(mistake.students) / graded:.0%}</span></td>'
        f'<td class="num">{mistake.failures}</td><td>{where}'
        f'<details><summary>example diagnosis</summary><pre class="example">{escape(example)}</pre></details>'
        f'<details><summary>{len(mistake.students)} students</summary><div class="students">{students}</div></details>'
        "</td></tr>"
    )


def _mistakes_section(summary: ClassSummary, links: set[str], top: int) -> str:
    head = ('<table><thead><tr><th class="num" style="width:2.5rem">#</th><th style="width:17rem">Mistake</th>'
            '<th class="num" style="width:6rem">Students</th><th class="num" style="width:7rem">Failed tests</th>'
            '<th>Where, and who</th></tr></thead><tbody>')
    graded = max(1, len(summary.distributions[-1].scores))
    shown = summary.mistakes[:top]
    rest = summary.mistakes[top:]
    html = ['<section id="mistakes"><h2>Most frequent mistakes</h2>',
            "<p class=\"muted\">Failures the hidden tests recognised as a named mistake, by the number of "
            "students who made it. Timeouts, crashes and missing notebooks are listed under problem "
            "submissions.</p>"]
    if not shown:
        html.append("<p>No named mistakes.</p>")
    else:
        html.append(head + "".join(_mistake_row(i + 1, m, links, graded) for i, m in enumerate(shown))
                    + "</tbody></table>")
    if rest:
        html.append(f"<details><summary>{len(rest)} less frequent mistakes</summary>" + head
                    + "".join(_mistake_row(top + i + 1, m, links, graded) for i, m in enumerate(rest))
                    + "</tbody></table></details>")
    if summary.unnamed_failures:
        html.append(f'<p class="muted">{summary.unnamed_failures} further failed tests had no named mistake.</p>')
    html.append("</section>")
    return "\n".join(html)


def _problems_section(summary: ClassSummary, links: set[str]) -> str:
    html = ['<section id="problems"><h2>Problem submissions</h2>']
    if not summary.problems:
        html.append("<p>None: every submission ran to the end with all its notebooks.</p>")
    by_kind: dict[str, list[Problem]] = {}
    for problem in summary.problems:
        by_kind.setdefault(problem.kind, []).append(problem)
    for kind, problems in by_kind.items():
        rows = "".join(f"<tr><td>{_student_link(p.student, links)}</td><td>{escape(p.detail)}</td></tr>"
                       for p in problems)
        html.append(f'<h3 id="problems-{escape(kind.replace(" ", "-"))}">{escape(kind.capitalize())}: '
                    f"{len(problems)}</h3>"
                    '<div class="scroll" style="max-height:18rem"><table><thead><tr>'
                    '<th style="width:14rem">Student</th>'
                    f"<th>What happened</th></tr></thead><tbody>{rows}</tbody></table></div>")
    html.append("</section>")
    return "\n".join(html)


def _integrity_section(summary: ClassSummary, links: set[str]) -> str:
    html = ['<section id="integrity"><h2>Integrity flags (instructor only)</h2>',
            '<p class="muted">Lines of a submission\'s own cells that reach into the grader or the '
            "interpreter (its modules, sys.modules, torch internals, ctypes, garbage-collector walks, "
            "processes or threads started by the notebook...), found by reading the code; nothing was "
            "run to find them. A flag is a pointer for a person to look at, not a verdict: it changes "
            "no score, and students never see this section.</p>"]
    if not summary.integrity:
        html.append("<p>No flagged lines.</p>")
    for student, flags in summary.integrity:
        items = "".join(f'<li><pre class="example">{escape(flag)}</pre></li>' for flag in flags)
        html.append(f'<details class="integrity"><summary>{_student_link(student, links)}: '
                    f"{len(flags)} flagged line{'s' if len(flags) != 1 else ''}</summary><ul>{items}</ul></details>")
    html.append("</section>")
    return "\n".join(html)


def _students_section(summary: ClassSummary, links: set[str]) -> str:
    stems = [d.name for d in summary.distributions if d.name != TOTAL]
    flagged: dict[str, list[str]] = {}
    for problem in summary.problems:
        flagged.setdefault(problem.student, []).append(problem.kind)
    rows = []
    for sub in summary.submissions:
        if sub.results is None or not sub.results.get("tests"):
            cells = "".join("<td class=\"num\">&ndash;</td>" for _ in stems) + '<td class="num">&ndash;</td>'
        else:
            scores = notebook_scores(sub.results)
            cells = "".join(f'<td class="num">{points(scores[s][0]) if s in scores else "&ndash;"}</td>'
                            for s in stems)
            cells += f'<td class="num"><b>{points(total_score(sub.results)[0])}</b></td>'
        flags = ", ".join(flagged.get(sub.student, []))
        rows.append(f"<tr><td>{_student_link(sub.student, links)}</td>{cells}<td>{escape(flags)}</td></tr>")
    header = "".join(f'<th class="num">{escape(s)}</th>' for s in stems)
    return (f'<section id="students"><h2>Students</h2><details><summary>All {len(summary.submissions)} '
            "submissions, with links to their feedback</summary>"
            f'<div class="scroll"><table><thead><tr><th>Student</th>{header}<th class="num">Total</th>'
            f'<th>Problems</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div></details></section>')
