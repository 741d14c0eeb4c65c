"""The diagnoses of the hidden tests: pure functions from (got, expected) to a message."""

import numpy as np
import pytest

from autograder import testfunctions
from grading_tests import checks
from grading_tests import diagnose as d
from grading_tests import reference as ref
from grading_tests.checks import call, distinct_sizes

RNG = np.random.default_rng(0)
EXPECTED = RNG.normal(size=(5, 3))


@pytest.mark.parametrize("factor, phrase", [
    (7.0, d.SUMMED_NOT_AVERAGED),
    (1 / 7, d.DIVIDED_BY_N),
    (-1.0, d.SIGN_FLIP),
    (2.0, d.FACTOR_2),
    (0.5, d.FACTOR_HALF),
    (3.3, "constant factor of 3.3"),
])
def test_a_result_off_by_a_factor_is_named(factor, phrase):
    problem = d.array_problem(factor * EXPECTED, EXPECTED, tol=1e-10, batch=7)
    assert phrase in problem


def test_unrelated_values_are_reported_with_their_error_not_a_factor():
    problem = d.array_problem(RNG.normal(size=(5, 3)), EXPECTED, tol=1e-10, batch=7)
    assert problem.startswith("its values are wrong (relative error")


def test_close_values_are_fine_and_tolerance_is_relative():
    assert d.array_problem(EXPECTED * (1 + 1e-13), EXPECTED, tol=1e-10) is None
    assert d.array_problem(EXPECTED * (1 + 1e-6), EXPECTED, tol=1e-10) is not None


def test_shape_mistakes_are_named():
    assert d.TRANSPOSED in d.array_problem(EXPECTED.T.copy(), EXPECTED, tol=1e-10)
    square = RNG.normal(size=(4, 4))
    assert d.TRANSPOSED in d.array_problem(square.T.copy(), square, tol=1e-10)
    per_sample = RNG.normal(size=(6, 3))
    assert d.BIAS_NOT_SUMMED in d.array_problem(per_sample, per_sample.sum(axis=0), tol=1e-10)
    problem = d.array_problem(np.zeros(15), EXPECTED, tol=1e-10)
    assert d.WRONG_SHAPE in problem and "(5, 3)" in problem


def test_dtype_type_and_finiteness_are_checked_before_values():
    assert d.FLOAT32 in d.array_problem(EXPECTED.astype(np.float32), EXPECTED, tol=1.0)
    assert "dtype bool" in d.array_problem(EXPECTED > 0, EXPECTED, tol=1.0)
    bad = EXPECTED.copy()
    bad[0, 0] = np.nan
    assert d.NON_FINITE in d.array_problem(bad, EXPECTED, tol=1.0)
    assert "list" in d.array_problem(EXPECTED.tolist(), EXPECTED, tol=1.0)


def test_a_scalar_must_be_a_python_float_and_named_factors_only():
    with pytest.raises(d.GradingFailure, match="Python float"):
        d.check_scalar(np.array([1.0]), 1.0, what="`loss`", tol=1e-10)
    with pytest.raises(d.GradingFailure, match=d.SUMMED_NOT_AVERAGED):
        d.check_scalar(9 * 0.3, 0.3, what="`loss`", tol=1e-10, batch=9)
    with pytest.raises(d.GradingFailure) as failure:
        d.check_scalar(0.37, 0.3, what="`loss`", tol=1e-10, batch=9)
    assert "relative error" in str(failure.value) and "factor" not in str(failure.value)
    d.check_scalar(0.3 + 1e-17, 0.3, what="`loss`", tol=1e-10)


def grads(scale=1.0):
    return {"W2": scale * EXPECTED, "b2": scale * EXPECTED[0], "W1": scale * EXPECTED.T.copy(), "b1": scale * EXPECTED[:, 0]}


