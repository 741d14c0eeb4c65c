"""A batch split over machines: ``grade --shard K/N`` grades one slice, ``merge`` joins them.

A shard is the K-th of N contiguous slices of a ``submitted/`` tree's students sorted
by id, so every machine that lists the same tree cuts the same slices. Every shard of a
grading must use one seed (given with ``--seed``; a shard refuses to draw its own), so
its students get exactly the grades one batch would give them.

What a shard leaves in its output folder, besides each student's ``results.json``,
``feedback.md`` and ``feedback.html``, is kept under ``OUT/.shards/`` (a name no student
folder can take: it is one of the batch's reserved names):

* ``reports/<student>.json``: the student's whole ``GradeReport``, written after their
  other files, so it marks them finished. A shard run again (a Pod retried, a requeued
  Slurm task) grades only the students of its slice without one, and those whose
  grading failed (the grader's trouble, never the student's). A record made with
  another seed is refused: the shards of one grading share a seed. As root the sandboxes
  see ``OUT`` covered by an empty mount, so no submission can forge another's record.
* ``K-of-N.log``: the shard's instructor log (``grader.log`` is the merge's).
* ``K-of-N.json``: written when the shard is done: the tree, the seed, its students (and,
  shard 1 only, the student folders of the tree that cannot be graded, for grades.csv).

``merge`` reads those from one or more output folders, refuses while a shard is missing
or unfinished, and writes what a batch writes once at its end: every student's files
again from their records (nothing a submission forged survives), ``grades.csv``,
``grader.log`` and the class report; and, with ``--nbgrader``, the course's gradebook,
once.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from autograder.errors import InstructorError
from autograder.grading.answer import decode_report, encode_report
from autograder.grading.model import GradeReport, Submission
from autograder.outputs import results
from autograder.outputs.words import SHARDS_DIR

#: Under OUT: the shards' records, logs and manifests.
STATE_DIR = SHARDS_DIR
#: A record larger than this is not one the grader wrote (a report is tens of kilobytes).
MAX_RECORD_BYTES = 16 << 20


@dataclass(frozen=True)
class Shard:
    """The ``index``-th (from 1) of ``count`` slices."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def name(self) -> str:
        """For file names: ``2-of-3``."""
        return f"{self.index}-of-{self.count}"


def parse_shard(text: str) -> Shard:
    """``--shard K/N``, 1 <= K <= N (an ``argparse`` type: a bad value is a usage error)."""
    index, slash, count = str(text).partition("/")
    try:
        shard = Shard(int(index), int(count))
    except ValueError:
        shard = None
    if not slash or shard is None or not 1 <= shard.index <= shard.count:
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N with 1 <= K <= N (e.g. 2/4)")
    return shard


def slice_of(submissions: Sequence[Submission], shard: Shard) -> list[Submission]:
    """The shard's students: its contiguous part of the students sorted by id."""
    ordered = sorted(submissions, key=lambda submission: submission.student)
    start = (shard.index - 1) * len(ordered) // shard.count
    end = shard.index * len(ordered) // shard.count
    return ordered[start:end]


# ----------------------------------------------------------------------------- a shard's files


def state_dir(out: Path) -> Path:
    return Path(out) / STATE_DIR


def log_path(out: Path, shard: Shard) -> Path:
    return state_dir(out) / f"{shard.name}.log"


def _record_path(out: Path, student: str) -> Path:
    return state_dir(out) / "reports" / f"{student}.json"


def write_record(out: Path, report: GradeReport) -> None:
    """Mark ``report.student`` graded: their whole report, written atomically."""
    results.write_text(_record_path(out, report.student), encode_report(report).decode("utf-8"))


def read_record(out: Path, student: str) -> GradeReport | None:
    """The student's finished report, or None (none yet, or not one the grader wrote)."""
    path = _record_path(out, student)
    try:
        if path.is_symlink() or path.stat().st_size > MAX_RECORD_BYTES:
            return None
        report = decode_report(path.read_bytes())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return report if report.student == student else None


