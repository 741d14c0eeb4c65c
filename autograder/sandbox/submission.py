"""The sandboxed provider: a submission's notebooks, each in its own confined process.

``SandboxSubmission(template, notebooks, limits=None)``: ``template`` is an
``autograder.sandbox.client.Template`` (or a channel of one); ``notebooks`` maps a stem to
its prepared cells (``notebooks.read.prepare_notebook``) or to the ``SubmissionError`` every
call to it raises; a stem not in it is ``NotebookMissing``. ``notebook(stem)``
returns the same ``autograder.handles.Notebook`` the in-process provider does. A
notebook's sandbox is forked on the first call to it (a missing notebook costs no
process) and runs the notebook's cells; the cells' errors land in
``cell_results[stem]``, printed output (capped) in ``output[stem]`` after
``close()``, and what happened to the processes (start and confinement, cell errors,
timeouts, deaths, restarts) in ``events``. ``close()`` kills all its sandboxes and
everything they started; it is safe to call twice and from a forked worker.

What is enforced, from this side of the boundary, where a student cannot switch it off:

* every call has ``limits.call_timeout`` seconds (``CallTimeout``), every cell
  ``limits.cell_timeout`` plus a short grace (the sandbox also arms ``SIGALRM`` for a
  clean in-notebook error first); a late sandbox is killed; a notebook's cells have
  ``limits.notebook_seconds`` in all, restarts included (then it is given up), and a
  submission ``limits.submission_seconds`` for everything (then every call fails at once);
* a sandbox that dies or times out is replaced by a fresh one on the next call, which
  re-runs the notebook; a cell that killed or hung the process is skipped in that
  re-run (and reported as a cell error), at most ``limits.max_restarts`` times; a
  function whose calls killed or hung it ``CALL_FAILURES_ALLOWED`` times fails its
  remaining calls at once (``FunctionStopped``), without spending that budget;
* "NumPy only": ``call(..., numpy_only=True)`` runs in a second sandbox of the notebook,
  forked from the torch-free template, with torch's files covered;
  ``import torch`` there is ``autograder.sandbox.notorch``'s stand-in;
* a test function for ``numerical_gradient`` stays here: the sandbox holds a value-only
  proxy whose values this process computes during the call (``{"evaluate": ...}``);
* replies are decoded by ``autograder.sandbox.codec``, which cannot run code and rebuilds exact
  ndarrays and builtins; a malformed reply kills the sandbox (``SandboxDied``);
* handles are tied to the sandbox that made them: one from a replaced sandbox raises
  ``SandboxDied`` (one from another notebook ``TypeError``) instead of reaching a
  different object;
* each sandbox's stdout and stderr go to a pipe this process drains, keeping
  ``output_bytes``.
"""

from __future__ import annotations

import itertools
import os
import select
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np

from autograder import errors
from autograder.errors import CallTimeout, InstructorError, SandboxDied, SubmissionError
from autograder.handles import HandleRef, Notebook
from autograder.sandbox import codec
from autograder.sandbox.cells import CellResult
from autograder.sandbox.client import START_TIMEOUT, Template
from autograder.sandbox.limits import Limits
from autograder.sandbox.protocol import ERROR_FIELDS, EXIT_LOST_SOCKET, sandbox_request

__all__ = ["SandboxSubmission", "Event"]

#: Extra time a cell gets before it is stopped from outside (the in-sandbox alarm fires first).
CELL_GRACE = 2.0
#: How often one function's calls may kill or hang its notebook's process before its
#: remaining calls fail at once (so a crash costs that function's tests, nothing else).
CALL_FAILURES_ALLOWED = 2
#: The largest x a student's numerical_gradient may ask a test function's value at.
MAX_EVALUATE_SIZE = 1_000_000
_HANDLE_BITS = 32  # grader-side handle id = sandbox number << 32 | the sandbox's own id


#: What can happen to a notebook's process: ``started`` (forked and confined), a cell
#: that raised, ran too long or killed its process, a call that ran too long, a
#: process that died, and giving up after ``limits.max_restarts`` restarts.
EventKind = Literal["started", "cell_error", "cell_timeout", "cell_died", "call_timeout", "died", "gave_up"]


