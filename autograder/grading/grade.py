"""The one grading path: every submission is graded by a forked child, the same way.

Every kind of grading (``grade`` for one folder or a batch, ``validate``, ``demo`` and
Gradescope's ``run_autograder``) goes through ``grade_path``, and every submission
through the same two steps: ``start_grading`` forks a child of the warm grader
(``autograder.grading.workers``), which reads the notebooks, hands their cells to a
sandbox forked from the template, runs the hidden tests against it and sends back a
``GradeReport`` (``grade_here``); ``report_from_answer`` turns whatever the child
answered into a valid report. ``grade_submission`` is those two steps for one
submission; a batch runs them ``jobs`` at a time (``workers.run_batch``).

The grader never imports or runs a file from a submission folder: it reads the
notebooks as data, the child works in an empty folder of its own, and no folder of a
submission is ever on ``sys.path``.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from autograder import paths
from autograder.errors import InstructorError
from autograder.grading.answer import decode_answer, encode_answer, keep_references, new_references
from autograder.grading import shards
from autograder.grading.model import GradeReport, Submission
from autograder.grading.shards import Shard
from autograder.grading.submissions import check_sources, find_submissions, inside, keep_off_sys_path, read_submission
from autograder.grading.templates import IN_PROCESS, SharedTemplate, default_limits, open_template, tidy_template
from autograder.outputs import results
from autograder.outputs.words import GRADER_LOG, GRADES_CSV, INTEGRITY_JSON

# ----------------------------------------------------------------------------- grading


def open_provider(folder: Path, *, limits, template, notebooks=None):
    """The provider the hidden tests get their notebooks from; ``notebooks``: what
    ``read_submission(folder)`` gave, if it was read already."""
    if template == IN_PROCESS:
        from autograder.inprocess import InProcessSubmission

        return InProcessSubmission(folder, paths.SOURCE_DIR, cell_timeout=limits.cell_timeout)
    from autograder.sandbox.submission import SandboxSubmission

    submission = SandboxSubmission(template, notebooks if notebooks is not None else read_submission(folder))
    # The notebooks (and the NumPy-only copies of 02 and 03) run side by side while the
    # first tests begin.
    submission.start_all(numpy_only=paths.NUMPY_ONLY_NOTEBOOKS)
    return submission


def integrity_flags(notebooks: dict) -> tuple[str, ...]:
    """The integrity scan of a submission's own cells (the instructor's locked cells
    are left out), one line per flag, for the instructor only."""
    from autograder.notebooks.integrity import scan
    from autograder.notebooks.read import locked_sources

    flags = []
    for stem, cells in notebooks.items():
        if isinstance(cells, list):
            try:
                skip = locked_sources(paths.SOURCE_DIR / f"{stem}.ipynb")
            except Exception:  # noqa: BLE001 - no source to compare with: scan every cell
                skip = frozenset()
            flags += [flag.describe() for flag in scan(stem, cells, skip)]
    return tuple(flags)


def grade_here(submission: Submission, *, seed: int, limits, template) -> GradeReport:
    """Grade in this process (the forked child). A failure of the grader becomes a
    report with ``failure`` set; nothing escapes."""
    from autograder.grading.suite import run_hidden_tests

    started = time.perf_counter()
    flags: tuple[str, ...] = ()
    try:
        notebooks = None if template == IN_PROCESS else read_submission(submission.folder)
        flags = integrity_flags(notebooks) if notebooks is not None else ()
        provider = open_provider(submission.folder, limits=limits, template=template, notebooks=notebooks)
        try:
            suite = run_hidden_tests(provider, seed)
        finally:
            # Every sandbox is sent SIGKILL before anything is reported (the batch
            # reaps them; nobody needs to wait for one to unmap its memory).
            provider.close(wait=False)
    except Exception:  # noqa: BLE001 - the edge: any grader failure becomes a valid report
        return GradeReport(submission.student, seed, execution_time=time.perf_counter() - started,
                           failure=traceback.format_exc(), integrity=flags)
    events = tuple(f"{event.notebook}: {event.kind}: {event.detail}"
                   for event in getattr(provider, "events", ()) if event.kind != "started")
    return GradeReport(submission.student, seed, suite.tests, time.perf_counter() - started, log=suite.log,
                       events=events, integrity=flags)


def submission_timeout(limits) -> float:
    """How long one submission may take in all before its child is stopped: past its
    running time (``limits.submission_seconds``, after which every call fails at once
    and the grade is made of what ran), with room for a last call and the tests' own work."""
    return max(120.0, limits.submission_seconds + 2 * limits.call_timeout + 60)


