"""03_mlp: a multi-layer perceptron classifier, any depth (35 points)."""

import numpy as np
import pytest

from grading_tests import reference as ref
from grading_tests.checks import (
    away_from_kinks,
    backward_order,
    blame_cache,
    blaming_key_order,
    call,
    contract_order,
    describe_inputs,
    distinct_sizes,
    first_of_pair,
    reordered,
    unpack_pair,
)
from grading_tests.diagnose import (
    LOSS_AFTER_STEP,
    NON_FINITE,
    SHALLOW_COPY,
    TRAIN_LOOP_BLAME,
    TRAINING_BLAME,
    GradingFailure,
    array_problem,
    check_array,
    check_gradients,
    compact,
    expected_got,
    gradients_problem,
    named_variants,
    signature_of,
    type_problem,
)
from autograder.errors import SubmissionError

pytestmark = pytest.mark.notebook("03_mlp")

#: Same computation in another order: a few ulps (the solution against torch and
#: autograd at depth 5, 300 draws: at most 5e-15 relative); a mistake is off by far more.
VALUE_TOLERANCE = 1e-10
#: Central differences (h = 1e-6) of the reference loss (from the logits) against
#: autograd at depth 4, 100 draws x 8 parameters: median 2.4e-10, at most 1.1e-8 relative.
FD_TOLERANCE = 1e-6
#: Round-off of a central difference is absolute (measured at most 5.6e-10); where a
#: layer is nearly dead its gradients are tiny and that round-off alone could exceed
#: the relative tolerance. Entries within 1e-6 * max(1, loss) pass.
FD_ABSOLUTE = 1e-6
TRAIN_FUNCTIONS = ("train_mlp", "init_mlp", "mlp_forward", "mlp_backward", "sgd_step")


def draw_network(rng, depth, N=None, square=False):
    """X (N, D), y in {0, 1} (N, 1), params for ``depth`` layers; N, D and the hidden
    widths all different (one square hidden layer if ``square``); hidden
    pre-activations at least KINK_MARGIN away from 0, output logits within +-8 (so the
    probabilities are not saturated and every correct way to compute the gradients
    agrees to round-off)."""
    sizes = distinct_sizes(rng, depth + 1)
    N = N or sizes[0]
    layer_sizes = [*sizes[1:], 1]
    if square:
        layer_sizes[2] = layer_sizes[1]

    def draw():
        X = rng.normal(size=(N, layer_sizes[0]))
        params = {}
        for l in range(1, depth + 1):
            fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
            params[f"W{l}"] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
            params[f"b{l}"] = rng.normal(0.0, 0.3, size=fan_out)
        y = rng.integers(0, 2, size=(N, 1)).astype(np.float64)
        return X, y, params

    def hidden_preactivations(X, y, params):
        Zs = ref.mlp_preactivations(X, params)
        # An output logit beyond +-8 counts as "at a kink": the sample is drawn again.
        return [*Zs[:-1], np.where(np.abs(Zs[-1]) > 8.0, 0.0, 1.0)]

    return away_from_kinks(draw, hidden_preactivations)


def inputs_text(X, y, params):
    sizes = [X.shape[1]] + [params[f"W{l}"].shape[1] for l in range(1, ref.layer_count(params) + 1)]
    return describe_inputs({"X": X, "y": y}) + f"\n  and a network with layer sizes {sizes}"


def student_forward(nb, X, params, **options):
    return unpack_pair(call(nb, "mlp_forward", {"X": X, "params": params}, **options),
                       "mlp_forward", "probs", "cache")


def student_gradients(nb, X, y, params, **options):
    """The student's mlp_backward, fed the cache of the student's own mlp_forward."""
    return student_gradients_and_cache(nb, X, y, params, **options)[0]


def student_gradients_and_cache(nb, X, y, params, **options):
    _, cache = student_forward(nb, X, params)
    return call(nb, "mlp_backward", {"y": y, "params": params, "cache": cache}, numpy_only=True, **options), cache


