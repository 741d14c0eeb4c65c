"""``python -m autograder release``: the committed release is what nbgrader builds from source/.

One real nbgrader build per module, made by the release command itself in a temporary
copy of the course, is shared by the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.cli import release as release_command
from autograder.errors import InstructorError
from autograder.notebooks import release
from autograder.paths import ASSIGNMENT, NOTEBOOKS, PROJECT_ROOT, RELEASE_DIR, SOURCE_DIR

pytestmark = pytest.mark.slow

COMMITTED = RELEASE_DIR
SOURCE = SOURCE_DIR


def copy_course(target: Path) -> Path:
    """A course directory holding only what a fresh clone gives nbgrader."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROJECT_ROOT / "nbgrader_config.py", target / "nbgrader_config.py")
    shutil.copytree(SOURCE, target / "source" / ASSIGNMENT)
    return target


def release_args(course: Path, check: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    release_command.add_arguments(parser)
    argv = ["--course", str(course)] + (["--check"] if check else [])
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def released_course(tmp_path_factory):
    """A copy of the course after `release` ran in it: (course, printed summary)."""
    course = copy_course(tmp_path_factory.mktemp("course"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = release_command.run(release_args(course))
    assert status == 0
    return course, printed.getvalue()


def read_cells(folder: Path, stem: str) -> list:
    return nbformat.read(folder / f"{stem}.ipynb", as_version=4).cells


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_committed_release_equals_a_fresh_nbgrader_build(released_course, stem):
    course, _ = released_course
    fresh = read_cells(course / "release" / ASSIGNMENT, stem)
    committed = read_cells(COMMITTED, stem)
    assert len(committed) == len(fresh), "run `make release` and commit release/"
    for index, (want, got) in enumerate(zip(fresh, committed)):
        assert got == want, f"{stem} cell {index} ({got.get('id')}) is stale: run `make release` and commit release/"


def test_committed_release_holds_only_built_files(released_course):
    course, _ = released_course
    built = sorted(p.relative_to(course / "release" / ASSIGNMENT) for p in (course / "release" / ASSIGNMENT).rglob("*"))
    committed = sorted(p.relative_to(COMMITTED) for p in COMMITTED.rglob("*"))
    assert committed == built
    assert release.release_differences(course / "release" / ASSIGNMENT, COMMITTED) == []


def test_release_writes_nothing_but_the_release_folder(released_course):
    course, _ = released_course
    top = sorted(p.name for p in course.iterdir())
    assert top == ["nbgrader_config.py", "release", "source"]  # no gradebook.db, no log
    assert sorted(p.name for p in (course / "release").iterdir()) == [ASSIGNMENT]


def test_release_prints_a_short_summary(released_course):
    _, printed = released_course
    lines = printed.strip().splitlines()
    assert "no solution line, no marker" in lines[0]
    assert len(lines) == 1 + len(NOTEBOOKS)
    assert "1 graded by hand" in lines[-1]


@pytest.mark.parametrize("stale", [False, True], ids=["up to date", "stale"])
def test_check_mode_compares_without_writing(released_course, tmp_path, monkeypatch, stale):
    built, _ = released_course
    course = copy_course(tmp_path / "course")
    shutil.copytree(COMMITTED, course / "release" / ASSIGNMENT)
    fresh = tmp_path / "fresh"
    shutil.copytree(built / "release" / ASSIGNMENT, fresh)
    if stale:
        notebook = nbformat.read(fresh / "04_bce.ipynb", as_version=4)
        notebook.cells[0].source += "\nA change in source/ not yet released."
        nbformat.write(notebook, fresh / "04_bce.ipynb")
    # The build itself is the fixture's real nbgrader run; only the comparison is new here.
    monkeypatch.setattr(release, "build_release", lambda course, assignment, workdir: fresh)
    before = (course / "release" / ASSIGNMENT / "04_bce.ipynb").read_bytes()
    if stale:
        with pytest.raises(InstructorError, match=r"04_bce.ipynb cell 0: source differ\); run `make release`"):
            release_command.run(release_args(course, check=True))
    else:
        assert release_command.run(release_args(course, check=True)) == 0
    assert (course / "release" / ASSIGNMENT / "04_bce.ipynb").read_bytes() == before


def test_release_differences_names_a_stale_cell(released_course, tmp_path):
    course, _ = released_course
    stale = tmp_path / ASSIGNMENT
    shutil.copytree(course / "release" / ASSIGNMENT, stale)
    notebook = nbformat.read(stale / "02_backward.ipynb", as_version=4)
    notebook.cells[0].source += "\nAn edit made by hand in release/."
    nbformat.write(notebook, stale / "02_backward.ipynb")
    (stale / "notes.txt").write_text("left over")
    differences = release.release_differences(course / "release" / ASSIGNMENT, stale)
    assert differences == ["notes.txt is not built from source/", "02_backward.ipynb cell 0: source differ"]


def test_no_solution_line_and_no_marker_in_the_committed_release():
    released_text = "\n".join(
        cell.source for stem in NOTEBOOKS for cell in read_cells(COMMITTED, stem)
    )
    released_lines = {line.strip() for line in released_text.splitlines()}
    for marker in release.MARKERS:
        assert marker not in released_text
    for stem in NOTEBOOKS:
        leaked = release.solution_lines(nbformat.read(SOURCE / f"{stem}.ipynb", as_version=4)) & released_lines
        assert leaked == set(), f"{stem}: solution lines in release/: {sorted(leaked)}"
    assert release.release_problems(SOURCE, COMMITTED) == []


def test_solution_lines_are_the_answers():
    # The leak check is only as good as its idea of a solution line.
    relu_nb = nbformat.read(SOURCE / "01_relu.ipynb", as_version=4)
    lines = release.solution_lines(relu_nb)
    assert "return np.maximum(np.asarray(z, dtype=np.float64), 0.0)" in lines
    assert "def relu(z):" not in lines  # the signature and docstring stay
    assert not any("BEGIN SOLUTION" in line for line in lines)
    derivation = release.solution_lines(nbformat.read(SOURCE / "04_bce.ipynb", as_version=4))
    assert any(r"\sigma(z) - y" in line for line in derivation)


def test_release_problems_catch_a_leaked_line_and_a_marker(released_course, tmp_path):
    course, _ = released_course
    leaky = tmp_path / ASSIGNMENT
    shutil.copytree(course / "release" / ASSIGNMENT, leaky)
    notebook = nbformat.read(leaky / "01_relu.ipynb", as_version=4)
    relu_cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu")
    relu_cell.source = relu_cell.source.replace(
        "raise NotImplementedError()", "return np.maximum(np.asarray(z, dtype=np.float64), 0.0)")
    notebook.cells[0].source += "\n### END SOLUTION"
    nbformat.write(notebook, leaky / "01_relu.ipynb")
    problems = release.release_problems(SOURCE, leaky)
    assert len(problems) == 2
    assert "marker '### END SOLUTION'" in problems[0]
    assert "solution line 'return np.maximum" in problems[1]


def test_a_broken_source_notebook_is_one_clear_instructor_error(tmp_path):
    course = copy_course(tmp_path / "course")
    for other in NOTEBOOKS[1:]:  # one notebook is enough, and keeps nbgrader quick
        (course / "source" / ASSIGNMENT / f"{other}.ipynb").unlink()
    path = course / "source" / ASSIGNMENT / "01_relu.ipynb"
    notebook = nbformat.read(path, as_version=4)
    relu_cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu")
    relu_cell.source = relu_cell.source.replace("    ### END SOLUTION", "")
    nbformat.write(notebook, path)
    with pytest.raises(InstructorError, match="generate_assignment backprop failed: RuntimeError: no end solution"):
        release.build_release(course, ASSIGNMENT, tmp_path / "build")


def test_a_missing_source_folder_is_an_instructor_error(tmp_path):
    with pytest.raises(InstructorError, match="no source folder"):
        release.build_release(tmp_path, ASSIGNMENT, tmp_path / "build")