def test_gradients_dict_problems():
    order = ("W2", "b2", "W1", "b1")
    expected = grads()
    assert d.gradients_problem(grads(), expected, order=order, tol=1e-10) is None
    assert "no entry for b1" in d.gradients_problem({k: v for k, v in grads().items() if k != "b1"},
                                                     expected, order=order, tol=1e-10)
    assert "unexpected keys ['W3']" in d.gradients_problem({**grads(), "W3": EXPECTED}, expected,
                                                            order=order, tol=1e-10)
    common = d.gradients_problem(grads(-1.0), expected, order=order, tol=1e-10)
    assert common.startswith("for W2, b2, W1, b1:") and d.SIGN_FLIP in common
    one_wrong = {**grads(), "W1": 2 * EXPECTED.T}
    first = d.gradients_problem(one_wrong, expected, order=order, tol=1e-10)
    assert "first wrong gradient in backward order is W1" in first and d.FACTOR_2 in first
    assert "W2 0.0e+00" in first


def test_gradients_matching_a_known_wrong_variant_are_named():
    order = ("W2", "b2", "W1", "b1")
    variant = {**grads(), "W1": RNG.normal(size=(3, 5))}
    problem = d.gradients_problem(variant, grads(), order=order, tol=1e-10,
                                  variants=d.named_variants({"relu_mask_missing": variant}))
    assert d.RELU_MASK_MISSING in problem


def test_reference_variants_differ_from_the_truth():
    X = RNG.normal(size=(6, 4))
    y = RNG.normal(size=(6, 1))
    params = {"W1": RNG.normal(size=(4, 5)), "b1": RNG.normal(size=5), "W2": RNG.normal(size=(5, 1)), "b2": RNG.normal(size=1)}
    truth = ref.two_layer_grads(X, y, params)
    for key, variant in ref.two_layer_grad_variants(X, y, params).items():
        assert key in d.VARIANT_TEXT
        assert max(ref.relative_error(variant[k], truth[k]) for k in truth) > 1e-3
    mlp = ref.init_mlp([4, 5, 3, 1], 0)
    y01 = (y > 0).astype(float)
    assert all(ref.relative_error(ref.mlp_grads_numpy(X, y01, mlp)[k], ref.mlp_grads(X, y01, mlp)[k]) < 1e-12
               for k in mlp)


def test_variants_given_as_a_function_are_computed_only_for_a_wrong_result():
    calls = []

    def variants():
        calls.append(1)
        return {"relu_mask_missing": {**grads(), "W1": 3 * EXPECTED.T}}

    d.check_gradients(grads(), grads(), what="`backward`", order=("W2", "b2", "W1", "b1"), tol=1e-10,
                      variants=variants)
    assert calls == []
    with pytest.raises(d.GradingFailure, match=d.RELU_MASK_MISSING):
        d.check_gradients({**grads(), "W1": 3 * EXPECTED.T}, grads(), what="`backward`",
                          order=("W2", "b2", "W1", "b1"), tol=1e-10, variants=variants)
    assert calls == [1]


def test_stacked_finite_differences_are_the_loop_bit_for_bit():
    rng = np.random.default_rng(1)
    for N, D, H in ((7, 9, 5), (1, 3, 8), (6, 5, 5)):  # odd sizes put stacked copies off 16-byte boundaries
        X, y = rng.normal(size=(N, D)), rng.normal(size=(N, 1))
        params = {"W1": rng.normal(size=(D, H)), "b1": rng.normal(size=H),
                  "W2": rng.normal(size=(H, 1)), "b2": rng.normal(size=1)}
        for key in ref.TWO_LAYER_KEYS:
            loop = ref.central_difference(lambda p: ref.two_layer_loss(X, y, {**params, key: p}), params[key])
            assert ref.two_layer_loss_central_difference(X, y, params, key).tobytes() == loop.tobytes()
    for sizes, N in (([5, 7, 3, 1], 9), ([3, 4, 6, 5, 1], 1)):
        X, y = rng.normal(size=(N, sizes[0])), rng.integers(0, 2, size=(N, 1)).astype(float)
        params = {**ref.init_mlp(sizes, 3), **{f"b{l}": rng.normal(size=n) for l, n in enumerate(sizes[1:], 1)}}
        for key in params:
            loop = ref.central_difference(lambda p: ref.mlp_loss(X, y, {**params, key: p}), params[key])
            assert ref.mlp_loss_central_difference(X, y, params, key).tobytes() == loop.tobytes()


