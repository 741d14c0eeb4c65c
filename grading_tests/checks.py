"""Calling a student's function the way every hidden test does, and drawing test inputs.

:func:`call` sends copies of the arguments, asks the provider for the arguments as
they were after the call, and fails with a clear message if the student's function
wrote into one of them. Input drawing keeps every dimension different (so a
transposition cannot hide) and pre-activations away from ReLU's kink.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from autograder.errors import (
    CallTimeout,
    FunctionMissing,
    SandboxDied,
    StudentException,
    SubmissionError,
    library_not_allowed,
)
from grading_tests.diagnose import (
    CACHE_BLAME,
    CASE_RAISED,
    FP_WARNING,
    KEY_ORDER,
    MODIFIED_IN_PLACE,
    STATE_KEPT,
    GradingFailure,
    LazyText,
    compact,
    describe_case,
    describe_change,
    fp_warning_hint,
)
from grading_tests.reference import KINK_MARGIN, relative_error


def describe_inputs(args: Mapping[str, object]) -> LazyText:
    """``"\\n  with z = [...]"`` lines for a failure message (arrays shown compactly),
    formatted only if a message is built (a passing check formats nothing). The values
    are not copied: describe inputs that stay as they are until the check is done."""
    args = dict(args)
    return LazyText(lambda: _input_lines(args))


def _input_lines(args: Mapping[str, object]) -> str:
    lines = []
    for name, value in args.items():
        if isinstance(value, dict):
            value = "{" + ", ".join(f"{k}: shape {getattr(v, 'shape', '?')}" for k, v in value.items()) + "}"
            lines.append(f"\n  with {name} = {value}")
        else:
            lines.append(f"\n  with {name} = {compact(value)}")
    return "".join(lines)


def call(nb, function: str, args: Mapping[str, object], *, numpy_only: bool = False,
         readonly: bool = False, repeat=False, may_modify: tuple[str, ...] = (), warn_free: bool = False,
         modify_hint: str = "compute new arrays (e.g. np.maximum(z, 0), not z[z < 0] = 0; "
                            "p - lr * g, not p -= lr * g)", with_types: bool = False):
    """Call ``function`` from notebook ``nb`` with ``args`` (name -> value, in order).

    Fails if an argument not named in ``may_modify`` holds different values after the
    call. ``readonly``: arrays arrive read-only, so writing into one (even to restore it
    later) fails with a message saying so. ``repeat``: call a second time with the same
    arguments and fail if the answer differs (state kept between calls). ``warn_free``:
    NumPy's overflow, divide-by-zero and invalid-value warnings fail the check (the
    contract's "finite and warning-free" at extreme inputs). ``with_types``: return
    ``(result, types)``, ``types`` being what the student's code returned before it became
    plain data (see :func:`returned_types`), or ``None`` where the provider cannot tell.
    """
    names = list(args)
    originals = list(args.values())
    result, after, types = _call_once(nb, function, names, originals, numpy_only, readonly, warn_free,
                                      with_types)
    changed = _changed(names, originals, after, may_modify)
    if changed:
        how = "; ".join(f"{name}{'' if change.startswith('[') else ' '}{change}"
                        for name, old, new in zip(names, originals, after) if name in changed
                        for change in [describe_change(old, new)])
        raise GradingFailure(
            f"`{function}` {MODIFIED_IN_PLACE} {', '.join(changed)} in place: {how}. A function must leave "
            f"its array arguments as they were; {modify_hint}."
            + describe_inputs({n: a for n, a in zip(names, originals) if n in changed})
        )
    if repeat:
        again, _, _ = _call_once(nb, function, names, originals, numpy_only, readonly, warn_free)
        compared = repeat if callable(repeat) else (lambda value: value)
        if not _same(compared(result), compared(again)):
            raise GradingFailure(
                f"`{function}` gives a different answer when called a second time with the same "
                f"arguments ({STATE_KEPT}?): a function's result must depend only on its arguments."
                f"\n  first call:  {compact(result)}\n  second call: {compact(again)}"
            )
    return (result, types) if with_types else result


def returned_types(nb) -> bool:
    """Whether the provider can say what type the student's code returned: its ``call``
    takes ``return_types=True`` and then answers ``(result, args_after, types)``, where
    ``types`` has the result's shape (dict, list, tuple) with, at each leaf, the type's
    qualified name before the value became plain data ("torch.Tensor", "numpy.ndarray",
    "numpy.float64", "float"). Until the providers do, tests that need it check values only."""
    import inspect

    try:
        return "return_types" in inspect.signature(nb.call).parameters
    except (TypeError, ValueError):
        return False


def _call_once(nb, function, names, originals, numpy_only, readonly, warn_free=False, with_types=False):
    """``(result, args_after, types or None)`` of one call."""
    sent = [_copy_plain(a) for a in originals]
    options = {"numpy_only": numpy_only, "readonly_args": readonly, "return_args": True,
               "fp_errors": "raise" if warn_free else None}
    if with_types and returned_types(nb):
        options["return_types"] = True
    try:
        answer = nb.call(function, *sent, **options)
        return tuple(answer) if "return_types" in options else (*answer, None)
    except StudentException as error:
        if warn_free and error.exc_type == "FloatingPointError":
            raise GradingFailure(
                f"`{function}` {FP_WARNING} at extreme inputs: NumPy reported \"{error.message}\", and it "
                f"must be finite and warning-free up to |z| = 1e4. That warning means "
                f"{fp_warning_hint(error.message)}."
                + describe_inputs({n: a for n, a in zip(names, originals) if isinstance(a, np.ndarray)}),
                "fp-warning",
            ) from None
        if readonly and "read-only" in error.message:
            raise GradingFailure(
                f"`{function}` {MODIFIED_IN_PLACE} in place (the grader passed read-only arrays and "
                f"your code wrote into one: {error.exc_type}: {error.message}). Leave the arguments "
                "alone and compute new arrays."
            ) from None
        raise raised_in_case(error, dict(zip(names, originals))) from None
    except FunctionMissing as error:
        library = library_not_allowed(" ".join(error.cell_errors))
        if library is None:
            raise
        raise GradingFailure(str(error), "library-not-allowed") from None  # the error names the library


def raised_in_case(error: StudentException, args: Mapping[str, object]) -> GradingFailure:
    """The student's exception, saying which case raised it (the shapes, the depth) and,
    for a missing module, that only NumPy, PyTorch and the standard library are allowed."""
    library = library_not_allowed(error.message) if error.exc_type == "ModuleNotFoundError" else None
    if library is not None:
        return GradingFailure(f"`{error.function}` raised {error.exc_type}: {library}.", "library-not-allowed")
    # A stub's NotImplementedError is the same whatever the case: naming one adds nothing.
    case = describe_case(args) if error.exc_type != "NotImplementedError" else ""
    return GradingFailure(f"{error}" + (f"\n  {CASE_RAISED}: {case}." if case else ""), type(error).__name__)


def _copy_plain(value):
    """A copy of plain data (so the student cannot touch our originals); Handles and
    test functions pass through as they are."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_plain(v) for v in value)
    return value


