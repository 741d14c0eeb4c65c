"""Finding the submissions to grade, and keeping the grader clear of them.

The grader never imports or runs a file from a submission folder: it reads the
notebooks as data (``read_submission``), and no folder of a submission is ever on
``sys.path`` (``keep_off_sys_path``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from autograder import paths
from autograder.errors import InstructorError, SubmissionError
from autograder.grading.model import Submission
from autograder.outputs.words import GRADER_LOG, GRADES_CSV, REPORT_CSV, REPORT_HTML
from autograder.paths import ASSIGNMENT, NOTEBOOKS

#: What a batch writes at the top of OUT, beside one folder per student.
BATCH_FILES = (GRADES_CSV, GRADER_LOG, REPORT_HTML, REPORT_CSV)


def read_submission(folder: Path) -> dict[str, list[str] | SubmissionError]:
    """Each notebook's code cells, merged with the instructor's locked cells, or the
    ``SubmissionError`` (missing, not UTF-8, not a notebook) its tests will report."""
    from autograder.notebooks.read import prepare_notebook

    notebooks: dict[str, list[str] | SubmissionError] = {}
    for stem in NOTEBOOKS:
        try:
            notebooks[stem] = prepare_notebook(Path(folder) / f"{stem}.ipynb", paths.SOURCE_DIR / f"{stem}.ipynb")
        except SubmissionError as error:
            notebooks[stem] = error
    return notebooks


def find_submissions(path: Path, single: bool = False) -> tuple[list[Submission], bool]:
    """``(submissions, batch)``: one folder of notebooks, or an nbgrader ``submitted/``
    tree (``<student>/backprop/*.ipynb``). Anything else is an instructor's error.
    ``single``: ``path`` is one submission even if it holds no notebook (Gradescope)."""
    path = Path(path)
    if not path.exists():
        raise InstructorError(f"{path}: no such folder")
    if not path.is_dir():
        raise InstructorError(f"{path} is not a folder (give a submission folder or an nbgrader submitted/ tree)")
    if single or _holds_notebooks(path):
        return [Submission(path.resolve().name, path.resolve())], False
    if _holds_notebooks(path / ASSIGNMENT):  # one student's folder of a submitted/ tree
        return [Submission(path.resolve().name, (path / ASSIGNMENT).resolve())], False
    students = sorted(entry for entry in path.iterdir()
                      if entry.is_dir() and (entry / ASSIGNMENT).is_dir() and not entry.name.startswith("."))
    if not students:
        names = ", ".join(f"{stem}.ipynb" for stem in NOTEBOOKS)
        raise InstructorError(f"no notebooks found in {path}: expected {names} "
                              f"or an nbgrader tree <student>/{ASSIGNMENT}/*.ipynb")
    clashing = [entry.name for entry in students if entry.name in BATCH_FILES]
    if clashing:
        raise InstructorError(f"a student folder is named {clashing[0]}, a file the grader writes in OUT; rename it")
    return [Submission(entry.name, (entry / ASSIGNMENT).resolve()) for entry in students], True


def _holds_notebooks(folder: Path) -> bool:
    return folder.is_dir() and any((folder / f"{stem}.ipynb").exists() for stem in NOTEBOOKS)


def check_sources() -> None:
    """The instructor's notebooks must be readable before any student is graded."""
    from autograder.notebooks.read import read_source_notebook

    for stem in NOTEBOOKS:
        read_source_notebook(paths.SOURCE_DIR / f"{stem}.ipynb")


def inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def keep_off_sys_path(folders: Sequence[Path]) -> None:
    """Drop from ``sys.path`` every entry inside a submission (``""`` too, when the
    grader was started from one), so nothing a submission ships (numpy.py,
    sitecustomize.py...) can ever be imported by the grader."""
    sys.path[:] = [entry for entry in sys.path
                   if not any(inside(Path(entry or ".").resolve(), folder) for folder in folders)]