def test_failure_carries_the_signature_key_of_the_phrase_it_contains():
    assert d.GradingFailure(f"`backward` is wrong: it has a {d.SIGN_FLIP}").signature == "sign-flip"
    assert d.GradingFailure("something else").signature is None
    assert len(set(d.SIGNATURES.values())) == len(d.SIGNATURES)


def test_compact_shows_a_large_array_on_one_short_line():
    text = d.compact(np.arange(10_000.0).reshape(100, 100))
    assert "\n" not in text and len(text) < 300 and "(shape (100, 100), float64)" in text


def test_relative_error_is_zero_for_equal_and_about_one_for_unrelated():
    assert ref.relative_error(EXPECTED, EXPECTED) == 0.0
    assert ref.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert 0.5 < ref.relative_error(EXPECTED, -EXPECTED) <= 1.0


# ----------------------------------------------------------------- calling student code


class FakeNotebook:
    """Calls plain Python functions with the provider's return_args semantics."""

    def __init__(self, **functions):
        self.functions = functions

    def call(self, name, *args, numpy_only=False, readonly_args=False, return_args=False, fp_errors=None):
        args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        if readonly_args:
            for a in args:
                if isinstance(a, np.ndarray):
                    a.setflags(write=False)
        result = self.functions[name](*args)
        return (result, args) if return_args else result


def test_call_detects_an_argument_modified_in_place():
    def relu(z):
        z[z < 0] = 0
        return z

    with pytest.raises(d.GradingFailure, match=d.MODIFIED_IN_PLACE):
        call(FakeNotebook(relu=relu), "relu", {"z": np.array([-1.0, 2.0])})
    assert call(FakeNotebook(relu=lambda z: np.maximum(z, 0)), "relu", {"z": np.array([-1.0, 2.0])}).tolist() == [0, 2]


def test_inputs_are_formatted_only_when_a_check_fails(monkeypatch):
    formatted = []
    monkeypatch.setattr(checks, "compact", lambda a: formatted.append(a) or d.compact(a))
    z = np.array([-1.5, 2.0])
    d.check_array(np.maximum(z, 0), np.maximum(z, 0), what="`relu(z)`", tol=0.0,
                  inputs=checks.describe_inputs({"z": z, "params": {"W1": EXPECTED}}))
    assert formatted == []
    with pytest.raises(d.GradingFailure) as failure:
        d.check_array(z, np.maximum(z, 0), what="`relu(z)`", tol=0.0,
                      inputs=checks.describe_inputs({"z": z, "params": {"W1": EXPECTED}}))
    assert str(failure.value) == (
        "`relu(z)` is wrong: its values are wrong (relative error 0.38).\n  with z = [-1.5, 2. ] (shape (2,), float64)"
        "\n  with params = {W1: shape (5, 3)}\n  expected: [0., 2.] (shape (2,), float64)"
        "\n  got:      [-1.5, 2. ] (shape (2,), float64)")


def test_call_detects_state_kept_between_calls():
    seen = []

    def counter(z):
        seen.append(1)
        return z * len(seen)

    with pytest.raises(d.GradingFailure, match=d.STATE_KEPT):
        call(FakeNotebook(f=counter), "f", {"z": np.ones(2)}, repeat=True)


def test_distinct_sizes_never_repeat():
    for seed in range(50):
        sizes = distinct_sizes(np.random.default_rng(seed), 6)
        assert len(set(sizes)) == 6 and min(sizes) >= 3 and max(sizes) <= 10


@pytest.mark.parametrize("kind, params, shape", [
    ("cubic_sum", {"a": 1.5, "b": 0.7, "c": 0.3}, (3, 4)),
    ("quadratic", {"A": RNG.normal(size=(6, 6)), "g": RNG.normal(size=6)}, (2, 3)),
    ("log_sum_exp", {"s": 1.3}, (5,)),
])
def test_test_functions_know_their_gradient(kind, params, shape):
    f = testfunctions.make(kind, **params)
    x = RNG.uniform(-1, 1, size=shape)
    assert ref.relative_error(f.gradient(x), ref.central_difference(f, x)) < 1e-8
    assert f.calls == 2 * x.size and isinstance(f(x), float)
    with pytest.raises(ValueError, match="unknown test function"):
        testfunctions.make("nope")