def _changed(names, originals, after, may_modify):
    changed = []
    for name, old, new in zip(names, originals, after):
        if name in may_modify:
            continue
        if isinstance(old, dict):
            if not isinstance(new, dict) or any(k not in new or not _same(v, new[k]) for k, v in old.items()):
                changed.append(name)
        elif isinstance(old, np.ndarray) and not _same(old, new):
            changed.append(name)
    return changed


def _same(a, b) -> bool:
    """Exactly the same plain data (arrays bit for bit, nan equal to nan)."""
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return type(a) is type(b) and a == b


def first_of_pair(value):
    """``out`` of an ``(out, cache)`` pair, for comparing two calls (the cache may be a
    Handle, which never compares equal); anything else as it is."""
    return value[0] if isinstance(value, (tuple, list)) and len(value) == 2 else value


def unpack_pair(result, function: str, first: str, second: str):
    """``(out, cache) = result`` with a message when ``result`` is not a pair."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingFailure(
            f"`{function}` must return a pair ({first}, {second}); it returned {compact(result)}."
        )
    return result


# ------------------------------------------------------------------------ test inputs


def distinct_sizes(rng: np.random.Generator, k: int, low: int = 3, high: int = 10) -> list[int]:
    """``k`` different sizes in ``[low, high]``: no two dimensions can be confused."""
    return [int(v) for v in rng.choice(np.arange(low, high + 1), size=k, replace=False)]


def away_from_kinks(draw: Callable[[], tuple], preactivations: Callable[..., list], tries: int = 1000):
    """Redraw ``draw()`` until every pre-activation is at least KINK_MARGIN from 0."""
    for _ in range(tries):
        sample = draw()
        if all(np.min(np.abs(Z)) >= KINK_MARGIN for Z in preactivations(*sample)):
            return sample
    raise RuntimeError("could not draw inputs away from the ReLU kink")  # a grader bug, not a student's


# -------------------------------------------------------------------------- dict key order


def contract_order(params: Mapping[str, object]) -> dict:
    """``params`` with its keys in the contract's order: W1, b1, W2, b2, ..."""
    def rank(key):
        return (int(key[1:]) if key[1:].isdigit() else 0, key[:1] != "W", key)
    return {key: params[key] for key in sorted(params, key=rank)}


