"""01_relu: activations and numerical gradients (15 points)."""

import numpy as np
import pytest

from grading_tests import reference as ref
from grading_tests.checks import call, describe_inputs, distinct_sizes
from grading_tests.diagnose import (
    EPS_IGNORED,
    FORWARD_DIFFERENCE,
    NOT_EXACT_AT_EXTREMES,
    RELU_GRAD_AT_ZERO,
    STEP_SCALED,
    GradingFailure,
    LazyText,
    check_array,
    compact,
    expected_got,
)

pytestmark = pytest.mark.notebook("01_relu")

#: Logits from moderate to the contract's limit |z| = 1e4, where a naive exp overflows.
EXTREME_Z = np.array([-1e4, -1e3, -745.0, -700.0, -40.0, -1.5, 0.25, 40.0, 700.0, 745.0, 1e3, 1e4])


def away_from_zero(rng, shape, margin=ref.KINK_MARGIN):
    """Normal values with no entry within ``margin`` of ReLU's kink."""
    z = rng.normal(0.0, 2.0, size=shape)
    return np.where(np.abs(z) < margin, np.sign(z + 0.5) * (margin + np.abs(z)), z)


@pytest.mark.points(2)
@pytest.mark.functions("relu")
def test_relu_values(nb_relu, rng):
    """relu equals max(0, z) on 1-D, 2-D and 3-D arrays"""
    for shape in ([7], distinct_sizes(rng, 2), distinct_sizes(rng, 3, 2, 5)):
        z = away_from_zero(rng, tuple(shape))
        got = call(nb_relu, "relu", {"z": z}, repeat=True)
        # ReLU is exact in floating point: any correct implementation gives identical values.
        check_array(got, ref.relu(z), what="`relu(z)`", tol=0.0, inputs=describe_inputs({"z": z}))


@pytest.mark.points(2)
@pytest.mark.functions("relu_grad")
def test_relu_grad_values(nb_relu, rng):
    """relu_grad is 1.0 where z > 0 and 0.0 where z < 0, as float64, on 1-D, 2-D and 3-D arrays"""
    for shape in ([9], distinct_sizes(rng, 2), distinct_sizes(rng, 3, 2, 5)):
        z = away_from_zero(rng, tuple(shape))
        got = call(nb_relu, "relu_grad", {"z": z}, repeat=True)
        check_array(got, ref.relu_grad(z), what="`relu_grad(z)`", tol=0.0, inputs=describe_inputs({"z": z}))


@pytest.mark.points(1)
@pytest.mark.functions("relu_grad")
def test_relu_grad_at_zero(nb_relu):
    """relu_grad is 0.0 at exactly z == 0 (PyTorch's convention)"""
    z = np.array([[0.0, -0.0, 2.5], [-1.0, 0.0, 1e-300]])
    got = call(nb_relu, "relu_grad", {"z": z})
    expected = ref.relu_grad(z)
    check_array(got, expected, what="`relu_grad(z)`", tol=1.0, inputs=describe_inputs({"z": z}))  # shape, dtype
    if np.any(got[z == 0] != 0.0):
        raise GradingFailure(f"`relu_grad(z)` is wrong: the {RELU_GRAD_AT_ZERO} must be 0.0 (PyTorch's "
                             "convention: use z > 0, not z >= 0)." + describe_inputs({"z": z})
                             + expected_got(expected, got))
    check_array(got, expected, what="`relu_grad(z)`", tol=0.0, inputs=describe_inputs({"z": z}))


@pytest.mark.points(2)
@pytest.mark.functions("sigmoid")
def test_sigmoid_values(nb_relu, rng):
    """sigmoid matches torch.sigmoid on moderate inputs of 1, 2 and 3 dimensions"""
    for shape in ([8], distinct_sizes(rng, 2), distinct_sizes(rng, 3, 2, 5)):
        z = rng.normal(0.0, 3.0, size=tuple(shape))
        got = call(nb_relu, "sigmoid", {"z": z}, repeat=True)
        # The solution differs from torch by at most 1.1e-16 (300 draws); a wrong
        # formula is off by more than 1e-3.
        check_array(got, ref.sigmoid(z), what="`sigmoid(z)`", tol=1e-12, inputs=describe_inputs({"z": z}))


def check_extreme(got, expected, what, z):
    """Finite, and per entry equal to the reference within 1e-12 relative or 1e-15
    absolute: values live in [0, 1], so 1e-15 is a few ulps of 1, and any way of
    computing s * (1 - s) near |z| = 40 rounds to within that."""
    # relative_error never exceeds 1: this call checks type, shape, dtype and finiteness.
    check_array(got, expected, what=what, tol=1.0, inputs=describe_inputs({"z": z}))
    bad = np.abs(got - expected) > 1e-12 * np.abs(expected) + 1e-15
    if np.any(bad):
        i = int(np.argmax(bad))
        raise GradingFailure(
            f"{what} is {NOT_EXACT_AT_EXTREMES}: at z = {z.ravel()[i]:g} expected {expected.ravel()[i]!r}, "
            f"got {got.ravel()[i]!r}. Use a form that never computes exp of a large positive number."
            + expected_got(expected, got)
        )


