"""``validate``: the instructor's self-check of the hidden tests against known answers.

Three kinds of submission are graded together, through the same code path as students
(``grade.grade_path``, sandbox included):

* the source notebooks (the solution) must score 100;
* the release stubs must score 0, and no test may hit an internal error on them;
* every mistake in the catalogue (``grading_tests/mistakes.py``), applied to the
  solution, must lose points, and where the catalogue names a diagnosis, a failed
  test must say it.

Prints one row per check and exits 1 if any fails.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder.cli import options
from autograder.outputs.words import format_points
from autograder.paths import ASSIGNMENT, NOTEBOOKS, RELEASE_DIR, SOURCE_DIR

SOLUTION, STUBS = "solution", "release_stubs"


@dataclass(frozen=True)
class Check:
    """One line of the table: what was graded, what was expected, what happened."""

    name: str
    expected: str
    got: str
    passed: bool


def build_cases(tree: Path) -> dict[str, object]:
    """Write the submissions to grade under ``tree`` (a ``submitted/`` layout);
    returns student name -> the catalogue's ``Mistake`` (or None for solution and stubs)."""
    import nbformat

    from grading_tests.mistakes import MISTAKES, apply_mistake

    cases: dict[str, object] = {SOLUTION: None, STUBS: None}
    shutil.copytree(SOURCE_DIR, tree / SOLUTION / ASSIGNMENT)
    shutil.copytree(RELEASE_DIR, tree / STUBS / ASSIGNMENT)
    for mistake in MISTAKES:
        student = f"mistake_{mistake.key}"
        folder = tree / student / ASSIGNMENT
        shutil.copytree(SOURCE_DIR, folder)
        notebook = nbformat.read(SOURCE_DIR / f"{mistake.notebook}.ipynb", as_version=4)
        nbformat.write(apply_mistake(notebook, mistake), str(folder / f"{mistake.notebook}.ipynb"))
        cases[student] = mistake
    return cases


def judge(student: str, mistake, report) -> Check:
    """The verdict on one graded case (a pure function of its report)."""
    score = f"{format_points(report.score)}/{format_points(report.max_score)}"
    internal = [test.name for test in report.tests if test.internal_error]
    if report.failure is not None:
        return Check(student, "graded", "grading failed (see grader.log)", False)
    if student == SOLUTION:
        full = report.max_score == 100 and report.score == 100 and not internal
        return Check("solution (source/)", "100/100", score + _internal(internal), full)
    if student == STUBS:
        return Check("release stubs (release/)", "0, no internal error", score + _internal(internal),
                     report.score == 0 and not internal)
    failed = [test for test in report.tests if test.status != "passed"]
    lost = report.score < report.max_score
    named = mistake.diagnosis is None or any(mistake.diagnosis in test.output for test in failed)
    expected = "loses points" + (f", says {mistake.diagnosis!r}" if mistake.diagnosis else "")
    got = score + ("" if named else ", diagnosis not found") + _internal(internal)
    return Check(f"{mistake.notebook}: {mistake.key}", expected, got, lost and named and not internal)


def _internal(names: list[str]) -> str:
    return f", internal error in {len(names)} test(s)" if names else ""


def table(checks: list[Check]) -> str:
    from autograder.outputs.results import text_table

    return text_table([("check", "expected", "got", "")] + [
        (check.name, check.expected, check.got, "ok" if check.passed else "FAILED") for check in checks])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_jobs(parser)
    options.add_seed(parser)
    options.add_out(parser, "keep every case's results here (default: a temporary folder)")


def run(args: argparse.Namespace) -> int:
    from autograder.grading import grade

    with tempfile.TemporaryDirectory(prefix="backprop-validate-") as workdir:
        tree = Path(workdir) / "submitted"
        cases = build_cases(tree)
        out = args.out if args.out is not None else Path(workdir) / "out"
        reports = grade.grade_path(tree, out, seed=args.seed, jobs=args.jobs)
    order = list(cases)
    checks = [judge(report.student, cases[report.student], report)
              for report in sorted(reports, key=lambda report: order.index(report.student))]
    print(table(checks))
    failed = sum(not check.passed for check in checks)
    seed = reports[0].seed if reports else args.seed
    print(f"\n{len(checks) - failed} of {len(checks)} checks passed (seed {seed}, "
          f"{len(cases) - 2} catalogued mistakes, notebooks {', '.join(NOTEBOOKS)})")
    return 1 if failed else 0
