"""02_backward: manual backprop through one hidden layer (30 points)."""

import numpy as np
import pytest

from grading_tests import reference as ref
from grading_tests.checks import (
    away_from_kinks,
    blame_cache,
    blaming_key_order,
    call,
    describe_inputs,
    distinct_sizes,
    first_of_pair,
    reordered,
    unpack_pair,
)
from grading_tests.diagnose import (
    GradingFailure,
    check_array,
    check_gradients,
    check_scalar,
    named_scalar_variants,
    type_problem,
)

pytestmark = pytest.mark.notebook("02_backward")

#: Values computed the same way in another order differ by a few ulps (the solution
#: against autograd, 300 draws: at most 5e-15 relative); a mistake is off by far more.
VALUE_TOLERANCE = 1e-10
#: Central differences (h = 1e-6) of the reference loss against autograd, 300 draws:
#: median 9e-11, at most 1e-7 relative (CURRICULUM.md: < 1e-7 right, > 1e-4 wrong).
FD_TOLERANCE = 1e-6
#: Round-off of a central difference is absolute (measured at most 1e-9); where the
#: gradients are tiny (a nearly dead layer) it alone could exceed the relative
#: tolerance. Entries within 1e-6 * max(1, loss) pass.
FD_ABSOLUTE = 1e-6


def draw_problem(rng, N=None, D=None, H=None):
    """X (N, D), y (N, 1), params for D -> H -> 1, every size different unless given,
    and no pre-activation within KINK_MARGIN of ReLU's kink."""
    sizes = iter(distinct_sizes(rng, 3))
    N = N or next(sizes)
    D = D or next(sizes)
    H = H or next(sizes)

    def draw():
        X = rng.normal(size=(N, D))
        params = {
            "W1": rng.normal(0.0, 1.0 / np.sqrt(D), size=(D, H)),
            "b1": rng.normal(0.0, 0.5, size=H),
            "W2": rng.normal(0.0, 1.0 / np.sqrt(H), size=(H, 1)),
            "b2": rng.normal(0.0, 0.5, size=1),
        }
        y = rng.normal(size=(N, 1))
        # In no particular key order: a dict's order is not part of the contract.
        return X, y, reordered(params, rng)

    return away_from_kinks(draw, lambda X, y, params: [ref.two_layer_preactivation(X, params)])


def inputs_text(X, y, params):
    return describe_inputs({"X": X, "y": y, "params": params})


def student_forward(nb, X, params, **options):
    result = call(nb, "forward", {"X": X, "params": params}, **options)
    return unpack_pair(result, "forward", "out", "cache")


def student_gradients(nb, X, y, params, **options):
    """``(gradients, cache)``: the student's backward, fed the cache of the student's own forward."""
    _, cache = student_forward(nb, X, params)
    got = call(nb, "backward", {"X": X, "y": y, "params": params, "cache": cache}, numpy_only=True, **options)
    return got, cache


def two_layer_intermediates(X, params):
    Z1 = ref.two_layer_preactivation(X, params)
    return {"X": X, "Z1": Z1, "A1": ref.relu(Z1), "out": ref.two_layer_forward(X, params)}


def check_backward(got, X, y, params, nb=None, cache=None):
    """Fail unless ``got`` are the gradients; if they are wrong but ``backward`` is right
    once the wrong entries of forward's ``cache`` are corrected, blame ``forward``."""

    def check(got):
        check_gradients(
            got, ref.two_layer_grads(X, y, params), what="`backward`",
            order=ref.TWO_LAYER_BACKWARD_ORDER, tol=VALUE_TOLERANCE, batch=X.shape[0],
            variants=lambda: ref.two_layer_grad_variants(X, y, params), inputs=inputs_text(X, y, params),
        )

    try:
        check(got)
    except GradingFailure:
        if nb is not None:
            blame_cache(nb, "forward", "backward", cache, two_layer_intermediates(X, params), check,
                        {"X": X, "y": y, "params": params})
        raise


# -------------------------------------------------------------------------------- forward


@pytest.mark.points(4)
@pytest.mark.functions("forward")
def test_forward_values(nb_backward, rng):
    """forward returns out of shape (N, 1) equal to relu(X @ W1 + b1) @ W2 + b2"""
    X, y, params = draw_problem(rng)

    def run(params):
        out, _ = student_forward(nb_backward, X, params, repeat=first_of_pair)
        check_array(out, ref.two_layer_forward(X, params), what="`forward(X, params)[0]`",
                    tol=VALUE_TOLERANCE, inputs=inputs_text(X, y, params))

    blaming_key_order("forward", run, params)


@pytest.mark.points(1)
@pytest.mark.functions("forward")
def test_forward_batch_of_one(nb_backward, rng):
    """forward works for a batch of one sample"""
    X, y, params = draw_problem(rng, N=1)
    out, _ = student_forward(nb_backward, X, params)
    check_array(out, ref.two_layer_forward(X, params), what="`forward(X, params)[0]` for N = 1",
                tol=VALUE_TOLERANCE, inputs=inputs_text(X, y, params))


# ------------------------------------------------------------------------------- mse_loss


