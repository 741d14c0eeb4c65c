"""The student release: built from source/ with nbgrader, then checked for leaked solutions.

The build always happens in a fresh temporary course directory holding only
``nbgrader_config.py`` and ``source/<assignment>``, so that what lands in ``release/`` is
exactly what nbgrader makes from the committed sources (never from a stale gradebook or
a leftover file), and nothing but ``release/<assignment>`` is ever written into the
repository. The tests build the same way and compare, so the two cannot drift.

After the build, two checks guard against leaking answers: no line of any solution region
and no nbgrader marker may appear in the release.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.errors import InstructorError

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
#: Every delimiter nbgrader understands; none may survive into a student notebook.
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
CONFIG_FILE = "nbgrader_config.py"
BUILD_TIMEOUT_SECONDS = 300


def build_release(course: Path, assignment: str, workdir: Path) -> Path:
    """Run ``nbgrader generate_assignment`` on a copy of the course; return the built folder.

    ``workdir`` (an empty directory) becomes the temporary course root: it receives
    ``nbgrader_config.py`` and ``source/<assignment>`` from ``course``, nbgrader writes
    ``release/<assignment>`` (and its gradebook) there. The caller owns ``workdir``.
    """
    course, workdir = Path(course), Path(workdir)
    source = course / "source" / assignment
    config = course / CONFIG_FILE
    if not source.is_dir():
        raise InstructorError(f"no source folder {source}")
    if not config.is_file():
        raise InstructorError(f"no {CONFIG_FILE} in {course}")
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(config, workdir / CONFIG_FILE)
    shutil.copytree(source, workdir / "source" / assignment)
    # Only the course's own config counts: a user's ~/.jupyter must not change a release.
    # nbgrader runs `alembic` as a program: it lies next to this interpreter, which
    # need not be on PATH (`make` calls .venv/bin/python directly).
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(workdir / ".jupyter"), PATH=path)
    command = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"]
    try:
        finished = subprocess.run(
            command, cwd=workdir, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise InstructorError(f"nbgrader generate_assignment took longer than {BUILD_TIMEOUT_SECONDS} s") from None
    built = workdir / "release" / assignment
    if finished.returncode != 0 or not built.is_dir():
        raise InstructorError(f"nbgrader generate_assignment {assignment} failed: {_last_error(finished)}")
    return built


def release_problems(source_dir: Path, release_dir: Path) -> list[str]:
    """Every way the release leaks the solution: markers, or lines of a solution region."""
    import nbformat

    problems = []
    sources = sorted(Path(source_dir).glob("*.ipynb"))
    released = {path.name: nbformat.read(path, as_version=4) for path in sorted(Path(release_dir).glob("*.ipynb"))}
    missing = sorted({path.name for path in sources} - set(released))
    problems += [f"{name} is in source/ but not in release/" for name in missing]
    released_lines = {}
    for name, notebook in released.items():
        for index, cell in enumerate(notebook.cells):
            for marker in MARKERS:
                if marker in cell.source:
                    problems.append(f"{name} cell {index} contains the marker {marker!r}")
            for line in cell.source.splitlines():
                released_lines.setdefault(line.strip(), f"{name} cell {index}")
    for path in sources:
        for line in sorted(solution_lines(nbformat.read(path, as_version=4))):
            if line in released_lines:
                problems.append(f"{released_lines[line]} contains the solution line {line!r} from {path.name}")
    return problems


def solution_lines(notebook) -> set[str]:
    """The stripped lines nbgrader removes from a notebook's solution cells.

    A solution cell with markers loses the lines between them; one without markers
    loses its whole source (nbgrader replaces it by a stub).
    """
    lines = set()
    for cell in notebook.cells:
        if not cell.get("metadata", {}).get("nbgrader", {}).get("solution", False):
            continue
        source_lines = cell.source.splitlines()
        if not any(BEGIN_SOLUTION in line for line in source_lines):
            lines.update(source_lines)
            continue
        inside = False
        for line in source_lines:
            if BEGIN_SOLUTION in line:
                inside = True
            elif END_SOLUTION in line:
                inside = False
            elif inside:
                lines.add(line)
    # A line of brackets alone (`}`, `)`) reveals nothing and is everywhere.
    return {line.strip() for line in lines if any(char.isalnum() for char in line)}


def release_differences(expected_dir: Path, actual_dir: Path) -> list[str]:
    """Cell-by-cell differences between two built releases (empty when identical).

    Notebooks are compared as parsed JSON (cells, their types, ids, sources, metadata and
    the notebook metadata), other files byte for byte.
    """
    import nbformat

    expected_dir, actual_dir = Path(expected_dir), Path(actual_dir)
    differences = []
    expected_files = _relative_files(expected_dir)
    actual_files = _relative_files(actual_dir)
    differences += [f"{name} is missing" for name in sorted(expected_files - actual_files)]
    differences += [f"{name} is not built from source/" for name in sorted(actual_files - expected_files)]
    for name in sorted(expected_files & actual_files):
        if not name.endswith(".ipynb"):
            if (expected_dir / name).read_bytes() != (actual_dir / name).read_bytes():
                differences.append(f"{name} differs")
            continue
        expected = nbformat.read(expected_dir / name, as_version=4)
        actual = nbformat.read(actual_dir / name, as_version=4)
        if expected.metadata != actual.metadata:
            differences.append(f"{name}: notebook metadata differs")
        if len(expected.cells) != len(actual.cells):
            differences.append(f"{name}: {len(actual.cells)} cells instead of {len(expected.cells)}")
        for index, (want, got) in enumerate(zip(expected.cells, actual.cells)):
            if want != got:
                what = [key for key in sorted(set(want) | set(got)) if want.get(key) != got.get(key)]
                differences.append(f"{name} cell {index}: {', '.join(what)} differ")
    return differences


def summary(source_dir: Path, release_dir: Path) -> str:
    """One line per notebook: how many cells were stubbed, locked and hand-graded."""
    import nbformat

    lines = []
    for path in sorted(Path(release_dir).glob("*.ipynb")):
        cells = [cell.get("metadata", {}).get("nbgrader", {}) for cell in nbformat.read(path, as_version=4).cells]
        stubs = sum(1 for meta in cells if meta.get("solution") and not meta.get("grade"))
        manual = sum(1 for meta in cells if meta.get("solution") and meta.get("grade"))
        locked = sum(1 for meta in cells if meta.get("locked"))
        extra = f", {manual} graded by hand" if manual else ""
        lines.append(f"  {path.name}: {stubs} functions to write, {locked} locked cells{extra}")
    header = f"release/{Path(release_dir).name}: built by nbgrader from source/{Path(source_dir).name}; no solution line, no marker"
    return "\n".join([header, *lines])


def replace_tree(built: Path, target: Path) -> None:
    # nbgrader --force also starts from an empty folder: a notebook deleted from
    # source/ must disappear from release/ too.
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(built, target)


def _relative_files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def _last_error(finished: subprocess.CompletedProcess) -> str:
    """The most telling line of nbgrader's log: the exception if there is one."""
    lines = [line.strip() for line in (finished.stderr + finished.stdout).splitlines() if line.strip()]
    exceptions = [line for line in lines if re.match(r"^[\w.]+(Error|Exception): ", line)]
    logged = [line for line in lines if "| ERROR]" in line]
    return (exceptions or logged or lines or [f"exit status {finished.returncode}"])[-1]