@dataclass(frozen=True)
class Event:
    """Something that happened to a notebook's process, for the instructor's log."""

    notebook: str
    kind: EventKind
    detail: str


class SandboxSubmission:
    """One submission's notebooks, each in its own sandbox forked from ``template``.

    ``limits``: this submission's, if not the template's.
    """

    def __init__(self, template: Template, notebooks: Mapping[str, "list[str] | SubmissionError"],
                 limits: Limits | None = None):
        self.template = template
        self.limits = limits or template.limits
        self._cells = dict(notebooks)
        self._notebooks: dict[str, Notebook] = {}
        self._transports: list[_SandboxTransport] = []
        self._routers: dict[str, _Router] = {}  # stem -> its transport, where NumPy-only calls have a sandbox
        self.events: list[Event] = []
        self.cell_results: dict[str, list[CellResult]] = {}
        self.output: dict[str, str] = {}
        self._spawned: list[tuple[Template, int]] = []
        self._sandboxes: list[_Sandbox] = []
        self._numbers = itertools.count(1)
        self._readers: list[_OutputReader] = []
        #: When the submission's time (``limits.submission_seconds``) runs out.
        self.deadline = time.monotonic() + self.limits.submission_seconds

    @property
    def spawned(self) -> tuple[int, ...]:
        """Every sandbox pid this submission has forked so far, in order (NumPy-only ones too)."""
        return tuple(pid for _, pid in self._spawned)

    def notebook(self, stem: str) -> Notebook:
        if stem not in self._notebooks:
            cells = self._cells.get(stem)
            if cells is None:
                cells = errors.NotebookMissing(stem, "no such file")
            if isinstance(cells, SubmissionError):
                from autograder.inprocess import FailingTransport

                transport = FailingTransport(cells)
            else:
                transport = _SandboxTransport(self, stem, list(cells))
                self._transports.append(transport)
                numpy_template = getattr(self.template, "numpy_only_template", None)
                if numpy_template is not None:
                    transport = self._routers[stem] = _Router(self, transport, numpy_template)
            self._notebooks[stem] = Notebook(stem, transport)
        return self._notebooks[stem]

    def start_all(self, numpy_only: tuple[str, ...] = ()) -> None:
        """Start every notebook's sandbox now, all at once, instead of at its first call:
        the notebooks run side by side while the hidden tests of the first one begin.
        ``numpy_only``: notebooks whose NumPy-only sandbox starts now too.
        A sandbox that cannot be started here is started (and its error reported) at
        its notebook's first call, as it would be without this."""
        for stem in self._cells:
            self.notebook(stem)
            if stem in numpy_only and stem in self._routers:
                self._routers[stem].numpy_transport()
        for transport in self._transports:
            if transport.sandbox is None and transport.launched is None and transport.starts == 0:
                try:
                    transport.launch()
                except (RuntimeError, OSError):
                    continue

    def close(self, wait: bool = True) -> None:
        """Kill every sandbox of this submission and everything they started.

        ``wait``: return once they are gone; otherwise once each has been sent SIGKILL
        (a killed process cannot fork or run code, but unmapping a sandbox forked from
        the template takes a while, which grading need not wait for)."""
        for sandbox in self._sandboxes:
            try:
                sandbox.pid  # a fork asked for and not yet waited for: it must be killed too
            except (RuntimeError, OSError):
                pass
        for transport in self._transports:
            transport.drop()
        for template in dict.fromkeys(template for template, _ in self._spawned):
            try:
                template.kill_tree([pid for owner, pid in self._spawned if owner is template], wait=wait)
            except RuntimeError:  # the channel or the template is gone, and its sandboxes with it
                pass
        for reader in self._readers:
            reader.finish(wait)
        for stem in dict.fromkeys(reader.stem for reader in self._readers):
            readers = [reader for reader in self._readers if reader.stem == stem]
            kept = b"".join(bytes(reader.kept) for reader in readers)
            dropped = sum(reader.dropped for reader in readers) + max(len(kept) - self.limits.output_bytes, 0)
            text = kept[: self.limits.output_bytes].decode("utf-8", "replace")
            self.output[stem] = text + (f"\n[... {dropped} more bytes of output dropped]\n" if dropped else "")
        self._spawned.clear()
        self._sandboxes.clear()

    def __enter__(self) -> "SandboxSubmission":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _event(self, stem: str, kind: EventKind, detail: str) -> None:
        self.events.append(Event(stem, kind, detail))


