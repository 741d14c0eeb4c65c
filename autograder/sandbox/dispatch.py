"""The dispatcher: lives where the student code runs and answers the grader's calls.

It owns the notebook's namespace and a table of objects that could not be sent as
plain data. Every value it returns has gone through ``to_plain``: exact ndarrays of a
numeric dtype, builtins, and lists, tuples and str-keyed dicts of these, with a
``HandleRef`` for anything else. In the sandbox the codec then sends that across a
socket; in-process it is handed over directly.

Rebuilding changes types (a torch tensor becomes an ndarray, ``np.float64`` a float), so
``to_plain`` can record what each converted value was: a test that checks "returns NumPy
arrays" must see the tensor the student returned, not the array the grader made of it
(``call(..., return_types=True)``; ``autograder.handles.Notebook.last_call_types``).
"""

from __future__ import annotations

import itertools
import sys
from typing import Any, Callable

import numpy as np

# Imported here, not lazily: a sandbox that has dropped privileges may no longer be
# able to read the package's files, so everything it needs is loaded up front.
from autograder import testfunctions
from autograder.errors import (
    AutogradUsed,
    FunctionMissing,
    NotPlainData,
    StudentException,
    SubmissionError,
)
from autograder.handles import HandleRef, path_key
from autograder.sandbox.guard import torch_forbidden

#: dtype kinds that cross as arrays: bool, signed, unsigned, float, complex.
PLAIN_KINDS = frozenset("biufc")
_HANDLE_IDS = itertools.count(1)
MAX_DEPTH = 32
MAX_ITEMS = 100_000

#: What ``to_plain`` records: where in the result (``""`` the result itself, ``"['W1']"``,
#: ``"[0]['b1']"``) a value was rebuilt as another type, and that value's original type
#: (``"torch.Tensor"``, ``"numpy.float64"``). Values that kept their type are not listed,
#: so the record is usually empty; ``autograder.handles.type_tree`` makes the tests' view.
ReturnTypes = dict[str, str]


def safe_text(value: Any, limit: int = 300) -> str:
    """``str(value)`` that survives a hostile ``__str__`` and stays short."""
    try:
        text = str(value)
    except BaseException:  # noqa: BLE001 - a student's __str__ may raise anything
        text = "<unprintable>"
    if type(text) is not str:
        text = "<unprintable>"
    return text if len(text) <= limit else text[:limit] + "..."


def type_name(value: Any) -> str:
    cls = type(value)
    module = getattr(cls, "__module__", "") or ""
    qualname = getattr(cls, "__qualname__", cls.__name__)
    return qualname if module == "builtins" else f"{module}.{qualname}"


def _getitem(obj, key):
    """``obj[key]``, as the student's object answers it (run through ``Dispatcher._invoke``)."""
    return obj[key]


