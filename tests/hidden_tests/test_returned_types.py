"""A function whose contract says "NumPy arrays" fails when it returns torch tensors,
though the transport would convert them: the hidden tests read the types the provider
recorded (``Notebook.last_call_types``) and name the type the student returned."""

from __future__ import annotations

import pytest

from autograder.grading.suite import run_hidden_tests
from autograder.inprocess import InProcessSubmission
from autograder.paths import SOURCE_DIR
from grading_tests.grade_mistakes import mistake_submission
from grading_tests.mistakes import Mistake

pytestmark = pytest.mark.slow  # runs the hidden tests on whole notebooks

TENSORS = Mistake("autograd-returns-tensors", "02_backward", "autograd_grads", "returns the .grad tensors", """
def autograd_grads(X, y, params):
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    out = torch.relu(torch.tensor(X) @ leaves["W1"] + leaves["b1"]) @ leaves["W2"] + leaves["b2"]
    torch.mean(0.5 * (out - torch.tensor(y)) ** 2).backward()
    return {k: v.grad for k, v in leaves.items()}
""", None)

INIT_AS_TENSORS = Mistake("init-returns-tensors", "03_mlp", "init_mlp", "He initialisation, as torch tensors", """
def init_mlp(layer_sizes, seed):
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(layer_sizes)):
        fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
        params[f"W{l}"] = torch.from_numpy(rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out)))
        params[f"b{l}"] = np.zeros(fan_out)
    return params
""", None)


@pytest.fixture(scope="module")
def solution():
    return InProcessSubmission(SOURCE_DIR, source_dir=SOURCE_DIR)


@pytest.mark.parametrize("mistake, test_name", [
    (TENSORS, "autograd_grads returns the reference gradients as float64 NumPy arrays"),
    (INIT_AS_TENSORS, "init_mlp draws exactly the contract's He initialisation"),
])
def test_tensors_returned_where_numpy_arrays_are_due_fail_naming_the_type(solution, tmp_path, mistake, test_name):
    run = run_hidden_tests(mistake_submission(mistake, solution, tmp_path), seed=5,
                           select=["-k", mistake.function])
    failed = {test.name.split(": ", 1)[1]: test for test in run.tests if test.status == "failed"}
    test = next(test for name, test in failed.items() if name.startswith(test_name))
    assert test.output.startswith(f"`{mistake.function}` returns "), test.output
    assert "as torch.Tensor, not as NumPy arrays (convert with .detach().numpy())" in test.output
    assert test.diagnosis is not None and not test.internal_error
    assert all(mistake.function in test.tags for test in failed.values())


def test_the_solution_returns_numpy_arrays_everywhere(solution):
    run = run_hidden_tests(solution, seed=5, select=["-k", "autograd_grads or init_mlp"])
    assert run.tests and all(test.status == "passed" for test in run.tests), \
        [test.output for test in run.tests if test.status != "passed"]