def reordered(params: Mapping[str, object], rng: np.random.Generator) -> dict:
    """``params`` in a random key order that is neither the contract's nor its reverse
    (a dict's order is not part of the contract; code that relies on it must fail)."""
    keys = list(contract_order(params))
    if len(keys) < 3:
        return dict(reversed(list(params.items())))
    for _ in range(100):
        order = [keys[i] for i in rng.permutation(len(keys))]
        if order not in (keys, keys[::-1]):
            return {key: params[key] for key in order}
    return {key: params[key] for key in keys[1:] + keys[:1]}


def backward_order(params: Mapping[str, object]) -> dict:
    """``params`` with the last layer first, as a backward pass computes them."""
    return dict(reversed(list(contract_order(params).items())))


def blaming_key_order(function: str, run: Callable, *dicts: Mapping, names=("params",)):
    """``run(*dicts)``; if that fails but ``run`` with the same dicts in the contract's
    key order passes, fail saying the function relies on the key order. A call that hung
    or killed its process is not tried again: that would cost a second timeout, and a
    function that does it twice loses its other tests."""
    try:
        return run(*dicts)
    except (CallTimeout, SandboxDied):
        raise
    except (GradingFailure, SubmissionError) as failure:
        ordered = [contract_order(d) for d in dicts]
        if all(list(d) == list(o) for d, o in zip(dicts, ordered)):
            raise
        try:
            run(*ordered)
        except (GradingFailure, SubmissionError):
            raise failure from None
        orders = "; ".join(f"{name} in the order {list(d)}" for name, d, o in zip(names, dicts, ordered)
                           if list(d) != list(o))
        raise GradingFailure(
            f"`{function}` {KEY_ORDER} of its dicts: it is right when they list their keys as "
            f"{list(ordered[0])}, wrong for {orders}. A dict's order is not part of the contract (a "
            "backward pass returns its gradients last layer first): look entries up by name "
            "(params[f'W{l}'], grads[name]) instead of pairing them by position.",
            "key-order",
        ) from None


# ------------------------------------------------------------------ blaming the right function


def blame_cache(nb, forward: str, backward: str, cache, intermediates: dict, check, args: dict) -> None:
    """When ``backward`` is wrong with the cache ``forward`` made, put the reference's
    values into the cache entries that have the usual names (Z1, A1, ...) and are wrong;
    if ``backward`` is then right, the fault is ``forward``'s: fail saying so."""
    if not isinstance(cache, dict):
        return
    wrong = {}
    for key, value in cache.items():
        expected = intermediates.get(key)
        if (expected is not None and isinstance(value, np.ndarray) and value.shape == expected.shape
                and relative_error(value, expected) > 1e-9):
            wrong[key] = [name for name, other in intermediates.items() if name != key and isinstance(
                other, np.ndarray) and other.shape == value.shape and relative_error(value, other) <= 1e-9]
    if not wrong:
        return
    fixed = {**cache, **{key: intermediates[key] for key in wrong}}
    try:
        check(call(nb, backward, {**args, "cache": fixed}, numpy_only=True))
    except (GradingFailure, SubmissionError):
        return
    what = "; ".join(f"cache['{key}'] holds " + (f"what {' or '.join(alike)} should be" if alike else "other values")
                     + f" instead of {key}" for key, alike in wrong.items())
    raise GradingFailure(
        f"`{backward}` is right, {CACHE_BLAME}: {what}. With those "
        f"entries corrected `{backward}` gives the right gradients, so fix what `{forward}` stores.",
        "forward-cache-wrong",
    ) from None