# ------------------------------------------------------------ what a student's code did


@pytest.mark.parametrize("warning, phrase", [
    ("divide by zero encountered in log", "rounded to exactly 0 or 1"),
    ("overflow encountered in exp", "np.where evaluates both branches"),
    ("invalid value encountered in divide", "overflowed first"),
    ("divide by zero encountered in divide", "division by exactly 0"),
])
def test_a_floating_point_warning_gets_the_hint_that_fits_it(warning, phrase):
    assert phrase in d.fp_warning_hint(warning)


def test_a_warning_in_a_call_says_what_it_was():
    def sigmoid(z):
        return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))

    class Raising(FakeNotebook):
        def call(self, name, *args, fp_errors=None, **options):
            with np.errstate(over="raise" if fp_errors else "ignore", invalid="ignore"):
                try:
                    return super().call(name, *args, **options)
                except FloatingPointError as error:
                    from autograder.errors import StudentException
                    raise StudentException(name, "FloatingPointError", str(error)) from None

    with pytest.raises(d.GradingFailure) as failure:
        call(Raising(sigmoid=sigmoid), "sigmoid", {"z": np.array([-1e4, 1e4])}, warn_free=True)
    assert '"overflow encountered in exp"' in str(failure.value)
    assert "np.where evaluates both branches" in str(failure.value)
    assert failure.value.signature == "fp-warning"


def test_a_near_miss_shows_the_differing_entries_at_full_precision():
    expected = np.array([[9.679251234567891], [0.5]])
    got = expected * (1 + np.array([[1e-6], [0.0]]))
    problem = d.array_problem(got, expected, tol=1e-10)
    assert d.NEAR_MISS in problem and "at [0, 0]: expected 9.679251234567891, got " + repr(float(got[0, 0])) in problem
    with pytest.raises(d.GradingFailure) as failure:
        d.check_scalar(9.679241234567891, 9.679251234567891, what="`loss`", tol=1e-10, near_miss="a shifted log")
    assert repr(9.679241234567891) in str(failure.value) and "a shifted log" in str(failure.value)
    assert failure.value.signature == "near-miss"
    assert d.NEAR_MISS not in d.array_problem(expected * 1.01, expected, tol=1e-10)


@pytest.mark.parametrize("key, phrase", [
    ("square_of_mean", d.SQUARE_OF_MEAN), ("n_by_n_broadcast", d.BROADCAST_N_BY_N),
])
def test_wrong_forms_of_the_mean_squared_error_are_named(key, phrase):
    out, y = RNG.normal(size=(6, 1)), RNG.normal(size=(6, 1))
    wrong = ref.mse_loss_variants(out, y)[key]
    with pytest.raises(d.GradingFailure, match=re_escape(phrase)):
        d.check_scalar(wrong, ref.mse_loss(out, y), what="`mse_loss`", tol=1e-10, batch=6,
                       variants=d.named_scalar_variants(ref.mse_loss_variants(out, y)))


def test_a_loss_clipped_with_another_eps_or_shifted_by_eps_is_named():
    probs = np.array([[0.0], [1.0], [0.3], [0.8]])
    y = np.array([[1.0], [0.0], [1.0], [0.0]])
    variants = d.named_scalar_variants(ref.bce_loss_variants(probs, y, 1e-6))
    with pytest.raises(d.GradingFailure, match=d.OTHER_CLIP_EPS):
        d.check_scalar(ref.bce_loss(probs, y, 1e-12), ref.bce_loss(probs, y, 1e-6), what="`bce_loss`",
                       tol=1e-10, variants=variants)
    shifted = float(np.mean(-(y * np.log(probs + 1e-6) + (1 - y) * np.log(1 - probs + 1e-6))))
    with pytest.raises(d.GradingFailure, match=re_escape(d.LOG_P_PLUS_EPS)):
        d.check_scalar(shifted, ref.bce_loss(probs, y, 1e-6), what="`bce_loss`", tol=1e-10, variants=variants)


def re_escape(text):
    import re
    return re.escape(text)