def mlp_intermediates(X, params):
    """What a cache usually holds, by its usual name: A0 (X), Z1, A1, ..., ZL, AL (probs)."""
    L = ref.layer_count(params)
    Zs = ref.mlp_preactivations(X, params)
    named = {"A0": X, "X": X}
    for l, Z in enumerate(Zs, start=1):
        named[f"Z{l}"] = Z
        named[f"A{l}"] = ref.relu(Z) if l < L else ref.mlp_forward(X, params)
    return named


def check_backward(got, X, y, params, nb=None, cache=None):
    L = ref.layer_count(params)

    def check(got):
        check_gradients(got, ref.mlp_grads(X, y, params), what="`mlp_backward`", order=ref.mlp_backward_order(L),
                        tol=VALUE_TOLERANCE, batch=X.shape[0],
                        variants=lambda: ref.mlp_grad_variants(X, y, params), inputs=inputs_text(X, y, params))

    try:
        check(got)
    except GradingFailure:
        if nb is not None:
            blame_cache(nb, "mlp_forward", "mlp_backward", cache, mlp_intermediates(X, params), check,
                        {"y": y, "params": params})
        raise


# ------------------------------------------------------------------------------- init_mlp


def check_init(got, layer_sizes, seed):
    L = len(layer_sizes) - 1
    check_gradients(got, ref.init_mlp(layer_sizes, seed), what=f"`init_mlp({layer_sizes}, seed={seed})`",
                    order=ref.mlp_keys(L), tol=1e-12, variants=lambda: ref.init_variants(layer_sizes, seed),
                    noun="parameter", order_text="")


@pytest.mark.points(2)
@pytest.mark.functions("init_mlp")
def test_init_mlp_default(nb_mlp, rng):
    """init_mlp draws exactly the contract's He initialisation for [2, 4, 3, 2, 1]"""
    seed = int(rng.integers(0, 2**31))
    got, types = call(nb_mlp, "init_mlp", {"layer_sizes": [2, 4, 3, 2, 1], "seed": seed}, repeat=True,
                      with_types=True)
    problem = type_problem("init_mlp", types)
    if problem:
        raise GradingFailure(problem + ".")
    check_init(got, [2, 4, 3, 2, 1], seed)


@pytest.mark.points(2)
@pytest.mark.functions("init_mlp")
def test_init_mlp_any_depth(nb_mlp, rng):
    """init_mlp works for depths 2 to 5 and assorted widths"""
    for depth in (2, 3, 5):
        layer_sizes = distinct_sizes(rng, depth + 1, 1, 9)
        seed = int(rng.integers(0, 2**31))
        check_init(call(nb_mlp, "init_mlp", {"layer_sizes": layer_sizes, "seed": seed}), layer_sizes, seed)


# ---------------------------------------------------------------------------- mlp_forward


@pytest.mark.points(1.5)
@pytest.mark.functions("mlp_forward")
@pytest.mark.parametrize("depth", [2, 3, 4, 5])
def test_mlp_forward(nb_mlp, rng, depth):
    """mlp_forward matches PyTorch for a depth-{depth} network"""
    X, y, params = draw_network(rng, depth)

    def run(params):
        probs, _ = student_forward(nb_mlp, X, params, repeat=first_of_pair)
        check_array(probs, ref.mlp_forward(X, params), what="`mlp_forward(X, params)[0]` (probs)",
                    tol=VALUE_TOLERANCE, inputs=inputs_text(X, y, params))

    blaming_key_order("mlp_forward", run, reordered(params, rng))


@pytest.mark.points(1)
@pytest.mark.functions("mlp_forward")
def test_mlp_forward_batch_of_one(nb_mlp, rng):
    """mlp_forward works for a batch of one sample and a square hidden layer"""
    X, y, params = draw_network(rng, 3, N=1, square=True)
    probs, _ = student_forward(nb_mlp, X, params)
    check_array(probs, ref.mlp_forward(X, params), what="`mlp_forward(X, params)[0]` for N = 1",
                tol=VALUE_TOLERANCE, inputs=inputs_text(X, y, params))


# --------------------------------------------------------------------------- mlp_backward


