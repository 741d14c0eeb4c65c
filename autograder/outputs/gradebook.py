"""Recording autograded scores in a course's nbgrader gradebook.

Each source notebook carries one locked nbgrader grade cell, ``hidden_tests_<stem>``,
whose points are that notebook's autograded points (15, 30, 35, 20). nbgrader's
``generate_assignment`` puts those cells in the gradebook with the hand-graded
derivation (10), so the assignment totals 110 there. We write each notebook's hidden
test score into its cell's ``auto_score`` through nbgrader's own API, and copy the
submitted notebooks to ``autograded/`` where formgrader shows them to the TA who
grades the derivation. ``nbgrader export`` then gives totals out of 110.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from autograder.errors import InstructorError
from autograder.paths import ASSIGNMENT

if TYPE_CHECKING:
    from autograder.grading.model import GradeReport


def grade_cell_name(stem: str) -> str:
    return f"hidden_tests_{stem}"


def record_scores(course_root: Path, student: str, scores: Mapping[str, float],
                  submitted_dir: Path | None = None) -> None:
    """Store ``scores`` (notebook stem -> autograded points) for ``student``.

    ``submitted_dir``: the student's submitted notebooks, copied to
    ``autograded/<student>/backprop/`` for formgrader.
    """
    from nbgrader.api import Gradebook, MissingEntry

    course_root = Path(course_root).resolve()
    database = course_root / "gradebook.db"
    if not database.is_file():
        raise InstructorError(
            f"no nbgrader gradebook at {database}; run `nbgrader generate_assignment {ASSIGNMENT}` "
            "(or `make release`) in the course directory first")
    with Gradebook(f"sqlite:///{database}") as gradebook:
        try:
            assignment = gradebook.find_assignment(ASSIGNMENT)
        except MissingEntry:
            raise InstructorError(f"assignment {ASSIGNMENT!r} is not in {database}; "
                                  f"run `nbgrader generate_assignment {ASSIGNMENT}` first") from None
        known = {notebook.name for notebook in assignment.notebooks}
        gradebook.update_or_create_student(student)
        gradebook.update_or_create_submission(ASSIGNMENT, student)
        for stem, score in scores.items():
            if stem not in known:
                continue
            try:
                grade = gradebook.find_grade(grade_cell_name(stem), stem, ASSIGNMENT, student)
            except MissingEntry:
                raise InstructorError(
                    f"the gradebook has no grade cell {grade_cell_name(stem)!r} in {stem}; "
                    "rebuild it from source/ with `make release`") from None
            grade.auto_score = float(score)
        gradebook.db.commit()
    if submitted_dir is not None:
        _copy_for_formgrader(course_root, student, Path(submitted_dir))


def _copy_for_formgrader(course_root: Path, student: str, submitted_dir: Path) -> None:
    """Copy the student's regular files only: a link (to a root-only file, to the
    solutions) is the student's to explain, not ours to copy out readable by all."""
    from autograder.notebooks import untrusted

    if submitted_dir.is_symlink():
        return
    target = course_root / "autograded" / student / ASSIGNMENT
    target.mkdir(parents=True, exist_ok=True)
    for source in [*sorted(submitted_dir.glob("*.ipynb")), submitted_dir / "timestamp.txt"]:
        try:
            content = untrusted.read_bytes(source)
        except untrusted.Unreadable:
            continue
        _write_new(target / source.name, content)


def _write_new(path: Path, content: bytes) -> None:
    """Replace ``path`` (never writing through a link standing there) with ``content``."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    with open(temporary, "xb") as handle:
        handle.write(content)
    os.replace(temporary, path)


def record_in_gradebook(course_root: Path, submitted: Path, reports: "Sequence[GradeReport]") -> None:
    """Each notebook's autograded points into nbgrader's gradebook (failed gradings excluded)."""
    for report in reports:
        if report.failure is not None:
            continue
        scores = {stem: got for stem, (got, _) in report.by_notebook().items()}
        record_scores(course_root, report.student, scores, submitted / report.student / ASSIGNMENT)
    print(f"recorded {len(reports)} submission(s) in {course_root / 'gradebook.db'}")
