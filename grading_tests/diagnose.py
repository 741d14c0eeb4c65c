"""Failure messages a student can act on, and the signatures of common mistakes.

A failing check raises :class:`GradingFailure`; its message is all the student sees
(the harness never shows a traceback or a line of test source). Everything else in
this module is a pure function of arrays: given what a student's function returned
and what it should have returned, say what is wrong, naming the mistake when the
difference has a known signature (a factor of N, a sign flip, a transposition, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from autograder.errors import NOT_ALLOWED
from grading_tests.reference import relative_error


# Phrases the mistake catalogue expects to find; kept as constants so the two agree.
SUMMED_NOT_AVERAGED = "summed over the batch instead of averaged"
DIVIDED_BY_N = "divided by the batch size N once too often"
SIGN_FLIP = "sign flip"
FACTOR_2 = "factor of 2"
FACTOR_HALF = "factor of 1/2"
TRANSPOSED = "transposed"
WRONG_SHAPE = "wrong shape"
BIAS_NOT_SUMMED = "bias not summed over the batch"
FLOAT32 = "float32"
NON_FINITE = "non-finite"
MODIFIED_IN_PLACE = "modified its argument"
STATE_KEPT = "state kept between calls"
RELU_MASK_MISSING = "ReLU mask is missing"
RELU_MASK_WRONG = "ReLU mask is taken from the wrong tensor"
EXTRA_SIGMOID_DERIVATIVE = "extra sigmoid derivative"
FORWARD_DIFFERENCE = "forward difference"
EPS_IGNORED = "eps argument is ignored"
HE_FAN_OUT = "scaled with fan_out instead of fan_in"
LEGACY_RNG = "legacy global RNG"
LOSS_AFTER_STEP = "recorded after the step"
RELU_GRAD_AT_ZERO = "derivative at exactly z == 0"
NOT_EXACT_AT_EXTREMES = "not exact at extreme inputs"
FP_WARNING = "makes NumPy warn"
WRONG_AXIS = "summed over the wrong axis"
KEY_ORDER = "relies on the key order"
NEAR_MISS = "near miss"
SQUARE_OF_MEAN = "square of the mean"
BROADCAST_N_BY_N = "(N, N) broadcast"
OTHER_CLIP_EPS = "clipped with a different eps"
LOG_P_PLUS_EPS = "log(p + eps) instead of clipping"
VARIANCE_AS_STD = "variance 2 / fan_in used as the standard deviation"
SHALLOW_COPY = "dict.copy() is shallow"
NOT_PUT_BACK = "put back the saved value"
CACHE_BLAME = "but the cache it was given is wrong"
TRAINING_BLAME = "Replaying the reference training step by step"
TRAIN_LOOP_BLAME = "so `train_mlp` itself combines them differently"
CASE_RAISED = "The case that raised it"
LEN_NOT_SIZE = "divided by len(z), the number of rows,"
STEP_SCALED = "step is scaled by the size of x"
NOT_NUMPY = "not as NumPy arrays"

#: Key of each named mistake (what reports count), by the phrase its message contains.
#: The first phrase found in a message names it.
SIGNATURES = {
    RELU_MASK_MISSING: "relu-mask-missing",
    RELU_MASK_WRONG: "relu-mask-wrong-tensor",
    EXTRA_SIGMOID_DERIVATIVE: "extra-sigmoid-derivative",
    BIAS_NOT_SUMMED: "bias-not-summed",
    SUMMED_NOT_AVERAGED: "summed-not-averaged",
    DIVIDED_BY_N: "divided-by-n",
    SIGN_FLIP: "sign-flip",
    FACTOR_HALF: "factor-half",
    FACTOR_2: "factor-2",
    TRANSPOSED: "transposed",
    WRONG_SHAPE: "wrong-shape",
    FLOAT32: "float32",
    FP_WARNING: "fp-warning",
    NOT_ALLOWED: "library-not-allowed",
    CACHE_BLAME: "forward-cache-wrong",
    KEY_ORDER: "key-order",
    NON_FINITE: "non-finite",
    NOT_EXACT_AT_EXTREMES: "inexact-at-extremes",
    WRONG_AXIS: "wrong-axis",
    LEN_NOT_SIZE: "len-not-size",
    STEP_SCALED: "step-scaled",
    TRAIN_LOOP_BLAME: "train-loop",
    NOT_NUMPY: "not-numpy",
    SQUARE_OF_MEAN: "square-of-mean",
    BROADCAST_N_BY_N: "n-by-n-broadcast",
    NEAR_MISS: "near-miss",
    OTHER_CLIP_EPS: "other-clip-eps",
    LOG_P_PLUS_EPS: "log-p-plus-eps",
    VARIANCE_AS_STD: "variance-as-std",
    MODIFIED_IN_PLACE: "modified-in-place",
    STATE_KEPT: "state-kept",
    FORWARD_DIFFERENCE: "forward-difference",
    EPS_IGNORED: "eps-ignored",
    HE_FAN_OUT: "he-fan-out",
    LEGACY_RNG: "legacy-rng",
    LOSS_AFTER_STEP: "loss-after-step",
    RELU_GRAD_AT_ZERO: "relu-grad-at-zero",
}


#: What a student reads when their gradients match one of the reference's known wrong
#: variants (``reference.two_layer_grad_variants``, ``reference.mlp_grad_variants``).
VARIANT_TEXT = {
    "relu_mask_missing": f"the {RELU_MASK_MISSING}: the gradient must not flow back through "
    "ReLU where the pre-activation Z <= 0 (multiply by relu_grad(Z))",
    "relu_mask_wrong_tensor": f"the {RELU_MASK_WRONG}: the mask is where the pre-activation "
    "Z > 0, not where the incoming gradient is positive",
    "he_fan_out": f"the weights are {HE_FAN_OUT}: He initialisation draws Wl with standard "
    "deviation sqrt(2 / fan_in)",
    "legacy_rng": f"the weights come from the {LEGACY_RNG} (np.random.seed / np.random.randn); "
    "draw them from rng = np.random.default_rng(seed) with rng.normal",
    "variance_as_std": f"the weights are drawn with the {VARIANCE_AS_STD}: He initialisation's "
    "standard deviation is sqrt(2 / fan_in)",
    "extra_sigmoid_derivative": f"an {EXTRA_SIGMOID_DERIVATIVE}: with binary cross-entropy the "
    "output layer's dL/dZ is already (p - y) / N; do not multiply by p * (1 - p) again",
}


def scalar_variant_text(key: str) -> str:
    """What a student reads when a loss matches a known wrong form (``reference.*_variants``)."""
    if key.startswith("clip_eps_"):
        return (f"it is the loss {OTHER_CLIP_EPS} ({key[len('clip_eps_'):]}): clip with the eps "
                "argument, p = np.clip(probs, eps, 1 - eps)")
    return {
        "square_of_mean": f"it is the {SQUARE_OF_MEAN} error, not the mean of the squares: square "
                          "(out - y) first, then average",
        "square_of_mean_no_half": f"it is the {SQUARE_OF_MEAN} error without the 1/2, not the mean of "
                                  "0.5 * (out - y) ** 2",
        "n_by_n_broadcast": f"it averages an {BROADCAST_N_BY_N}: one operand has shape (N,) and the other "
                            "(N, 1), so their difference or product is an (N, N) matrix; keep both (N, 1) "
                            "(no .ravel() or .flatten())",
        "log_p_plus_eps": f"it uses {LOG_P_PLUS_EPS}: clip p to [eps, 1 - eps] and take log(p) and "
                          "log(1 - p) of the clipped value",
    }[key]


def named_scalar_variants(variants: Mapping[str, float]) -> dict[str, float]:
    return {scalar_variant_text(key): value for key, value in variants.items()}


#: Gradients (or parameters) by the name of the mistake that yields them.
Variants = Mapping[str, Mapping[str, np.ndarray]]


def named_variants(variants: Variants) -> dict[str, Mapping[str, np.ndarray]]:
    """Reference variants keyed by what a student reads."""
    return {VARIANT_TEXT[key]: grads for key, grads in variants.items()}


def signature_of(message: str) -> str | None:
    """The key of the first known mistake named in ``message``, or ``None``."""
    for phrase, key in SIGNATURES.items():
        if phrase in message:
            return key
    return None


# ------------------------------------------------------------- what a student's code did


def fp_warning_hint(warning: str) -> str:
    """The hint that fits NumPy's floating-point warning (``"overflow encountered in exp"``)."""
    text = warning.lower()
    if "divide by zero" in text and "log" in text:
        return ("log of 0: a probability rounded to exactly 0 or 1 (in float64 sigmoid(z) is exactly 1.0 "
                "from z = 37 on), so log(p) or log(1 - p) is log(0). Work from the logits instead: "
                "log(sigmoid(z)) = -log(1 + exp(-z)), computed as -(max(-z, 0) + log1p(exp(-|z|)))")
    if "overflow" in text and "exp" in text:
        return ("exp of a large positive number overflows (exp(710) is inf). Compute exp(-|z|), which "
                "stays in (0, 1]. A guard like np.where(z >= 0, 1 / (1 + exp(-z)), exp(z) / (1 + exp(z))) "
                "does not help: np.where evaluates both branches for every entry, so the unsafe branch "
                "still runs; choose the form per entry inside one safe expression")
    if "divide by zero" in text:
        return ("a division by exactly 0: a denominator (such as 1 - p, or 1 + exp(-z) times something) "
                "rounded to 0; rewrite so that no denominator can round to 0, or work from the logits")
    if "invalid value" in text:
        return ("an invalid operation (inf - inf, inf / inf, 0 * inf or log of a negative number): an "
                "intermediate value overflowed first. Never compute exp of a large positive number: "
                "use exp(-|z|), which stays in (0, 1]")
    if "overflow" in text:
        return ("a value beyond float64's range (1.8e308): a product or power of a huge intermediate; "
                "never compute exp of a large positive number")
    return "never compute exp of a large positive number: use exp(-|z|), which stays in (0, 1]"




