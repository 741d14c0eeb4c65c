"""What a student's function returned, by type, before the grader made plain data of it.

The provider rebuilds every result as exact NumPy arrays and builtins (a torch tensor
arrives as an ndarray of its dtype), so a value check alone cannot see that a function
returned tensors. The notebook object records the original type of each value it
converted (``Notebook.last_call_types``); a test of a function whose contract says
"NumPy arrays" reads it here and fails naming the type the student returned.
"""

from __future__ import annotations

from grading_tests.diagnose import GradingFailure

#: How to turn what a student returned into a NumPy array, by the start of its type's name.
ARRAY_FIXES = {
    "torch.": "call .detach().numpy() on it",
}


def check_numpy_arrays(nb, function: str, what: str = "a NumPy array") -> None:
    """Fail if the last call of ``function`` on ``nb`` returned, anywhere in its result, a
    value that crossed as an ndarray but was something else (a torch tensor) when returned."""
    wrong = {path: name for path, name in _leaves(getattr(nb, "last_call_types", None))
             if _fix_for(name) is not None}
    if not wrong:
        return
    kinds = sorted(set(wrong.values()))
    where = ", ".join(f"result{path}" if path else "the result" for path in list(wrong)[:6])
    if len(wrong) > 6:
        where += f" and {len(wrong) - 6} more"
    raise GradingFailure(
        f"`{function}` returned {' and '.join(_short(kind) for kind in kinds)}, not numpy.ndarray "
        f"({where}): {_fix_for(kinds[0])}. The contract asks for {what}; the grader would otherwise "
        "convert it for you, and other code calling your function would not.",
        "returned-tensor",
    )


def _leaves(types, path: str = ""):
    """``(path, type name)`` of every value in a ``last_call_types`` tree."""
    if isinstance(types, dict):
        for key, value in types.items():
            yield from _leaves(value, f"{path}[{key!r}]")
    elif isinstance(types, (list, tuple)):
        for index, value in enumerate(types):
            yield from _leaves(value, f"{path}[{index}]")
    elif isinstance(types, str):
        yield path, types


def _fix_for(type_name: str) -> str | None:
    return next((fix for start, fix in ARRAY_FIXES.items() if type_name.startswith(start)), None)


def _short(type_name: str) -> str:
    """``torch.nn.parameter.Parameter`` -> ``torch.nn.Parameter``-like names a student knows."""
    return {"torch.nn.parameter.Parameter": "torch.nn.Parameter"}.get(type_name, type_name)
