"""The examples are what examples.py builds; `demo` builds the release and grades them."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.notebooks import examples
from autograder.paths import EXAMPLES_DIR

COMMITTED = EXAMPLES_DIR / "submitted"


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_committed_examples_are_exactly_what_the_script_builds(tmp_path):
    examples.build_examples(tmp_path)
    built, committed = _files(tmp_path / "submitted"), _files(COMMITTED)
    assert sorted(built) == sorted(committed)
    stale = [name for name in built if built[name] != committed[name]]
    assert stale == [], "examples/ is stale: run `python -m autograder.notebooks.examples` and commit"


def test_examples_look_like_student_work():
    for path in COMMITTED.rglob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        assert "### BEGIN SOLUTION" not in text and "### END SOLUTION" not in text, path
        notebook = nbformat.read(path, as_version=4)
        assert all(cell.get("outputs", []) == [] for cell in notebook.cells if cell.cell_type == "code")
    half_done = (COMMITTED / "half_done" / "backprop" / "03_mlp.ipynb").read_text()
    assert "raise NotImplementedError()" in half_done
    assert "raise NotImplementedError()" not in (COMMITTED / "correct" / "backprop" / "03_mlp.ipynb").read_text()


def test_typical_mistakes_hold_the_chosen_catalogue_mistakes():
    chosen = examples.chosen_mistakes()
    assert [mistake.key for mistake in chosen] == list(examples.TYPICAL_MISTAKES)
    for mistake in chosen:
        text = nbformat.read(COMMITTED / "typical_mistakes" / "backprop" / f"{mistake.notebook}.ipynb",
                             as_version=4)
        assert any(cell.source.strip() == mistake.source.strip() for cell in text.cells), mistake.key


@pytest.mark.slow
def test_demo_builds_the_release_and_grades_the_examples(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--seed", "5", "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "no solution leaked" in printed
    scores = {student: json.loads((out / student / "results.json").read_text())["score"]
              for student in ("correct", "typical_mistakes", "half_done", "release_stubs")}
    assert scores["correct"] == 100
    assert scores["release_stubs"] == 0
    assert 0 < scores["typical_mistakes"] < 100
    assert 0 < scores["half_done"] < 100
    table = {line.split()[0]: line.split()[-1] for line in printed.splitlines() if line.split()}
    assert table["correct"] == "100" and table["release_stubs"] == "0"
    assert (out / "grades.csv").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11])
def test_the_typical_mistakes_feedback_has_one_card_per_mistake(tmp_path, seed):
    """Three catalogued mistakes fail a dozen checks; the student reads three cards, each
    naming the function the mistake is in, with one example each."""
    from autograder.grading.grade import grade_path

    grade_path(COMMITTED / "typical_mistakes" / "backprop", tmp_path, seed=seed, in_process=True, progress=False,
               single=True)
    html = (tmp_path / "feedback.html").read_text(encoding="utf-8")
    markdown = (tmp_path / "feedback.md").read_text(encoding="utf-8")
    functions = [mistake.function for mistake in examples.chosen_mistakes()]
    assert html.count('<section class="card"') == len(functions) == 3
    titles = [line for line in markdown.splitlines() if line.startswith("### ")]
    assert [title.split("`")[1] for title in titles] == functions
    assert markdown.count("Example (check ") == 3
    failed = [test for test in json.loads((tmp_path / "results.json").read_text())["tests"]
              if test["status"] == "failed"]
    assert len(failed) > 3  # the cards stand for more checks than themselves
    assert all(len(line) <= 100 for line in markdown.splitlines() if line.startswith("    "))
