"""04_bce: binary cross-entropy and its derivative (20 autograded points).

All four functions accept any shape (ASSIGNMENT.md): every run tries (N, 1), (N, K)
with K > 1, 1-D and 3-D arrays, since a mean over ``len(z)`` rows or a loss built from
``y.T @ log(p)`` is right at (N, 1) only.
"""

import numpy as np
import pytest

from grading_tests import reference as ref
from grading_tests.checks import call, describe_inputs, distinct_sizes
from grading_tests.diagnose import (
    LEN_NOT_SIZE,
    NOT_EXACT_AT_EXTREMES,
    GradingFailure,
    check_array,
    check_scalar,
    expected_got,
    fitted_factor,
    named_scalar_variants,
)

pytestmark = pytest.mark.notebook("04_bce")

#: Closed forms evaluated in another order differ by a few ulps (the solution against
#: torch, 300 draws: at most 2e-16 relative); every catalogued mistake is off by > 1e-3.
VALUE_TOLERANCE = 1e-10


def draw_probs(rng, shape):
    probs = rng.uniform(0.05, 0.95, size=shape)
    y = rng.integers(0, 2, size=shape).astype(np.float64)
    return probs, y


def draw_logits(rng, shape):
    """Logits on both sides of 0 and of +-1, labels of both kinds."""
    z = rng.normal(0.0, 3.0, size=shape)
    y = rng.integers(0, 2, size=shape).astype(np.float64)
    return z, y


def other_shapes(rng):
    """(N, K) with K > 1 and N != K, 1-D, and 3-D: the shapes besides (N, 1)."""
    n, k = distinct_sizes(rng, 2, 2, 7)
    return [(n, k), (distinct_sizes(rng, 1, 3, 12)[0],), tuple(distinct_sizes(rng, 3, 2, 4))]


def column(rng):
    return (distinct_sizes(rng, 1, 5, 12)[0], 1)


def bce_variants(probs, y, eps=1e-12):
    return lambda: named_scalar_variants(ref.bce_loss_variants(probs, y, eps))


# ------------------------------------------------------------------------------- bce_loss


def check_bce_loss(nb, probs, y, **options):
    got = call(nb, "bce_loss", {"probs": probs, "y": y}, **options)
    check_scalar(got, ref.bce_of_probs(probs, y), what=f"`bce_loss(probs, y)` for shape {probs.shape}",
                 tol=VALUE_TOLERANCE, batch=probs.size, inputs=describe_inputs({"probs": probs, "y": y}),
                 variants=bce_variants(probs, y))


@pytest.mark.points(2)
@pytest.mark.functions("bce_loss")
def test_bce_loss_values(nb_bce, rng):
    """bce_loss is the mean binary cross-entropy over the batch, as a float"""
    check_bce_loss(nb_bce, *draw_probs(rng, column(rng)), repeat=True)


@pytest.mark.points(1)
@pytest.mark.functions("bce_loss")
def test_bce_loss_any_shape(nb_bce, rng):
    """bce_loss averages over every entry for (N, K), 1-D and 3-D arrays"""
    for shape in other_shapes(rng):
        check_bce_loss(nb_bce, *draw_probs(rng, shape))


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
                     tol=VALUE_TOLERANCE, inputs=describe_inputs(args), variants=bce_variants(probs, y, eps),
                     near_miss="log(p + eps) where p should be clipped, or a different eps")


# ------------------------------------------------------------------------ bce_dloss_dprob


def check_dloss(nb, p, y, **options):
    got = call(nb, "bce_dloss_dprob", {"p": p, "y": y}, **options)
    check_array(got, ref.bce_dloss_dprob(p, y), what=f"`bce_dloss_dprob(p, y)` for shape {p.shape}",
                tol=VALUE_TOLERANCE, batch=p.shape[0], inputs=describe_inputs({"p": p, "y": y}))


@pytest.mark.points(3)
@pytest.mark.functions("bce_dloss_dprob")
def test_bce_dloss_dprob_values(nb_bce, rng):
    """bce_dloss_dprob is -y / p + (1 - y) / (1 - p) for every sample"""
    check_dloss(nb_bce, *draw_probs(rng, column(rng)), repeat=True)


@pytest.mark.points(1)
@pytest.mark.functions("bce_dloss_dprob")
def test_bce_dloss_dprob_elementwise(nb_bce, rng):
    """bce_dloss_dprob works elementwise on (N, K), 1-D and 3-D arrays"""
    for shape in other_shapes(rng):
        check_dloss(nb_bce, *draw_probs(rng, shape))


# ------------------------------------------------------------------------ bce_with_logits

#: Logits at the contract's limit, the label at the far end (loss 1e4 per sample) ...
EXTREME_WRONG = (np.array([[1e4], [-1e4], [800.0], [-745.0], [2.5], [-0.5]]),
                 np.array([[0.0], [1.0], [0.0], [1.0], [1.0], [0.0]]))
