"""The contract between the hidden tests and whatever runs the student code.

A **provider** hands the hidden tests one ``autograder.handles.Notebook`` per notebook
(``grading_tests/conftest.py`` finds it as the pytest plugin named
``PROVIDER_PLUGIN``); under each ``Notebook`` a **transport** carries the calls to the
``autograder.sandbox.dispatch.Dispatcher`` where the student code runs. There are two
of each: in-process (``autograder.inprocess``; the transport is the ``Dispatcher``
itself) and sandboxed (``autograder.sandbox.submission``; a socket and the codec). The
hidden tests must not be able to tell them apart; these Protocols are what both
implement (DESIGN.md section 3).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from autograder.handles import HandleRef, Notebook

#: The name the provider is registered under in pytest's plugin manager.
PROVIDER_PLUGIN = "backprop_submission"


@runtime_checkable
class Transport(Protocol):
    """What a ``Notebook`` and its ``Handle``s call; returns plain data and ``HandleRef``s."""

    def call(self, name: str, args=(), kwargs=None, *, numpy_only: bool = False,
             readonly_args: bool = False, return_args: bool = False, fp_errors: str | None = None,
             return_types: bool = False) -> Any: ...

    def reference_function(self, kind: str, params: dict) -> HandleRef | Any: ...

    def getattr(self, ref_id: int, attr: str) -> Any: ...

    def call_handle(self, ref_id: int, args=(), kwargs=None) -> Any: ...

    def len(self, ref_id: int) -> int: ...

    def getitem(self, ref_id: int, key: Any) -> Any: ...

    def items(self, ref_id: int) -> list: ...


@runtime_checkable
class Provider(Protocol):
    """A submission as the hidden tests get it: one ``Notebook`` per stem."""

    def notebook(self, stem: str) -> Notebook: ...

    def close(self, wait: bool = True) -> None: ...