def start_grading(submission: Submission, *, seed: int, limits, template):
    """Fork the child that grades ``submission``; a ``workers.Child`` whose answer
    ``report_from_answer`` turns into the report."""
    from autograder.grading.workers import Child, warm_up

    warm_up(seed)  # once per process and seed: pytest configured, the hidden tests collected

    def work() -> bytes:
        report = grade_here(submission, seed=seed, limits=limits, template=template)
        return encode_answer(report, new_references())

    return Child(work, timeout=submission_timeout(limits))


def report_from_answer(submission: Submission, seed: int, answer, seconds: float = 0.0) -> GradeReport:
    """The child's answer (bytes, or the ``ChildFailed`` it became) as a valid report."""
    from autograder.grading.workers import ChildFailed

    if isinstance(answer, ChildFailed):
        detail = answer.reason + ("\n" + answer.output if answer.output else "")
        return GradeReport(submission.student, seed, execution_time=seconds, failure=detail)
    try:
        report, references = decode_answer(answer)
    except Exception:  # noqa: BLE001 - a garbled answer is a failed grading, not a crash
        return GradeReport(submission.student, seed, execution_time=seconds,
                           failure="the grading process sent an unreadable result:\n" + traceback.format_exc())
    if report.student != submission.student or report.seed != seed:
        return GradeReport(submission.student, seed, execution_time=seconds,
                           failure="the grading process answered for another submission")
    keep_references(references)
    return report


def grade_submission(folder: Path, *, seed: int, limits, template, student: str = "") -> GradeReport:
    """Grade one submission folder: THE code path of all grading (see the module doc)."""
    from autograder.grading.workers import ChildFailed

    submission = Submission(student or Path(folder).name, Path(folder))
    started = time.perf_counter()
    child = start_grading(submission, seed=seed, limits=limits, template=template)
    try:
        answer = child.wait()
    except ChildFailed as failure:
        answer = failure
    report = report_from_answer(submission, seed, answer, time.perf_counter() - started)
    if not tidy_template(template):
        template.close()  # broken by this submission: nobody may fork from it again
    return report


# ----------------------------------------------------------------------------- templates


# ----------------------------------------------------------------------------- paths


# ----------------------------------------------------------------------------- the command


def grade_path(path: Path, out: Path, *, seed: int | None = None, limits=None, jobs: int | None = None,
               in_process: bool = False, progress: bool = True, single: bool = False,
               require_isolation: str | None = None, shard: Shard | None = None,
               visibility: results.Visibility = "visible") -> list[GradeReport]:
    """Grade a folder or a ``submitted/`` tree into ``out``; the reports, by student.

    ``shard``: grade only that slice of the tree, with the ``seed`` given, skipping the
    students already graded in ``out`` (``autograder.grading.shards``); ``merge`` then
    writes what a batch writes at its end.

    Files are written by this process alone, after each child (and its sandbox) is gone,
    and all of them again once the batch is over, so a file a submission forged in
    ``out`` is always replaced. The sandboxes' confinement level goes to grader.log,
    every results.json (top-level ``extra_data``) and, when it is less than full, to the
    terminal; ``require_isolation``: grade nothing below that level. ``visibility``: the
    hidden tests' in results.json (Gradescope's word for when a student sees them).
    """
    submissions, batch, skipped = find_submissions(path, single)
    out = Path(out).resolve()
    folders = [submission.folder for submission in submissions]
    if any(inside(out, folder) for folder in folders + [Path(path).resolve()]):
        raise InstructorError(f"--out {out} is inside the submissions; choose a folder outside them")
    done: dict[str, GradeReport] = {}
    if shard is not None:
        if not batch:
            raise InstructorError(f"--shard splits an nbgrader submitted/ tree; {path} is one submission")
        if seed is None:
            raise InstructorError("--shard needs --seed: every shard of one grading uses the same seed")
        submissions = shards.slice_of(submissions, shard)
        done = shards.finished(out, submissions, seed)
    limits = limits if limits is not None else default_limits()
    seed = seed if seed is not None else secrets.randbits(32)
    to_grade = [submission for submission in submissions if submission.student not in done]
    hidden = (Path(path).resolve(), out)
    # The sandbox template starts importing now, while this process reads the
    # instructor's notebooks and warms up: on two cores its start is the critical path.
    shared = None if in_process or not to_grade else SharedTemplate(
        lambda: open_template(limits, hidden, require_isolation=require_isolation))
    try:
        if shared is not None:
            shared.start()
        check_sources()
        reports = _grade_and_write(path, out, to_grade, batch, seed=seed, limits=limits, jobs=jobs,
                                   shared=shared, progress=progress, skipped=skipped, shard=shard,
                                   already=len(done), visibility=visibility)
    finally:
        if shared is not None:
            shared.close()
    if shard is not None:
        shards.write_manifest(out, shard, seed=seed, path=Path(path).resolve(),
                              students=[submission.student for submission in submissions], skipped=skipped)
    reports.update(done)
    return [reports[submission.student] for submission in submissions]


