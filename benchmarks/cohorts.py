"""Cohorts of submissions for the benchmarks, built from the instructor's solution and
the mistake catalogue.

``build_cohort(n, folder)`` writes an nbgrader ``submitted/`` tree
``folder/submitted/student-0000/backprop/*.ipynb`` ... with ``n`` students. Student
``i`` is, in turn: the full solution (as handed in: markers stripped, no outputs), a
half-done submission (03 half done, 04 not started, as ``examples/half_done``), then
one submission per catalogued mistake (that mistake in its notebook, the other three
notebooks right), and round again. So every cohort mixes right, wrong and unfinished
work the way a class does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder.notebooks.examples import UNFINISHED, leave_unfinished, strip_markers
from autograder.paths import ASSIGNMENT, NOTEBOOKS, SOURCE_DIR


def variants() -> list[tuple[str, dict[str, str]]]:
    """(label, stem -> notebook JSON text) for every kind of student, in cohort order."""
    from autograder.notebooks.read import import_nbformat

    nbformat = import_nbformat()  # without the optional module that makes importing it take seconds

    from grading_tests.mistakes import MISTAKES, apply_mistake

    sources = {stem: nbformat.read(SOURCE_DIR / f"{stem}.ipynb", as_version=4) for stem in NOTEBOOKS}

    def texts(notebooks) -> dict[str, str]:
        return {stem: nbformat.writes(strip_markers(nb)) for stem, nb in notebooks.items()}

    kinds = [("solution", texts(sources)),
             ("half_done", texts({stem: leave_unfinished(nb, UNFINISHED[stem]) if stem in UNFINISHED else nb
                                  for stem, nb in sources.items()}))]
    for mistake in MISTAKES:
        changed = dict(sources)
        changed[mistake.notebook] = apply_mistake(sources[mistake.notebook], mistake)
        kinds.append((f"mistake:{mistake.key}", texts(changed)))
    return kinds


def build_cohort(n: int, folder: Path, kinds=None) -> Path:
    """Write ``n`` students under ``folder/submitted``; return that ``submitted`` folder."""
    kinds = kinds or variants()
    submitted = Path(folder) / "submitted"
    if submitted.exists():
        shutil.rmtree(submitted)
    for i in range(n):
        _, notebooks = kinds[i % len(kinds)]
        target = submitted / f"student-{i:04d}" / ASSIGNMENT
        target.mkdir(parents=True)
        for stem, text in notebooks.items():
            (target / f"{stem}.ipynb").write_text(text, encoding="utf-8")
    return submitted


def solution_submission(folder: Path) -> Path:
    """One folder holding the solution as a student hands it in (the cold-start case)."""
    _, notebooks = variants()[0]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, text in notebooks.items():
        (folder / f"{stem}.ipynb").write_text(text, encoding="utf-8")
    return folder
