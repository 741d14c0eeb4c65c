"""Every catalogued mistake is caught at every one of 20 seeds, where it is, and named;
every correct-but-unusual answer scores full marks at all of them.

"Caught" as ``grading_tests.grade_mistakes.caught`` says: the mistake loses points, only in
tests tagged with a function it touches, with no internal error, and a failed test's
message contains its diagnosis phrase where it has one. A check that drew one depth,
or inputs that happened to stay inside [-1, 1], would miss some mistake at some seed;
this test finds that.

Fast because the hidden tests are collected once and their functions called directly
(``grading_tests.grade_mistakes.run_collected``), with the trusted references remembered per
seed; the first test here proves that this gives what a pytest session gives. The
solution's 100 at 50 seeds is tests/grading/test_suite.py's.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from autograder.grading.suite import run_hidden_tests
from autograder.inprocess import InProcessSubmission
from autograder.paths import SOURCE_DIR
from grading_tests.grade_mistakes import (
    caught,
    collect_hidden_tests,
    grade_catalogue,
    mistake_submission,
    run_collected,
)
from grading_tests.mistakes import CORRECT, MISTAKES

#: Twenty fixed seeds (deterministic project tests; wider sweeps: the CLI below).
SEEDS = [int(s) for s in np.random.default_rng(20261202).integers(0, 2**32, size=20)]
#: One mistake of each kind of failure: a wrong value, an exception, an argument written
#: into, state kept between calls, a NumPy warning, a key-order dependence, a Handle.
SAMPLE = ("numgrad-restore-by-subtracting", "relu-grad-2d-only", "backward-mask-in-cache", "init-shared-generator",
          "bce-logits-where-both-branches", "sgd-zip-with-backward-order", "to-torch-items-order",
          "forward-cache-preactivation", "train-reinit-each-epoch")

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # wrong code overflows; not our warnings


@pytest.fixture(scope="module")
def solution():
    return InProcessSubmission(SOURCE_DIR)


@pytest.fixture(scope="module")
def hidden_tests():
    return collect_hidden_tests()


def outcomes(run):
    return sorted((test.nodeid.rsplit("/", 1)[-1], test.status, test.output, test.diagnosis, test.max_score)
                  for test in run.tests)


@pytest.mark.parametrize("key", SAMPLE)
def test_calling_the_collected_tests_grades_as_a_pytest_session_does(key, hidden_tests, solution, tmp_path):
    mistake = next(m for m in MISTAKES if m.key == key)
    seed = SEEDS[0]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    session = run_hidden_tests(mistake_submission(mistake, solution, tmp_path / "a"), seed,
                               select=["-k", f"test_{mistake.notebook}"])
    direct = run_collected(hidden_tests, mistake_submission(mistake, solution, tmp_path / "b"), seed,
                           mistake.notebook)
    assert outcomes(direct) == outcomes(session)
    assert any(test.status == "failed" for test in direct.tests)


def test_the_solution_passes_every_collected_test(hidden_tests, solution):
    run = run_collected(hidden_tests, solution, SEEDS[1])
    assert [test.name for test in run.tests if test.status != "passed"] == []
    assert run.score == run.max_score == 100.0


@pytest.mark.slow
def test_every_mistake_is_caught_where_it_is_and_named_at_every_one_of_20_seeds(hidden_tests, solution, tmp_path):
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # student code's overflow and deprecation warnings
        rows = grade_catalogue(MISTAKES, SEEDS, solution, tmp_path, hidden_tests)
    seconds = time.perf_counter() - started
    missed = [f"{key} at seed {seed}: failed {row['failed']}, outside {row['outside']}, "
              f"internal {row['internal']}, named {row['named']}: {row['first_message'][:200]}"
              for (key, seed), row in rows.items() if not caught(next(m for m in MISTAKES if m.key == key), row)]
    assert len(rows) == len(MISTAKES) * len(SEEDS)
    assert not missed, "\n".join(missed)
    print(f"{len(MISTAKES)} mistakes x {len(SEEDS)} seeds graded in {seconds:.0f} s")


@pytest.mark.slow
def test_every_correct_but_unusual_answer_scores_full_marks_at_every_one_of_20_seeds(hidden_tests, solution, tmp_path):
    """The other side: what the contract allows (keys in backward order, einsum, the tanh
    sigmoid, ...) loses nothing, whatever the seed draws."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = grade_catalogue(CORRECT, SEEDS, solution, tmp_path, hidden_tests)
    failed = [f"{key} at seed {seed}: {row['first_message'][:300]}" for (key, seed), row in rows.items() if row["failed"]]
    assert len(rows) == len(CORRECT) * len(SEEDS)
    assert not failed, "\n".join(failed)