class Dispatcher:
    """Answers calls into one notebook's namespace."""

    def __init__(self, stem: str, namespace: dict, cell_errors: tuple[str, ...] = ()):
        self.stem = stem
        self.namespace = namespace
        self.cell_errors = tuple(cell_errors)
        self._objects: dict[int, Any] = {}

    # -- the transport interface (see autograder.handles) -------------------------------

    def call(self, name: str, args=(), kwargs=None, *, numpy_only: bool = False,
             readonly_args: bool = False, return_args: bool = False, fp_errors: str | None = None,
             return_types: bool = False) -> Any:
        """Call the student's ``name``. ``fp_errors="raise"``: NumPy's overflow, divide and
        invalid warnings become ``FloatingPointError`` (underflow stays allowed).
        ``return_types``: return ``(value, types)``, ``types`` the original type of every
        value of the result that plain data changed (``ReturnTypes``, the result's only)."""
        function = self.namespace.get(name)
        if not callable(function):
            raise FunctionMissing(self.stem, name, self.cell_errors)
        args = tuple(self._resolve(arg, readonly_args) for arg in args)
        kwargs = {key: self._resolve(value, readonly_args) for key, value in (kwargs or {}).items()}
        if fp_errors not in (None, "raise"):
            raise ValueError(f"fp_errors must be None or 'raise', not {fp_errors!r}")
        if fp_errors == "raise":
            with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
                result = self._invoke(name, function, args, kwargs, numpy_only)
        else:
            result = self._invoke(name, function, args, kwargs, numpy_only)
        types: ReturnTypes | None = {} if return_types else None
        plain = self.to_plain(result, name, types=types)
        if return_args:
            plain = (plain, self.to_plain(list(args), name))
        return (plain, types) if return_types else plain

    def reference_function(self, kind: str, params: dict) -> HandleRef:
        """In-process (trusted code only): the test function, behind a value-only face."""
        return self._store(ValueOnly(testfunctions.make(kind, **params)))

    def value_only(self, evaluate: Callable[[Any], float]) -> HandleRef:
        """A scalar function for the student's code whose values ``evaluate`` supplies
        (in the sandbox: the grader computes them; nothing else of it lives here)."""
        return self._store(ValueOnly(evaluate))

    def getattr(self, ref_id: int, attr: str) -> Any:
        target = self._lookup(ref_id)
        label = f"{self._label(ref_id)}.{attr}"
        return self.to_plain(self._invoke(label, getattr, (target, attr), {}, False), label)

    def call_handle(self, ref_id: int, args=(), kwargs=None) -> Any:
        target = self._lookup(ref_id)
        args = tuple(self._resolve(arg, False) for arg in args)
        kwargs = {key: self._resolve(value, False) for key, value in (kwargs or {}).items()}
        if _is_torch_callable(target):
            # The grader cannot send tensors; a module or tensor method gets them here.
            args = tuple(_as_tensor(arg) for arg in args)
            kwargs = {key: _as_tensor(value) for key, value in kwargs.items()}
        label = f"{self._label(ref_id)}(...)"
        return self.to_plain(self._invoke(label, target, args, kwargs, False), label)

    def len(self, ref_id: int) -> int:
        label = f"len({self._label(ref_id)})"
        value = self._invoke(label, len, (self._lookup(ref_id),), {}, False)
        return int(value)

    def getitem(self, ref_id: int, key: Any) -> Any:
        target = self._lookup(ref_id)
        label = f"{self._label(ref_id)}[...]"
        return self.to_plain(self._invoke(label, _getitem, (target, self._resolve(key, False)), {}, False), label)

    def items(self, ref_id: int) -> list:
        """``[obj[0], obj[1], ...]`` up to ``len(obj)``: iterating a handle (the layers of
        an ``nn.Sequential``) in one request instead of one per item. The items share one
        budget of ``MAX_ITEMS`` values, as one result does."""
        target = self._lookup(ref_id)
        count = self.len(ref_id)
        label = f"{self._label(ref_id)}[...]"
        if count > MAX_ITEMS:
            raise NotPlainData(label, f"more than {MAX_ITEMS} items")
        budget = [MAX_ITEMS]
        return [self.to_plain(self._invoke(label, _getitem, (target, index), {}, False), label, budget=budget)
                for index in range(count)]

    # -- plain data --------------------------------------------------------------------

    def to_plain(self, value: Any, function: str, depth: int = 0, budget: list | None = None,
                 types: ReturnTypes | None = None, path: str = "") -> Any:
        """Rebuild ``value`` from exact builtin and ndarray types; store the rest.
        ``types``: filled with ``path -> original type`` for each value rebuilt as another type."""
        plain = self._to_plain(value, function, depth, budget, types, path)
        if types is not None and type(plain) is not type(value) and type(plain) is not HandleRef:
            types[path] = type_name(value)
        return plain

    def _to_plain(self, value: Any, function: str, depth: int, budget: list | None,
                  types: ReturnTypes | None, path: str) -> Any:
        budget = budget if budget is not None else [MAX_ITEMS]
        budget[0] -= 1
        if budget[0] < 0:
            raise NotPlainData(function, f"more than {MAX_ITEMS} values nested in the result")
        if depth > MAX_DEPTH:
            raise NotPlainData(function, f"values nested more than {MAX_DEPTH} levels deep")
        if value is None or type(value) in (bool, int, float, str):
            return value
        if isinstance(value, np.generic) and value.dtype.kind in PLAIN_KINDS:
            return np.ndarray.item(np.asarray(value))
        if isinstance(value, np.ndarray):
            if value.dtype.kind in PLAIN_KINDS and value.dtype.fields is None:
                # Call ndarray's own methods: a subclass's overrides never run.
                return np.ndarray.copy(np.ndarray.view(value, np.ndarray))
            return self._store(value)
        tensor = _tensor_as_array(value)
        if tensor is not None:
            return tensor
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return int.__int__(value)
        if isinstance(value, float):
            return float.__float__(value)
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, (list, tuple)):
            iterate = list.__iter__ if isinstance(value, list) else tuple.__iter__
            items = [self.to_plain(item, function, depth + 1, budget, types, f"{path}[{index}]")
                     for index, item in enumerate(iterate(value))]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, dict) and all(type(key) is str for key in dict.keys(value)):
            return {key: self.to_plain(item, function, depth + 1, budget, types, f"{path}[{path_key(key)}]")
                    for key, item in dict.items(value)}
        return self._store(value)

    def _resolve(self, value: Any, readonly: bool) -> Any:
        """Turn an argument from the grader into what the student function receives."""
        if isinstance(value, HandleRef):
            return self._lookup(value.id)
        if type(value) is np.ndarray:
            if readonly:
                # Over an immutable bytes object: the student's code cannot set the
                # WRITEABLE flag back (it could on an array that owns its memory).
                return np.frombuffer(value.tobytes(), dtype=value.dtype).reshape(value.shape)
            return value.copy()
        if type(value) is list:
            return [self._resolve(item, readonly) for item in value]
        if type(value) is tuple:
            return tuple(self._resolve(item, readonly) for item in value)
        if type(value) is dict:
            return {key: self._resolve(item, readonly) for key, item in value.items()}
        return value

    # -- internals -----------------------------------------------------------------------

    def _invoke(self, name: str, function: Callable, args: tuple, kwargs: dict, numpy_only: bool) -> Any:
        try:
            if numpy_only:
                with torch_forbidden() as used:
                    result = function(*args, **kwargs)
            else:
                used = []
                result = function(*args, **kwargs)
        except SubmissionError:
            raise
        except BaseException as error:  # noqa: BLE001 - student code may raise anything, SystemExit too
            if numpy_only and used:
                raise AutogradUsed(name, used[0]) from None
            raise StudentException(name, type(error).__name__, safe_text(error)) from None
        if used:
            raise AutogradUsed(name, used[0])
        return result

    def _store(self, value: Any) -> HandleRef:
        # Ids are unique across every dispatcher of the process, so a handle from one
        # notebook given to another is refused instead of reaching a different object.
        ref_id = next(_HANDLE_IDS)
        self._objects[ref_id] = value
        return HandleRef(ref_id, type_name(value))

    def _lookup(self, ref_id: int) -> Any:
        try:
            return self._objects[ref_id]
        except KeyError:
            raise NotPlainData(self.stem, f"unknown handle #{ref_id}") from None

    def _label(self, ref_id: int) -> str:
        return type_name(self._objects.get(ref_id))


