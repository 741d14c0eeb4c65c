"""04_bce: binary cross-entropy and its derivative (20 autograded points)."""

import numpy as np
import pytest

from grading_tests import reference as ref
from grading_tests.checks import call, describe_inputs, distinct_sizes
from grading_tests.diagnose import NOT_EXACT_AT_EXTREMES, GradingFailure, check_array, check_scalar

pytestmark = pytest.mark.notebook("04_bce")

#: Closed forms evaluated in another order differ by a few ulps (the solution against
#: torch, 300 draws: at most 2e-16 relative); every catalogued mistake is off by > 1e-3.
VALUE_TOLERANCE = 1e-10


def draw_probs(rng, N):
    probs = rng.uniform(0.05, 0.95, size=(N, 1))
    y = rng.integers(0, 2, size=(N, 1)).astype(np.float64)
    return probs, y


# ------------------------------------------------------------------------------- bce_loss


@pytest.mark.points(3)
@pytest.mark.functions("bce_loss")
def test_bce_loss_values(nb_bce, rng):
    """bce_loss is the mean binary cross-entropy over the batch, as a float"""
    N = distinct_sizes(rng, 1, 5, 12)[0]
    probs, y = draw_probs(rng, N)
    got = call(nb_bce, "bce_loss", {"probs": probs, "y": y}, repeat=True)
    check_scalar(got, ref.bce_of_probs(probs, y), what="`bce_loss(probs, y)`", tol=VALUE_TOLERANCE, batch=N,
                 inputs=describe_inputs({"probs": probs, "y": y}))


@pytest.mark.points(2)
@pytest.mark.functions("bce_loss")
def test_bce_loss_clips(nb_bce, rng):
    """bce_loss clips probabilities of exactly 0 and 1 to [eps, 1 - eps]"""
    probs = np.array([[0.0], [1.0], [0.3], [1.0], [0.0], [0.8]])
    y = np.array([[1.0], [0.0], [1.0], [1.0], [0.0], [0.0]])
    for args in ({"probs": probs, "y": y}, {"probs": probs, "y": y, "eps": 1e-6}):
        got = call(nb_bce, "bce_loss", args)
        eps = args.get("eps", 1e-12)
        # With p clipped the loss is finite: -log(eps) where a label meets the wrong end.
        check_scalar(got, ref.bce_loss(probs, y, eps), what=f"`bce_loss(probs, y, eps={eps:g})`",
                     tol=VALUE_TOLERANCE, inputs=describe_inputs(args))


# ------------------------------------------------------------------------ bce_dloss_dprob


@pytest.mark.points(3)
@pytest.mark.functions("bce_dloss_dprob")
def test_bce_dloss_dprob_values(nb_bce, rng):
    """bce_dloss_dprob is -y / p + (1 - y) / (1 - p) for every sample"""
    N = distinct_sizes(rng, 1, 5, 12)[0]
    p, y = draw_probs(rng, N)
    got = call(nb_bce, "bce_dloss_dprob", {"p": p, "y": y}, repeat=True)
    check_array(got, ref.bce_dloss_dprob(p, y), what="`bce_dloss_dprob(p, y)`", tol=VALUE_TOLERANCE, batch=N,
                inputs=describe_inputs({"p": p, "y": y}))


@pytest.mark.points(1)
@pytest.mark.functions("bce_dloss_dprob")
def test_bce_dloss_dprob_elementwise(nb_bce, rng):
    """bce_dloss_dprob works elementwise on a 2-D array"""
    shape = tuple(distinct_sizes(rng, 2, 2, 6))
    p = rng.uniform(0.05, 0.95, size=shape)
    y = rng.integers(0, 2, size=shape).astype(np.float64)
    got = call(nb_bce, "bce_dloss_dprob", {"p": p, "y": y})
    check_array(got, ref.bce_dloss_dprob(p, y), what="`bce_dloss_dprob(p, y)`", tol=VALUE_TOLERANCE,
                batch=shape[0], inputs=describe_inputs({"p": p, "y": y}))


# ------------------------------------------------------------------------ bce_with_logits