class _OutputReader(threading.Thread):
    """Drains a sandbox's stdout/stderr so it never blocks, keeping the first bytes.

    It ends when every process holding the pipe has exited, or on ``stop()``: then it
    takes what is already in the pipe and ends without waiting for killed processes
    to finish exiting (unmapping a sandbox forked from the template takes a while).
    """

    def __init__(self, stem: str, fd: int, limit: int):
        super().__init__(daemon=True, name=f"sandbox-output-{stem}")
        self.stem, self.fd, self.limit = stem, fd, limit
        self.kept = bytearray()
        self.dropped = 0
        self._stop_read, self._stop_write = os.pipe()
        self.start()

    def finish(self, wait: bool) -> None:
        """End reading: at the pipe's end (``wait``), or with what is in it now."""
        if self._stop_write < 0:
            return
        if not wait:
            try:
                os.write(self._stop_write, b"x")
            except OSError:  # it has ended already
                pass
        self.join(2.0)
        os.close(self._stop_write)
        self._stop_write = -1

    def run(self) -> None:
        try:
            stopping = False
            while True:
                if not stopping:
                    ready, _, _ = select.select([self.fd, self._stop_read], [], [])
                    if self._stop_read in ready:
                        stopping = True
                        os.set_blocking(self.fd, False)
                try:
                    chunk = os.read(self.fd, 1 << 16)
                except BlockingIOError:
                    return  # stopping, and the pipe is empty
                if not chunk:
                    return
                room = self.limit - len(self.kept)
                self.kept += chunk[:max(room, 0)]
                self.dropped += max(len(chunk) - max(room, 0), 0)
        finally:
            os.close(self.fd)
            os.close(self._stop_read)


class _Sandbox:
    """One sandbox process for one notebook. ``number`` is unique in the submission and
    tags its handles, so a handle reaches only the process that made it."""

    def __init__(self, submission: SandboxSubmission, stem: str, template: "Template | None" = None):
        self.number = next(submission._numbers)
        self.submission = submission
        self.template = template or submission.template
        self._spawning = self.template.spawn_begin(stem, submission.limits)
        self.sock = self._spawning.sock
        submission._sandboxes.append(self)
        label = f"{stem} (NumPy only)" if self.template.numpy_only else stem  # its output: the notebook's again
        submission._readers.append(_OutputReader(label, self._spawning.output, submission.limits.output_bytes))
        self.sock.settimeout(max(submission.limits.call_timeout, START_TIMEOUT))

    @property
    def pid(self) -> int:
        """Waits for the fork the first time; ``RuntimeError`` if the template could not."""
        if self._spawning is not None:
            pid = self._spawning.pid()
            self._spawning = None
            self._pid = pid
            self.submission._spawned.append((self.template, pid))
        return self._pid