def finished(out: Path, submissions: Iterable[Submission], seed: int) -> dict[str, GradeReport]:
    """The students of ``submissions`` already graded in ``out`` with ``seed``. A grading
    that failed (the grader's trouble, not the student's) is not finished: it is redone."""
    done = {}
    for submission in submissions:
        report = read_record(out, submission.student)
        if report is None:
            continue
        if report.seed != seed:
            raise InstructorError(
                f"{out} already holds results graded with seed {report.seed} ({submission.student}); "
                f"every shard of one grading uses the same seed: give --seed {report.seed}, or another --out")
        if report.failure is None:
            done[submission.student] = report
    return done


def write_manifest(out: Path, shard: Shard, *, seed: int, path: Path, students: Sequence[str],
                   skipped: Sequence[tuple[str, str]] = ()) -> None:
    """The shard is done: every student of its slice has a record. ``skipped``: the tree's
    folders that cannot be graded, kept by shard 1 only, so grades.csv lists them once."""
    manifest = {"shard": shard.index, "of": shard.count, "seed": seed, "submitted": str(path),
                "students": list(students), "skipped": [list(entry) for entry in skipped] if shard.index == 1 else []}
    results.write_text(state_dir(out) / f"{shard.name}.json", json.dumps(manifest, indent=1) + "\n")


# ----------------------------------------------------------------------------- merging


@dataclass(frozen=True)
class Manifest:
    out: Path
    shard: Shard
    seed: int
    submitted: str
    students: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()


def _read_manifests(out: Path) -> list[Manifest]:
    manifests = []
    for path in sorted(state_dir(out).glob("*-of-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            manifests.append(Manifest(out, Shard(int(data["shard"]), int(data["of"])), int(data["seed"]),
                                      str(data["submitted"]), tuple(str(name) for name in data["students"]),
                                      tuple((str(name), str(reason)) for name, reason in data.get("skipped", ()))))
        except (OSError, ValueError, KeyError, TypeError):
            raise InstructorError(f"{path} is not a shard's manifest; run that shard again") from None
    return manifests


@dataclass(frozen=True)
class Gathered:
    """What ``merge`` writes from: every student's report, by student, and the tree's
    folders that could not be graded."""

    reports: list[GradeReport]
    seed: int
    skipped: list[tuple[str, str]]


def gather(outs: Sequence[Path]) -> Gathered:
    """Every finished shard's reports from ``outs``. Refuses while a shard of the grading
    is missing or unfinished."""
    manifests = []
    for out in outs:
        if not Path(out).is_dir():
            raise InstructorError(f"{out}: no such folder")
        manifests += _read_manifests(Path(out))
    if not manifests:
        raise InstructorError(f"no finished shard in {', '.join(map(str, outs))} "
                              f"(a shard writes {STATE_DIR}/K-of-N.json when it is done)")
    counts = {manifest.shard.count for manifest in manifests}
    seeds = {manifest.seed for manifest in manifests}
    if len(counts) > 1:
        raise InstructorError(f"the output folders hold shards of {len(counts)} different splits "
                              f"({', '.join(f'of {count}' for count in sorted(counts))}); merge one grading at a time")
    if len(seeds) > 1:
        raise InstructorError(f"the shards were graded with different seeds ({', '.join(map(str, sorted(seeds)))})")
    (count,) = counts
    present = {manifest.shard.index for manifest in manifests}
    missing = [index for index in range(1, count + 1) if index not in present]
    if missing:
        raise InstructorError(f"shard {missing[0]}/{count} has not finished ({len(missing)} of {count} missing); "
                              f"run it (again) with --shard {missing[0]}/{count} and the same --seed")
    (seed,) = seeds
    reports, folders, skipped = [], {}, []
    for manifest in manifests:
        skipped += [entry for entry in manifest.skipped if entry not in skipped]
        for student in manifest.students:
            if student in folders:
                raise InstructorError(f"{student} was graded by two shards; merge one grading at a time")
            report = read_record(manifest.out, student)
            if report is None or report.seed != seed:
                raise InstructorError(f"{student} of shard {manifest.shard} has no finished record in "
                                      f"{manifest.out}; run that shard again")
            reports.append(report)
            folders[student] = manifest.out
    return Gathered(sorted(reports, key=lambda report: report.student), seed, skipped)
