"""`validate`: the solution at 100, the stubs at 0, every catalogued mistake caught.

The whole catalogue is graded by the hidden suite's own tests; here a few real
mistakes and one that is no mistake at all (it cannot be caught) go through the
command, so both verdicts are seen in one run.
"""

from __future__ import annotations

import pytest

from autograder.cli import main, validate
from autograder.grading.model import GradeReport
from autograder.grading.model import TestOutcome as Outcome
from grading_tests import mistakes


def _report(student, scores, outputs=None, internal=None):
    tests = tuple(Outcome(name=f"t{i}", number=f"1.{i}", score=got, max_score=most,
                          status="passed" if got == most else "failed",
                          output=(outputs or {}).get(i, ""), tags=("01_relu", "relu"), nodeid=f"t{i}",
                          internal_error=(internal or {}).get(i))
                  for i, (got, most) in enumerate(scores))
    return GradeReport(student=student, seed=1, tests=tests)


def test_judge_wants_100_for_the_solution_and_0_without_internal_error_for_the_stubs():
    assert validate.judge(validate.SOLUTION, None, _report("solution", [(60, 60), (40, 40)])).passed
    assert not validate.judge(validate.SOLUTION, None, _report("solution", [(60, 60), (39, 40)])).passed
    assert validate.judge(validate.STUBS, None, _report("stubs", [(0, 60), (0, 40)])).passed
    assert not validate.judge(validate.STUBS, None,
                              _report("stubs", [(0, 60), (0, 40)], internal={1: "Traceback"})).passed


def test_judge_wants_a_mistake_to_lose_points_with_its_diagnosis():
    mistake = mistakes.MISTAKES[0]
    caught = _report("m", [(0, 60), (40, 40)], outputs={0: f"your code {mistake.diagnosis}, see"})
    unnamed = _report("m", [(0, 60), (40, 40)], outputs={0: "wrong"})
    missed = _report("m", [(60, 60), (40, 40)])
    assert validate.judge("m", mistake, caught).passed
    assert not validate.judge("m", mistake, unnamed).passed
    assert not validate.judge("m", mistake, missed).passed
    assert not validate.judge("m", mistake, GradeReport(student="m", seed=1, failure="boom")).passed


@pytest.mark.slow
def test_validate_prints_a_table_and_fails_on_an_uncaught_mistake(monkeypatch, capsys):
    real = [mistake for mistake in mistakes.MISTAKES if mistake.key in ("relu-grad-one-at-zero", "mse-summed")]
    solution_cell = mistakes.Mistake("not-a-mistake", "04_bce", "bce_loss", "the right answer", source="""
def bce_loss(probs, y, eps=1e-12):
    p = np.clip(probs, eps, 1 - eps)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
""", diagnosis=None)
    monkeypatch.setattr(mistakes, "MISTAKES", (*real, solution_cell))
    code = main(["validate", "--seed", "3", "--jobs", "2"])
    lines = capsys.readouterr().out.splitlines()

    def verdict(name: str) -> str:
        (line,) = [line for line in lines if line.startswith(name)]
        return line.split()[-1]

    assert code == 1
    assert verdict("solution (source/)") == "ok"
    assert verdict("release stubs (release/)") == "ok"
    assert verdict("01_relu: relu-grad-one-at-zero") == "ok"
    assert verdict("02_backward: mse-summed") == "ok"
    assert verdict("04_bce: not-a-mistake") == "FAILED"
    assert lines[-1].startswith("4 of 5 checks passed")