@pytest.mark.points(2.5)
@pytest.mark.functions("mlp_backward", "mlp_forward")
@pytest.mark.parametrize("depth", [2, 3, 4, 5])
def test_mlp_backward(nb_mlp, rng, depth):
    """mlp_backward matches PyTorch autograd for a depth-{depth} network, using NumPy only"""
    X, y, params = draw_network(rng, depth)

    def run(params):
        got, cache = student_gradients_and_cache(nb_mlp, X, y, params)
        check_backward(got, X, y, params, nb_mlp, cache)

    blaming_key_order("mlp_backward", run, reordered(params, rng))


@pytest.mark.points(2)
@pytest.mark.functions("mlp_backward", "mlp_forward")
def test_mlp_backward_finite_differences(nb_mlp, rng):
    """mlp_backward matches finite differences of the loss for every parameter"""
    X, y, params = draw_network(rng, 4)
    got = student_gradients(nb_mlp, X, y, params)
    L = ref.layer_count(params)
    check_gradients(got, params, what="`mlp_backward`", order=ref.mlp_backward_order(L), tol=1.0)  # keys, shapes
    atol = FD_ABSOLUTE * max(1.0, ref.mlp_loss(X, y, params))
    for key in ref.mlp_backward_order(L):
        numeric = ref.mlp_loss_central_difference(X, y, params, key)
        check_array(got[key], numeric, what=f"`mlp_backward(...)['{key}']` against finite differences of the loss",
                    tol=FD_TOLERANCE, atol=atol, batch=X.shape[0], inputs=inputs_text(X, y, params))


@pytest.mark.points(1)
@pytest.mark.functions("mlp_backward", "mlp_forward")
def test_mlp_backward_batch_of_one(nb_mlp, rng):
    """mlp_backward is right for a batch of one sample and a square hidden layer"""
    X, y, params = draw_network(rng, 3, N=1, square=True)
    check_backward(student_gradients(nb_mlp, X, y, params), X, y, params)


@pytest.mark.points(1)
@pytest.mark.functions("mlp_backward", "mlp_forward")
def test_mlp_backward_leaves_arguments(nb_mlp, rng):
    """mlp_backward leaves y, params and the cache unchanged and gives the same result twice"""
    X, y, params = draw_network(rng, 3)
    check_backward(student_gradients(nb_mlp, X, y, params, readonly=True, repeat=True), X, y, params)


# ------------------------------------------------------------------------------- sgd_step


def draw_step(rng, depth):
    """params, grads and lr for a depth-``depth`` network; entries of both on both sides of
    1 in magnitude (a step clipped or scaled by max(1, |g|) shows), in the contract's order."""
    _, _, params = draw_network(rng, depth)
    grads = {}
    for k, v in params.items():
        grads[k] = rng.normal(0.0, 1.0, size=v.shape)
    for d in (params, grads):
        first = d["W1"].reshape(-1)
        first[0] = rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 3.0)
        first[1] = rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.6)
    return params, grads, float(rng.uniform(0.05, 0.5))


def check_step(got, params, grads, lr):
    expected = ref.sgd_step(params, grads, lr)
    L = ref.layer_count(params)
    # Compare the updates, not the new values: a wrong sign or factor then shows as such.
    if isinstance(got, dict) and set(got) == set(expected):
        for key in ref.mlp_keys(L):
            if isinstance(got[key], np.ndarray) and got[key].shape == params[key].shape:
                problem = array_problem(got[key] - params[key], expected[key] - params[key], tol=1e-12)
                if problem is not None:
                    raise GradingFailure(
                        f"`sgd_step(params, grads, lr={lr:.3g})` is wrong for {key}: the update "
                        f"new - old should be -lr * grads['{key}'], but {problem}."
                        + expected_got(expected[key], got[key])
                    )
    check_gradients(got, expected, what=f"`sgd_step(params, grads, lr={lr:.3g})`", order=ref.mlp_keys(L),
                    tol=1e-12, noun="parameter", order_text="")


@pytest.mark.points(2)
@pytest.mark.functions("sgd_step")
def test_sgd_step_values(nb_mlp, rng):
    """sgd_step returns p - lr * g for every parameter, whatever the order of the keys"""
    # grads as a backward pass returns them (last layer first), then both dicts shuffled.
    for depth, order in ((2, "backward"), (5, "shuffled")):
        params, grads, lr = draw_step(rng, depth)
        if order == "backward":
            params, grads = contract_order(params), backward_order(grads)
        else:
            params, grads = reordered(params, rng), reordered(grads, rng)

        def run(params, grads):
            got = call(nb_mlp, "sgd_step", {"params": params, "grads": grads, "lr": lr}, repeat=True,
                       modify_hint=SGD_MODIFY_HINT)
            check_step(got, params, grads, lr)

        blaming_key_order("sgd_step", run, params, grads, names=("params", "grads"))