def test_a_sum_over_the_wrong_axis_is_named():
    per_sample = RNG.normal(size=(6, 3))
    assert d.WRONG_AXIS in d.array_problem(per_sample.sum(axis=1), per_sample.sum(axis=0), tol=1e-10, batch=6)


@pytest.mark.parametrize("old, new, phrase", [
    (np.array([-1.5, 0.5, 2.0]), np.array([0.0, 1.0, 1.0]), "now holds 0/1 values"),
    (np.array([-1.5, 0.5, 2.0]), np.array([0.0, 0.5, 2.0]), "negative entries set to 0"),
    (np.array([0.9999995, 0.3]), np.array([0.9999995 + 1.1e-16, 0.3]), d.NOT_PUT_BACK),
    (np.array([1.0, 2.0]), np.array([1.0, 2.5]), "changed in 1 of 2 entries"),
])
def test_an_argument_changed_in_place_is_described(old, new, phrase):
    assert phrase in d.describe_change(old, new)


def test_a_changed_dict_names_its_key():
    old = {"Z1": np.array([[-1.0, 2.0]]), "out": np.array([[1.0]])}
    new = {"Z1": np.array([[0.0, 1.0]]), "out": np.array([[1.0]])}
    assert d.describe_change(old, new) == "['Z1'] now holds 0/1 values (a mask was written into it)"

    def backward(X, cache):
        cache["Z1"][...] = cache["Z1"] > 0
        return X

    with pytest.raises(d.GradingFailure, match=r"cache\['Z1'\] now holds 0/1 values"):
        call(FakeNotebook(backward=backward), "backward", {"X": np.ones(2), "cache": old})


def test_an_exception_says_which_case_raised_it():
    from autograder.errors import StudentException

    error = StudentException("to_torch", "KeyError", "'W3'")
    params = {"W1": np.zeros((3, 4)), "b1": np.zeros(4), "W2": np.zeros((4, 1)), "b2": np.zeros(1)}
    failure = checks.raised_in_case(error, {"params": params})
    assert str(failure) == ("`to_torch` raised KeyError: 'W3'\n  The case that raised it: params of a depth-2 "
                            "network (layer sizes [3, 4, 1]).")
    assert failure.signature == "StudentException"
    assert "z of shape (5, 3), y of shape (5, 3)" in d.describe_case({"z": np.zeros((5, 3)), "y": np.zeros((5, 3))})


def test_a_missing_module_names_the_allowed_libraries():
    from autograder.errors import FunctionMissing, StudentException, library_not_allowed

    message = "`scipy` is not available in this assignment: use NumPy (allowed: numpy, torch, the standard library)"
    assert library_not_allowed("No module named 'scipy.special'") == message
    assert library_not_allowed("name 'x' is not defined") is None
    failure = checks.raised_in_case(StudentException("sigmoid", "ModuleNotFoundError", "No module named 'scipy'"), {})
    assert str(failure) == f"`sigmoid` raised ModuleNotFoundError: {message}."
    assert failure.signature == "library-not-allowed"

    class Missing(FakeNotebook):
        def call(self, name, *args, **options):
            raise FunctionMissing("01_relu", name, ("cell 3: ModuleNotFoundError: No module named 'sklearn'",))

    with pytest.raises(d.GradingFailure, match="`sklearn` is not available in this assignment") as raised:
        call(Missing(), "relu", {"z": np.zeros(2)})
    assert str(raised.value).count("is not available") == 1


def test_the_errors_themselves_name_the_allowed_libraries():
    # A test that does not go through checks.call (a handle, a fixture) shows the error as it is.
    from autograder.errors import FunctionMissing, StudentException

    raised = StudentException("relu", "ModuleNotFoundError", "No module named 'scipy.special'")
    assert str(raised) == ("`relu` raised ModuleNotFoundError: `scipy` is not available in this assignment: "
                           "use NumPy (allowed: numpy, torch, the standard library).")
    assert "No module named" not in str(raised)
    missing = FunctionMissing("04_bce", "bce_loss", ("cell 2: ModuleNotFoundError: No module named 'sklearn'",))
    assert str(missing).endswith("`sklearn` is not available in this assignment: use NumPy "
                                 "(allowed: numpy, torch, the standard library).")
    assert "not available" not in str(StudentException("relu", "ValueError", "No module named 'x'"))


