"""The server inside each sandbox: confine, run the notebook, answer the grader's calls.

A sandbox is forked from the template (``autograder.sandbox.template``). ``serve``
puts its stdout and stderr on the output pipe, confines itself
(``autograder.sandbox.limits.confine``), reports ``ready`` and answers requests on its
socket: ``run`` (the notebook's cells; it reports ``{"cell": i}`` as each cell starts,
so the grader can time cells from outside) and then the ``Dispatcher`` calls.
"""

from __future__ import annotations

import os
import signal
import socket
import sys

from autograder.sandbox import codec
from autograder.sandbox.protocol import ERROR_FIELDS, EXIT_LOST_SOCKET, EXIT_NOT_CONFINED, SandboxOp


def serve(sock_fd: int, output_fd: int, config: dict, shell=None) -> int:
    """The forked sandbox: confine, run the notebook, answer calls until the socket closes.
    ``shell``: the template's pristine IPython shell, which this forked copy may use up."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    _close_fds_except({0, 1, 2, sock_fd})
    for stream in (sys.stdout, sys.stderr):  # block-buffered since the template started on /dev/null
        stream.reconfigure(line_buffering=True, write_through=True)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGALRM):
        signal.signal(signum, signal.SIG_DFL)
    sock = socket.socket(fileno=sock_fd)
    try:
        from autograder.sandbox.limits import confine

        needed = _needed_paths() if config.get("probe") else {}
        applied = confine(config)
        if config.get("probe"):
            applied["unreadable"] = _unreadable_paths(needed, config.get("hidden", ()))
        else:
            _private_environment(applied["scratch"])
    except BaseException as error:  # noqa: BLE001 - reported, then the sandbox exits
        codec.send(sock, {"failed": f"{type(error).__name__}: {error}"})
        return EXIT_NOT_CONFINED
    codec.send(sock, {"ready": applied})
    if config.get("probe"):
        return 0
    _Server(sock, config, shell).loop()
    return 0


def _close_fds_except(keep: set[int]) -> None:
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _private_environment(home: str) -> None:
    """Start in the sandbox's scratch folder (``confine``'s), with it as HOME and TMPDIR."""
    os.chdir(home)
    os.environ.update({"HOME": home, "TMPDIR": home, "USER": "student", "LOGNAME": "student",
                       "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
                       "IPYTHONDIR": os.path.join(home, ".ipython"), "OMP_NUM_THREADS": "1"})
    import random

    import numpy

    from autograder.sandbox import notorch

    # Every sandbox starts from the same random state, so an unseeded notebook grades
    # the same twice (the template's own state depends on when it started).
    random.seed(0)
    numpy.random.seed(0)
    if not notorch.active():  # the torch-free template's sandboxes have no torch to set up
        import torch

        torch.set_num_threads(1)  # cores are shared by every sandbox; also keeps sums reproducible
        # The CPU's generator: what ``torch.manual_seed`` seeds here, where there is no GPU
        # (the template called that once; it also sets up the GPU back-ends, every time).
        torch.default_generator.manual_seed(0)


def _needed_paths() -> dict[str, str | None]:
    """What the sandbox runs on (``confinement.layers.interpreter_trees``), both as
    written and resolved (a symlinked venv may hide behind a private directory), that
    exist for the template; each with one entry it sees inside (directories only)."""
    from autograder.sandbox.confinement.layers import interpreter_trees

    paths = interpreter_trees()
    needed = {}
    for path in dict.fromkeys(paths + [os.path.realpath(p) for p in paths]):
        try:
            needed[path] = min(os.listdir(path), default=None) if os.path.isdir(path) else None
        except OSError:
            continue
        if not os.path.exists(path):
            del needed[path]
    return needed


def _unreadable_paths(needed: dict[str, str | None], hidden=()) -> list[list]:
    """Those ``needed`` paths this confined process cannot read, as ``[path, reason,
    hidden]``; ``hidden``: it lies under one of the ``hidden`` paths, is gone, or is a
    directory that lost its entries (a mount covers it)."""
    import stat

    from autograder.sandbox.confinement.layers import contains

    problems = []
    for path, entry in needed.items():
        try:
            if stat.S_ISDIR(os.stat(path).st_mode):
                if entry is not None and entry not in os.listdir(path):
                    problems.append([path, "covered by an empty mount", True])
            else:
                with open(path, "rb") as handle:
                    handle.read(1)
        except OSError as error:
            under_hidden = any(contains(folder, path) for folder in hidden)
            problems.append([path, error.strerror, isinstance(error, FileNotFoundError) or under_hidden])
    return problems


class _Server:
    """Answers the grader's requests with one notebook's ``Dispatcher``."""

    def __init__(self, sock: socket.socket, config: dict, shell=None):
        self.sock = sock
        self.config = config
        self.shell = shell
        self.dispatcher = None

    def loop(self) -> None:
        while True:
            try:
                request = codec.receive(self.sock)
            except codec.Closed:
                return  # the grader hung up: done
            reply = self.answer(request)
            try:
                codec.send_frame(self.sock, reply)
            except (codec.Closed, OSError):  # student code closed or broke our socket
                os._exit(EXIT_LOST_SOCKET)

    def answer(self, request: dict) -> list:
        from autograder.errors import NotPlainData, SubmissionError

        op = request["op"]
        label = request.get("label", op)
        try:
            value = self.run(request) if op == "run" else self.dispatch(op, request)
            reply = {"ok": value}
        except SubmissionError as error:
            reply = {"error": error_fields(error)}
        except BaseException as error:  # noqa: BLE001 - a bug, or student code that broke us
            reply = {"internal": f"{type(error).__name__}: {error}"[:2000]}
        seq = request.get("seq")  # echoed, so a stray frame cannot pass for this reply
        try:
            return codec.encode({**reply, "seq": seq})
        except codec.CodecError as error:
            return codec.encode({"error": error_fields(NotPlainData(label, str(error))), "seq": seq})

    def run(self, request: dict) -> list:
        from autograder.sandbox.cells import new_shell, run_cells
        from autograder.sandbox.dispatch import Dispatcher

        skipped = request.get("skip", {})
        cells = ["" if str(i) in skipped else code for i, code in enumerate(request["cells"])]
        shell = self.shell if self.shell is not None else new_shell({"__name__": "__main__"})
        results = run_cells(shell, cells, float(request["cell_timeout"]),
                            on_cell_start=lambda index: codec.send(self.sock, {"cell": index}))
        errors = [skipped.get(str(r.index)) or r.error for r in results]
        self.dispatcher = Dispatcher(request["stem"], shell.user_ns, tuple(e for e in errors if e))
        return [[r.index, r.seconds, error] for r, error in zip(results, errors)]

    def evaluate(self, function_id: int, x) -> float:
        """A test function's value at ``x``, asked of the grader, which alone holds the
        function (and so its gradient). Runs inside a student's call."""
        import numpy

        try:
            array = numpy.ndarray.copy(numpy.asarray(x, dtype=numpy.float64))
        except (TypeError, ValueError) as error:
            raise TypeError(f"f(x) needs an array of numbers: {error}") from None
        codec.send(self.sock, {"evaluate": function_id, "x": array})
        reply = codec.receive(self.sock)
        if type(reply) is dict and type(reply.get("value")) is float:
            return reply["value"]
        raise ValueError(str(reply.get("error", "f(x) could not be computed")) if type(reply) is dict else "f(x)")

    def dispatch(self, op: SandboxOp, request: dict):
        dispatcher = self.dispatcher
        if op == "call":
            return dispatcher.call(request["name"], request["args"], request["kwargs"],
                                   **request["options"])
        if op == "reference_function":
            function_id = request["function"]
            return dispatcher.value_only(lambda x: self.evaluate(function_id, x))
        if op == "getattr":
            return dispatcher.getattr(request["id"], request["attr"])
        if op == "call_handle":
            return dispatcher.call_handle(request["id"], request["args"], request["kwargs"])
        if op == "len":
            return dispatcher.len(request["id"])
        if op == "items":
            return dispatcher.items(request["id"])
        if op == "getitem":
            return dispatcher.getitem(request["id"], request["key"])
        raise ValueError(f"unknown request {op!r}")


def error_fields(error) -> list:
    """A ``SubmissionError`` as ``[class name, constructor arguments]`` (``ERROR_FIELDS``)."""
    name = type(error).__name__
    fields = ERROR_FIELDS.get(name)
    if fields is None:
        return ["StudentException", ["grader", name, str(error)]]
    return [name, [getattr(error, field) for field in fields]]
