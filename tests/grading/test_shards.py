"""A batch split into shards, each graded by its own process, then merged.

``grade --shard K/N`` grades the K-th of N slices of a ``submitted/`` tree (by sorted
student id) with an explicit seed; ``merge`` rebuilds ``grades.csv``, the class report
and ``grader.log`` from the shards' output. The example cohort graded as three shards
(three processes at once, each writing its own output folder) and merged must equal one
batch graded with the same seed: ``grades.csv`` byte for byte, every student's
``results.json`` byte for byte but for ``execution_time`` (a measured duration, which no
two runs share), and ``feedback.md`` byte for byte. A shard killed halfway and run again
grades only the students it had not finished.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.paths import PROJECT_ROOT
from autograder.cli import main

pytestmark = pytest.mark.slow

EXAMPLES = PROJECT_ROOT / "examples" / "submitted"
SEED = "41"


def grader(*args: str, **options) -> subprocess.Popen:
    """``python -m autograder ARGS`` in a process of its own (and its own process group)."""
    return subprocess.Popen([sys.executable, "-m", "autograder", *args], cwd=PROJECT_ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-2000:] + err[-2000:]
    return out


def without_time(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("execution_time")
    return data


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """The example cohort graded once as a batch and once as three shards, merged."""
    root = tmp_path_factory.mktemp("shards")
    submitted = EXAMPLES
    started = time.perf_counter()
    shards = [grader("grade", str(submitted), "--out", str(root / f"shard-{k}"), "--shard", f"{k}/3",
                     "--seed", SEED, "--jobs", "1") for k in (1, 2, 3)]
    outputs = [finish(shard) for shard in shards]
    merged = grader("merge", *(str(root / f"shard-{k}") for k in (1, 2, 3)), "--out", str(root / "merged"))
    finish(merged)
    shard_seconds = time.perf_counter() - started
    started = time.perf_counter()
    finish(grader("grade", str(submitted), "--out", str(root / "batch"), "--seed", SEED, "--jobs", "2"))
    batch_seconds = time.perf_counter() - started
    print(f"\nthree shards at once and the merge: {shard_seconds:.1f} s; one batch: {batch_seconds:.1f} s "
          f"(load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return root, outputs


def students() -> list[str]:
    return sorted(path.name for path in EXAMPLES.iterdir() if path.is_dir())


def test_each_shard_grades_its_own_slice_of_the_sorted_students(cohort):
    root, _ = cohort
    graded = [sorted(path.parent.name for path in (root / f"shard-{k}").glob("*/results.json")) for k in (1, 2, 3)]
    assert graded == [[student] for student in students()]
    for k in (1, 2, 3):
        assert not (root / f"shard-{k}" / "grades.csv").exists(), "a shard writes no class-wide file"


def test_merged_shards_equal_one_batch_with_the_same_seed(cohort):
    root, _ = cohort
    merged, batch = root / "merged", root / "batch"
    assert (merged / "grades.csv").read_bytes() == (batch / "grades.csv").read_bytes()
    for student in students():
        assert without_time(merged / student / "results.json") == without_time(batch / student / "results.json")
        assert (merged / student / "feedback.md").read_bytes() == (batch / student / "feedback.md").read_bytes()
        text = (merged / student / "results.json").read_text(encoding="utf-8")
        batch_text = (batch / student / "results.json").read_text(encoding="utf-8")
        assert _drop_time_line(text) == _drop_time_line(batch_text), "same bytes but for execution_time"


def _drop_time_line(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if '"execution_time"' not in line)


def test_the_merge_writes_the_class_report_and_one_log(cohort):
    root, _ = cohort
    merged = root / "merged"
    report = (merged / "report.html").read_text(encoding="utf-8")
    assert all(student in report for student in students())
    assert (merged / "report.csv").read_text().strip()
    log = (merged / "grader.log").read_text(encoding="utf-8")
    assert all(f"== {student}:" in log for student in students())


def test_a_shard_needs_an_explicit_seed(tmp_path, capsys):
    code = main(["grade", str(EXAMPLES), "--out", str(tmp_path / "out"), "--shard", "1/3"])
    err = capsys.readouterr().err
    assert code == 2 and "--seed" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("shard", ["0/3", "4/3", "3", "a/b", "1/0"])
def test_a_shard_outside_its_count_is_refused(tmp_path, capsys, shard):
    with pytest.raises(SystemExit) as stopped:
        main(["grade", str(EXAMPLES), "--out", str(tmp_path / "out"), "--shard", shard, "--seed", SEED])
    assert stopped.value.code == 2 and "--shard" in capsys.readouterr().err


def test_merge_refuses_while_a_shard_is_missing(cohort, tmp_path, capsys):
    root, _ = cohort
    code = main(["merge", str(root / "shard-1"), str(root / "shard-3"), "--out", str(tmp_path / "merged")])
    err = capsys.readouterr().err
    assert code == 2 and "2/3" in err


# ----------------------------------------------------------------------------- a killed shard


@pytest.fixture
def six_students(tmp_path):
    """Six students (two of each example), so shard 1/2 has three to grade, and a folder
    named like a file the grader writes, which is never graded (grades.csv says so)."""
    tree = tmp_path / "submitted"
    for index, student in enumerate(students() * 2):
        shutil.copytree(EXAMPLES / student / "backprop", tree / f"{student}-{index}" / "backprop")
    shutil.copytree(EXAMPLES / students()[0] / "backprop", tree / "grades.csv" / "backprop")
    return tree


def graded_students(tree: Path) -> list[str]:
    return sorted(path.name for path in tree.iterdir() if path.name != "grades.csv")


def records(out: Path) -> dict[str, Path]:
    """What marks a student finished: the grader's record of their report."""
    return {path.stem: path for path in (out / ".shards" / "reports").glob("*.json")}