def _grade_and_write(path: Path, out: Path, submissions: list[Submission], batch: bool, *, seed: int, limits,
                     jobs: int | None, shared, progress: bool, skipped: Sequence[tuple[str, str]] = (),
                     shard: Shard | None = None, already: int = 0,
                     visibility: results.Visibility = "visible") -> dict[str, GradeReport]:
    folders = [submission.folder for submission in submissions]
    try:
        out.mkdir(parents=True, exist_ok=True)
        if shard is None:
            log_path = out / GRADER_LOG
            log_path.write_text(f"grading {results.log_text(str(path))} with seed {seed}\n", encoding="utf-8")
        else:  # a shard run again keeps what its earlier runs logged
            log_path = shards.log_path(out, shard)
            results.append_log(log_path, f"grading shard {shard} of {results.log_text(str(path))} with seed "
                                         f"{seed}: {len(submissions) + already} students, {already} already graded\n")
    except OSError as error:
        raise InstructorError(f"cannot write to {out}: {error.strerror}") from None
    keep_off_sys_path(folders)
    for student, reason in skipped:
        line = f"skipped {results.log_text(student)}: {reason}"
        results.append_log(log_path, line + "\n")
        print(f"warning: {line}", file=sys.stderr)
    reports: dict[str, GradeReport] = {}

    def folder_of(report: GradeReport) -> Path:
        return out / report.student if batch else out

    def record(report: GradeReport) -> None:
        if level.get("name") is None and shared is not None and shared.isolation:
            level["name"] = shared.isolation["level"]
            note_confinement(log_path, shared.isolation)
        report = replace(report, confinement=level.get("name") or "")
        reports[report.student] = report
        results.write_report(folder_of(report), report, visibility)
        results.append_log(log_path, results.instructor_log(report))
        if shard is not None:
            shards.write_record(out, report)  # last: the student is graded

    level: dict[str, str] = {}
    instructor_error = None
    try:
        for report in _grade_all(submissions, batch=batch, seed=seed, limits=limits, jobs=jobs,
                                 shared=shared, progress=progress):
            record(report)
    except Exception as error:  # noqa: BLE001 - the edge: the harness failed, students still get a valid file
        detail = traceback.format_exc()
        for submission in submissions:
            if submission.student not in reports:
                record(GradeReport(submission.student, seed, failure=detail))
        # e.g. the sandbox cannot start here: one line and exit 2, once every file is written
        instructor_error = error if isinstance(error, InstructorError) else None
    if shared is not None:
        shared.close()  # the template and every sandbox are gone...
    for report in reports.values():  # ...before anything forged is replaced
        results.write_report(folder_of(report), report, visibility)
        if shard is not None:
            shards.write_record(out, report)
    if batch and shard is None:
        write_class_files(out, reports.values(), log_path, skipped)
    if instructor_error is not None:
        raise instructor_error
    return reports


def write_class_files(out: Path, reports: Iterable[GradeReport], log_path: Path,
                      skipped: Sequence[tuple[str, str]] = ()) -> None:
    """What a batch writes once at its end, beside the students' folders: grades.csv (with
    the student folders that could not be graded), the integrity flags and the class report."""
    reports = list(reports)
    results.write_grades(out / GRADES_CSV, reports, skipped)
    results.write_integrity(out / INTEGRITY_JSON, reports)
    _write_class_report(out, log_path)


