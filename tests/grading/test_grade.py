"""The grade command, run in-process through ``autograder.cli.main`` with the sandbox.

One batch (three students) and one single-folder run are shared by most assertions;
failures of the harness itself are simulated with the in-process provider, which
starts no template and keeps them quick.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from autograder import paths
from autograder.cli import main
from autograder.grading import grade
from autograder.outputs import results
from autograder.paths import RELEASE_DIR, SOURCE_DIR
from autograder.sandbox.processes import children_by_parent

pytestmark = pytest.mark.slow  # grades real submissions: a sandbox template and forked children

SOURCE = SOURCE_DIR
RELEASE = RELEASE_DIR
SEED = 7


def make_tree(root: Path) -> Path:
    """submitted/: alice hands in the solution, bob only 01 and 02, carol the stubs."""
    tree = root / "submitted"
    shutil.copytree(SOURCE, tree / "alice" / "backprop")
    (tree / "bob" / "backprop").mkdir(parents=True)
    for stem in ("01_relu", "02_backward"):
        shutil.copy(SOURCE / f"{stem}.ipynb", tree / "bob" / "backprop")
    shutil.copytree(RELEASE, tree / "carol" / "backprop")
    return tree


def load(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert results.schema_problems(data) == []
    return data


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    tree = make_tree(root)
    out = root / "out"
    started = time.perf_counter()
    code = main(["grade", str(tree), "--out", str(out), "--jobs", "2", "--seed", str(SEED)])
    return tree, out, code, time.perf_counter() - started


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    root = tmp_path_factory.mktemp("single")
    folder = root / "alice"
    shutil.copytree(SOURCE, folder)
    out = root / "out"
    code = main(["grade", str(folder), "--out", str(out), "--seed", str(SEED)])
    return folder, out, code


def test_batch_exits_0_and_writes_grades_csv_with_one_row_per_student(batch):
    _, out, code, _ = batch
    assert code == 0
    with open(out / "grades.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"alice", "bob", "carol"}
    assert [rows["alice"][key] for key in ("01_relu", "02_backward", "03_mlp", "04_bce", "total")] == \
        ["15", "30", "35", "20", "100"]
    assert [rows["bob"][key] for key in ("01_relu", "02_backward", "03_mlp", "04_bce", "total")] == \
        ["15", "30", "0", "0", "45"]
    assert rows["carol"]["total"] == "0"
    assert {row["status"] for row in rows.values()} == {"graded"}


def test_batch_writes_valid_results_and_feedback_per_student(batch):
    _, out, _, _ = batch
    scores = {student: load(out / student / "results.json")["score"] for student in ("alice", "bob", "carol")}
    assert scores == {"alice": 100, "bob": 45, "carol": 0}
    for student in scores:
        assert "Autograded score" in (out / student / "feedback.md").read_text()
        assert "<html" in (out / student / "feedback.html").read_text().lower()


def test_batch_ends_with_the_class_report(batch):
    _, out, _, _ = batch
    assert "alice" in (out / "report.html").read_text()
    assert (out / "report.csv").read_text().strip()


def test_solution_scores_100_out_of_100_with_the_gradescope_fields(single):
    _, out, code = single
    assert code == 0
    data = load(out / "results.json")
    assert data["score"] == 100
    assert sum(test["max_score"] for test in data["tests"]) == 100
    assert data["stdout_visibility"] == "hidden"
    assert f"seed: {SEED}" in data["output"].lower() or f"seed {SEED}" in data["output"].lower()
    assert "graded by hand" in data["output"]
    assert {test["visibility"] for test in data["tests"]} == {"visible"}
    assert all(test["status"] == "passed" and test["score"] == test["max_score"] for test in data["tests"])
    assert (out / "feedback.md").is_file()


def test_stubs_score_0_with_no_internal_error(batch):
    _, out, _, _ = batch
    data = load(out / "carol" / "results.json")
    assert data["score"] == 0
    assert all(test["status"] == "failed" for test in data["tests"])
    assert not any("Internal grading error" in test["output"] for test in data["tests"])
    assert "internal error" not in (out / "grader.log").read_text()


def test_a_missing_notebook_fails_its_tests_with_a_message_naming_the_file(batch):
    _, out, _, _ = batch
    data = load(out / "bob" / "results.json")
    missing = [test for test in data["tests"] if test["tags"][0] in ("03_mlp", "04_bce")]
    assert missing and all(test["score"] == 0 for test in missing)
    assert all(f"{test['tags'][0]}.ipynb" in test["output"] for test in missing)


def test_same_submission_and_seed_give_the_same_result_alone_and_in_a_batch(batch, single):
    _, batch_out, _, _ = batch
    _, single_out, _ = single
    alone = load(single_out / "results.json")
    in_batch = load(batch_out / "alice" / "results.json")
    assert alone["tests"] == in_batch["tests"]
    assert alone["score"] == in_batch["score"]


def test_no_grading_process_or_sandbox_is_left_running(batch, single):
    # Templates and grading children are this process's children; orphans go to init.
    assert children_by_parent().get(os.getpid(), []) == []


# ----------------------------------------------------------------------------- instructor errors


@pytest.mark.parametrize("make_path, words", [
    (lambda tmp: tmp / "nowhere", "no such folder"),
    (lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt", "is not a folder"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "no notebooks found"),
])
def test_a_wrong_path_is_one_line_and_exit_2(tmp_path, capsys, make_path, words):
    code = main(["grade", str(make_path(tmp_path)), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err


def test_an_unreadable_source_notebook_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    broken = tmp_path / "source"
    shutil.copytree(SOURCE, broken)
    (broken / "03_mlp.ipynb").write_text("{ not json")
    monkeypatch.setattr(paths, "SOURCE_DIR", broken)
    code = main(["grade", str(SOURCE), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "03_mlp.ipynb" in err


@pytest.mark.parametrize("option", [["--jobs", "0"], ["--call-timeout", "0"], ["--cell-timeout", "-1"]])
def test_a_nonsense_option_is_one_line_and_exit_2(tmp_path, capsys, option):
    code = main(["grade", str(SOURCE), "--out", str(tmp_path / "out"), *option])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1


def test_a_student_named_like_a_batch_file_is_skipped_with_the_reason_and_others_graded(tmp_path, capsys):
    shutil.copytree(SOURCE, tmp_path / "submitted" / "grades.csv" / "backprop")
    shutil.copytree(RELEASE, tmp_path / "submitted" / ".dotted" / "backprop")
    assert main(["grade", str(tmp_path / "submitted"), "--out", str(tmp_path / "out")]) == 0
    assert "skipped grades.csv: the folder's name is one of the files the grader writes" in capsys.readouterr().err
    grades = (tmp_path / "out" / "grades.csv").read_text()
    assert ".dotted,0,0,0,0,0,graded" in grades and "grades.csv,,,,,,skipped: " in grades
    assert (tmp_path / "out" / "grades.csv").is_file()


def test_out_inside_the_submission_is_refused(tmp_path, capsys):
    folder = tmp_path / "alice"
    shutil.copytree(SOURCE, folder)
    assert main(["grade", str(folder), "--out", str(folder / "out")]) == 2
    assert "inside the submissions" in capsys.readouterr().err


def test_a_sandbox_that_cannot_start_is_one_line_and_exit_2_with_valid_results(tmp_path, capsys, monkeypatch):
    from autograder.errors import InstructorError

    def no_sandbox(*args, **kwargs):
        raise InstructorError("the sandbox user cannot read /root/python")

    monkeypatch.setattr(grade, "open_template", no_sandbox)
    folder = tmp_path / "alice"
    shutil.copytree(SOURCE, folder)
    code = main(["grade", str(folder), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err == "error: the sandbox user cannot read /root/python\n"
    data = load(tmp_path / "out" / "results.json")
    assert data["score"] == 0 and "Grading failed" in data["output"] and "/root" not in data["output"]


# ----------------------------------------------------------------------------- the harness failing


def _grade_in_process(tmp_path, student_folders: dict[str, Path] | None = None):
    if student_folders is None:
        folder = tmp_path / "alice"
        shutil.copytree(SOURCE, folder)
        target = folder
    else:
        target = tmp_path / "submitted"
        for student, source in student_folders.items():
            shutil.copytree(source, target / student / "backprop")
    out = tmp_path / "out"
    code = main(["grade", str(target), "--out", str(out), "--seed", str(SEED), "--in-process", "--jobs", "2"])
    return out, code


def test_results_json_is_valid_when_the_harness_itself_fails(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("the secret internals of the grader")

    monkeypatch.setattr("autograder.grading.suite.run_hidden_tests", broken)
    out, code = _grade_in_process(tmp_path)
    data = load(out / "results.json")
    assert code == 1 and "grader.log" in capsys.readouterr().err
    assert data["score"] == 0 and data["tests"] == []
    assert "Grading failed" in data["output"] and "instructor has been told" in data["output"]
    assert "secret internals" not in (out / "results.json").read_text()
    assert "secret internals" not in (out / "feedback.md").read_text()
    assert "secret internals" in (out / "grader.log").read_text()


@pytest.mark.parametrize("how", ["exit", "segfault", "garbage"])
def test_a_grading_child_that_dies_loses_only_its_own_student(tmp_path, monkeypatch, capsys, how):
    real = grade.grade_here

    def sometimes_broken(submission, **kwargs):
        if submission.student != "bob":
            return real(submission, **kwargs)
        if how == "exit":
            os._exit(3)
        if how == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        return "not a report"

    monkeypatch.setattr(grade, "grade_here", sometimes_broken)
    relu_only = tmp_path / "relu_only"  # one notebook: quick to grade in-process
    relu_only.mkdir()
    shutil.copy(SOURCE / "01_relu.ipynb", relu_only)
    out, code = _grade_in_process(tmp_path, {"alice": relu_only, "bob": SOURCE, "carol": RELEASE})
    assert code == 1
    assert load(out / "alice" / "results.json")["score"] == 15
    assert load(out / "carol" / "results.json")["score"] == 0
    bob = load(out / "bob" / "results.json")
    assert bob["score"] == 0 and "Grading failed" in bob["output"]
    assert "grading failed" in (out / "grades.csv").read_text()
    assert "bob" in (out / "grader.log").read_text()
    progress = capsys.readouterr().err  # the batch's progress bar goes to stderr
    assert "grading: 100%" in progress and "3/3" in progress


def test_a_grading_child_that_hangs_is_stopped_at_its_deadline(tmp_path, monkeypatch):
    monkeypatch.setattr(grade, "submission_timeout", lambda limits: 1.0)
    monkeypatch.setattr(grade, "grade_here", lambda submission, **kwargs: time.sleep(60))
    started = time.perf_counter()
    out, code = _grade_in_process(tmp_path)
    assert time.perf_counter() - started < 30
    assert code == 1
    assert load(out / "results.json")["score"] == 0
    assert "did not finish within 1 s" in (out / "grader.log").read_text()


# ----------------------------------------------------------------------------- hygiene


def test_files_shipped_with_a_submission_are_never_imported(tmp_path, monkeypatch):
    folder = tmp_path / "alice"
    shutil.copytree(SOURCE, folder)
    canary = tmp_path / "imported"
    for name in ("conftest.py", "sitecustomize.py", "numpy.py", "pytest.py", "autograder.py"):
        (folder / name).write_text(f"open({str(canary)!r}, 'a').write({name!r})\n")
    (folder / "pytest.ini").write_text("[pytest]\naddopts = -p no:python\n")
    monkeypatch.chdir(folder)  # even graded from inside the folder
    monkeypatch.syspath_prepend(str(folder))
    out = tmp_path / "out"
    code = main(["grade", str(folder), "--out", str(out), "--seed", str(SEED), "--in-process"])
    assert code == 0
    assert load(out / "results.json")["score"] == 100
    assert not canary.exists()


@pytest.mark.parametrize("batch", [True, False])
def test_a_template_lost_during_grading_costs_no_student_a_point(tmp_path, monkeypatch, batch):
    """The sandbox template is the grader's own process: if it dies under a submission
    (here: killed from inside bob's grading, the first time only), the submissions it
    was serving are graded again on a fresh one, and the log says so."""
    real = grade.grade_here
    marker = tmp_path / "killed-once"

    def losing_the_template(submission, **kwargs):
        if submission.student == "bob" and not marker.exists():
            marker.write_text("done")
            os.kill(kwargs["template"].process.pid, signal.SIGKILL)
            time.sleep(0.3)
        return real(submission, **kwargs)

    monkeypatch.setattr(grade, "grade_here", losing_the_template)
    relu_only = tmp_path / "relu_only"  # one notebook: quick to grade
    relu_only.mkdir()
    shutil.copy(SOURCE / "01_relu.ipynb", relu_only)
    out = tmp_path / "out"
    if batch:
        target = tmp_path / "submitted"
        for student in ("alice", "bob", "carol"):
            shutil.copytree(relu_only, target / student / "backprop")
    else:
        target = tmp_path / "bob"
        shutil.copytree(relu_only, target)
    assert main(["grade", str(target), "--out", str(out), "--seed", str(SEED), "--jobs", "2"]) == 0
    assert marker.exists()
    folders = [out / name for name in ("alice", "bob", "carol")] if batch else [out]
    for folder in folders:
        assert load(folder / "results.json")["score"] == 15
    assert "graded again on a fresh one" in (out / "grader.log").read_text()