#: What to do instead of writing into the parameters.
SGD_MODIFY_HINT = (f"build a new dict of new arrays, {{k: p - lr * grads[k] for k, p in params.items()}}; "
                   f"{SHALLOW_COPY} (so is dict(params)): the copy shares the arrays, and -= on its "
                   "entries writes into params")


@pytest.mark.points(1)
@pytest.mark.functions("sgd_step")
def test_sgd_step_leaves_arguments(nb_mlp, rng):
    """sgd_step returns a new dict and leaves params and grads unchanged"""
    params, grads, lr = draw_step(rng, 3)
    got = call(nb_mlp, "sgd_step", {"params": params, "grads": grads, "lr": lr}, readonly=True,
               modify_hint=SGD_MODIFY_HINT)
    check_step(got, params, grads, lr)


# ------------------------------------------------------------------------------ train_mlp


def student_training(nb, X, y, layer_sizes, lr, epochs, seed):
    args = {"X": X, "y": y, "layer_sizes": layer_sizes, "lr": lr, "epochs": epochs, "seed": seed}
    params, losses = unpack_pair(call(nb, "train_mlp", args), "train_mlp", "params", "losses")
    try:
        values = np.asarray(losses, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        values = None
    if values is None or values.size != epochs:
        raise GradingFailure(f"`train_mlp(..., epochs={epochs})` must return a list of {epochs} losses (one "
                             f"before each step); it returned {compact(losses)}.")
    if not np.all(np.isfinite(values)):
        raise GradingFailure(f"`train_mlp(..., epochs={epochs})` returned {NON_FINITE} losses: "
                             f"{compact(values)}.")
    return params, values


@pytest.mark.points(3)
@pytest.mark.functions(*TRAIN_FUNCTIONS)
def test_train_mlp_trajectory(nb_mlp, rng):
    """train_mlp follows the reference training trajectory (losses and final parameters) at depths 2 to 5"""
    for depth in (2, 3, 4, 5):
        N = distinct_sizes(rng, 1, 11, 17)[0]
        X, y = ref.xor_data(rng, N)
        layer_sizes = [2, *distinct_sizes(rng, depth - 1, 3, 7), 1]
        lr, epochs, seed = float(rng.uniform(0.3, 0.8)), 15, int(rng.integers(0, 2**31))
        check_trajectory(nb_mlp, X, y, layer_sizes, lr, epochs, seed)


def check_trajectory(nb, X, y, layer_sizes, lr, epochs, seed):
    params, losses = student_training(nb, X, y, layer_sizes, lr, epochs, seed)
    ref_params, ref_losses = ref.train_mlp(X, y, layer_sizes, lr, epochs, seed)
    what = f"`train_mlp(X, y, {layer_sizes}, lr={lr:.3g}, epochs={epochs}, seed={seed})`"
    # The solution follows the reference to 5e-16 over 15 steps (30 runs measured).
    if ref.relative_error(losses, ref_losses) > 1e-9:
        if ref.relative_error(losses[:-1], ref_losses[1:]) < 1e-9:
            raise GradingFailure(f"{what}: the losses are {LOSS_AFTER_STEP}: losses[i] must be the loss "
                                 "before step i (losses[0] is the loss of the initial parameters)."
                                 + expected_got(np.array(ref_losses), losses))
        first = int(np.argmax(np.abs(losses - ref_losses) > 1e-9 * np.abs(ref_losses)))
        hint = (" The first loss is already wrong: it is the mean binary cross-entropy of the "
                "initial parameters init_mlp(layer_sizes, seed).") if first == 0 else (
                " The first loss is right, so training steps differ (gradients, update or learning rate).")
        raise_with_blame(f"{what}: losses[{first}] differs from the reference.{hint}"
                         + expected_got(np.array(ref_losses), losses), nb, X, y, layer_sizes, lr, seed, first + 1)
    try:
        check_gradients(params, ref_params, what=f"{what}[0] (the trained parameters)",
                        order=ref.mlp_keys(len(layer_sizes) - 1), tol=1e-9, noun="parameter", order_text="")
    except GradingFailure as failure:
        raise_with_blame(str(failure), nb, X, y, layer_sizes, lr, seed, epochs)


def raise_with_blame(message, nb, X, y, layer_sizes, lr, seed, steps):
    """Fail with ``message`` and, if replaying the reference trajectory piece by piece
    finds the piece at fault, with that."""
    blame, signature = training_blame(nb, X, y, layer_sizes, lr, seed, min(steps, 3))
    raise GradingFailure(message + ("\n  " + blame if blame else ""), signature)


def training_blame(nb, X, y, layer_sizes, lr, seed, steps):
    """Which of the student's pieces makes training differ: each is given the reference's
    inputs for the first ``steps`` steps (init, forward, backward, update) and compared
    with the reference. ``(text, signature)``, or ``("", None)`` when no piece alone is wrong."""
    def blamed(function, problem):
        return (f"{TRAINING_BLAME}, the first piece that differs is `{function}`: {problem}",
                signature_of(problem))

    try:
        init = call(nb, "init_mlp", {"layer_sizes": layer_sizes, "seed": seed})
        expected = ref.init_mlp(layer_sizes, seed)
        L = len(layer_sizes) - 1
        problem = gradients_problem(init, expected, order=ref.mlp_keys(L), tol=1e-12, noun="parameter", order_text="",
                                    variants=lambda: named_variants(ref.init_variants(layer_sizes, seed)))
        if problem:
            return blamed("init_mlp", problem)
        params = expected
        for step in range(steps):
            probs, cache = student_forward(nb, X, params)
            problem = array_problem(probs, ref.mlp_forward(X, params), tol=VALUE_TOLERANCE)
            if problem:
                return blamed("mlp_forward", f"at step {step} it {problem}")
            grads = call(nb, "mlp_backward", {"y": y, "params": params, "cache": cache})
            truth = ref.mlp_grads(X, y, params)
            problem = gradients_problem(grads, truth, order=ref.mlp_backward_order(L), tol=VALUE_TOLERANCE)
            if problem:
                return blamed("mlp_backward", f"at step {step}: {problem}")
            # The true gradients, in the key order the student's mlp_backward returns them.
            in_order = {key: truth[key] for key in grads}
            new = call(nb, "sgd_step", {"params": params, "grads": in_order, "lr": lr})
            expected = ref.sgd_step(params, truth, lr)
            problem = gradients_problem(new, expected, order=ref.mlp_keys(L), tol=1e-12, noun="parameter",
                                        order_text="")
            if problem:
                return blamed("sgd_step", f"at step {step}, given the gradients in the order `mlp_backward` "
                                          f"returns them ({list(grads)}): {problem}")
            params = expected
    except (GradingFailure, SubmissionError) as error:
        return f"{TRAINING_BLAME}, a piece fails on its own: {error}", getattr(error, "signature", None)
    return (f"{TRAINING_BLAME}, `init_mlp`, `mlp_forward`, `mlp_backward` and "
            f"`sgd_step` each give the reference's answer, {TRAIN_LOOP_BLAME} (the loss it records, the order "
            "of the steps, the seed or the learning rate it passes)."), None


@pytest.mark.points(1)
@pytest.mark.functions(*TRAIN_FUNCTIONS)
def test_train_mlp_xor(nb_mlp, rng):
    """train_mlp learns to separate XOR-style data"""
    X, y = ref.xor_data(rng, 48)
    layer_sizes, lr, epochs = [2, 8, 6, 1], 1.0, 300
    # Pick an initialisation from which the reference separates the data (most do);
    # the student's training from the same seed must then do so too.
    for _ in range(20):
        seed = int(rng.integers(0, 2**31))
        ref_params, _ = ref.train_mlp(X, y, layer_sizes, lr, epochs, seed, record_losses=False)
        if np.all((ref.mlp_forward(X, ref_params) > 0.5) == (y > 0.5)):
            break
    params, losses = student_training(nb_mlp, X, y, layer_sizes, lr, epochs, seed)
    check_gradients(params, ref_params, what="`train_mlp(...)[0]`", order=ref.mlp_keys(3), tol=1.0,
                    noun="parameter", order_text="")  # keys and shapes
    accuracy = float(np.mean((ref.mlp_forward(X, params) > 0.5) == (y > 0.5)))
    if accuracy < 0.95:
        raise GradingFailure(
            f"After `train_mlp(X, y, {layer_sizes}, lr={lr}, epochs={epochs}, seed={seed})` on {len(X)} "
            f"XOR points the network classifies only {accuracy:.0%} correctly (expected at least 95%; "
            f"the reference reaches 100%). Loss at the start {losses[0]:.4g}, at the end {losses[-1]:.4g}."
        )


# ------------------------------------------------------------------------------- to_torch

LINEAR = "torch.nn.modules.linear.Linear"
RELU = "torch.nn.modules.activation.ReLU"
SIGMOID = "torch.nn.modules.activation.Sigmoid"
SEQUENTIAL = "torch.nn.modules.container.Sequential"


def student_module(nb, params):
    module = call(nb, "to_torch", {"params": params})
    if getattr(module, "handle_type", None) != SEQUENTIAL:
        raise GradingFailure(f"`to_torch(params)` must return a torch.nn.Sequential; it returned "
                             f"{getattr(module, 'handle_type', type(module).__name__)}.")
    return module


def expected_layers(L):
    return [LINEAR, RELU] * (L - 1) + [LINEAR, SIGMOID]


DEPTHS = (2, 3, 4, 5)


@pytest.mark.points(1)
@pytest.mark.functions("to_torch")
def test_to_torch_layers(nb_mlp, rng):
    """to_torch builds Linear, ReLU, ..., Linear, Sigmoid in that order, at depths 2 to 5"""
    for depth in DEPTHS:
        _, _, params = draw_network(rng, depth)
        module = student_module(nb_mlp, reordered(params, rng))
        got = [layer.handle_type for layer in module]
        expected = expected_layers(depth)
        if got != expected:
            short = lambda names: "[" + ", ".join(n.rsplit(".", 1)[-1] for n in names) + "]"  # noqa: E731
            raise GradingFailure(f"`to_torch(params)` for a {depth}-layer network has the wrong layers:"
                                 f"\n  expected: {short(expected)}\n  got:      {short(got)}")


def check_linears(module, params, depth):
    linears = [layer for layer in module if layer.handle_type == LINEAR]
    if len(linears) != depth:
        raise GradingFailure(f"`to_torch(params)` for a {depth}-layer network has {len(linears)} Linear layers.")
    for l, linear in enumerate(linears, start=1):
        check_array(linear.weight, params[f"W{l}"].T, what=f"Linear layer {l}'s weight (should be W{l}.T) "
                    f"in a {depth}-layer network", tol=0.0)
        check_array(linear.bias, params[f"b{l}"], what=f"Linear layer {l}'s bias (should be b{l}) "
                    f"in a {depth}-layer network", tol=0.0)


@pytest.mark.points(1)
@pytest.mark.functions("to_torch")
def test_to_torch_weights(nb_mlp, rng):
    """to_torch sets each Linear's weight to W.T and bias to b, in float64, at depths 2 to 5"""
    for depth in DEPTHS:
        _, _, params = draw_network(rng, depth)
        blaming_key_order("to_torch", lambda p: check_linears(student_module(nb_mlp, p), params, depth),
                          reordered(params, rng))


@pytest.mark.points(1)
@pytest.mark.functions("to_torch")
def test_to_torch_outputs(nb_mlp, rng):
    """the module from to_torch gives the same outputs as the network, at depths 2 to 5"""
    for depth in DEPTHS:
        X, y, params = draw_network(rng, depth)

        def run(p):
            check_array(student_module(nb_mlp, p)(X), ref.mlp_forward(X, params),
                        what=f"`to_torch(params)(X)` for a {depth}-layer network", tol=VALUE_TOLERANCE,
                        inputs=inputs_text(X, y, params))

        blaming_key_order("to_torch", run, reordered(params, rng))
