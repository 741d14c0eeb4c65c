"""A real nbgrader course, end to end through nbgrader's own exchange, graded by us.

The instructor releases the assignment; two students fetch it, do their work and submit
it; the instructor collects, grades with ``grade --nbgrader``, and runs ``nbgrader
release_feedback``; each student runs ``nbgrader fetch_feedback`` and finds our feedback
among their files, as in any nbgrader course. The exchange, the students' folders and
their caches all live in a temporary directory; nbgrader's own commands do every step
but the grading.

Then late penalties: the course's ``nbgrader_config.py`` names a late-submission plugin,
a submission's ``timestamp.txt`` is past the due date, and ``nbgrader export`` shows the
penalty the plugin gave.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest

from autograder.paths import NOTEBOOKS, PROJECT_ROOT
from autograder.cli import main
from nbgrader_cli import nbgrader

pytestmark = pytest.mark.slow

SOURCE = PROJECT_ROOT / "source" / "backprop"
COURSE_ID = "backprop-course"
SEED = "5"


def make_course(root: Path, extra_config: str = "") -> Path:
    """A course directory with the assignment generated in its gradebook."""
    course = root / "course"
    shutil.copytree(SOURCE, course / "source" / "backprop")
    config = (PROJECT_ROOT / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(config + extra_config)
    nbgrader(course, "generate_assignment", "backprop")
    return course


class Student:
    """A student's own folder and nbgrader cache; commands run as them (``--student``)."""

    def __init__(self, name: str, root: Path, exchange: Path):
        self.name = name
        self.home = root / "students" / name
        self.home.mkdir(parents=True)
        self.options = [f"--course={COURSE_ID}", f"--student={name}", f"--Exchange.root={exchange}",
                        f"--Exchange.cache={self.home / '.nbgrader_cache'}"]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return nbgrader(self.home, *args, *self.options)

    @property
    def assignment(self) -> Path:
        return self.home / "backprop"


@pytest.fixture(scope="module")
def exchange_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("exchange")
    exchange = root / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    course = make_course(root, f"c.Exchange.root = {str(exchange)!r}\n")
    nbgrader(course, "release_assignment", "backprop")

    alice, bob = Student("alice", root, exchange), Student("bob", root, exchange)
    for student in (alice, bob):
        student.run("fetch_assignment", "backprop")
        assert sorted(path.stem for path in student.assignment.glob("*.ipynb")) == list(NOTEBOOKS)
    for stem in NOTEBOOKS:  # alice answers everything (the instructor's solution)
        shutil.copy(SOURCE / f"{stem}.ipynb", alice.assignment / f"{stem}.ipynb")
    for stem in ("03_mlp", "04_bce"):  # bob hands in the stubs of 01 and 02 only
        (bob.assignment / f"{stem}.ipynb").unlink()
    for student in (alice, bob):
        student.run("submit", "backprop")

    nbgrader(course, "collect", "backprop")
    for student in ("alice", "bob"):
        collected = course / "submitted" / student / "backprop"
        assert (collected / "timestamp.txt").is_file() and (collected / "submission_secret.txt").is_file()
    code = main(["grade", str(course / "submitted"), "--out", str(root / "grading"), "--nbgrader", "--seed", SEED])
    assert code == 0
    nbgrader(course, "release_feedback", "backprop")
    for student in (alice, bob):
        student.run("fetch_feedback", "backprop")
    return course, root / "grading", alice, bob


def fetched(student: Student) -> dict[str, str]:
    """notebook stem -> the feedback page the student fetched for it."""
    pages = list((student.assignment / "feedback").glob("*/*.html"))  # feedback/<timestamp>/<notebook>.html
    return {page.stem: page.read_text(encoding="utf-8") for page in pages}


def test_release_feedback_finds_our_feedback_where_nbgrader_looks(exchange_course):
    course, _, _, _ = exchange_course
    for student, stems in (("alice", NOTEBOOKS), ("bob", ("01_relu", "02_backward"))):
        folder = course / "feedback" / student / "backprop"
        assert sorted(path.stem for path in folder.glob("*.html")) == sorted(stems)
        submitted = course / "submitted" / student / "backprop"
        for name in ("timestamp.txt", "submission_secret.txt"):
            assert (folder / name).read_text() == (submitted / name).read_text()


def test_each_student_fetches_their_own_feedback_for_every_notebook_they_submitted(exchange_course):
    _, out, alice, bob = exchange_course
    alice_pages, bob_pages = fetched(alice), fetched(bob)
    assert sorted(alice_pages) == list(NOTEBOOKS)
    assert sorted(bob_pages) == ["01_relu", "02_backward"]
    # the page is the student's own feedback.html, whichever notebook it was fetched for
    assert set(alice_pages.values()) == {(out / "alice" / "feedback.html").read_text(encoding="utf-8")}
    assert set(bob_pages.values()) == {(out / "bob" / "feedback.html").read_text(encoding="utf-8")}
    assert "alice" in alice_pages["01_relu"] and "bob" not in alice_pages["01_relu"]
    assert "03_mlp.ipynb" in bob_pages["01_relu"], "bob's page says what he did not hand in"