def type_problem(function: str, types, expected: str = "numpy.ndarray") -> str | None:
    """What is wrong when the values a function returned (in a dict) are not ``expected``:
    a tensor that the transport turned into an array is still not what the contract asks."""
    if not isinstance(types, dict):
        return None
    wrong = {key: kind for key, kind in types.items() if kind != expected}
    if not wrong:
        return None
    kinds = sorted(set(wrong.values()))
    hint = " (convert with .detach().numpy())" if any("torch" in kind for kind in kinds) else ""
    return (f"`{function}` returns {', '.join(wrong)} as {' and '.join(kinds)}, {NOT_NUMPY}{hint}; "
            "the contract asks for float64 NumPy arrays")


def describe_case(args: Mapping[str, object]) -> str:
    """The shapes (and depth) of a call's arguments, to say which case raised: ``"probs of
    shape (6, 3), y of shape (6, 3)"``, ``"params of a depth-5 network"``."""
    parts = []
    for name, value in args.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{name} of shape {value.shape}")
        elif isinstance(value, dict) and any(str(k).startswith("W") for k in value):
            depth = sum(1 for k in value if str(k).startswith("W"))
            sizes = _layer_sizes(value, depth)
            parts.append(f"{name} of a depth-{depth} network" + (f" (layer sizes {sizes})" if sizes else ""))
        elif isinstance(value, dict):
            parts.append(f"{name} with keys {list(value)}")
        elif isinstance(value, (int, float, list, tuple)) and not isinstance(value, bool):
            parts.append(f"{name} = {compact(value)}")
    return ", ".join(parts)