def write_batch(out: Path, reports: Sequence[GradeReport], header: str,
                skipped: Sequence[tuple[str, str]] = ()) -> None:
    """A whole batch's output from its reports (``merge``): every student's files,
    ``grader.log`` (``header``, then each student, sorted), and what ``write_class_files``
    writes."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        log_path = out / GRADER_LOG
        log_path.write_text(header, encoding="utf-8")
    except OSError as error:
        raise InstructorError(f"cannot write to {out}: {error.strerror}") from None
    for report in sorted(reports, key=lambda report: report.student):
        results.write_report(out / report.student, report)
        results.append_log(log_path, results.instructor_log(report))
    write_class_files(out, reports, log_path, skipped)


def note_confinement(log_path: Path, isolation: dict) -> None:
    """The sandboxes' confinement in grader.log, and on the terminal when it is not full."""
    from autograder.sandbox.client import describe_missing

    level, why = isolation["level"], describe_missing(isolation)
    results.append_log(log_path, f"sandbox confinement: {level}" + (f"\n{why}" if why else "") + "\n")
    if level != "full":
        print(f"warning: the sandboxes ran with confinement {level!r}, not full ({why or 'see grader.log'}). "
              "README.md's Confinement says what each layer stops; --require-isolation refuses to grade "
              "below a level.", file=sys.stderr)


def _write_class_report(out: Path, log_path: Path) -> None:
    """report.html and report.csv for the instructor; a failure there loses no grade."""
    from autograder.outputs.report import write_class_report

    try:
        write_class_report(out)
    except Exception:  # noqa: BLE001 - the grades are written; the report is a convenience
        results.append_log(log_path, "class report not written:\n" + traceback.format_exc())


def _grade_all(submissions: list[Submission], *, batch: bool, seed: int, limits, jobs: int | None,
               shared: "SharedTemplate | None", progress: bool) -> Iterator[GradeReport]:
    """Each submission's report as it is done. ``shared``: the batch's sandbox template
    (already starting); ``None`` runs student code in the grading child (trusted only)."""
    from autograder.grading.workers import run_batch, template_alive, warm_up

    def open_slot():
        return shared.open() if shared is not None else open_template(limits, in_process=True)

    if not batch:
        (submission,) = submissions
        warm_up(seed)  # while the template imports its own: on two cores, side by side
        with open_slot() as template:
            report = grade_submission(submission.folder, seed=seed, limits=limits, template=template,
                                      student=submission.student)
            lost = not template_alive(template)
        if lost and suffered(report):
            with open_slot() as template:  # a fresh template
                report = regraded(grade_submission(submission.folder, seed=seed, limits=limits,
                                                   template=template, student=submission.student))
        yield report
        return

    def start(submission: Submission, template):
        started[submission.student] = time.perf_counter()
        return start_grading(submission, seed=seed, limits=limits, template=template)

    def retry(submission: Submission, answer) -> bool:
        if suffered(report_from_answer(submission, seed, answer)):
            again.add(submission.student)
            return True
        return False

    started: dict[str, float] = {}
    again: set[str] = set()
    with _progress_bar(len(submissions), enabled=progress) as bar:
        for submission, answer in run_batch(
                submissions, jobs=jobs or os.cpu_count() or 1, start=start, tidy=tidy_template,
                prepare=lambda: warm_up(seed), open_template=open_slot, retry=retry):
            bar.update(1)
            report = report_from_answer(submission, seed, answer, time.perf_counter() - started[submission.student])
            yield regraded(report) if submission.student in again else report


def suffered(report: GradeReport) -> bool:
    """Whether a report shows the grader's own trouble (a failed grading, an internal
    error), as a lost template leaves it."""
    return report.failure is not None or any(test.internal_error for test in report.tests)


def regraded(report: GradeReport) -> GradeReport:
    note = "the template stopped while this submission was graded; it was graded again on a fresh one"
    return replace(report, events=(note, *report.events))


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, file=sys.stderr, unit="submission", desc="grading",
                dynamic_ncols=True)