@pytest.mark.points(2)
@pytest.mark.functions("sigmoid")
def test_sigmoid_extreme(nb_relu):
    """sigmoid is finite, exact and warning-free for |z| up to 1e4"""
    got = call(nb_relu, "sigmoid", {"z": EXTREME_Z}, warn_free=True)
    check_extreme(got, ref.sigmoid(EXTREME_Z), "`sigmoid(z)`", EXTREME_Z)


@pytest.mark.points(1)
@pytest.mark.functions("sigmoid_grad", "sigmoid")
def test_sigmoid_grad_values(nb_relu, rng):
    """sigmoid_grad equals sigmoid(z) * (1 - sigmoid(z)) on 1-D, 2-D and 3-D arrays"""
    for shape in ([6], distinct_sizes(rng, 2), distinct_sizes(rng, 3, 2, 5)):
        z = rng.normal(0.0, 3.0, size=tuple(shape))
        got = call(nb_relu, "sigmoid_grad", {"z": z}, repeat=True)
        # Same reasoning as sigmoid's tolerance: a few ulps against a formula error.
        check_array(got, ref.sigmoid_grad(z), what="`sigmoid_grad(z)`", tol=1e-12,
                    inputs=describe_inputs({"z": z}))


@pytest.mark.points(1)
@pytest.mark.functions("sigmoid_grad", "sigmoid")
def test_sigmoid_grad_extreme(nb_relu):
    """sigmoid_grad is finite, exact and warning-free for |z| up to 1e4"""
    got = call(nb_relu, "sigmoid_grad", {"z": EXTREME_Z}, warn_free=True)
    check_extreme(got, ref.sigmoid_grad(EXTREME_Z), "`sigmoid_grad(z)`", EXTREME_Z)


# --------------------------------------------------------------------- numerical_gradient

#: Central differences with h = 1e-6 on the cubic below agree with the exact gradient
#: to round-off (the solution, 600 draws: at most 5.8e-10 relative); a forward
#: difference is off by h/2 * f'' (at least 2.1e-7 on the same draws). The threshold
#: sits between, a factor 35 from the first and 10 from the second.
CENTRAL_DIFFERENCE_TOLERANCE = 2e-8


RESTORE_X = ("x must hold its original values afterwards: perturb a float64 copy, or put each "
             "entry back after evaluating f")


def cubic_params(rng, shape):
    return {
        "a": rng.uniform(0.5, 2.0, size=shape).tolist(),
        "b": float(rng.uniform(0.5, 1.5)),
        "c": float(rng.uniform(0.1, 0.5)),
    }


def curved_point(rng, shape, eps=1e-6):
    """Entries of moderate size (the cubic's curvature is then comparable to its slope),
    on both sides of 1 in magnitude in every draw (a step scaled by max(1, |x|) shows),
    and at least one entry where adding and subtracting ``eps`` does not give it back
    (so only code that puts back the saved value leaves ``x`` as it was)."""
    x = rng.uniform(0.3, 0.9, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    flat = x.reshape(-1)
    # Not among the first two entries, which with_round_off may set.
    flat[rng.integers(2, flat.size)] = rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 2.5)
    return with_round_off(x, eps)


def with_round_off(x, eps):
    """``x`` with entries where putting a value back by arithmetic fails: one where
    ``(v + eps) - eps != v`` and one where ``((v + eps) - 2 eps) + eps != v`` (the two
    ways to undo a step). The first is rare (``v + eps`` must cross into a binade with
    a coarser grid), so an entry just below 1 is chosen for it; the rest stay as drawn."""
    x = np.array(x, dtype=np.float64)
    flat = x.reshape(-1)
    undo = (lambda v: (v + eps) - eps, lambda v: ((v + eps) - 2 * eps) + eps)
    for position, restore in enumerate(undo):
        if np.any(restore(flat) != flat):
            continue
        v = 1.0 - eps / 2
        while restore(v) == v:
            v = np.nextafter(v, 0.0)
        flat[position % flat.size] = v
    return x