def _layer_sizes(params, depth) -> list[int] | None:
    try:
        return [int(params["W1"].shape[0])] + [int(params[f"W{l}"].shape[1]) for l in range(1, depth + 1)]
    except (KeyError, AttributeError, IndexError, TypeError):
        return None


def describe_change(old, new) -> str:
    """How an argument differs after a call from what it was: what a student needs to
    find the line that wrote into it (``"now holds 0/1 values"``)."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return f"was replaced by a {type(new).__name__}"
        parts = [f"['{k}'] was removed" for k in old if k not in new]
        parts += [f"['{k}'] {describe_change(old[k], new[k])}" for k in old
                  if k in new and not _identical(old[k], new[k])]
        added = [k for k in new if k not in old]
        if added:
            parts.append(f"gained the keys {added}")
        return "; ".join(parts)
    if not isinstance(old, np.ndarray):
        return "changed"
    if not isinstance(new, np.ndarray):
        return f"was replaced by a {type(new).__name__}"
    if new.shape != old.shape:
        return f"changed shape from {old.shape} to {new.shape}"
    if new.dtype != old.dtype:
        return f"changed dtype from {old.dtype} to {new.dtype}"
    if old.dtype.kind != "f":
        return "holds other values"
    changed = ~((new == old) | (np.isnan(new) & np.isnan(old)))
    gap = float(np.max(np.abs(new - old)[changed])) if np.any(changed) else 0.0
    scale = float(np.max(np.abs(old), initial=0.0))
    if np.all(np.isin(new, (0.0, 1.0))) and not np.all(np.isin(old, (0.0, 1.0))):
        return "now holds 0/1 values (a mask was written into it)"
    if np.array_equal(new, np.maximum(old, 0.0)):
        return f"had its negative entries set to 0 ({int(changed.sum())} of {old.size} entries)"
    if gap <= 1e-12 * max(scale, 1e-300):
        return (f"differs by {gap:.0e} in {int(changed.sum())} of {old.size} entries (round-off): "
                f"{NOT_PUT_BACK} (x[i] = saved) instead of adding and subtracting eps, since in floating "
                "point x + eps - eps is not always x")
    return f"changed in {int(changed.sum())} of {old.size} entries (by up to {gap:.3g})"


def _identical(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype
                and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


class LazyText:
    """Part of a failure message, built only if the message is: formatting a check's
    inputs (``np.array2string``) took longer than the check itself, and most checks
    pass. ``str()``, ``format()`` (f-strings) and ``+`` with a string or another
    ``LazyText`` give the text, computed once."""

    __slots__ = ("_build", "_text")

    def __init__(self, build: Callable[[], str]):
        self._build = build
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = self._build()
            self._build = None
        return self._text

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __add__(self, other):
        if isinstance(other, (str, LazyText)):
            return LazyText(lambda: str(self) + str(other))
        return NotImplemented

    def __radd__(self, other):
        if isinstance(other, str):
            return LazyText(lambda: other + str(self))
        return NotImplemented

    def __repr__(self) -> str:
        return f"LazyText({str(self)!r})"


class GradingFailure(AssertionError):
    """A check failed; ``str(self)`` is the diagnosis shown to the student.

    ``signature`` is the key of the named mistake (see :data:`SIGNATURES`), found in
    the message unless given; the harness reports it as the outcome's ``diagnosis``.
    """

    def __init__(self, message: str | LazyText, signature: str | None = None):
        message = str(message)
        super().__init__(message)
        self.signature = signature if signature is not None else signature_of(message)

#: A fitted factor counts as "exactly k" within this relative distance. The fit of a
#: correct-up-to-a-factor result is exact to ~1e-15; unrelated results miss by O(1).
FACTOR_TOLERANCE = 1e-6


def compact(a, precision: int = 4) -> str:
    """An array or number on one short line: at most a few entries from each end."""
    if isinstance(a, np.ndarray):
        text = np.array2string(
            a, precision=precision, threshold=12, edgeitems=2, max_line_width=10_000, separator=", "
        )
        text = " ".join(text.split())
        return f"{text} (shape {a.shape}, {a.dtype})" if a.ndim else text
    if isinstance(a, float):
        return f"{a:.{precision + 2}g}"
    text = repr(a)
    return text if len(text) <= 200 else text[:200] + "..."


def expected_got(expected, got) -> str:
    if isinstance(expected, float) and isinstance(got, float):
        # Two numbers at full precision: "expected 9.67925, got 9.67924" helps nobody.
        return f"\n  expected: {expected!r}\n  got:      {got!r}"
    return f"\n  expected: {compact(expected)}\n  got:      {compact(got)}"


def fitted_factor(got: np.ndarray, expected: np.ndarray) -> float | None:
    """The scalar ``r`` with ``got == r * expected`` if one fits exactly, else ``None``."""
    e = expected.astype(np.float64).ravel()
    g = got.astype(np.float64).ravel()
    ee = float(e @ e)
    if ee == 0.0 or not np.all(np.isfinite(g)):
        return None
    r = float(g @ e) / ee
    if relative_error(g, r * e) > FACTOR_TOLERANCE:
        return None
    return r


def _near(r: float, k: float) -> bool:
    return abs(r - k) <= FACTOR_TOLERANCE * max(abs(k), 1.0)


def factor_signature(r: float, batch: int | None = None) -> str:
    """Name the factor by which a result is off (``got == r * expected``)."""
    if batch is not None and batch > 2:
        if _near(r, batch):
            return f"it is N = {batch} times too large: {SUMMED_NOT_AVERAGED} (divide by N)"
        if _near(r, 1.0 / batch):
            return f"it is N = {batch} times too small: {DIVIDED_BY_N}"
        if _near(r, -batch) or _near(r, -1.0 / batch):
            return f"it has a {SIGN_FLIP} and is off by a factor of N = {batch}"
    if _near(r, -1.0):
        return f"it has the opposite sign (a {SIGN_FLIP})"
    if _near(r, 2.0):
        return f"it is twice too large (a {FACTOR_2})"
    if _near(r, 0.5):
        return f"it is half what it should be (a {FACTOR_HALF})"
    if _near(r, 0.0):
        return "it is all zeros"
    return f"it is off by a constant factor of {r:.6g}"


def shape_signature(got: np.ndarray, expected: np.ndarray, batch: int | None = None) -> str:
    """Explain a shape mismatch; called only when the shapes differ."""
    if got.ndim == 2 and expected.ndim == 2 and got.shape == expected.shape[::-1]:
        if relative_error(got.T, expected) < 1e-9:
            return f"it is {TRANSPOSED}: expected shape {expected.shape}, got {got.shape} (and its .T is right)"
        return f"it has the {TRANSPOSED} shape: expected {expected.shape}, got {got.shape}"
    if expected.ndim == 1 and got.ndim == 2 and got.shape[1] == expected.shape[0] and got.shape[0] != 1:
        if relative_error(got.sum(axis=0), expected) < 1e-9:
            return (
                f"{BIAS_NOT_SUMMED}: expected shape {expected.shape}, got {got.shape}; "
                "sum the per-sample gradients over axis 0"
            )
    if batch is not None and expected.ndim == 1 and got.shape == (batch,) and expected.shape != (batch,):
        return (f"it has one entry per sample (shape {got.shape}), expected one per unit {expected.shape}: "
                f"{WRONG_AXIS}; sum over axis 0 (the batch)")
    if got.size == expected.size:
        return f"{WRONG_SHAPE}: expected shape {expected.shape}, got {got.shape} (same number of entries)"
    return f"{WRONG_SHAPE}: expected shape {expected.shape}, got {got.shape}"


def array_problem(got, expected: np.ndarray, *, tol: float, batch: int | None = None,
                  atol: float = 0.0, near_miss: str | None = None) -> str | None:
    """What is wrong with ``got`` as a stand-in for ``expected``, or ``None`` if nothing.

    Checks type, shape, dtype and finiteness, then closeness (``relative_error <= tol``,
    or every entry within ``atol``); a wrong value is named by its signature when it has one.
    ``near_miss``: the likely cause of a near miss, when the test knows it.
    """
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, (np.ndarray, int, float)):
        return f"it is a {type(got).__name__}, expected a NumPy array of shape {expected.shape}"
    if not isinstance(got, np.ndarray):
        if expected.size == 1:
            got = np.asarray(got, dtype=np.float64)
        else:
            return f"it is a single number, expected an array of shape {expected.shape}"
    if got.shape != expected.shape:
        return shape_signature(got, expected, batch)
    if got.dtype == np.float32:
        return f"it has dtype {FLOAT32}; use float64 throughout"
    if got.dtype != expected.dtype and not (got.dtype.kind == "f" and expected.dtype.kind == "f"):
        return f"it has dtype {got.dtype}, expected {expected.dtype}"
    if got.dtype.kind in "fc" and not np.all(np.isfinite(got)):
        return f"it contains {NON_FINITE} values (nan or inf)"
    err = relative_error(got, expected)
    if err <= tol or (atol > 0 and float(np.max(np.abs(got - expected), initial=0.0)) <= atol):
        return None
    if got.ndim == 2 and got.shape[0] == got.shape[1] > 1 and relative_error(got.T, expected) <= tol:
        return f"it is {TRANSPOSED} (a square matrix whose .T is right)"
    if is_near_miss(err):
        return near_miss_text(got, expected, err, near_miss)
    r = fitted_factor(got, expected)
    if r is not None:
        return factor_signature(r, batch)
    return f"its values are wrong (relative error {err:.2g})"


#: Relative errors in this range are a formula that is right but computed slightly
#: differently (a shifted log, a step that is not eps); wrong formulas miss by far more,
#: round-off by far less.
NEAR_MISS_RANGE = (1e-9, 1e-4)
#: What usually makes a result a near miss, unless a test knows better.
NEAR_MISS_CAUSES = ("log(p + eps) instead of clipping, a step that is not exactly eps, "
                    "or a constant that is off by a small amount")


def is_near_miss(err: float) -> bool:
    return NEAR_MISS_RANGE[0] <= err <= NEAR_MISS_RANGE[1]


def near_miss_text(got, expected, err: float, cause: str | None = None, entries: int = 3) -> str:
    """A near miss, with the entries that differ most at full precision: ``"expected
    9.67925, got 9.67924"`` tells a student nothing, all 17 digits tell where to look."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    gap = np.abs(got - expected).ravel()
    worst = np.argsort(gap)[::-1][:entries]
    shown = []
    for flat in worst:
        if gap[flat] == 0:
            break
        where = f" at {[int(i) for i in np.unravel_index(flat, expected.shape)]}" if expected.ndim else ""
        shown.append(f"{where.strip() or 'the value'}: expected {float(expected.ravel()[flat])!r}, "
                     f"got {float(got.ravel()[flat])!r}")
    return (f"it is a {NEAR_MISS} (relative error {err:.1e}): the formula is right but something is "
            f"computed slightly differently, likely {cause or NEAR_MISS_CAUSES}. "
            "Differing most: " + "; ".join(shown))