class _SandboxTransport:
    """The transport under one ``Notebook``: requests to the current sandbox, restarts."""

    def __init__(self, submission: SandboxSubmission, stem: str, cells: list[str],
                 template: "Template | None" = None, numpy_only: bool = False):
        self.submission = submission
        self.template = template or submission.template
        #: Runs in the torch-free template: its events are the notebook's "(NumPy only)" ones.
        self.numpy_only = numpy_only
        self.limits = submission.limits
        self.stem = stem
        self.cells = cells
        self.sandbox: _Sandbox | None = None
        self.launched: _Sandbox | None = None  # forked and given the notebook, not yet waited for
        self.starts = 0
        self.spent = 0.0  # seconds its cells have run, over every start (``limits.notebook_seconds``)
        self.skip: dict[str, str] = {}  # cell index -> why it is left out of re-runs
        self.gave_up: str | None = None
        self.types: dict[int, str] = {}  # grader-side handle id -> type name, for labels
        self.seq = 0  # numbers requests; a reply must echo its request's number
        self.functions: dict[int, Any] = {}  # test functions whose values the sandbox may ask for
        self.broke: dict[str, int] = {}  # function -> how often its calls killed or hung the sandbox
        self.charged = 0  # restarts caused by calls (each function pays for its own)
        self.numbers: set[int] = set()  # of every sandbox this transport started

    @property
    def event_stem(self) -> str:
        return f"{self.stem} (NumPy only)" if self.numpy_only else self.stem

    # -- the transport interface (autograder.handles)

    def call(self, name: str, args=(), kwargs=None, *, numpy_only: bool = False,
             readonly_args: bool = False, return_args: bool = False, fp_errors: str | None = None,
             return_types: bool = False) -> Any:
        options = {"numpy_only": numpy_only, "readonly_args": readonly_args, "return_args": return_args,
                   "fp_errors": fp_errors, "return_types": return_types}
        return self._request(name, sandbox_request("call", name=name, args=tuple(args),
                                                    kwargs=dict(kwargs or {}), options=options))

    def reference_function(self, kind: str, params: dict) -> Any:
        """A Handle to a value-only function in the sandbox; its values are computed here,
        by the grader's own test function, which never leaves this process."""
        from autograder import testfunctions

        function = testfunctions.make(kind, **params)
        function_id = len(self.functions) + 1
        self.functions[function_id] = function
        return self._request(f"reference_function({kind!r})",
                             sandbox_request("reference_function", function=function_id))

    def getattr(self, ref_id: int, attr: str) -> Any:
        return self._request(f"{self._type(ref_id)}.{attr}", sandbox_request("getattr", id=ref_id, attr=attr))

    def call_handle(self, ref_id: int, args=(), kwargs=None) -> Any:
        return self._request(f"{self._type(ref_id)}(...)", sandbox_request("call_handle", id=ref_id, args=tuple(args),
                                                                            kwargs=dict(kwargs or {})))

    def len(self, ref_id: int) -> int:
        value = self._request(f"len({self._type(ref_id)})", sandbox_request("len", id=ref_id))
        if type(value) is not int or value < 0:
            raise errors.NotPlainData(f"len({self._type(ref_id)})", "len() did not give a non-negative int")
        return value

    def getitem(self, ref_id: int, key) -> Any:
        return self._request(f"{self._type(ref_id)}[...]", sandbox_request("getitem", id=ref_id, key=key))

    def items(self, ref_id: int) -> list:
        return self._request(f"{self._type(ref_id)}[...]", sandbox_request("items", id=ref_id))

    # -- requests

    def _request(self, label: str, request: dict) -> Any:
        culprit = request.get("name") if request.get("op") == "call" else label
        if self.broke.get(culprit, 0) >= CALL_FAILURES_ALLOWED:
            raise errors.FunctionStopped(culprit, CALL_FAILURES_ALLOWED)
        try:
            return self._send_request(label, request)
        except (CallTimeout, SandboxDied):
            if self.sandbox is None and not self.gave_up:  # this call stopped the process
                self.broke[culprit] = self.broke.get(culprit, 0) + 1
                self.charged += 1
            raise

    def _send_request(self, label: str, request: dict) -> Any:
        sandbox = self._ensure(label)
        if "id" in request:
            request["id"] = self._local_id(request["id"], label, sandbox)
        request["label"] = label
        self.seq += 1
        request["seq"] = self.seq
        try:
            frame = codec.encode(request, handle_id=lambda ref: self._local_id(ref.id, label, sandbox))
        except codec.CodecError as error:  # the hidden test passed something that cannot cross
            raise TypeError(f"cannot send the arguments of `{label}` to the sandbox: {error}") from None
        deadline = min(time.monotonic() + self.limits.call_timeout, self.submission.deadline)
        try:
            codec.send_frame(sandbox.sock, frame)
            reply = codec.receive(sandbox.sock, deadline, handle=self._handle_factory(sandbox))
            while type(reply) is dict and "evaluate" in reply and self.functions:
                codec.send(sandbox.sock, self._evaluate(reply))
                reply = codec.receive(sandbox.sock, deadline, handle=self._handle_factory(sandbox))
        except (codec.Timeout, TimeoutError):
            if deadline >= self.submission.deadline:
                self._discard("call_timeout", f"`{label}` ran past the submission's time")
                self._out_of_time(label)
            self._discard("call_timeout", f"`{label}` ran longer than {self.limits.call_timeout:g} s")
            raise CallTimeout(label, self.limits.call_timeout) from None
        except codec.Closed:
            reason = self._death_reason(sandbox)
            self._discard("died", f"during `{label}`: {reason}")
            raise SandboxDied(label, reason) from None
        except codec.CodecError as error:
            self._discard("died", f"during `{label}`: malformed reply ({error})")
            raise SandboxDied(label, "it sent a reply the grader cannot read") from None
        return self._result(label, reply)

    def _evaluate(self, request: dict) -> dict:
        """The value the student's code asked of a test function (``numerical_gradient``)."""
        function = self.functions.get(request.get("evaluate")) if type(request.get("evaluate")) is int else None
        x = request.get("x")
        if function is None or len(request) != 2 or type(x) is not np.ndarray or x.size > MAX_EVALUATE_SIZE:
            return {"error": "f(x) takes one array of numbers, shaped like the x the grader gave"}
        try:
            with np.errstate(all="ignore"):
                return {"value": float(function(x))}
        except Exception as error:  # noqa: BLE001 - e.g. an x of the wrong size
            return {"error": f"f(x) could not be computed for this x ({type(error).__name__})"}

    def _result(self, label: str, reply) -> Any:
        if type(reply) is dict and len(reply) == 2 and reply.pop("seq", None) == self.seq:
            (kind, value), = reply.items()
            if kind == "ok":
                return value
            if kind == "error":
                raise _rebuild_error(label, value)
            if kind == "internal" and type(value) is str:
                raise RuntimeError(f"the sandbox failed while answering `{label}`: {value[:2000]}")
        self._discard("died", f"during `{label}`: unexpected reply")
        raise SandboxDied(label, "it sent a reply the grader did not expect")

    def _out_of_time(self, label: str):
        """Past the submission's time: this and every later call fails at once."""
        reason = f"the submission used up its {self.limits.submission_seconds:g} s of running time"
        if not self.gave_up:
            self._give_up(reason)
        raise SandboxDied(label, reason)

    def _ensure(self, label: str) -> _Sandbox:
        if time.monotonic() >= self.submission.deadline:
            self._discard("call_timeout", f"`{label}` was not run: no time left")
            self._out_of_time(label)
        while self.sandbox is None:
            if self.gave_up:
                raise SandboxDied(label, self.gave_up)
            if self.launched is None:
                # Restarts a call caused are that call's function's to pay (each may stop
                # the process CALL_FAILURES_ALLOWED times); the budget is for the cells.
                if self.starts - self.charged > self.limits.max_restarts:
                    self._give_up(f"it was restarted {self.limits.max_restarts} times and stopped every time")
                    continue
                self.launch()
            self._finish_start()
        return self.sandbox

    def launch(self) -> None:
        """Fork a fresh sandbox and hand it the notebook, without waiting: it confines
        itself and runs the cells while the grader does something else."""
        sandbox = _Sandbox(self.submission, self.stem, self.template)
        self.numbers.add(sandbox.number)
        self.starts += 1
        # Sent before the sandbox says it is ready: it reads this once it is confined.
        codec.send(sandbox.sock, sandbox_request("run", stem=self.stem, cells=self.cells, skip=self.skip,
                                                 cell_timeout=self.limits.cell_timeout, label="the notebook"))
        self.launched = sandbox

    def _finish_start(self) -> None:
        """Wait for the launched sandbox to run the notebook; on success it becomes current."""
        sandbox, self.launched = self.launched, None
        try:
            sandbox.pid  # the fork itself
        except RuntimeError:
            sandbox.sock.close()
            raise
        try:
            ready = codec.receive(sandbox.sock, time.monotonic() + START_TIMEOUT)
        except (codec.Timeout, codec.Closed, codec.CodecError) as error:
            self._kill(sandbox)
            raise RuntimeError(f"a sandbox for {self.stem} did not start ({type(error).__name__})") from None
        if type(ready) is not dict or "ready" not in ready:  # no student code has run yet
            self._kill(sandbox)
            raise InstructorError(f"a sandbox could not confine itself: {ready.get('failed', ready)}")
        if self.starts == 1:
            self.submission._event(self.event_stem, "started", f"pid {sandbox.pid}, confinement {ready['ready']}")
        current = None
        deadline = time.monotonic() + START_TIMEOUT
        budget = None  # when this run's share of ``notebook_seconds`` (or the submission's time) ends
        first_cell = time.monotonic()
        while True:
            try:
                message = codec.receive(sandbox.sock, deadline)
            except (codec.Timeout, TimeoutError):
                self._kill(sandbox)
                if current is None:
                    self._give_up("it did not start running the notebook")
                    return
                if budget is not None and deadline >= budget:
                    self.spent += time.monotonic() - first_cell
                    self._give_up(f"cell {current + 1}: its cells ran longer than {self._budget_words()} in all "
                                  "and were stopped")
                    return
                why = f"cell {current + 1}: ran longer than {self.limits.cell_timeout:g} s and was stopped"
                self.spent += time.monotonic() - first_cell
                self._skip(current, "cell_timeout", why)
                return
            except (codec.Closed, codec.CodecError) as error:
                reason = self._death_reason(sandbox) if isinstance(error, codec.Closed) else "a malformed message"
                self._kill(sandbox)
                if current is None:
                    self._give_up(f"it stopped before running the notebook ({reason})")
                    return
                self._skip(current, "cell_died", f"cell {current + 1}: stopped the process ({reason})")
                return
            if type(message) is dict and type(message.get("cell")) is int and len(message) == 1:
                # Cells only move forward: a notebook cannot buy time by re-announcing one.
                if not (current if current is not None else -1) < message["cell"] < len(self.cells):
                    self._kill(sandbox)
                    self._skip(current or 0, "cell_died", f"cell {(current or 0) + 1}: "
                               "the process sent the grader messages it did not expect")
                    return
                if current is None:
                    first_cell = time.monotonic()
                    budget = min(first_cell + max(self.limits.notebook_seconds - self.spent, 0.0) + CELL_GRACE,
                                 self.submission.deadline)
                current = message["cell"]
                deadline = min(time.monotonic() + self.limits.cell_timeout + CELL_GRACE, budget)
                continue
            break
        if current is not None:
            self.spent += time.monotonic() - first_cell
        results = _cell_results(message, len(self.cells))
        if results is None:
            self._kill(sandbox)
            self._give_up(f"running the notebook failed ({str(message)[:300]})")
            return
        if not self.numpy_only:  # there, cells using torch fail by design: not the student's errors
            self.submission.cell_results[self.stem] = results
            for result in results:
                if result.error and str(result.index) not in self.skip:
                    self.submission._event(self.stem, "cell_error", result.error)
        sandbox.sock.settimeout(self.limits.call_timeout)  # a sandbox that stops reading
        self.sandbox = sandbox

    def _budget_words(self) -> str:
        if self.submission.deadline <= time.monotonic() + 0.01:
            return f"the submission's {self.limits.submission_seconds:g} s"
        return f"{self.limits.notebook_seconds:g} s"

    def _give_up(self, reason: str) -> None:
        self.gave_up = reason
        self.submission._event(self.event_stem, "gave_up", reason)

    def _skip(self, index: int, kind: EventKind, why: str) -> None:
        self.skip[str(index)] = why
        self.submission._event(self.event_stem, kind, why)

    def _discard(self, kind: EventKind, detail: str) -> None:
        self.submission._event(self.event_stem, kind, detail)
        if self.sandbox is not None:
            self._kill(self.sandbox)
        self.sandbox = None

    def _kill(self, sandbox: _Sandbox) -> None:
        try:
            os.killpg(sandbox.pid, signal.SIGKILL)
        except OSError:
            pass
        sandbox.sock.close()
        self.template.kill_tree([sandbox.pid])

    def drop(self) -> None:
        for sandbox in (self.sandbox, self.launched):
            if sandbox is not None:
                sandbox.sock.close()
        self.sandbox = self.launched = None

    def _death_reason(self, sandbox: _Sandbox) -> str:
        status = self.template.status(sandbox.pid, wait=2.0)
        if status is None:
            return "it closed its connection to the grader"
        if "signal" in status:
            number = status["signal"]
            name = signal.Signals(number).name if number in set(signal.Signals) else str(number)
            hint = {"SIGSEGV": " (a crash: segmentation fault)", "SIGKILL": " (killed; too much memory?)",
                    "SIGABRT": " (aborted; out of memory?)", "SIGXCPU": "", "SIGBUS": " (a crash)"}.get(name, "")
            return f"it was stopped by signal {name}{hint}"
        if status["exit"] == EXIT_LOST_SOCKET:
            return "it closed its connection to the grader"
        return f"it exited with status {status['exit']} (os._exit, or a crash in compiled code?)"

    # -- handles belong to one sandbox process

    def _handle_factory(self, sandbox: _Sandbox):
        def make(local_id, type_name):
            if type(local_id) is not int or not 0 <= local_id < 2**_HANDLE_BITS:
                raise codec.CodecError("malformed handle id")
            if type(type_name) is not str or len(type_name) > 500:
                raise codec.CodecError("malformed handle type")
            ref = HandleRef((sandbox.number << _HANDLE_BITS) | local_id, type_name)
            self.types[ref.id] = type_name
            return ref
        return make

    def _local_id(self, ref_id: int, label: str, sandbox: _Sandbox) -> int:
        number = ref_id >> _HANDLE_BITS
        if number != sandbox.number:
            owner = next((transport.stem for transport in self.submission._transports
                          if transport.sandbox and transport.sandbox.number == number), None)
            if owner is not None:
                raise TypeError(f"`{label}` was given an object that lives in {owner}.ipynb, not {self.stem}.ipynb")
            raise SandboxDied(label, "it uses an object made by an earlier run of your notebook, "
                                     "whose process was stopped")
        return ref_id & ((1 << _HANDLE_BITS) - 1)

    def _type(self, ref_id: int) -> str:
        return self.types.get(ref_id, "object")