def test_a_hung_call_is_not_run_again_to_look_for_a_key_order_problem():
    # A second hang would cost a second timeout and count against the function twice.
    from autograder.errors import CallTimeout
    from grading_tests.checks import blaming_key_order

    calls = []

    def hangs(params):
        calls.append(list(params))
        raise CallTimeout("sgd_step", 4.0)

    with pytest.raises(CallTimeout):
        blaming_key_order("sgd_step", hangs, {"b1": np.zeros(1), "W1": np.zeros(1)})
    assert len(calls) == 1


def test_key_order_dependence_is_named_and_an_order_independent_failure_is_not():
    from grading_tests.checks import blaming_key_order, contract_order, reordered

    params = {"W1": np.ones((2, 3)), "b1": np.zeros(3), "W2": np.ones((3, 1)), "b2": np.zeros(1)}
    shuffled = reordered(params, np.random.default_rng(0))
    assert list(shuffled) not in (list(params), list(params)[::-1]) and contract_order(shuffled) == params

    def positional(p):
        if list(p)[0] != "W1":
            raise d.GradingFailure("wrong values")

    with pytest.raises(d.GradingFailure) as failure:
        blaming_key_order("mlp_forward", positional, shuffled)
    assert d.KEY_ORDER in str(failure.value) and failure.value.signature == "key-order"

    def always_wrong(p):
        raise d.GradingFailure("wrong values")

    with pytest.raises(d.GradingFailure, match="^wrong values$"):
        blaming_key_order("mlp_forward", always_wrong, shuffled)


def test_backward_is_cleared_and_forward_blamed_when_its_cache_is_wrong():
    X = RNG.normal(size=(4, 3))
    Z1 = X @ RNG.normal(size=(3, 2))
    intermediates = {"X": X, "Z1": Z1, "A1": np.maximum(Z1, 0)}
    truth = {"g": np.maximum(Z1, 0).sum(axis=0)}

    def backward(X, cache):
        return {"g": cache["A1"].sum(axis=0)}

    def check(got):
        d.check_gradients(got, truth, what="`backward`", order=("g",), tol=1e-12)

    with pytest.raises(d.GradingFailure) as failure:
        checks.blame_cache(FakeNotebook(backward=backward), "forward", "backward", {"Z1": Z1, "A1": Z1},
                           intermediates, check, {"X": X})
    assert d.CACHE_BLAME in str(failure.value) and "cache['A1'] holds what Z1 should be" in str(failure.value)
    # A right cache, or a backward wrong on its own, blames nothing here.
    assert checks.blame_cache(FakeNotebook(backward=backward), "forward", "backward", dict(intermediates),
                              intermediates, check, {"X": X}) is None


def test_a_provider_that_reports_types_lets_a_test_refuse_tensors():
    """The test side of "the provider tells a test what type the student returned"
    (checks.returned_types); today's providers cannot, and the check is skipped there."""
    import torch

    class Typed(FakeNotebook):
        def call(self, name, *args, return_types=False, **options):
            raw = self.functions[name](*args)
            types = {k: "torch.Tensor" if isinstance(v, torch.Tensor) else "numpy.ndarray" for k, v in raw.items()}
            plain = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in raw.items()}
            return (plain, list(args), types) if return_types else (plain, list(args))

    tensors = Typed(f=lambda x: {"W1": torch.zeros(2, dtype=torch.float64), "b1": np.zeros(2)})
    got, types = call(tensors, "f", {"x": np.ones(1)}, with_types=True)
    assert types == {"W1": "torch.Tensor", "b1": "numpy.ndarray"}
    assert d.type_problem("f", types) == ("`f` returns W1 as torch.Tensor, not as NumPy arrays (convert with "
                                          ".detach().numpy()); the contract asks for float64 NumPy arrays")
    assert d.type_problem("f", {"W1": "numpy.ndarray"}) is None
    assert call(FakeNotebook(f=lambda x: {"W1": x}), "f", {"x": np.ones(1)}, with_types=True)[1] is None