def check_array(got, expected, *, what: str, tol: float, batch: int | None = None,
                inputs: str | LazyText = "", atol: float = 0.0, near_miss: str | None = None) -> None:
    """Raise :class:`GradingFailure` unless ``got`` matches ``expected`` within ``tol``.

    ``what`` names the result (``"`relu(z)`"``); ``inputs`` is a compact description of
    the inputs (a ``LazyText`` is formatted only if the check fails), shown with the
    expected and actual values.
    """
    expected = np.asarray(expected)
    problem = array_problem(got, expected, tol=tol, batch=batch, atol=atol, near_miss=near_miss)
    if problem is not None:
        signature = "near-miss" if problem.startswith(f"it is a {NEAR_MISS}") else None
        raise GradingFailure(f"{what} is wrong: {problem}.{inputs}{expected_got(expected, got)}", signature)


def check_scalar(got, expected: float, *, what: str, tol: float, batch: int | None = None,
                 inputs: str | LazyText = "", variants: Mapping[str, float] | Callable | None = None,
                 near_miss: str | None = None) -> None:
    """Like :func:`check_array` for a function that must return one Python float.

    ``variants``: what common wrong forms of the formula give (text -> value), or a
    function returning that, called only when ``got`` is wrong; a match names the form.
    """
    if isinstance(got, np.ndarray) and got.size == 1:
        raise GradingFailure(
            f"{what} returned an array of shape {got.shape}; return a Python float (use float(...)).{inputs}"
        )
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise GradingFailure(f"{what} returned a {type(got).__name__}; return a Python float.{inputs}")
    got = float(got)
    if not np.isfinite(got):
        raise GradingFailure(f"{what} is {NON_FINITE} ({got}).{inputs}{expected_got(expected, got)}")
    err = relative_error(got, expected)
    if err <= tol:
        return
    for text, value in ((variants() if callable(variants) else variants) or {}).items():
        if value is not None and np.isfinite(value) and relative_error(got, value) <= max(tol, 1e-12):
            raise GradingFailure(f"{what} is wrong: {text}.{inputs}{expected_got(expected, got)}")
    r = fitted_factor(np.array([got]), np.array([expected]))
    if r is not None and _named_factor(r, batch):
        hint = factor_signature(r, batch)
    elif is_near_miss(err):
        raise GradingFailure(f"{what} is wrong: {near_miss_text(got, expected, err, near_miss)}.{inputs}",
                             "near-miss")
    else:
        hint = f"relative error {err:.2g}"
    raise GradingFailure(f"{what} is wrong: {hint}.{inputs}{expected_got(expected, got)}")