class ValueOnly:
    """``f(x) -> float`` and nothing else: what a student's ``numerical_gradient`` gets.

    The grader's test functions know their exact gradient; handing one to student code
    would hand it the answer. This object holds only a way to ask for values.
    """

    __slots__ = ("_evaluate",)

    def __init__(self, evaluate: Callable[[Any], float]):
        self._evaluate = evaluate

    def __call__(self, x) -> float:
        return self._evaluate(x)

    def __repr__(self) -> str:
        return "<scalar test function>"


def _is_torch_callable(target: Any) -> bool:
    torch = sys.modules.get("torch")
    if torch is None or getattr(torch, "__notorch__", False):
        return False
    if isinstance(target, torch.nn.Module):
        return True
    owner = getattr(target, "__self__", None)
    return isinstance(owner, (torch.nn.Module, torch.Tensor))


def _as_tensor(value: Any) -> Any:
    if type(value) is np.ndarray:
        import torch

        return torch.from_numpy(value)
    return value


def _tensor_as_array(value: Any) -> np.ndarray | None:
    """A torch tensor as an exact ndarray of its dtype, or None if it is not a tensor."""
    torch = sys.modules.get("torch")
    if torch is None or getattr(torch, "__notorch__", False) or not isinstance(value, torch.Tensor):
        return None
    try:
        tensor = torch.Tensor.cpu(torch.Tensor.detach(value))
        array = torch.Tensor.numpy(tensor)
    except Exception:  # bfloat16, sparse, meta... stay as handles
        return None
    return np.ndarray.copy(np.ndarray.view(np.asarray(array), np.ndarray))
