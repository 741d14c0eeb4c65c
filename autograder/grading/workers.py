"""Warm workers: one forked child per submission, ``jobs`` of them at a time.

The grader's own process pays once for torch, pytest and the hidden test modules
(``warm_up``), then forks a child for every submission (a few milliseconds). A child
starts with a fresh pytest run and leaves nothing behind: whatever one submission's
grading does to the interpreter dies with its child. A child reports back a single
byte string over a pipe; a child that dies, hangs past its deadline or sends garbage
becomes a ``ChildFailed`` in the parent, which still has every other result.

``run_batch`` keeps ``jobs`` children running at once, each with its own slot:
whatever ``open_template`` yields (in a batch, a channel of the one shared sandbox
template: ``autograder.grading.templates``), used by one child at a time. A slot whose
child ended badly gets a fresh one before its next use, so a submission that broke
its channel cannot cost the next student anything.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Callable, ContextManager, Generic, Iterable, Iterator, TypeVar

Item = TypeVar("Item")
Template = TypeVar("Template")

#: A child may send at most this much (a GradeReport is a few tens of kilobytes).
MAX_PAYLOAD = 32 << 20
LOG_TAIL = 8000

_warm = False


def warm_up(seed: int | None = None) -> None:
    """Import what every child needs, once, in the parent: torch, both providers and
    the hidden tests themselves, so a forked child starts ready. (Not nbformat: the
    notebooks are read as plain JSON, and only a child given an older notebook
    format imports it, for its upgrades.)

    ``seed``: also configure pytest and collect the hidden tests for that seed
    (``suite.prepare``), so each child only runs them (every submission of a batch
    has the same seed). Without one, collecting once imports the test modules.
    """
    global _warm
    if _warm and (seed is None or _prepared_for(seed)):
        return
    import numpy  # noqa: F401
    import numpy.random  # noqa: F401 - NumPy loads it on first use: each child would, every test needs it
    import pytest  # noqa: F401
    import torch

    import autograder.inprocess  # noqa: F401
    import autograder.notebooks.integrity  # noqa: F401 - every child scans its submission
    import autograder.notebooks.untrusted  # noqa: F401 - and reads its notebooks
    import autograder.sandbox.submission  # noqa: F401
    from autograder.grading import suite
    # Children grade one small submission each; one thread apiece keeps `--jobs`
    # children from fighting over the cores (and forked OpenMP pools from hanging).
    torch.set_num_threads(1)
    if seed is not None:
        suite.prepare(seed)
        from grading_tests import reference

        # Same seed, same inputs: each reference is computed once per batch and
        # handed to the children forked after the one that computed it.
        if not reference.remembering():
            reference.remember()
    elif not _warm:
        suite.PreparedSuite(0).close()  # imports the hidden tests and what they use
    # Everything imported so far lives as long as the grader: move it out of the
    # collector's sight. A full collection walks every object torch, pytest and the
    # tests made, and pytest runs one at the end of every submission's session; a
    # forked child would also copy every page the collector touches.
    gc.freeze()
    _warm = True


def _prepared_for(seed: int) -> bool:
    from autograder.grading import suite

    return suite.is_prepared(seed)


#: Children that answered and were still exiting when their answer was taken.
_exiting: list[int] = []


def reap_exited(block: bool = False) -> None:
    """Reap the children that answered and were left exiting (all of them: ``block``)."""
    for pid in list(_exiting):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _exiting.remove(pid)


class ChildFailed(Exception):
    """A child ended without a valid answer: ``reason`` for the log, ``output`` its stderr."""

    def __init__(self, reason: str, output: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.output = output


class Child:
    """``work()`` run in a forked child, in its own process group and an empty working
    folder; its return value (bytes) comes back through a pipe.

    The child's stdout and stderr go to a private file, kept for the instructor when it
    fails. Nothing the child leaves (processes in its group, files in its folder)
    survives ``result()``.
    """

    def __init__(self, work: Callable[[], bytes], timeout: float):
        reap_exited()
        self.workdir = tempfile.mkdtemp(prefix="grading-")
        self._output = tempfile.TemporaryFile()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            os.close(read_end)
            _child_main(work, write_end, self._output.fileno(), self.workdir)
        os.close(write_end)
        self.pid = pid
        self.fd = read_end
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self._chunks: list[bytes] = []
        self._size = 0
        self._problem: str | None = None
        self._done = False

    def fileno(self) -> int:
        return self.fd

    def read(self) -> bool:
        """Take what the child has sent so far; True once it has closed its end."""
        data = os.read(self.fd, 1 << 16)
        if not data:
            self._done = True
            return True
        self._size += len(data)
        if self._size > MAX_PAYLOAD:
            self.kill(f"it sent more than {MAX_PAYLOAD} bytes")
            return True
        self._chunks.append(data)
        return False

    def overdue(self) -> bool:
        return time.monotonic() > self.deadline

    def kill(self, problem: str) -> None:
        self._problem = self._problem or problem
        self._done = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def wait(self) -> bytes:
        """Block until the child has answered (or its deadline has passed)."""
        while not self._done:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.kill(f"it did not finish within {self.timeout:g} s")
                break
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                self.read()
        return self.result()

    def result(self) -> bytes:
        """The child's answer; raises ``ChildFailed`` if there is none. Ends everything
        left in the child's process group and removes its working folder.

        A child that sent a whole answer has closed its pipe and is exiting (unmapping
        a copy of the grader takes a while): it is reaped later (``reap_exited``). Any
        other child is waited for, and how it ended is the failure's reason."""
        os.close(self.fd)
        answered = self._problem is None and bool(self._chunks)
        pid, status = os.waitpid(self.pid, os.WNOHANG if answered else 0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # stray processes the child started
        if pid == 0:
            _exiting.append(self.pid)
            status = 0
        shutil.rmtree(self.workdir, ignore_errors=True)
        output = self._read_output()
        if self._problem is not None:
            raise ChildFailed(f"the grading process was stopped: {self._problem}", output)
        if os.WIFSIGNALED(status):
            name = signal.Signals(os.WTERMSIG(status)).name
            raise ChildFailed(f"the grading process was killed by {name}", output)
        if os.WEXITSTATUS(status) != 0:
            raise ChildFailed(f"the grading process exited with status {os.WEXITSTATUS(status)}", output)
        if not self._chunks:
            raise ChildFailed("the grading process sent no result", output)
        return b"".join(self._chunks)

    def _read_output(self) -> str:
        with self._output:
            self._output.seek(0, os.SEEK_END)
            size = self._output.tell()
            self._output.seek(max(0, size - LOG_TAIL))
            return self._output.read().decode("utf-8", "replace")


def _child_main(work: Callable[[], bytes], write_end: int, output_fd: int, workdir: str) -> None:
    code = 1
    try:
        os.setpgid(0, 0)  # one group: the parent can end the child and anything it started
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        # A crash (segfault in compiled code) leaves its Python stack in the child's
        # output, which the instructor's log keeps, not on whoever's terminal it was.
        faulthandler.enable(2)
        os.chdir(workdir)
        payload = work()
        view = memoryview(payload)
        while view:
            view = view[os.write(write_end, view):]
        os.close(write_end)  # the whole answer: the parent need not wait for this process to unmap
        code = 0
    except BaseException:  # noqa: BLE001 - the child must end here, whatever happened
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


@dataclass
class _Slot(Generic[Template]):
    """A template and the stack that will close it."""

    open_template: Callable[[], ContextManager[Template]]
    template: Template | None = None
    stack: contextlib.ExitStack | None = None
    starting: ContextManager[Template] | None = None

    def start(self) -> None:
        """Create the template's context manager; a sandbox ``Template`` starts its process
        here and waits for it on entry, so every slot's template can start at once."""
        if self.stack is None and self.starting is None:
            self.starting = self.open_template()

    def ensure_open(self) -> Template:
        if self.stack is None:
            self.start()
            starting, self.starting = self.starting, None
            stack = contextlib.ExitStack()
            try:
                self.template = stack.enter_context(starting)
            except BaseException:
                close_unentered(starting)
                raise
            self.stack = stack
        return self.template

    def close(self) -> None:
        stack, self.stack, self.template = self.stack, None, None
        starting, self.starting = self.starting, None
        if stack is not None:
            stack.close()
        if starting is not None:
            close_unentered(starting)


def template_alive(template) -> bool:
    """Whether a slot's template still runs (anything without ``alive()`` always does)."""
    alive = getattr(template, "alive", None)
    return alive() if callable(alive) else True


def close_unentered(manager) -> None:
    """End a template that was started but never entered (its process is running)."""
    close = getattr(manager, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


def run_batch(items: Iterable[Item], *, jobs: int,
              open_template: Callable[[], ContextManager[Template]],
              start: Callable[[Item, Template], Child],
              tidy: Callable[[Template], bool] = lambda template: True,
              prepare: Callable[[], None] = warm_up,
              retry: Callable[[Item, "bytes | ChildFailed"], bool] = lambda item, answer: False,
              ) -> Iterator[tuple[Item, bytes | ChildFailed]]:
    """Run ``start(item, template)`` for every item, ``jobs`` at a time, and yield each
    item with its child's answer (or the ``ChildFailed``) as it completes.

    Every slot's template starts at once (and the parent warms up meanwhile); all are
    closed when the batch ends or the generator is closed. After each child, ``tidy(template)`` cleans up after it
    and says whether the template is still usable; a slot's template is renewed when
    it is not, or when the child failed. An item whose template was lost while it was
    graded (not the student's doing: the grader's own processes) is graded once more,
    on a fresh one, if ``retry(item, answer)`` says its answer suffered from it.
    """
    queue = deque(items)
    slots = [_Slot(open_template) for _ in range(max(1, min(jobs, len(queue))))]
    free = list(slots)
    running: dict[int, tuple[Item, Child, _Slot]] = {}
    retried: set[int] = set()
    try:
        for slot in slots:
            slot.start()
        prepare()  # while the templates import theirs
        while queue or running:
            while queue and free:
                slot = free.pop()
                item = queue.popleft()
                template = slot.ensure_open()
                child = start(item, template)
                running[child.fileno()] = (item, child, slot)
            timeout = max(0.0, min(child.deadline for _, child, _ in running.values()) - time.monotonic())
            ready, _, _ = select.select(list(running), [], [], timeout)
            finished = [fd for fd in ready if running[fd][1].read()]
            for fd, (_, child, _) in running.items():
                if fd not in finished and child.overdue():
                    child.kill(f"it did not finish within {child.timeout:g} s")
                    finished.append(fd)
            for fd in finished:
                item, child, slot = running.pop(fd)
                try:
                    answer: bytes | ChildFailed = child.result()
                except ChildFailed as failure:
                    answer = failure
                lost = not template_alive(slot.template)
                if isinstance(answer, ChildFailed) or not tidy(slot.template):
                    slot.close()
                free.append(slot)
                if lost and id(item) not in retried and retry(item, answer):
                    retried.add(id(item))
                    queue.appendleft(item)
                    continue
                yield item, answer
    finally:
        for _, child, _ in running.values():
            child.kill("the batch was interrupted")
            with contextlib.suppress(ChildFailed, OSError):
                child.result()
        for slot in slots:
            slot.close()
        reap_exited(block=True)
