"""Running a notebook the way Jupyter would, without a kernel.

``prepare_notebook`` reads a submitted notebook and merges it with the instructor's
source, as nbgrader's autograde does: locked cells (imports, public checks, helpers)
come from the source, matched by nbgrader ``grade_id``; solution cells and cells the
student added come from the submission. ``run_cells`` executes code cells in order in
an IPython ``InteractiveShell`` (magics, ``!`` lines, display), records a cell that
raises (``SystemExit`` included) and goes on.
"""

from __future__ import annotations

import codeop
import contextlib
import io
import json
import linecache
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from autograder.errors import InstructorError, NotebookMissing

#: Cells of the instructor's notebook with this tag are demonstrations (plots, a
#: training run) that grading does not need; the grader leaves them out.
SKIP_TAG = "skip-when-grading"


def _nbformat():
    """nbformat, imported without the one optional module that makes it slow.

    nbformat imports jsonschema, which imports ``rfc3987_syntax`` when it is installed
    (nbgrader's Jupyter dependencies bring it) just to check the "iri" string format,
    which the notebook schema never uses; it builds some thirty Earley parsers at import:
    1.4 s of CPU (3 s of wall time on a busy machine) before every grader could start.
    Without it, jsonschema simply does not check that format.
    """
    import sys

    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None: "import rfc3987_syntax" raises ImportError
    import nbformat

    return nbformat


@dataclass(frozen=True)
class CellResult:
    index: int
    seconds: float
    error: str | None = None  # "cell 4: NameError: name 'x' is not defined"


def read_notebook(path: Path, stem: str):
    """Read a submitted notebook as nbformat v4; any problem is a ``NotebookMissing``.

    The file is the student's: it is read through ``autograder.untrusted`` (no link,
    FIFO or device followed, a size cap, no input that can raise past the parser), and
    no message quotes its content.
    """
    from autograder import untrusted

    try:
        data = untrusted.parse_notebook_json(untrusted.read_bytes(Path(path)))
    except untrusted.Unreadable as error:
        raise NotebookMissing(stem, error.reason) from None
    notebook = _plain_v4(data)
    if notebook is None:
        try:  # other versions, and nbformat's upgrades; its messages may quote the file
            notebook = _nbformat().reads(json.dumps(data), as_version=4)
        except Exception as error:  # noqa: BLE001 - nbformat raises several types for a bad structure
            raise NotebookMissing(stem, f"it is not a valid notebook ({type(error).__name__})") from None
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise NotebookMissing(stem, "it has no list of cells")
    return notebook


def _plain_v4(data: dict):
    """A well-formed version 4 notebook as a ``NotebookNode``, without nbformat's schema
    validation (5-10 ms a notebook, four per submission); ``None`` for anything else,
    which goes through nbformat (its upgrades)."""
    if type(data) is not dict or data.get("nbformat") != 4 or type(data.get("metadata")) is not dict:
        return None
    cells = data.get("cells")
    if type(cells) is not list:
        return None
    for cell in cells:
        if type(cell) is not dict or type(cell.get("cell_type")) is not str or type(cell.get("metadata")) is not dict:
            return None
        source = cell.get("source")
        if not (type(source) is str or (type(source) is list and all(type(line) is str for line in source))):
            return None
    return _nbformat().from_dict(data)


#: The instructor's notebooks, read once per process (keyed by path, size and time).
_SOURCES: dict[tuple, object] = {}


def read_source_notebook(path: Path):
    """Read one of the instructor's notebooks; a problem is the instructor's to fix.
    The grader reads them before grading and every submission's child reuses them."""
    try:
        info = os.stat(path)
    except OSError:
        info = None
    key = (str(path), info.st_size, info.st_mtime_ns) if info is not None else None
    if key in _SOURCES:
        return _SOURCES[key]
    notebook = _read_source(path)
    if key is not None:
        _SOURCES[key] = notebook
    return notebook


def _read_source(path: Path):
    nbformat = _nbformat()

    try:
        return nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise InstructorError(f"source notebook not found: {path}") from None
    except Exception as error:
        raise InstructorError(f"source notebook {path} cannot be read: {error}") from None


def _grade_id(cell) -> str | None:
    try:
        grade_id = cell["metadata"]["nbgrader"]["grade_id"]
    except (KeyError, TypeError):
        return None
    return grade_id if isinstance(grade_id, str) else None


def _is_locked(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


def _source(cell) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""


def merge_with_source(submission, source) -> list[str]:
    """Code cells to run: the submission's, with locked cells taken from ``source``.

    A locked cell the student deleted is put back after the cell that precedes it in
    the source, so a deleted import cell cannot break (or excuse) what follows.
    """
    source_cells = [cell for cell in source.cells if cell.get("cell_type") == "code"]
    locked = {_grade_id(cell): cell for cell in source_cells if _grade_id(cell) and _is_locked(cell)}
    merged: list[tuple[str | None, str, bool]] = []  # (grade_id, code, skip)
    seen: set[str] = set()
    for cell in submission.cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        grade_id = _grade_id(cell)
        if grade_id in locked and grade_id not in seen:
            seen.add(grade_id)
            original = locked[grade_id]
            merged.append((grade_id, _source(original), SKIP_TAG in original.get("metadata", {}).get("tags", [])))
        elif grade_id in locked:
            continue  # a duplicated locked cell: the source's copy already ran
        else:
            merged.append((grade_id, _source(cell), False))
    previous: str | None = None
    for cell in source_cells:
        grade_id = _grade_id(cell)
        if grade_id in locked and grade_id not in seen:
            position = next((i + 1 for i, (gid, _, _) in enumerate(merged) if gid == previous), 0)
            skip = SKIP_TAG in cell.get("metadata", {}).get("tags", [])
            merged.insert(position, (grade_id, _source(cell), skip))
            seen.add(grade_id)
        previous = grade_id or previous
    return [code for _, code, skip in merged if not skip]


def locked_sources(source_path: Path) -> frozenset[str]:
    """The code of the instructor's locked cells (what a merged notebook takes from them)."""
    source = read_source_notebook(Path(source_path))
    return frozenset(_source(cell) for cell in source.cells
                     if cell.get("cell_type") == "code" and _grade_id(cell) and _is_locked(cell))


def prepare_notebook(submission_path: Path, source_path: Path | None) -> list[str]:
    """The code cells the grader runs for one submitted notebook."""
    stem = Path(submission_path).stem
    submission = read_notebook(Path(submission_path), stem)
    if source_path is None:
        cells = [_source(cell) for cell in submission.cells
                 if isinstance(cell, dict) and cell.get("cell_type") == "code"]
    else:
        cells = merge_with_source(submission, read_source_notebook(Path(source_path)))
    from autograder.untrusted import MAX_CODE_BYTES

    if sum(len(code) for code in cells) > MAX_CODE_BYTES:  # characters: a lower bound of bytes
        raise NotebookMissing(stem, f"its code cells hold more than {MAX_CODE_BYTES // 2**20} MB of code")
    return cells


def new_shell(namespace: dict | None = None):
    """An IPython shell for running one notebook's cells, plotting to nowhere."""
    # matplotlib.use, not MPLBACKEND: the environment would leak into every process this
    # one starts (a Jupyter kernel would then draw no inline plots).
    import matplotlib

    matplotlib.use("Agg")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False  # no sqlite file, no thread: ~40 ms per shell
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

    A cell that is valid Python runs as Python (IPython's own pipeline, which parses
    every cell for magics, cost ~1.5 ms a cell: 100 ms of each submission), with
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
    from autograder.dispatch import safe_text

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
