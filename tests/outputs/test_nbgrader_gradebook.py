"""Autograded scores land in a real nbgrader course's gradebook, beside the derivation."""

import csv
import shutil

import pytest

from autograder.cli import main
from autograder.paths import PROJECT_ROOT, SOURCE_DIR
from nbgrader_cli import nbgrader

pytestmark = pytest.mark.slow  # runs nbgrader on a course


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(SOURCE_DIR, course / "source" / "backprop")
    shutil.copy(PROJECT_ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    nbgrader(course, "generate_assignment", "backprop")
    for student, folder in (("alice", "source"), ("bob", "release")):
        target = course / "submitted" / student / "backprop"
        shutil.copytree(course / folder / "backprop", target)
        (target / "timestamp.txt").write_text("2026-11-20 12:00:00.000000 UTC")
    code = main(["grade", str(course / "submitted"), "--out", str(course / "grading"), "--nbgrader",
                 "--seed", "5"])
    assert code == 0
    return course


def test_scores_are_in_the_gradebook_out_of_110(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        alice = gradebook.find_submission("backprop", "alice")
        bob = gradebook.find_submission("backprop", "bob")
        assert (alice.score, alice.max_score) == (100, 110)
        assert (bob.score, bob.max_score) == (0, 110)
        scores = {nb.name: nb.score for nb in alice.notebooks}
        assert scores == {"01_relu": 15, "02_backward": 30, "03_mlp": 35, "04_bce": 20}
        # the derivation is still waiting for a TA
        derivation = gradebook.find_grade("bce_derivation", "04_bce", "backprop", "alice")
        assert derivation.manual_score is None and derivation.max_score == 10


def test_formgrader_sees_the_submissions_and_export_gives_the_total(course):
    from nbgrader.api import Gradebook

    assert (course / "autograded" / "alice" / "backprop" / "04_bce.ipynb").is_file()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:  # a TA grades the derivation
        gradebook.find_grade("bce_derivation", "04_bce", "backprop", "alice").manual_score = 8
        gradebook.db.commit()
    nbgrader(course, "export", "--to", str(course / "grades.csv"))
    rows = {row["student_id"]: row for row in csv.DictReader((course / "grades.csv").open())}
    assert float(rows["alice"]["raw_score"]) == 108 and float(rows["alice"]["max_score"]) == 110
    assert float(rows["bob"]["raw_score"]) == 0


def test_nbgrader_needs_the_submitted_folder(tmp_path, capsys):
    (tmp_path / "01_relu.ipynb").write_text("{}")
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "out"), "--nbgrader"]) == 2
    assert "submitted/" in capsys.readouterr().err