#: Logits at the contract's limit, the label at the far end (loss 1e4 per sample) ...
EXTREME_WRONG = (np.array([[1e4], [-1e4], [800.0], [-745.0], [2.5], [-0.5]]),
                 np.array([[0.0], [1.0], [0.0], [1.0], [1.0], [0.0]]))
#: ... and at the near end, where the exact loss underflows to 0.0 in float64.
EXTREME_RIGHT = (np.array([[1e4], [-1e4], [800.0], [-900.0]]), np.array([[1.0], [0.0], [1.0], [0.0]]))


def check_exact(got, expected, what, z, y):
    """A loss at extreme logits: finite and equal to the closed form to 1e-12 relative."""
    inputs = describe_inputs({"z": z, "y": y})
    check_scalar(got, expected, what=what, tol=np.inf, inputs=inputs)  # a finite float
    if abs(got - expected) > 1e-12 * abs(expected):
        raise GradingFailure(
            f"{what} is {NOT_EXACT_AT_EXTREMES}: expected {expected!r}, got {got!r}. Going through "
            "probabilities loses everything there (sigmoid(800) is exactly 1.0); compute from z with "
            "max(z, 0) - z * y + log(1 + exp(-|z|))." + inputs
        )


@pytest.mark.points(3)
@pytest.mark.functions("bce_with_logits")
def test_bce_with_logits_values(nb_bce, rng):
    """bce_with_logits matches PyTorch's binary_cross_entropy_with_logits"""
    N = distinct_sizes(rng, 1, 5, 12)[0]
    z = rng.normal(0.0, 3.0, size=(N, 1))
    y = rng.integers(0, 2, size=(N, 1)).astype(np.float64)
    got = call(nb_bce, "bce_with_logits", {"z": z, "y": y}, repeat=True)
    check_scalar(got, ref.bce_with_logits_torch(z, y), what="`bce_with_logits(z, y)`", tol=VALUE_TOLERANCE,
                 batch=N, inputs=describe_inputs({"z": z, "y": y}))


@pytest.mark.points(3)
@pytest.mark.functions("bce_with_logits")
def test_bce_with_logits_extreme(nb_bce):
    """bce_with_logits is finite, exact and warning-free for |z| up to 1e4"""
    for z, y in (EXTREME_WRONG, EXTREME_RIGHT):
        got = call(nb_bce, "bce_with_logits", {"z": z, "y": y}, warn_free=True)
        check_exact(got, ref.bce_with_logits(z, y), "`bce_with_logits(z, y)`", z, y)


# ------------------------------------------------------------------------ bce_grad_logits


@pytest.mark.points(3)
@pytest.mark.functions("bce_grad_logits")
def test_bce_grad_logits_values(nb_bce, rng):
    """bce_grad_logits is (sigmoid(z) - y) / N, shaped like z, as PyTorch autograd finds"""
    N = distinct_sizes(rng, 1, 5, 12)[0]
    z = rng.normal(0.0, 3.0, size=(N, 1))
    y = rng.integers(0, 2, size=(N, 1)).astype(np.float64)
    got = call(nb_bce, "bce_grad_logits", {"z": z, "y": y}, repeat=True)
    check_array(got, ref.bce_grad_logits(z, y), what="`bce_grad_logits(z, y)`", tol=VALUE_TOLERANCE, batch=N,
                inputs=describe_inputs({"z": z, "y": y}))


@pytest.mark.points(2)
@pytest.mark.functions("bce_grad_logits")
def test_bce_grad_logits_extreme(nb_bce):
    """bce_grad_logits is finite, exact and warning-free for |z| up to 1e4"""
    z = np.concatenate([EXTREME_WRONG[0], EXTREME_RIGHT[0]])
    y = np.concatenate([EXTREME_WRONG[1], EXTREME_RIGHT[1]])
    got = call(nb_bce, "bce_grad_logits", {"z": z, "y": y}, warn_free=True)
    check_array(got, ref.bce_grad_logits(z, y), what="`bce_grad_logits(z, y)`", tol=1e-12, batch=len(z),
                inputs=describe_inputs({"z": z, "y": y}))