class _Router:
    """One notebook's transport when NumPy-only calls have a sandbox of their own.

    ``call(..., numpy_only=True)`` goes to a second sandbox of the same notebook, forked
    from the torch-free template (started at the first such call: the notebook runs
    once more there); everything else goes to the notebook's usual sandbox. A handle
    goes back to the sandbox that made it. A handle of the usual sandbox given to a
    NumPy-only call (a ``cache`` that is not plain data) is rebuilt in the NumPy-only
    sandbox by making there the call that made it.
    """

    def __init__(self, submission: SandboxSubmission, main: "_SandboxTransport", numpy_template: Template):
        self.submission, self.main, self.numpy_template = submission, main, numpy_template
        self.numpy: _SandboxTransport | None = None
        self.origins: dict[int, tuple[dict, tuple]] = {}  # main's handle id -> (its call, path in the result)
        self.rebuilt: dict[int, HandleRef] = {}  # main's handle id -> the NumPy-only sandbox's

    def call(self, name: str, args=(), kwargs=None, **options) -> Any:
        if not options.get("numpy_only"):
            value = self.main.call(name, args, kwargs, **options)
            for path, ref in _handle_paths(value):
                self.origins[ref.id] = ({"name": name, "args": args, "kwargs": kwargs, "options": options}, path)
            return value
        self.numpy_transport()
        args, kwargs = self._rebuild(args, name), self._rebuild(kwargs or {}, name)
        return self.numpy.call(name, args, kwargs, **options)

    def numpy_transport(self) -> "_SandboxTransport":
        """The NumPy-only sandbox's transport (made, not started, the first time)."""
        if self.numpy is None:
            self.numpy = _SandboxTransport(self.submission, self.main.stem, self.main.cells,
                                           template=self.numpy_template, numpy_only=True)
            self.submission._transports.append(self.numpy)
        return self.numpy

    def _rebuild(self, value: Any, label: str) -> Any:
        if isinstance(value, HandleRef) and self._owner(value.id) is self.main:
            if value.id not in self.rebuilt:
                origin = self.origins.get(value.id)
                if origin is None:
                    raise TypeError(f"`{label}` was given an object of your notebook that a NumPy-only "
                                    "function cannot receive (return plain arrays instead)")
                made, path = origin
                result = self.numpy.call(made["name"], self._rebuild(made["args"], label),
                                         self._rebuild(made["kwargs"] or {}, label),
                                         **{**made["options"], "return_args": False})
                if made["options"].get("return_args"):
                    result = (result,)
                for step in path:
                    result = result[step]
                if not isinstance(result, HandleRef):
                    raise TypeError(f"`{made['name']}` gave a different kind of result when called again")
                self.rebuilt[value.id] = result
            return self.rebuilt[value.id]
        if type(value) in (list, tuple):
            return type(value)(self._rebuild(item, label) for item in value)
        if type(value) is dict:
            return {key: self._rebuild(item, label) for key, item in value.items()}
        return value

    def _owner(self, ref_id: int) -> "_SandboxTransport":
        if self.numpy is not None and ref_id >> _HANDLE_BITS in self.numpy.numbers:
            return self.numpy
        return self.main

    def reference_function(self, kind: str, params: dict) -> Any:
        return self.main.reference_function(kind, params)

    def getattr(self, ref_id: int, attr: str) -> Any:
        return self._owner(ref_id).getattr(ref_id, attr)

    def call_handle(self, ref_id: int, args=(), kwargs=None) -> Any:
        return self._owner(ref_id).call_handle(ref_id, args, kwargs)

    def len(self, ref_id: int) -> int:
        return self._owner(ref_id).len(ref_id)

    def getitem(self, ref_id: int, key) -> Any:
        return self._owner(ref_id).getitem(ref_id, key)

    def items(self, ref_id: int) -> list:
        return self._owner(ref_id).items(ref_id)