@pytest.mark.points(3)
@pytest.mark.functions("mse_loss")
def test_mse_loss_values(nb_backward, rng):
    """mse_loss is the mean of 0.5 * (out - y) ** 2 over the batch, as a float"""
    N = distinct_sizes(rng, 1, 4, 12)[0]
    out, y = rng.normal(size=(N, 1)), rng.normal(size=(N, 1))
    got = call(nb_backward, "mse_loss", {"out": out, "y": y}, repeat=True)
    check_scalar(got, ref.mse_loss(out, y), what="`mse_loss(out, y)`", tol=VALUE_TOLERANCE, batch=N,
                 inputs=describe_inputs({"out": out, "y": y}),
                 variants=lambda: named_scalar_variants(ref.mse_loss_variants(out, y)))


@pytest.mark.points(1)
@pytest.mark.functions("mse_loss")
def test_mse_loss_batch_of_one(nb_backward, rng):
    """mse_loss of a batch of one sample"""
    out, y = rng.normal(size=(1, 1)), rng.normal(size=(1, 1))
    got = call(nb_backward, "mse_loss", {"out": out, "y": y})
    check_scalar(got, ref.mse_loss(out, y), what="`mse_loss(out, y)` for N = 1", tol=VALUE_TOLERANCE,
                 inputs=describe_inputs({"out": out, "y": y}))


# ------------------------------------------------------------------------------- backward


@pytest.mark.points(8)
@pytest.mark.functions("backward", "forward")
def test_backward_matches_autograd(nb_backward, rng):
    """backward matches PyTorch autograd for W1, b1, W2 and b2, using NumPy only"""
    X, y, params = draw_problem(rng)

    def run(params):
        got, cache = student_gradients(nb_backward, X, y, params)
        check_backward(got, X, y, params, nb_backward, cache)

    blaming_key_order("backward", run, params)


@pytest.mark.points(1)
@pytest.mark.functions("backward", "forward")
@pytest.mark.parametrize("param", ["W1", "b1", "W2", "b2"])
def test_backward_finite_differences(nb_backward, rng, param):
    """backward matches finite differences for {param}"""
    X, y, params = draw_problem(rng)
    got, _ = student_gradients(nb_backward, X, y, params)
    check_gradients(got, ref.two_layer_grads(X, y, params), what="`backward`",  # keys, shapes
                    order=ref.TWO_LAYER_BACKWARD_ORDER, tol=1.0)
    numeric = ref.two_layer_loss_central_difference(X, y, params, param)
    check_array(got[param], numeric, what=f"`backward(...)['{param}']` against finite differences of the loss",
                tol=FD_TOLERANCE, atol=FD_ABSOLUTE * max(1.0, ref.two_layer_loss(X, y, params)), batch=X.shape[0],
                    inputs=inputs_text(X, y, params))


@pytest.mark.points(1)
@pytest.mark.functions("backward", "forward")
def test_backward_batch_of_one(nb_backward, rng):
    """backward is right for a batch of one sample"""
    X, y, params = draw_problem(rng, N=1)
    got, cache = student_gradients(nb_backward, X, y, params)
    check_backward(got, X, y, params, nb_backward, cache)


@pytest.mark.points(1)
@pytest.mark.functions("backward", "forward")
def test_backward_square_layer(nb_backward, rng):
    """backward is right when W1 is square (D == H)"""
    D = distinct_sizes(rng, 1, 4, 9)[0]
    N = distinct_sizes(rng, 1, 10, 14)[0]
    X, y, params = draw_problem(rng, N=N, D=D, H=D)
    got, cache = student_gradients(nb_backward, X, y, params)
    check_backward(got, X, y, params, nb_backward, cache)


@pytest.mark.points(2)
@pytest.mark.functions("backward", "forward")
def test_backward_leaves_arguments(nb_backward, rng):
    """backward leaves X, y, params and the cache unchanged and gives the same result twice"""
    X, y, params = draw_problem(rng)
    got, cache = student_gradients(nb_backward, X, y, params, readonly=True, repeat=True)
    check_backward(got, X, y, params, nb_backward, cache)


# ------------------------------------------------------------------------- autograd_grads


@pytest.mark.points(4)
@pytest.mark.functions("autograd_grads")
def test_autograd_grads(nb_backward, rng):
    """autograd_grads returns the reference gradients as float64 NumPy arrays"""
    X, y, params = draw_problem(rng)
    got, types = call(nb_backward, "autograd_grads", {"X": X, "y": y, "params": params}, with_types=True)
    problem = type_problem("autograd_grads", types)
    if problem:
        raise GradingFailure(problem + ".")
    check_gradients(got, ref.two_layer_grads(X, y, params), what="`autograd_grads`",
                    order=ref.TWO_LAYER_BACKWARD_ORDER, tol=VALUE_TOLERANCE, batch=X.shape[0],
                    variants=lambda: ref.two_layer_grad_variants(X, y, params), inputs=inputs_text(X, y, params))


@pytest.mark.points(1)
@pytest.mark.functions("autograd_grads")
def test_autograd_grads_leaves_arguments(nb_backward, rng):
    """autograd_grads leaves X, y and params unchanged and gives the same result twice"""
    X, y, params = draw_problem(rng)
    got = call(nb_backward, "autograd_grads", {"X": X, "y": y, "params": params}, readonly=True, repeat=True)
    check_gradients(got, ref.two_layer_grads(X, y, params), what="`autograd_grads`",
                    order=ref.TWO_LAYER_BACKWARD_ORDER, tol=VALUE_TOLERANCE, batch=X.shape[0])