def numerical_gradient_problem(got, f, x, eps):
    """Name the way a wrong numerical gradient differs from the central difference."""
    forward = np.zeros_like(x)
    fx = f(x)
    for i in np.ndindex(x.shape):
        step = x.copy()
        step[i] += eps
        forward[i] = (f(step) - fx) / eps
    if isinstance(got, np.ndarray) and got.shape == x.shape:
        if ref.relative_error(got, forward) < 1e-9:
            return (f"it is a {FORWARD_DIFFERENCE} (f(x + h) - f(x)) / h, accurate to O(h) only; "
                    "use the central difference (f(x + h) - f(x - h)) / (2h)")
        # With eps = 1e-2 the right answer is ~1e-5 away from the exact gradient; a
        # result within 1e-7 of it was computed with a much smaller step.
        if eps >= 1e-3 and ref.relative_error(got, f.gradient(x)) < 1e-7:
            return f"the {EPS_IGNORED}: with eps = {eps:g} the step h must be {eps:g}"
        if ref.relative_error(got, scaled_step_difference(f, x, eps)) < 1e-9 < ref.relative_error(
                got, ref.central_difference(f, x, eps)):
            return (f"the {STEP_SCALED} (h = eps * max(1, |x|)): where |x| > 1 the step is larger "
                    f"than eps; the contract's step is exactly eps = {eps:g} for every entry")
    return None


def scaled_step_difference(f, x, eps):
    """Central differences with the step ``eps * max(1, |x_i|)`` (a relative step)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        h = eps * max(1.0, abs(x[i]))
        old = x[i]
        x[i] = old + h
        plus = f(x)
        x[i] = old - h
        minus = f(x)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


@pytest.mark.points(2)
@pytest.mark.functions("numerical_gradient")
def test_numerical_gradient_accuracy(nb_relu, rng):
    """numerical_gradient is accurate to central-difference precision on a curved function"""
    for shape in ((distinct_sizes(rng, 1, 6, 12)[0],), tuple(distinct_sizes(rng, 2, 2, 5))):
        params = cubic_params(rng, shape)
        x = curved_point(rng, shape)
        local = ref_function("cubic_sum", params)
        f = nb_relu.reference_function("cubic_sum", **params)
        got = call(nb_relu, "numerical_gradient", {"f": f, "x": x}, may_modify=("f",), modify_hint=RESTORE_X)
        expected = local.gradient(x)
        what = "`numerical_gradient(f, x)`"
        inputs = LazyText(
            lambda x=x: f"\n  with f(x) = sum(a * x**3 + b * sin(x)) + c * sum(x)**2 and x = {compact(x)}")
        named = numerical_gradient_problem(got, local, x, 1e-6)
        if named:
            raise GradingFailure(f"{what} is wrong: {named}.{inputs}{expected_got(expected, got)}")
        check_array(got, expected, what=what, tol=CENTRAL_DIFFERENCE_TOLERANCE, inputs=inputs)


@pytest.mark.points(1)
@pytest.mark.functions("numerical_gradient")
def test_numerical_gradient_any_shape(nb_relu, rng):
    """numerical_gradient works on a 3-D x and leaves x holding its original values"""
    shape = tuple(distinct_sizes(rng, 3, 2, 4))
    A = rng.normal(size=(int(np.prod(shape)),) * 2)
    g = rng.normal(size=int(np.prod(shape)))
    x = with_round_off(rng.normal(size=shape), 1e-6)
    local = ref_function("quadratic", {"A": A, "g": g})
    f = nb_relu.reference_function("quadratic", A=A, g=g)
    # `call` fails if x holds other values afterwards (changing it during the call is fine).
    got = call(nb_relu, "numerical_gradient", {"f": f, "x": x}, may_modify=("f",), modify_hint=RESTORE_X)
    # Central differences are exact on a quadratic up to round-off (~1e-10 relative).
    check_array(got, local.gradient(x), what="`numerical_gradient(f, x)` for a 3-D x", tol=1e-7,
                inputs=f"\n  with f(x) = 0.5 * v @ A @ v + g @ v, v = x.ravel(), x of shape {shape}")


@pytest.mark.points(1)
@pytest.mark.functions("numerical_gradient")
def test_numerical_gradient_eps(nb_relu, rng):
    """numerical_gradient uses the step eps it is given"""
    shape = (distinct_sizes(rng, 1, 4, 8)[0],)
    params = cubic_params(rng, shape)
    eps = 1e-2
    x = curved_point(rng, shape, eps)
    local = ref_function("cubic_sum", params)
    f = nb_relu.reference_function("cubic_sum", **params)
    got = call(nb_relu, "numerical_gradient", {"f": f, "x": x, "eps": eps}, may_modify=("f",), modify_hint=RESTORE_X)
    expected = ref.central_difference(local, x, eps)
    what = f"`numerical_gradient(f, x, eps={eps:g})`"
    named = numerical_gradient_problem(got, local, x, eps)
    if named:
        raise GradingFailure(f"{what} is wrong: {named}.{expected_got(expected, got)}")
    # With h = 1e-2 the central difference differs from the exact gradient by ~1e-5
    # relative; two central differences with the same h agree to round-off (~1e-13).
    check_array(got, expected, what=what, tol=1e-9)


def ref_function(kind, params):
    from autograder import testfunctions

    return testfunctions.make(kind, **params)
