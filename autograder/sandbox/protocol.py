"""The words both sides of the sandbox boundary share: operations, exit statuses, errors.

The grader (``client``) talks to the template (``template``) over a control socket and
to each sandbox (``server``) over a socket of its own; every message is one frame of
``autograder.sandbox.codec``. This module names what travels, so a typo in an
operation is a type error, not a request the other side answers with "unknown".
"""

from __future__ import annotations

from typing import Literal, get_args

#: What the grader asks the template (``template._Template.handle``).
TemplateOp = Literal["spawn", "channel", "status", "kill_tree", "sweep"]
#: What the grader asks a sandbox (``server._Server.answer``): ``run`` the notebook's
#: cells, then the ``Dispatcher``'s calls.
SandboxOp = Literal["run", "call", "reference_function", "getattr", "call_handle", "len", "getitem", "items"]
TEMPLATE_OPS: tuple[str, ...] = get_args(TemplateOp)
SANDBOX_OPS: tuple[str, ...] = get_args(SandboxOp)

#: Largest message on the template's control socket.
CONTROL_MESSAGE_BYTES = 1 << 20
#: Exit statuses a sandbox uses for its own failures (anything else is the student's).
EXIT_NOT_CONFINED = 3
EXIT_LOST_SOCKET = 86

#: What each error's constructor takes, in order; the grader rebuilds them from this.
ERROR_FIELDS = {
    "NotebookMissing": ("stem", "detail"),
    "FunctionMissing": ("stem", "name", "cell_errors"),
    "StudentException": ("function", "exc_type", "message"),
    "CallTimeout": ("function", "seconds"),
    "SandboxDied": ("function", "reason"),
    "AutogradUsed": ("function", "what"),
    "NotPlainData": ("function", "detail"),
}


def template_request(op: TemplateOp, **fields) -> dict:
    """A request to the template: ``{"op": op, **fields}``, ``op`` checked by the type checker."""
    return {"op": op, **fields}


def sandbox_request(op: SandboxOp, **fields) -> dict:
    """A request to a sandbox: ``{"op": op, **fields}``, ``op`` checked by the type checker."""
    return {"op": op, **fields}