def _named_factor(r: float, batch: int | None) -> bool:
    """For one number any ratio "fits"; only the named factors say anything."""
    return not factor_signature(r, batch).startswith(("it is off by a constant", "it is all zeros"))


def gradient_errors(got: Mapping, expected: Mapping) -> dict[str, float]:
    """Relative error per parameter (``inf`` where the shapes differ)."""
    errors = {}
    for key, exp in expected.items():
        g = got.get(key)
        if isinstance(g, np.ndarray) and g.shape == exp.shape and g.dtype.kind in "fiu":
            errors[key] = relative_error(g, exp)
        else:
            errors[key] = float("inf")
    return errors


def gradients_problem(
    got,
    expected: Mapping[str, np.ndarray],
    *,
    order: Iterable[str],
    tol: float,
    batch: int | None = None,
    variants: Variants | Callable[[], Variants] | None = None,
    noun: str = "gradient",
    order_text: str = "in backward order",
) -> str | None:
    """What is wrong with a dict of gradients, or ``None``.

    ``order`` is the backward order (the first wrong parameter in it is where to look).
    ``variants`` maps the name of a known mistake to the gradients that mistake yields;
    if the student's gradients match one of those, the message names it. It may be a
    function returning that mapping, called only when some gradient is wrong.
    """
    order = tuple(order)
    if not isinstance(got, dict):
        return f"it returned a {type(got).__name__}, expected a dict with keys {list(order)}"
    missing = [k for k in order if k not in got]
    if missing:
        return f"the {noun}s dict has no entry for {', '.join(missing)} (expected keys {list(order)})"
    extra = sorted(set(got) - set(expected), key=str)
    if extra:
        return f"the {noun}s dict has unexpected keys {extra} (expected exactly {list(order)})"

    problems = {k: array_problem(got[k], expected[k], tol=tol, batch=batch) for k in order}
    wrong = [k for k in order if problems[k] is not None]
    if not wrong:
        return None

    if callable(variants):
        variants = variants()
    for name, variant in (variants or {}).items():
        if all(
            array_problem(got[k], variant[k], tol=tol, batch=batch) is None for k in order
        ):
            return f"{name}. The {noun}s of {', '.join(wrong)} are off; " + _error_list(got, expected, order)

    # One factor shared by every wrong gradient (forgot 1/N, flipped the sign upstream).
    factors = {problems[k] for k in wrong}
    if len(wrong) > 1 and len(factors) == 1:
        common = next(iter(factors))
        if not common.startswith("its values are wrong"):
            return f"for {', '.join(wrong)}: {common}. " + _error_list(got, expected, order)
    first = wrong[0]
    return (
        f"the first wrong {noun}{' ' + order_text if order_text else ''} is {first}: {problems[first]}. "
        + _error_list(got, expected, order)
        + expected_got(expected[first], got[first])
    )


def _error_list(got, expected, order) -> str:
    errors = gradient_errors(got, expected)
    return "Relative error per parameter: " + ", ".join(
        f"{k} {errors[k]:.1e}" if np.isfinite(errors[k]) else f"{k} (shape/type)" for k in order
    )


def check_gradients(got, expected, *, what: str, order, tol: float, batch: int | None = None,
                    variants=None, inputs: str | LazyText = "", noun: str = "gradient",
                    order_text: str = "in backward order") -> None:
    """Raise :class:`GradingFailure` unless the dict ``got`` matches ``expected``.

    ``variants``: the reference's wrong variants by key (``VARIANT_TEXT``), or a function
    returning them; a function is called only when ``got`` is wrong, so a passing check
    does not compute them.
    """
    def named():
        return named_variants((variants() if callable(variants) else variants) or {})

    problem = gradients_problem(got, expected, order=order, tol=tol, batch=batch,
                                variants=named, noun=noun, order_text=order_text)
    if problem is not None:
        raise GradingFailure(f"{what} is wrong: {problem}{inputs}")
