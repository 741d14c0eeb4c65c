"""The grader's view of student code: ``Notebook`` objects and ``Handle`` proxies.

Both providers (in-process and sandboxed) hand the hidden tests the same two classes;
only the *transport* underneath differs. A transport has the methods of
``autograder.sandbox.dispatch.Dispatcher``: ``call``, ``reference_function``, ``getattr``,
``call_handle``, ``len``, ``getitem``. It returns plain data in which anything that
could not cross is a ``HandleRef``; this module turns those into ``Handle`` proxies
on the way out and back into ``HandleRef`` on the way in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autograder.errors import NotPlainData


@dataclass(frozen=True)
class HandleRef:
    """Names an object that stayed where the student code runs."""

    id: int
    type_name: str


class Handle:
    """A proxy for an object living with the student code (a cache, an ``nn.Module``).

    Attribute reads, calls, ``len`` and indexing go to the real object; what comes back
    is plain data or another ``Handle``. ``handle_type`` is the object's qualified type.
    """

    __slots__ = ("_transport", "_ref")

    def __init__(self, transport, ref: HandleRef):
        object.__setattr__(self, "_transport", transport)
        object.__setattr__(self, "_ref", ref)

    @property
    def handle_type(self) -> str:
        return self._ref.type_name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return wrap(self._transport, self._transport.getattr(self._ref.id, attr))

    def __setattr__(self, attr, value):
        raise AttributeError("a Handle is read-only")

    def __call__(self, *args, **kwargs) -> Any:
        return wrap(self._transport, self._transport.call_handle(self._ref.id, unwrap(args), unwrap(kwargs)))

    def __len__(self) -> int:
        return self._transport.len(self._ref.id)

    def __getitem__(self, key) -> Any:
        return wrap(self._transport, self._transport.getitem(self._ref.id, unwrap(key)))

    def __iter__(self):
        """What ``len`` and ``[0], [1], ...`` give, fetched in one request."""
        values = self._transport.items(self._ref.id)
        if type(values) is not list:
            raise NotPlainData(f"iter({self._ref.type_name})", "its items came back as something else than a list")
        return iter([wrap(self._transport, value) for value in values])

    def __repr__(self) -> str:
        return f"<Handle {self._ref.type_name} #{self._ref.id}>"


class Notebook:
    """One notebook of a submission, as the hidden tests see it (DESIGN.md section 3).

    ``last_call_types``: what the last ``call``'s result was before it became plain data, in
    the result's shape (dict, list, tuple) with each value's qualified type name at its place:
    ``{"W1": "torch.Tensor", "b1": "numpy.ndarray"}`` for a dict holding a tensor, ``"float"``
    for a float. Both providers record it in the same place, their shared ``Dispatcher``.
    """

    def __init__(self, stem: str, transport):
        self.stem = stem
        self._transport = transport
        self.last_call_types: Any = None

    def call(self, name: str, *args, numpy_only: bool = False, readonly_args: bool = False,
             return_args: bool = False, fp_errors: str | None = None, return_types: bool = False,
             **kwargs) -> Any:
        """Call the student's ``name(*args, **kwargs)``; see DESIGN.md for the options.
        ``return_types``: also return ``last_call_types``, last: ``(result, types)``, or
        ``(result, args_after, types)`` with ``return_args``."""
        self.last_call_types = None
        raw, converted = self._transport.call(
            name, unwrap(args), unwrap(kwargs),
            numpy_only=numpy_only, readonly_args=readonly_args, return_args=return_args,
            fp_errors=fp_errors, return_types=True,
        )
        converted = checked_types(name, converted)
        self.last_call_types = type_tree(raw[0] if return_args else raw, converted)
        value = wrap(self._transport, raw)
        if not return_types:
            return value
        return (*value, self.last_call_types) if return_args else (value, self.last_call_types)

    def reference_function(self, kind: str, **params) -> Handle:
        """A trusted scalar test function created where the student code runs."""
        return wrap(self._transport, self._transport.reference_function(kind, params))

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def student_function(*args, **kwargs):
            return self.call(name, *args, **kwargs)

        student_function.__name__ = name
        return student_function

    def __repr__(self) -> str:
        return f"<Notebook {self.stem}>"


#: At most this many type records per call, each path and type name at most this long:
#: the record comes from the sandbox, where the student's code runs.
MAX_TYPE_RECORDS = 10_000
MAX_TYPE_TEXT = 500


def checked_types(function: str, types: Any) -> dict[str, str]:
    """The type record of a call's result, refused unless it is ``{str: str}`` of sane size."""
    if type(types) is not dict or len(types) > MAX_TYPE_RECORDS or not all(
            type(path) is str and type(name) is str and len(path) <= MAX_TYPE_TEXT and len(name) <= MAX_TYPE_TEXT
            for path, name in types.items()):
        raise NotPlainData(function, "the types of its result came back unreadable")
    return types


def path_key(key: str) -> str:
    """A dict key as a path into a result reads it (``['W1']``), cut short: keys are the student's."""
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."


def type_tree(plain: Any, converted: dict[str, str], path: str = "") -> Any:
    """The result's shape with each value's type name in place: the original type where
    ``converted`` (the ``Dispatcher``'s record, by path) says the value changed type, its
    own type elsewhere. A list, tuple or dict stands for itself (a subclass's name is lost)."""
    if isinstance(plain, HandleRef):
        return plain.type_name
    if type(plain) is list:
        return [type_tree(item, converted, f"{path}[{index}]") for index, item in enumerate(plain)]
    if type(plain) is tuple:
        return tuple(type_tree(item, converted, f"{path}[{index}]") for index, item in enumerate(plain))
    if type(plain) is dict:
        return {key: type_tree(item, converted, f"{path}[{path_key(key)}]") for key, item in plain.items()}
    if path in converted:
        return converted[path]
    cls = type(plain)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def wrap(transport, value: Any) -> Any:
    """Replace every ``HandleRef`` in ``value`` by a ``Handle`` on ``transport``."""
    if isinstance(value, HandleRef):
        return Handle(transport, value)
    if type(value) is list:
        return [wrap(transport, item) for item in value]
    if type(value) is tuple:
        return tuple(wrap(transport, item) for item in value)
    if type(value) is dict:
        return {key: wrap(transport, item) for key, item in value.items()}
    return value


def unwrap(value: Any) -> Any:
    """Replace every ``Handle`` in ``value`` by its ``HandleRef`` (for sending)."""
    if isinstance(value, Handle):
        return object.__getattribute__(value, "_ref")
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    if isinstance(value, tuple):
        return tuple(unwrap(item) for item in value)
    if isinstance(value, dict):
        return {key: unwrap(item) for key, item in value.items()}
    return value