def _handle_paths(value: Any, path: tuple = ()):
    """``(path, HandleRef)`` for every handle in plain data (path: indices and keys)."""
    if isinstance(value, HandleRef):
        yield path, value
    elif type(value) in (list, tuple):
        for index, item in enumerate(value):
            yield from _handle_paths(item, path + (index,))
    elif type(value) is dict:
        for key, item in value.items():
            yield from _handle_paths(item, path + (key,))


def _cell_results(message, count: int) -> list[CellResult] | None:
    """The run's reply as CellResults, or None if it is not ``count`` well-formed
    ``[index, seconds, error or None]`` entries (student code ran before it was sent)."""
    results = message.get("ok") if type(message) is dict else None  # the run has no seq
    if type(results) is not list or len(results) != count:
        return None
    cells = []
    for position, entry in enumerate(results):
        if type(entry) is not list or len(entry) != 3:
            return None
        index, seconds, error = entry
        if index != position or type(index) is not int or type(seconds) not in (int, float) \
                or not (error is None or type(error) is str):
            return None
        cells.append(CellResult(index, float(seconds), error[:1000] if error else None))
    return cells


def _rebuild_error(label: str, payload) -> SubmissionError:
    """A SubmissionError from the sandbox's description, checking every field's type."""
    if type(payload) is list and len(payload) == 2 and payload[0] in ERROR_FIELDS:
        name, values = payload
        fields = ERROR_FIELDS[name]
        if type(values) is list and len(values) == len(fields):
            clean = []
            for field, value in zip(fields, values):
                if field == "cell_errors" and type(value) in (list, tuple) and all(type(v) is str for v in value):
                    clean.append(tuple(v[:500] for v in value[:20]))
                elif field == "seconds" and type(value) in (int, float):
                    clean.append(float(value))
                elif type(value) is str:
                    clean.append(value[:2000])
                else:
                    break
            else:
                return getattr(errors, name)(*clean)
    return errors.StudentException(label, "Error", "the sandbox reported an error the grader cannot read")
