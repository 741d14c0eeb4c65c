"""Running a notebook's cells the way Jupyter would, without a kernel.

This is the half of notebook handling that runs where the student code runs (the
sandbox, or the grading child in-process): ``run_cells`` executes code cells in order
in an IPython ``InteractiveShell`` (magics, ``!`` lines, display), records a cell that
raises (``SystemExit`` included) and goes on. Reading and merging the notebooks is the
grader's half: ``autograder.notebooks.read``.
"""

from __future__ import annotations

import codeop
import contextlib
import io
import linecache
import signal
import time
from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass(frozen=True)
class CellResult:
    index: int
    seconds: float
    error: str | None = None  # "cell 4: NameError: name 'x' is not defined"


def new_shell(namespace: dict | None = None):
    """An IPython shell for running one notebook's cells, plotting to nowhere."""
    # matplotlib.use, not MPLBACKEND: the environment would leak into every process this
    # one starts (a Jupyter kernel would then draw no inline plots).
    import matplotlib

    matplotlib.use("Agg")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False  # no sqlite file, no thread: the costly part of a new shell
    shell = InteractiveShell(config=config, user_ns=namespace if namespace is not None else {})
    # `%matplotlib inline` (common in notebooks) asks the shell for a GUI event loop;
    # with nothing to show, figures simply stay in memory.
    shell.enable_gui = lambda gui=None: None
    # Tracebacks are for a person at a screen; nobody reads them here.
    shell.showtraceback = lambda *args, **kwargs: None
    shell.showsyntaxerror = lambda *args, **kwargs: None
    return shell


class CellTimeout(Exception):
    """Raised inside a cell that ran past its time limit (in-process guard only)."""


def _alarm(signum, frame):
    raise CellTimeout()


def run_cells(shell, cells: Sequence[str], cell_timeout: float = 30.0,
              on_cell_start: Callable[[int], None] | None = None,
              use_alarm: bool = True) -> list[CellResult]:
    """Run ``cells`` in ``shell`` in order; a failing cell is recorded, the rest still run.

    ``use_alarm`` arms SIGALRM as a courtesy limit (main thread only); the sandbox also
    enforces the limit from outside, where a student cannot switch it off.
    """
    results = []
    compiler = codeop.Compile()  # remembers a cell's `from __future__ import ...`, as IPython does
    alarm = use_alarm and cell_timeout > 0 and _in_main_thread()
    for index, code in enumerate(cells):
        if on_cell_start is not None:
            on_cell_start(index)
        started = time.perf_counter()
        if alarm:
            previous = signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, cell_timeout)
        try:
            outcome = _run_cell(shell, compiler, index, code)
        except CellTimeout:  # raised outside the user code's frame (rare)
            outcome = None
        finally:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        seconds = time.perf_counter() - started
        results.append(CellResult(index, seconds, _describe(index, outcome, cell_timeout)))
    return results


@dataclass(frozen=True)
class _Outcome:
    """What ``_describe`` reads of IPython's ``ExecutionResult``."""

    error_before_exec: BaseException | None = None
    error_in_exec: BaseException | None = None


def _run_cell(shell, compiler: codeop.Compile, index: int, code: str):
    """Run one cell in ``shell``'s namespace.

    A cell that is valid Python runs as Python (IPython's own pipeline parses every
    cell for magics, a cost every cell of every submission paid), with
    IPython's builtins (``display``, ``get_ipython``) in place. A cell only IPython
    understands (magics, ``!`` lines, ``?`` help, top-level ``await``, pasted prompts)
    is not valid Python, and runs through IPython as before.
    """
    filename = f"<cell-{index + 1}>"
    try:
        compiled = compiler(code, filename, "exec")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        return shell.run_cell(code, store_history=False, silent=False)
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)  # inspect.getsource works
    try:
        with shell.builtin_trap:
            exec(compiled, shell.user_ns)  # noqa: S102 - the student's cell, inside the sandbox
    except BaseException as error:  # noqa: BLE001 - SystemExit too: recorded, and the next cell runs
        return _Outcome(error_in_exec=error)
    return _Outcome()


def _describe(index: int, outcome, cell_timeout: float) -> str | None:
    if outcome is None:
        return f"cell {index + 1}: ran longer than {cell_timeout:g} s"
    error = outcome.error_before_exec or outcome.error_in_exec
    if error is None:
        return None
    if isinstance(error, CellTimeout):
        return f"cell {index + 1}: ran longer than {cell_timeout:g} s"
    from autograder.sandbox.dispatch import safe_text

    message = safe_text(error, 150)
    return f"cell {index + 1}: {type(error).__name__}" + (f": {message}" if message else "")


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def quiet(limit: int = 1 << 16):
    """Keep a student's printed output out of the grader's: capture at most ``limit`` chars."""
    import sys

    buffer = _CappedWriter(limit)
    old_in, old_out, old_err = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(""), buffer, buffer
    try:
        yield buffer
    finally:
        sys.stdin, sys.stdout, sys.stderr = old_in, old_out, old_err


class _CappedWriter(io.TextIOBase):
    def __init__(self, limit: int):
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        if self.size < self.limit:
            kept = text[: self.limit - self.size]
            self.parts.append(kept)
            self.size += len(kept)
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts)
