"""Reading notebooks: the grader's half of running one (the sandbox runs the cells).

``prepare_notebook`` reads a submitted notebook and merges it with the instructor's
source, as nbgrader's autograde does: locked cells (imports, public checks, helpers)
come from the source, matched by nbgrader ``grade_id``; solution cells and cells the
student added come from the submission. The code cells it returns are what
``autograder.sandbox.cells.run_cells`` runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from autograder.errors import InstructorError, NotebookMissing

#: Cells of the instructor's notebook with this tag are demonstrations (plots, a
#: training run) that grading does not need; the grader leaves them out.
SKIP_TAG = "skip-when-grading"


def import_nbformat():
    """nbformat, imported without the one optional module that makes it slow.

    nbformat imports jsonschema, which imports ``rfc3987_syntax`` when it is installed
    (nbgrader's Jupyter dependencies bring it) just to check the "iri" string format,
    which the notebook schema never uses; it builds some thirty Earley parsers at import,
    seconds before every grader could start. Without it, jsonschema simply does not
    check that format.
    """
    import sys

    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None: "import rfc3987_syntax" raises ImportError
    import nbformat

    return nbformat


def read_notebook(path: Path, stem: str) -> dict:
    """Read a submitted notebook as a version 4 notebook (a dict); any problem is a
    ``NotebookMissing``.

    The file is the student's: it is read through ``autograder.notebooks.untrusted`` (no
    link, FIFO or device followed, a size cap, no input that can raise past the parser),
    and no message quotes its content.
    """
    from autograder.notebooks import untrusted

    try:
        data = untrusted.parse_notebook_json(untrusted.read_bytes(Path(path)))
    except untrusted.Unreadable as error:
        raise NotebookMissing(stem, error.reason) from None
    try:  # nbformat's messages, for other versions, may quote the file
        notebook = _as_v4(data)
    except Exception as error:  # noqa: BLE001 - nbformat raises several types for a bad structure
        raise NotebookMissing(stem, f"it is not a valid notebook ({type(error).__name__})") from None
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise NotebookMissing(stem, "it has no list of cells")
    return notebook


def _plain_v4(data) -> dict | None:
    """``data`` itself when it is a well-formed version 4 notebook in what grading reads
    (cell types, sources, metadata), without nbformat's schema validation: importing
    nbformat (jsonschema) is a quarter of a second of the grader's start, and validating
    a cost paid four times per submission. ``None`` for anything else, which goes
    through nbformat (its upgrades and its checks)."""
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
    return data


def _as_v4(data) -> dict:
    """Parsed notebook JSON as a version 4 notebook: itself when ``_plain_v4`` takes it,
    else through nbformat's upgrades and checks (which raise for a bad structure)."""
    plain = _plain_v4(data)
    return plain if plain is not None else import_nbformat().reads(json.dumps(data), as_version=4)


#: The instructor's notebooks, read once per process (keyed by path, size and time).
_SOURCES: dict[tuple, object] = {}


def read_source_notebook(path: Path) -> dict:
    """Read one of the instructor's notebooks (a version 4 notebook, as a dict); a
    problem is the instructor's to fix. The grader reads them before grading and every
    submission's child reuses them."""
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


def _read_source(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as file:
            return _as_v4(json.load(file))
    except FileNotFoundError:
        raise InstructorError(f"source notebook not found: {path}") from None
    except Exception as error:
        raise InstructorError(f"source notebook {path} cannot be read: {error}") from None


def grade_id(cell) -> str | None:
    """The cell's nbgrader ``grade_id``, or ``None``."""
    try:
        value = cell["metadata"]["nbgrader"]["grade_id"]
    except (KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def _is_locked(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


def cell_source(cell) -> str:
    """The cell's source as one string (nbformat allows a list of lines)."""
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""


def merge_with_source(submission, source) -> list[str]:
    """Code cells to run: the submission's, with locked cells taken from ``source``.

    A locked cell the student deleted is put back after the cell that precedes it in
    the source, so a deleted import cell cannot break (or excuse) what follows.
    """
    source_cells = [cell for cell in source["cells"] if cell.get("cell_type") == "code"]
    locked = {grade_id(cell): cell for cell in source_cells if grade_id(cell) and _is_locked(cell)}
    merged: list[tuple[str | None, str, bool]] = []  # (grade_id, code, skip)
    seen: set[str] = set()
    for cell in submission["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        cell_id = grade_id(cell)
        if cell_id in locked and cell_id not in seen:
            seen.add(cell_id)
            original = locked[cell_id]
            merged.append((cell_id, cell_source(original), SKIP_TAG in original.get("metadata", {}).get("tags", [])))
        elif cell_id in locked:
            continue  # a duplicated locked cell: the source's copy already ran
        else:
            merged.append((cell_id, cell_source(cell), False))
    previous: str | None = None
    for cell in source_cells:
        cell_id = grade_id(cell)
        if cell_id in locked and cell_id not in seen:
            position = next((i + 1 for i, (gid, _, _) in enumerate(merged) if gid == previous), 0)
            skip = SKIP_TAG in cell.get("metadata", {}).get("tags", [])
            merged.insert(position, (cell_id, cell_source(cell), skip))
            seen.add(cell_id)
        previous = cell_id or previous
    return [code for _, code, skip in merged if not skip]


def locked_sources(source_path: Path) -> frozenset[str]:
    """The code of the instructor's locked cells (what a merged notebook takes from them)."""
    source = read_source_notebook(Path(source_path))
    return frozenset(cell_source(cell) for cell in source["cells"]
                     if cell.get("cell_type") == "code" and grade_id(cell) and _is_locked(cell))


def prepare_notebook(submission_path: Path, source_path: Path | None) -> list[str]:
    """The code cells the grader runs for one submitted notebook."""
    from autograder.notebooks.untrusted import MAX_CODE_BYTES

    stem = Path(submission_path).stem
    submission = read_notebook(Path(submission_path), stem)
    if source_path is None:
        cells = [cell_source(cell) for cell in submission["cells"]
                 if isinstance(cell, dict) and cell.get("cell_type") == "code"]
    else:
        cells = merge_with_source(submission, read_source_notebook(Path(source_path)))
    if sum(len(code) for code in cells) > MAX_CODE_BYTES:  # characters: a lower bound of bytes
        raise NotebookMissing(stem, f"its code cells hold more than {MAX_CODE_BYTES // 2**20} MB of code")
    return cells