def test_the_gradebook_has_the_exchange_timestamps(exchange_course):
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    course, _, _, _ = exchange_course
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in ("alice", "bob"):
            stamped = (course / "submitted" / student / "backprop" / "timestamp.txt").read_text()
            submission = gradebook.find_submission("backprop", student)
            assert submission.timestamp == parse_utc(stamped).replace(tzinfo=None)
        assert gradebook.find_submission("backprop", "alice").score == 100


# ----------------------------------------------------------------------------- late penalties

LATE_PLUGIN = '''
import math

from nbgrader.plugins import LateSubmissionPlugin


class PointPerHour(LateSubmissionPlugin):
    """One point per started hour late, for each notebook."""

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return float(math.ceil(total_seconds_late / 3600))
'''

LATE_CONFIG = '''
c.AssignLatePenalties.plugin_class = "late_plugin.PointPerHour"
'''

DUE = "2026-11-20 12:00:00 UTC"


@pytest.fixture(scope="module")
def late_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("late")
    course = make_course(root, LATE_CONFIG)
    (course / "late_plugin.py").write_text(LATE_PLUGIN)
    nbgrader(course, "db", "assignment", "add", "backprop", f"--duedate={DUE}")
    stamps = {"ontime": "2026-11-20 11:59:00.000000 UTC",  # a minute early
              "late": "2026-11-20 14:30:00.000000 UTC"}    # 2.5 hours late: 3 started hours
    for student, stamp in stamps.items():
        target = course / "submitted" / student / "backprop"
        shutil.copytree(SOURCE, target)
        (target / "timestamp.txt").write_text(stamp)
    code = main(["grade", str(course / "submitted"), "--out", str(root / "grading"), "--nbgrader", "--seed", SEED])
    assert code == 0
    nbgrader(course, "export", "--to", str(root / "export.csv"))
    with open(root / "export.csv", newline="") as handle:
        return course, {row["student_id"]: row for row in csv.DictReader(handle)}


def test_a_late_submission_loses_what_the_courses_plugin_says(late_course):
    _, rows = late_course
    late = rows["late"]
    # 3 points for each of the four notebooks, each notebook's penalty capped at its score
    assert float(late["raw_score"]) == 100
    assert float(late["late_submission_penalty"]) == 12
    assert float(late["score"]) == 88


def test_an_on_time_submission_loses_nothing(late_course):
    _, rows = late_course
    ontime = rows["ontime"]
    assert float(ontime["raw_score"]) == 100 and float(ontime["late_submission_penalty"]) == 0
    assert float(ontime["score"]) == 100


def test_the_penalty_sits_on_each_notebook_as_nbgraders_autograde_puts_it(late_course):
    from nbgrader.api import Gradebook

    course, _ = late_course
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission("backprop", "late")
        assert submission.total_seconds_late == 2.5 * 3600
        assert {notebook.name: notebook.late_submission_penalty for notebook in submission.notebooks} == \
            {stem: 3.0 for stem in NOTEBOOKS}


# ----------------------------------------------------------------------------- shards


def test_shards_leave_the_gradebook_to_merge_which_writes_it_once(tmp_path):
    from nbgrader.api import Gradebook, MissingEntry

    course = make_course(tmp_path)
    for student, folder in (("alice", SOURCE), ("bob", PROJECT_ROOT / "release" / "backprop")):
        target = course / "submitted" / student / "backprop"
        shutil.copytree(folder, target)
        (target / "timestamp.txt").write_text("2026-11-20 11:00:00.000000 UTC")
        (target / "submission_secret.txt").write_text(f"{student}-secret")
    grading = tmp_path / "grading"
    for shard in ("1/2", "2/2"):
        assert main(["grade", str(course / "submitted"), "--out", str(grading), "--shard", shard, "--seed", SEED]) == 0
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        with pytest.raises(MissingEntry):
            gradebook.find_submission("backprop", "alice")
    assert not (course / "feedback").exists()

    assert main(["merge", str(grading), "--nbgrader", str(course / "submitted")]) == 0
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission("backprop", "alice").score == 100
        assert gradebook.find_submission("backprop", "bob").score == 0
    for student in ("alice", "bob"):
        pages = {path.stem: path.read_text() for path in (course / "feedback" / student / "backprop").glob("*.html")}
        assert sorted(pages) == list(NOTEBOOKS)
        assert set(pages.values()) == {(grading / student / "feedback.html").read_text()}


def test_a_shard_does_not_take_nbgrader(tmp_path, capsys):
    code = main(["grade", str(tmp_path / "submitted"), "--out", str(tmp_path / "out"), "--shard", "1/2",
                 "--seed", SEED, "--nbgrader"])
    assert code == 2 and "merge" in capsys.readouterr().err