#: ... and at the near end, where the exact loss underflows to 0.0 in float64.
EXTREME_RIGHT = (np.array([[1e4], [-1e4], [800.0], [-900.0]]), np.array([[1.0], [0.0], [1.0], [0.0]]))
#: Both, as one (2, 5) and one 1-D array: the extremes in other shapes.
EXTREME_OTHER_SHAPES = [
    (np.concatenate([EXTREME_WRONG[0], EXTREME_RIGHT[0]]).reshape(2, 5),
     np.concatenate([EXTREME_WRONG[1], EXTREME_RIGHT[1]]).reshape(2, 5)),
    (np.concatenate([EXTREME_RIGHT[0], EXTREME_WRONG[0]]).ravel(),
     np.concatenate([EXTREME_RIGHT[1], EXTREME_WRONG[1]]).ravel()),
]


def check_exact(got, expected, what, z, y):
    """A loss at extreme logits: finite and equal to the closed form to 1e-12 relative."""
    inputs = describe_inputs({"z": z, "y": y})
    check_scalar(got, expected, what=what, tol=np.inf, inputs=inputs)  # a finite float
    if abs(got - expected) > 1e-12 * abs(expected):
        raise GradingFailure(
            f"{what} is {NOT_EXACT_AT_EXTREMES}: expected {expected!r}, got {got!r}. If it goes through "
            "probabilities, that loses everything there (sigmoid(800) is exactly 1.0); compute from z with "
            "max(z, 0) - z * y + log(1 + exp(-|z|)), averaged over every entry." + inputs
        )


def check_logits_loss(nb, z, y, **options):
    got = call(nb, "bce_with_logits", {"z": z, "y": y}, **options)
    check_scalar(got, ref.bce_with_logits_torch(z, y), what=f"`bce_with_logits(z, y)` for shape {z.shape}",
                 tol=VALUE_TOLERANCE, batch=z.size, inputs=describe_inputs({"z": z, "y": y}))


@pytest.mark.points(2)
@pytest.mark.functions("bce_with_logits")
def test_bce_with_logits_values(nb_bce, rng):
    """bce_with_logits matches PyTorch's binary_cross_entropy_with_logits"""
    check_logits_loss(nb_bce, *draw_logits(rng, column(rng)), repeat=True)


@pytest.mark.points(1)
@pytest.mark.functions("bce_with_logits")
def test_bce_with_logits_any_shape(nb_bce, rng):
    """bce_with_logits averages over every entry for (N, K), 1-D and 3-D arrays"""
    for shape in other_shapes(rng):
        check_logits_loss(nb_bce, *draw_logits(rng, shape))


@pytest.mark.points(3)
@pytest.mark.functions("bce_with_logits")
def test_bce_with_logits_extreme(nb_bce):
    """bce_with_logits is finite, exact and warning-free for |z| up to 1e4"""
    for z, y in (EXTREME_WRONG, EXTREME_RIGHT, *EXTREME_OTHER_SHAPES):
        got = call(nb_bce, "bce_with_logits", {"z": z, "y": y}, warn_free=True)
        check_exact(got, ref.bce_with_logits(z, y), f"`bce_with_logits(z, y)` for shape {z.shape}", z, y)


# ------------------------------------------------------------------------ bce_grad_logits


def check_grad_logits(nb, z, y, tol=VALUE_TOLERANCE, **options):
    got = call(nb, "bce_grad_logits", {"z": z, "y": y}, **options)
    expected = ref.bce_grad_logits(z, y)
    what = f"`bce_grad_logits(z, y)` for shape {z.shape}"
    inputs = describe_inputs({"z": z, "y": y})
    rows = z.shape[0] if z.ndim else 1
    if isinstance(got, np.ndarray) and got.shape == z.shape and rows != z.size:
        r = fitted_factor(got, expected)
        if r is not None and abs(r - z.size / rows) <= 1e-6 * r:
            raise GradingFailure(f"{what} is wrong: it is {z.size // rows} times too large: {LEN_NOT_SIZE} "
                                 f"not by z.size, the number of entries ({z.size}); the mean is over every "
                                 f"entry.{inputs}{expected_got(expected, got)}")
    check_array(got, expected, what=what, tol=tol, batch=z.size, inputs=inputs)


@pytest.mark.points(2)
@pytest.mark.functions("bce_grad_logits")
def test_bce_grad_logits_values(nb_bce, rng):
    """bce_grad_logits is (sigmoid(z) - y) / N, shaped like z, as PyTorch autograd finds"""
    check_grad_logits(nb_bce, *draw_logits(rng, column(rng)), repeat=True)


@pytest.mark.points(1)
@pytest.mark.functions("bce_grad_logits")
def test_bce_grad_logits_any_shape(nb_bce, rng):
    """bce_grad_logits divides by z.size for (N, K), 1-D and 3-D arrays"""
    for shape in other_shapes(rng):
        check_grad_logits(nb_bce, *draw_logits(rng, shape))


@pytest.mark.points(2)
@pytest.mark.functions("bce_grad_logits")
def test_bce_grad_logits_extreme(nb_bce):
    """bce_grad_logits is finite, exact and warning-free for |z| up to 1e4"""
    z = np.concatenate([EXTREME_WRONG[0], EXTREME_RIGHT[0]])
    y = np.concatenate([EXTREME_WRONG[1], EXTREME_RIGHT[1]])
    for z, y in ((z, y), *EXTREME_OTHER_SHAPES):
        check_grad_logits(nb_bce, z, y, tol=1e-12, warn_free=True)
