"""The hidden suite grades known submissions as intended.

The solution scores 100 under 50 seeds, the release stubs 0, and every mistake in the
catalogue loses points only in tests tagged with the function it touches, with a
message that names it where it has a signature. Each notebook of a submission runs
once (the in-process provider is reused across seeds). A mistake's submission runs
only its changed notebook and borrows the solution's other three, which it cannot
affect (notebooks share nothing, and the solution passes all their tests under every
seed above), so only the changed notebook's tests are run for it.
"""

from __future__ import annotations

import subprocess
import sys
import zlib

import numpy as np
import pytest

from autograder.grading.suite import run_hidden_tests
from autograder.inprocess import InProcessSubmission
from autograder.paths import NOTEBOOKS, PROJECT_ROOT, RELEASE_DIR, SOURCE_DIR
from grading_tests.grade_mistakes import mistake_submission, outcome_row
from grading_tests.mistakes import MISTAKES, Mistake

SOURCE = SOURCE_DIR
RELEASE = RELEASE_DIR
CONTRACT_POINTS = {"01_relu": 15.0, "02_backward": 30.0, "03_mlp": 35.0, "04_bce": 20.0}
CONTRACT_FUNCTIONS = {
    "01_relu": {"relu", "relu_grad", "sigmoid", "sigmoid_grad", "numerical_gradient"},
    "02_backward": {"forward", "mse_loss", "backward", "autograd_grads"},
    "03_mlp": {"init_mlp", "mlp_forward", "mlp_backward", "sgd_step", "train_mlp", "to_torch"},
    "04_bce": {"bce_loss", "bce_dloss_dprob", "bce_with_logits", "bce_grad_logits"},
}
#: Fifty fixed seeds, so the project's tests are deterministic; wider sweeps (thousands
#: of seeds) are run by benchmarks/bench_hidden_suite.py --seeds N.
SEEDS = [int(s) for s in np.random.default_rng(20261122).integers(0, 2**32, size=50)]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def solution():
    return InProcessSubmission(SOURCE)


@pytest.fixture(scope="module")
def solution_runs(solution):
    return [run_hidden_tests(solution, seed) for seed in SEEDS]


def test_solution_scores_100_under_50_seeds(solution_runs):
    failures = [f"seed {run.seed}: {test.name}: {test.output}"
                for run in solution_runs for test in run.tests if test.status != "passed"]
    assert not failures, "\n".join(failures)
    assert [run.score for run in solution_runs] == [100.0] * len(SEEDS)


def test_points_per_notebook_follow_the_contract(solution_runs):
    totals = {stem: most for stem, (_, most) in solution_runs[0].by_notebook().items()}
    assert totals == CONTRACT_POINTS


def test_tests_are_named_after_their_notebook_and_tagged_with_contract_functions(solution_runs):
    names = [test.name for test in solution_runs[0].tests]
    assert len(set(names)) == len(names), "two tests share a name"
    for test in solution_runs[0].tests:
        notebook, *functions = test.tags
        assert notebook in NOTEBOOKS and test.name.startswith(f"{notebook}: ")
        assert "{" not in test.name, test.name
        assert functions and set(functions) <= CONTRACT_FUNCTIONS[notebook], test.tags
    tagged = {f for test in solution_runs[0].tests for f in test.tags[1:]}
    assert tagged == set().union(*CONTRACT_FUNCTIONS.values()), "a contract function has no test"


def test_release_stubs_score_zero():
    run = run_hidden_tests(InProcessSubmission(RELEASE), SEEDS[0])
    assert run.score == 0.0
    assert run.max_score == 100.0
    assert not [test.name for test in run.tests if test.internal_error]
    assert all("NotImplementedError" in test.output for test in run.tests)


#: Wrong code overflows (that is what some mistakes are about); its warnings are not ours.
STUDENT_WARNINGS = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@STUDENT_WARNINGS
@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda mistake: mistake.key)
def test_mistake_loses_points_where_it_is_and_is_named(mistake, solution, tmp_path):
    seed = zlib.crc32(mistake.key.encode())
    run = run_hidden_tests(mistake_submission(mistake, solution, tmp_path), seed,
                           select=["-k", f"test_{mistake.notebook}"])
    assert {test.notebook for test in run.tests} == {mistake.notebook}
    row = outcome_row(mistake, run)
    failed = [test for test in run.tests if test.status == "failed"]
    assert failed, f"seed {seed}: {mistake.key} scores {run.score}"
    assert not row["internal"], [test.internal_error for test in failed]
    assert not row["outside"], f"seed {seed}: {mistake.key} fails tests not tagged {mistake.function}"
    if mistake.diagnosis is not None:
        messages = "\n".join(test.output for test in failed)
        assert row["named"], f"seed {seed}: {mistake.diagnosis!r} not in:\n{messages}"


