"""Build ``examples/``: three example submissions made from the instructor's notebooks.

``python -m autograder.notebooks.examples`` rewrites ``examples/submitted/<student>/backprop/``
(an nbgrader ``submitted/`` tree, so ``demo`` exercises batch grading):

* ``correct``: the source notebooks as a student would hand them in: the solution
  markers stripped, outputs cleared;
* ``typical_mistakes``: the same, with three classic mistakes from the catalogue
  (``grading_tests/mistakes.py``) in place of the right answers;
* ``half_done``: 01 and 02 finished, 03 half done, 04 not started (those functions
  keep the stub a student receives).

The examples are committed; a test builds them again and compares, so they always
match the source notebooks and the catalogue.
"""

from __future__ import annotations

import copy
import re
import shutil
import sys
from pathlib import Path

from autograder.notebooks.read import cell_source, grade_id
from autograder.notebooks.release import BEGIN_SOLUTION, END_SOLUTION
from autograder.paths import ASSIGNMENT, EXAMPLES_DIR, NOTEBOOKS, SOURCE_DIR

STUDENTS = ("correct", "typical_mistakes", "half_done")
#: typical_mistakes: these catalogued mistakes (keys of grading_tests/mistakes.py).
TYPICAL_MISTAKES = ("backward-no-mean", "init-fan-out", "bce-no-clip")
#: half_done: the functions still left as stubs (every function of a notebook: "*").
UNFINISHED = {"03_mlp": ("mlp_backward", "train_mlp", "to_torch"), "04_bce": "*"}
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

_BEGIN, _END = re.escape(BEGIN_SOLUTION), re.escape(END_SOLUTION)
_SOLUTION_REGION = re.compile(rf"^([ \t]*){_BEGIN}[^\n]*\n.*?^[ \t]*{_END}[^\n]*(\n|$)", re.MULTILINE | re.DOTALL)
_MARKER_LINE = re.compile(rf"^[ \t]*({_BEGIN}|{_END})[^\n]*(\n|$)", re.MULTILINE)
#: Notes for the TA inside a solution region (04's rubric): from the rule above this
#: line to the end of the region. They are no part of any student's answer.
_TA_NOTES = re.compile(rf"\s*^---[ \t]*\n(?:(?!^---).)*?^\*\*For the TA:.*?(?=^[ \t]*{_END})", re.MULTILINE | re.DOTALL)


def strip_markers(notebook):
    """The notebook as a student who solved everything hands it in: the solution
    markers' lines and the TA's notes removed, code kept, outputs cleared."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        cell.source = _MARKER_LINE.sub("", _TA_NOTES.sub("\n", cell_source(cell)))
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


def leave_unfinished(notebook, functions):
    """Put the stub back in the solution cells of ``functions`` ("*": every one)."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        cell_id = grade_id(cell)
        if cell.cell_type != "code" or cell_id is None or BEGIN_SOLUTION not in cell_source(cell):
            continue
        if functions == "*" or cell_id in functions:
            cell.source = _SOLUTION_REGION.sub(
                lambda match: "".join(match.group(1) + line + "\n" for line in CODE_STUB.splitlines()),
                cell_source(cell)).rstrip("\n")
    return notebook


def chosen_mistakes() -> list:
    """The catalogue's entries for ``TYPICAL_MISTAKES``, in that order."""
    from grading_tests.mistakes import MISTAKES

    by_key = {mistake.key: mistake for mistake in MISTAKES}
    return [by_key[key] for key in TYPICAL_MISTAKES]


def example_notebooks() -> dict[str, dict[str, object]]:
    """student -> notebook stem -> nbformat notebook, built from source/ and the catalogue."""
    import nbformat

    from grading_tests.mistakes import apply_mistake

    sources = {stem: nbformat.read(SOURCE_DIR / f"{stem}.ipynb", as_version=4) for stem in NOTEBOOKS}
    mistaken = dict(sources)
    for mistake in chosen_mistakes():
        mistaken[mistake.notebook] = apply_mistake(mistaken[mistake.notebook], mistake)
    half_done = {stem: leave_unfinished(nb, UNFINISHED[stem]) if stem in UNFINISHED else nb
                 for stem, nb in sources.items()}
    return {
        "correct": {stem: strip_markers(nb) for stem, nb in sources.items()},
        "typical_mistakes": {stem: strip_markers(nb) for stem, nb in mistaken.items()},
        "half_done": {stem: strip_markers(nb) for stem, nb in half_done.items()},
    }


def build_examples(target: Path = EXAMPLES_DIR) -> list[Path]:
    """Write ``target/submitted/<student>/backprop/*.ipynb``; the files written."""
    import nbformat

    submitted = Path(target) / "submitted"
    if submitted.exists():
        shutil.rmtree(submitted)
    written = []
    for student, notebooks in example_notebooks().items():
        folder = submitted / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for stem, notebook in notebooks.items():
            path = folder / f"{stem}.ipynb"
            nbformat.write(notebook, str(path))
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    written = build_examples()
    print(f"wrote {len(written)} notebooks under {EXAMPLES_DIR / 'submitted'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
