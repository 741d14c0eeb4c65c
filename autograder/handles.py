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
        for index in range(len(self)):
            yield self[index]

    def __repr__(self) -> str:
        return f"<Handle {self._ref.type_name} #{self._ref.id}>"


class Notebook:
    """One notebook of a submission, as the hidden tests see it (DESIGN.md section 3)."""

    def __init__(self, stem: str, transport):
        self.stem = stem
        self._transport = transport

    def call(self, name: str, *args, numpy_only: bool = False, readonly_args: bool = False,
             return_args: bool = False, fp_errors: str | None = None, **kwargs) -> Any:
        """Call the student's ``name(*args, **kwargs)``; see DESIGN.md for the options."""
        raw = self._transport.call(
            name, unwrap(args), unwrap(kwargs),
            numpy_only=numpy_only, readonly_args=readonly_args, return_args=return_args,
            fp_errors=fp_errors,
        )
        return wrap(self._transport, raw)

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