def test_a_killed_shard_run_again_grades_only_the_students_it_had_not_finished(six_students, tmp_path):
    out = tmp_path / "out"
    command = ("grade", str(six_students), "--out", str(out), "--shard", "1/2", "--seed", SEED, "--jobs", "1")
    first = grader(*command)
    deadline = time.monotonic() + 240
    while not records(out) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    finished_before = {student: (path.read_bytes(), path.stat().st_mtime_ns) for student, path in records(out).items()}
    assert 1 <= len(finished_before) < 3, "the shard must be killed with work left to do"

    again = finish(grader(*command))
    mine = graded_students(six_students)[:3]
    assert sorted(records(out)) == mine
    for student, (content, mtime) in finished_before.items():
        path = records(out)[student]
        assert (path.read_bytes(), path.stat().st_mtime_ns) == (content, mtime), f"{student} was graded again"
    assert f"{len(finished_before)} already graded" in again
    for student in mine:
        assert json.loads((out / student / "results.json").read_text())["tests"]

    finish(grader("grade", str(six_students), "--out", str(out), "--shard", "2/2", "--seed", SEED))
    finish(grader("merge", str(out)))
    rows = [line.split(",") for line in (out / "grades.csv").read_text().splitlines()[1:]]
    assert [row[0] for row in rows] == graded_students(six_students) + ["grades.csv"]
    assert rows[-1][-1].startswith("skipped:"), "the folder no shard could grade is listed once"


def test_a_shard_refuses_an_output_folder_graded_with_another_seed(six_students, tmp_path, capsys):
    out = tmp_path / "out"
    (out / ".shards" / "reports").mkdir(parents=True)
    student = graded_students(six_students)[0]
    from autograder.grading.answer import encode_report
    from autograder.grading.model import GradeReport

    (out / ".shards" / "reports" / f"{student}.json").write_bytes(encode_report(GradeReport(student, 999)))
    code = main(["grade", str(six_students), "--out", str(out), "--shard", "1/2", "--seed", SEED])
    err = capsys.readouterr().err
    assert code == 2 and "999" in err