def test_a_tests_inputs_depend_on_the_seed_and_its_own_id_only(solution, tmp_path):
    """Running one test alone, or the whole suite, shows the same inputs in its message."""
    mistake = next(m for m in MISTAKES if m.key == "backward-no-mean")
    submission = mistake_submission(mistake, solution, tmp_path)
    name = "02_backward: backward matches PyTorch autograd for W1, b1, W2 and b2, using NumPy only"

    def message(run):
        return next(test.output for test in run.tests if test.name == name)

    whole = run_hidden_tests(submission, 12345)
    alone = run_hidden_tests(submission, 12345, select=["-k", "test_backward_matches_autograd"])
    other_seed = run_hidden_tests(submission, 54321, select=["-k", "test_backward_matches_autograd"])
    assert len(alone.tests) == 1
    assert message(whole) == message(alone)
    assert message(other_seed) != message(alone)


def test_suite_runs_from_the_command_line_with_submission_and_seed():
    """Without a provider plugin the conftest runs --submission in-process; the header shows the seed."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "grading_tests", "-c", "autograder/grading/pytest-grading.ini",
         "--rootdir", "grading_tests", "-p", "no:cacheprovider", "--submission", str(SOURCE),
         "--seed", "4242", "-k", "test_relu_values or test_relu_grad_at_zero"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "grading seed: 4242" in result.stdout
    assert "2 passed" in result.stdout


def test_docs_table_lists_every_catalogued_mistake():
    """docs/mistakes.md is generated (python -m grading_tests.grade_mistakes --write ...); this
    fails when the catalogue changed and the table was not regenerated."""
    table = (PROJECT_ROOT / "docs" / "mistakes.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| 0")]
    assert len(rows) == len(MISTAKES)
    for mistake, row in zip(MISTAKES, rows):
        assert f"(`{mistake.key}`)" in row and f"`{mistake.function}`" in row


#: Return values no sensible student writes but some submission will: each must become
#: failed tests with messages, never an internal grading error.
ODD_RETURNS = [
    ("01_relu", "relu", "def relu(z):\n    return np.array([[1, 2]], dtype=object)\n"),
    ("01_relu", "numerical_gradient", "def numerical_gradient(f, x, eps=1e-6):\n    return f\n"),
    ("02_backward", "forward", "def forward(X, params):\n    return 1\n"),
    ("02_backward", "mse_loss", "def mse_loss(out, y):\n    return True\n"),
    ("02_backward", "backward", "def backward(X, y, params, cache):\n"
     "    return {'W1': np.full((3, 3), np.nan), 'b1': None, 'W2': 'x', 'b2': torch.zeros(1)}\n"),
    ("03_mlp", "mlp_forward", "def mlp_forward(X, params):\n    return object(), object()\n"),
    ("03_mlp", "mlp_backward", "def mlp_backward(y, params, cache):\n    return {k: [1.0] for k in params}\n"),
    ("03_mlp", "train_mlp", "def train_mlp(X, y, layer_sizes, lr, epochs, seed):\n    return None, [None] * epochs\n"),
    ("03_mlp", "to_torch", "def to_torch(params):\n    return [torch.nn.ReLU()]\n"),
    ("04_bce", "bce_loss", "def bce_loss(probs, y, eps=1e-12):\n    return float('nan')\n"),
    ("04_bce", "bce_grad_logits", "def bce_grad_logits(z, y):\n    return np.zeros(3, dtype=complex)\n"),
]


@STUDENT_WARNINGS
@pytest.mark.parametrize("notebook, function, source", ODD_RETURNS, ids=[f for _, f, _ in ODD_RETURNS])
def test_odd_return_values_fail_with_messages_not_internal_errors(notebook, function, source, solution, tmp_path):
    odd = Mistake(f"odd-{function}", notebook, function, "odd return value", source, None)
    run = run_hidden_tests(mistake_submission(odd, solution, tmp_path), 7, select=["-k", f"test_{notebook}"])
    failed = [test for test in run.tests if test.status == "failed"]
    assert failed and all(test.output for test in failed)
    assert not [test.internal_error for test in failed if test.internal_error]
