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
