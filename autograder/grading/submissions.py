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
from autograder.outputs.words import GRADER_LOG, GRADES_CSV, INTEGRITY_JSON, REPORT_CSV, REPORT_HTML
from autograder.paths import ASSIGNMENT, NOTEBOOKS

#: What a batch writes at the top of OUT, beside one folder per student.
BATCH_FILES = (GRADES_CSV, GRADER_LOG, REPORT_HTML, REPORT_CSV, INTEGRITY_JSON)


def read_submission(folder: Path) -> dict[str, list[str] | SubmissionError]:
    """Each notebook's code cells, merged with the instructor's locked cells, or the
    ``SubmissionError`` (missing, a link, not UTF-8, not a notebook) its tests will
    report. Nothing a file holds makes this raise: a notebook fails only its own tests."""
    from autograder.errors import NotebookMissing
    from autograder.notebooks.read import prepare_notebook

    folder = Path(folder)
    linked = folder.is_symlink()
    notebooks: dict[str, list[str] | SubmissionError] = {}
    for stem in NOTEBOOKS:
        try:
            if linked:
                raise NotebookMissing(stem, f"its folder {folder.name} is a symbolic link")
            notebooks[stem] = prepare_notebook(folder / f"{stem}.ipynb", paths.SOURCE_DIR / f"{stem}.ipynb")
        except SubmissionError as error:
            notebooks[stem] = error
        except Exception as error:  # noqa: BLE001 - a file no check foresaw is that notebook's failure
            notebooks[stem] = NotebookMissing(stem, f"it is not a notebook the grader can read "
                                                    f"({type(error).__name__})")
    return notebooks


def find_submissions(path: Path, single: bool = False) -> tuple[list[Submission], bool, list[tuple[str, str]]]:
    """``(submissions, batch, skipped)``: one folder of notebooks, or an nbgrader
    ``submitted/`` tree (``<student>/backprop/*.ipynb``). Anything else is an
    instructor's error. ``single``: ``path`` is one submission even if it holds no
    notebook (Gradescope). ``skipped``: ``(student, reason)`` for student folders that
    cannot be graded (a name the grader's own output takes, a linked folder).

    Student folders are never resolved through links: a ``backprop`` that is a link
    to the solutions must not be graded as the student's work.
    """
    path = Path(path)
    if not path.exists():
        raise InstructorError(f"{path}: no such folder")
    if not path.is_dir():
        raise InstructorError(f"{path} is not a folder (give a submission folder or an nbgrader submitted/ tree)")
    if single or _holds_notebooks(path):
        return [Submission(path.resolve().name, path.resolve())], False, []
    if _holds_notebooks(path / ASSIGNMENT):  # one student's folder of a submitted/ tree
        return [Submission(path.resolve().name, path.resolve() / ASSIGNMENT)], False, []
    root = path.resolve()
    submissions, skipped = [], []
    for entry in sorted(root.iterdir(), key=lambda entry: entry.name):
        if entry.is_symlink() and entry.is_dir():
            skipped.append((entry.name, "the student's folder is a symbolic link"))
        elif not entry.is_dir() or not (entry / ASSIGNMENT).exists() and not (entry / ASSIGNMENT).is_symlink():
            continue
        elif entry.name in BATCH_FILES:
            skipped.append((entry.name, "the folder's name is one of the files the grader writes in OUT; rename it"))
        else:
            submissions.append(Submission(entry.name, entry / ASSIGNMENT))
    if not submissions and not skipped:
        names = ", ".join(f"{stem}.ipynb" for stem in NOTEBOOKS)
        raise InstructorError(f"no notebooks found in {path}: expected {names} "
                              f"or an nbgrader tree <student>/{ASSIGNMENT}/*.ipynb")
    return submissions, True, skipped


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
