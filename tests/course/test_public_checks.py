"""The public checks judge as the hidden tests do, and a failing one reports and goes on.

Every correct-but-unusual implementation in the mistake catalogue's "correct" group
(``grading_tests.mistakes.CORRECT``) passes every public check of its notebook, and every
catalogued mistake fails the public check of the function it touches, printing a
``FAILED`` line without raising, so the rest of the notebook still runs. A mistake no
public check can see by design is listed in ``INVISIBLE`` with the reason (and must then
pass, so the list cannot go stale).

The notebooks run in-process here: each code cell of the instructor's notebook (with one
solution cell replaced by ``apply_mistake``) is executed in one namespace, as *Run All*
would, leaving out the demonstrations tagged ``skip-when-grading`` as the grader does.
tests/test_notebooks.py runs the same notebooks in a real kernel.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from functools import cache

import matplotlib
import nbformat
import pytest

from autograder.grading.suite import run_hidden_tests
from autograder.inprocess import InProcessSubmission
from autograder.paths import NOTEBOOKS, SOURCE_DIR
from grading_tests.grade_mistakes import mistake_submission
from grading_tests.mistakes import CORRECT, MISTAKES, Mistake, apply_mistake

matplotlib.use("Agg")

SOURCE = SOURCE_DIR
SKIP_TAG = "skip-when-grading"

#: Catalogued mistakes that no public check can see, and why.
INVISIBLE = {
    "backward-calls-autograd": "the numbers are right; which library computed them shows only where PyTorch "
                               "cannot be loaded, which is how the hidden tests call backward",
    "mlp-backward-calls-autograd": "the numbers are right; which library computed them shows only where PyTorch "
                                   "cannot be loaded, which is how the hidden tests call mlp_backward",
}


@dataclass(frozen=True)
class CellRun:
    key: str  # the cell's grade_id, or its id for a cell without nbgrader metadata
    stdout: str
    stderr: str
    error: str | None  # the exception's class name when the cell raised


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


@cache
def source_notebook(stem: str):
    return nbformat.read(SOURCE / f"{stem}.ipynb", as_version=4)


def run_in_process(notebook) -> dict[str, CellRun]:
    """Run the notebook's code cells in order in one namespace, going on after errors."""
    namespace = {"__name__": "__main__"}
    runs = {}
    for cell in notebook.cells:
        if cell.cell_type != "code" or SKIP_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        key = grade_id(cell) or cell.get("id", "?")
        out, err, error = io.StringIO(), io.StringIO(), None
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                exec(compile(cell.source, f"<{key}>", "exec"), namespace)
            except Exception as exc:  # noqa: BLE001  (a raising cell is what some tests look for)
                error = type(exc).__name__
        runs[key] = CellRun(key, out.getvalue(), err.getvalue(), error)
    return runs


def check_ids(notebook) -> list[str]:
    return [gid for cell in notebook.cells if (gid := grade_id(cell) or "").startswith("check_")]


def verdict(run: CellRun, function: str) -> str:
    """'ok' or 'FAILED' from the check's last line; anything else fails the test."""
    lines = run.stdout.strip().splitlines()
    assert run.error is None, f"{run.key} raised {run.error} instead of reporting:\n{run.stdout}{run.stderr}"
    assert lines, f"{run.key} printed nothing"
    for word in ("ok", "FAILED"):
        if lines[-1].startswith(f"{function}: {word}"):
            return word
    raise AssertionError(f"{run.key} printed neither ok nor FAILED: {lines}")


def with_variant(variant: Mistake):
    return run_in_process(apply_mistake(source_notebook(variant.notebook), variant))


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_the_solution_passes_every_public_check(stem):
    runs = run_in_process(source_notebook(stem))
    assert [run for run in runs.values() if run.error] == []
    checks = check_ids(source_notebook(stem))
    assert checks
    for check in checks:
        assert verdict(runs[check], check.removeprefix("check_")) == "ok", runs[check].stdout


@pytest.mark.parametrize("variant", CORRECT, ids=[variant.key for variant in CORRECT])
def test_a_correct_but_unusual_answer_passes_every_public_check(variant):
    runs = with_variant(variant)
    for check in check_ids(source_notebook(variant.notebook)):
        assert verdict(runs[check], check.removeprefix("check_")) == "ok", runs[check].stdout + runs[check].stderr


CHECKED_MISTAKES = [m for m in MISTAKES if f"check_{m.function}" in check_ids(source_notebook(m.notebook))]


def test_every_function_has_a_public_check_and_the_exemptions_are_catalogued():
    assert len(CHECKED_MISTAKES) == len(MISTAKES)
    assert set(INVISIBLE) <= {m.key for m in MISTAKES}


@pytest.mark.parametrize("mistake", CHECKED_MISTAKES, ids=[m.key for m in CHECKED_MISTAKES])
def test_a_catalogued_mistake_fails_its_public_check_and_the_notebook_goes_on(mistake):
    runs = with_variant(mistake)
    check = runs[f"check_{mistake.function}"]
    if mistake.key in INVISIBLE:
        assert verdict(check, mistake.function) == "ok", "this mistake is now caught: remove it from INVISIBLE"
        return
    assert verdict(check, mistake.function) == "FAILED", f"check_{mistake.function} let '{mistake.description}' pass"
    # Report and go on: no cell raised, so Run All reached the end of the notebook.
    assert [run.key for run in runs.values() if run.error] == []
    assert list(runs)[-1].startswith("hidden_tests_")


@pytest.mark.slow
@pytest.mark.parametrize("variant", CORRECT, ids=[variant.key for variant in CORRECT])
def test_a_correct_but_unusual_answer_scores_full_marks_in_the_hidden_tests(variant, tmp_path):
    # The other half of "judge as the hidden tests do": what the checks accept, the hidden
    # tests accept too.
    solution = InProcessSubmission(SOURCE)
    run = run_hidden_tests(mistake_submission(variant, solution, tmp_path), 2026)
    failed = [f"{test.name}: {test.output}" for test in run.tests if test.status != "passed"]
    assert run.score == run.max_score, failed
