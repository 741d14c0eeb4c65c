"""``grade``: score submissions with the hidden tests and write what Gradescope reads.

``grade_submission`` is the one code path every kind of grading goes through (this
command for one folder, the batch below, ``validate``, ``demo`` and Gradescope's
``run_autograder``): it forks a child of the warm grader (``autograder.workers``),
which reads the notebooks, hands their cells to a sandbox forked from ``template``,
runs the hidden tests against it and sends back a ``GradeReport``. Whatever happens in
the child, the parent ends up with a valid report.

The grader never imports or runs a file from a submission folder: it reads the
notebooks as data, the child works in an empty folder of its own, and no folder of a
submission is ever on ``sys.path``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import time
import traceback
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterator, Sequence

from autograder import ASSIGNMENT, NOTEBOOKS, NUMPY_ONLY_NOTEBOOKS, PROJECT_ROOT, results
from autograder.errors import InstructorError, SubmissionError
from autograder.score import Scored

SOURCE_DIR = PROJECT_ROOT / "source" / ASSIGNMENT
GRADING_TESTS = PROJECT_ROOT / "grading_tests"

#: ``template`` value that runs student code inside the grading child. Trusted code
#: only (developing the hidden tests); a submission can do anything to the grader.
IN_PROCESS = "in-process (unsafe: trusted code only)"


#: What a batch writes at the top of OUT, beside one folder per student.
BATCH_FILES = ("grades.csv", "grader.log", "report.html", "report.csv", "integrity.json")


@dataclass(frozen=True)
class Submission:
    """One student's folder of notebooks; ``student`` names its results."""

    student: str
    folder: Path


@dataclass(frozen=True)
class GradeReport(Scored):
    """One submission's grade; what results.json, feedback.md and a grades.csv row hold.

    ``failure``: set when the grader itself failed (the score is then 0 and means
    nothing); it, ``log`` and ``events`` are for the instructor only.
    """

    student: str
    seed: int
    tests: tuple = ()  # of autograder.suite.TestOutcome
    execution_time: float = 0.0
    failure: str | None = None
    log: str = field(default="", repr=False)
    events: tuple[str, ...] = ()  # what happened to the notebooks' processes (timeouts, deaths)
    integrity: tuple[str, ...] = ()  # autograder.integrity's flagged lines; never part of the score


# ----------------------------------------------------------------------------- grading


def read_submission(folder: Path) -> dict[str, list[str] | SubmissionError]:
    """Each notebook's code cells, merged with the instructor's locked cells, or the
    ``SubmissionError`` (missing, a link, not UTF-8, not a notebook) its tests will
    report. Nothing a file holds makes this raise: a notebook fails only its own tests."""
    from autograder.errors import NotebookMissing
    from autograder.execute import prepare_notebook

    folder = Path(folder)
    linked = folder.is_symlink()
    notebooks: dict[str, list[str] | SubmissionError] = {}
    for stem in NOTEBOOKS:
        try:
            if linked:
                raise NotebookMissing(stem, f"its folder {folder.name} is a symbolic link")
            notebooks[stem] = prepare_notebook(folder / f"{stem}.ipynb", SOURCE_DIR / f"{stem}.ipynb")
        except SubmissionError as error:
            notebooks[stem] = error
        except Exception as error:  # noqa: BLE001 - a file no check foresaw is that notebook's failure
            notebooks[stem] = NotebookMissing(stem, f"it is not a notebook the grader can read "
                                                    f"({type(error).__name__})")
    return notebooks


def open_provider(folder: Path, *, limits, template, notebooks=None):
    """The provider the hidden tests get their notebooks from; ``notebooks``: what
    ``read_submission(folder)`` gave, if it was read already."""
    if template == IN_PROCESS:
        from autograder.inprocess import InProcessSubmission

        return InProcessSubmission(folder, SOURCE_DIR, cell_timeout=limits.cell_timeout)
    from autograder.sandbox import SandboxSubmission

    submission = SandboxSubmission(template, notebooks if notebooks is not None else read_submission(folder))
    # The notebooks (and the NumPy-only copies of 02 and 03) run side by side while the
    # first tests begin.
    submission.start_all(numpy_only=NUMPY_ONLY_NOTEBOOKS)
    return submission


def integrity_flags(notebooks: dict) -> tuple[str, ...]:
    """The integrity scan of a submission's own cells (the instructor's locked cells
    are left out), one line per flag, for the instructor only."""
    from autograder.execute import locked_sources
    from autograder.integrity import scan

    flags = []
    for stem, cells in notebooks.items():
        if isinstance(cells, list):
            try:
                skip = locked_sources(SOURCE_DIR / f"{stem}.ipynb")
            except Exception:  # noqa: BLE001 - no source to compare with: scan every cell
                skip = frozenset()
            flags += [flag.describe() for flag in scan(stem, cells, skip)]
    return tuple(flags)


def grade_here(submission: Submission, *, seed: int, limits, template) -> GradeReport:
    """Grade in this process (the forked child). A failure of the grader becomes a
    report with ``failure`` set; nothing escapes."""
    from autograder.suite import run_hidden_tests

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
            # reaps them; unmapping one takes ~10 ms nobody needs to wait for).
            provider.close(wait=False)
    except Exception:  # noqa: BLE001 - the edge: any grader failure becomes a valid report
        return GradeReport(submission.student, seed, execution_time=time.perf_counter() - started,
                           failure=traceback.format_exc(), integrity=flags)
    events = tuple(f"{event.notebook}: {event.kind}: {event.detail}"
                   for event in getattr(provider, "events", ()) if event.kind != "started")
    return GradeReport(submission.student, seed, suite.tests, time.perf_counter() - started, log=suite.log,
                       events=events, integrity=flags)


def submission_timeout(limits) -> float:
    """How long one submission may take in all before its child is stopped: enough for
    every cell and call to use its whole limit a few times over."""
    return max(120.0, 20 * limits.cell_timeout + 40 * limits.call_timeout)


def start_grading(submission: Submission, *, seed: int, limits, template):
    """Fork the child that grades ``submission``; a ``workers.Child`` whose answer
    ``report_from_answer`` turns into the report."""
    from autograder.workers import Child, warm_up

    warm_up(seed)  # once per process and seed: pytest configured, the hidden tests collected

    def work() -> bytes:
        report = grade_here(submission, seed=seed, limits=limits, template=template)
        return encode_answer(report, _new_references())

    return Child(work, timeout=submission_timeout(limits))


def report_from_answer(submission: Submission, seed: int, answer, seconds: float = 0.0) -> GradeReport:
    """The child's answer (bytes, or the ``ChildFailed`` it became) as a valid report."""
    from autograder.workers import ChildFailed

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
    _keep_references(references)
    return report


def grade_submission(folder: Path, *, seed: int, limits, template, student: str = "") -> GradeReport:
    """Grade one submission folder: THE code path of all grading (see the module doc)."""
    from autograder.workers import ChildFailed

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


def encode_answer(report: GradeReport, references: dict[bytes, object]) -> bytes:
    """What a grading child sends back: its report, and the trusted references it
    computed (``grading_tests.reference``: the next children need not compute them
    again), as one frame of ``autograder.codec`` (plain data only, nothing that runs)."""
    from autograder import codec

    text = encode_report(report).decode("utf-8")
    entries = [[key.hex(), value] for key, value in references.items()]
    try:
        frame = codec.encode({"report": text, "references": entries})
    except codec.CodecError:  # a reference that cannot cross is simply computed again
        frame = codec.encode({"report": text, "references": []})
    return b"".join(bytes(part) for part in frame)


def decode_answer(payload: bytes) -> tuple[GradeReport, dict[bytes, object]]:
    from autograder import codec

    header_length, body_length = codec.PREFIX.unpack_from(payload)
    if 8 + header_length + body_length != len(payload):
        raise ValueError("the answer is not one whole frame")
    data = codec.decode(payload[8:8 + header_length], payload[8 + header_length:])
    references = {bytes.fromhex(key): value for key, value in data["references"]}
    return decode_report(data["report"].encode("utf-8")), references


def _new_references() -> dict[bytes, object]:
    from grading_tests import reference

    return reference.new_entries()


def _keep_references(references: dict[bytes, object]) -> None:
    """Hand the references a child computed to the children forked after it."""
    if references:
        from grading_tests import reference

        reference.add_entries(references)


def encode_report(report: GradeReport) -> bytes:
    data = {name.name: getattr(report, name.name) for name in fields(GradeReport) if name.name != "tests"}
    data["tests"] = [{name.name: getattr(test, name.name) for name in fields(test)} for test in report.tests]
    return json.dumps(data).encode("utf-8")


def decode_report(payload: bytes) -> GradeReport:
    from autograder.suite import TestOutcome

    data = json.loads(payload.decode("utf-8"))
    known = {name.name for name in fields(TestOutcome)}
    tests = []
    for entry in data["tests"]:
        values = {key: value for key, value in entry.items() if key in known}
        values["tags"] = tuple(str(tag) for tag in values.get("tags", ()))
        values["score"], values["max_score"] = float(values["score"]), float(values["max_score"])
        tests.append(TestOutcome(**values))
    return GradeReport(
        student=str(data["student"]), seed=int(data["seed"]), tests=tuple(tests),
        execution_time=float(data["execution_time"]),
        failure=None if data.get("failure") is None else str(data["failure"]),
        log=str(data.get("log", "")),
        events=tuple(str(event) for event in data.get("events", ())),
        integrity=tuple(str(flag) for flag in data.get("integrity", ())),
    )


# ----------------------------------------------------------------------------- templates


def default_limits(cell_timeout: float | None = None, call_timeout: float | None = None):
    from autograder.limits import Limits

    overrides = {"cell_timeout": cell_timeout, "call_timeout": call_timeout}
    return Limits(**{key: float(value) for key, value in overrides.items() if value is not None})


def open_template(limits, hidden_paths: Sequence[Path] = (), in_process: bool = False):
    """A context manager yielding the template sandboxes are forked from."""
    if in_process:
        return contextlib.nullcontext(IN_PROCESS)
    from autograder.sandbox import Template

    hidden = (GRADING_TESTS, SOURCE_DIR, *hidden_paths)
    return Template(limits, hidden_paths=tuple(str(path) for path in hidden))


def tidy_template(template) -> bool:
    """After a child: end whatever its submission left running under ``template``;
    False when the template itself is gone, so its slot opens a new one.

    The child's ``SandboxSubmission.close()`` already kills its sandboxes; this sweep
    covers a child that died before it could. Only one child uses a template (or a
    channel of one) at a time, so every sandbox still under it belongs to the
    submission just graded.
    """
    if template == IN_PROCESS:
        return True
    if not template.alive():
        return False
    try:
        template.sweep(wait=False)
    except Exception:  # noqa: BLE001 - a template that cannot answer is replaced
        return False
    return template.alive()


class SharedTemplate:
    """One sandbox template process for every job of a batch, a channel per job.

    Each template imports torch, IPython and matplotlib (~2.5 s of a core); on two
    cores a second one cost the batch ~1.5 s of start-up. ``open()`` gives a job's
    slot a context manager that yields a channel (waiting for the template on entry,
    so every slot can ask at once); a template found dead is replaced for every
    slot that opens after that.
    """

    def __init__(self, start):
        self._start = start
        self._template = None

    def start(self) -> None:
        """Start the template process now (``open`` waits for it). A template that
        cannot start fails there, where its submissions still get valid results."""
        if self._template is None:
            try:
                self._template = self._start()
            except Exception:  # noqa: BLE001 - open() starts it again and raises
                self._template = None

    def open(self):
        template = self._template
        if template is None or (template._ready and not template.alive()):
            if template is not None:
                template.close()
            template = self._template = self._start()
        return _Channel(template)

    def close(self) -> None:
        template, self._template = self._template, None
        if template is not None:
            template.close()


class _Channel:
    def __init__(self, template):
        self.template = template
        self.channel = None

    def __enter__(self):
        self.channel = self.template.channel()
        return self.channel

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()


# ----------------------------------------------------------------------------- paths


def find_submissions(path: Path, single: bool = False) -> tuple[list[Submission], bool, list[tuple[str, str]]]:
    """``(submissions, batch, skipped)``: one folder of notebooks, or an nbgrader
    ``submitted/`` tree (``<student>/backprop/*.ipynb``). Anything else is an
    instructor's error. ``single``: ``path`` is one submission even if it holds no
    notebook (Gradescope). ``skipped``: ``(student, reason)`` for student folders that
    cannot be graded (a name the grader's own output takes, a linked folder).

    Student folders are never resolved through links: a ``backprop`` that is a link
    to the solutions must not be graded as the student's work.
    """
    path = Path(path)
    if not path.exists():
        raise InstructorError(f"{path}: no such folder")
    if not path.is_dir():
        raise InstructorError(f"{path} is not a folder (give a submission folder or an nbgrader submitted/ tree)")
    if single or _holds_notebooks(path):
        return [Submission(path.resolve().name, path.resolve())], False, []
    if _holds_notebooks(path / ASSIGNMENT):  # one student's folder of a submitted/ tree
        return [Submission(path.resolve().name, path.resolve() / ASSIGNMENT)], False, []
    root = path.resolve()
    submissions, skipped = [], []
    for entry in sorted(root.iterdir(), key=lambda entry: entry.name):
        if entry.is_symlink() and entry.is_dir():
            skipped.append((entry.name, "the student's folder is a symbolic link"))
        elif not entry.is_dir() or not (entry / ASSIGNMENT).exists() and not (entry / ASSIGNMENT).is_symlink():
            continue
        elif entry.name in BATCH_FILES:
            skipped.append((entry.name, "the folder's name is one of the files the grader writes in OUT; rename it"))
        else:
            submissions.append(Submission(entry.name, entry / ASSIGNMENT))
    if not submissions and not skipped:
        names = ", ".join(f"{stem}.ipynb" for stem in NOTEBOOKS)
        raise InstructorError(f"no notebooks found in {path}: expected {names} "
                              f"or an nbgrader tree <student>/{ASSIGNMENT}/*.ipynb")
    return submissions, True, skipped


def _holds_notebooks(folder: Path) -> bool:
    return folder.is_dir() and any((folder / f"{stem}.ipynb").exists() for stem in NOTEBOOKS)


def check_sources() -> None:
    """The instructor's notebooks must be readable before any student is graded."""
    from autograder.execute import read_source_notebook

    for stem in NOTEBOOKS:
        read_source_notebook(SOURCE_DIR / f"{stem}.ipynb")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def keep_off_sys_path(folders: Sequence[Path]) -> None:
    """Drop from ``sys.path`` every entry inside a submission (``""`` too, when the
    grader was started from one), so nothing a submission ships (numpy.py,
    sitecustomize.py...) can ever be imported by the grader."""
    sys.path[:] = [entry for entry in sys.path
                   if not any(_inside(Path(entry or ".").resolve(), folder) for folder in folders)]


# ----------------------------------------------------------------------------- the command


def grade_path(path: Path, out: Path, *, seed: int | None = None, limits=None, jobs: int | None = None,
               in_process: bool = False, progress: bool = True, single: bool = False) -> list[GradeReport]:
    """Grade a folder or a ``submitted/`` tree into ``out``; the reports, by student.

    Files are written by this process alone, after each child (and its sandbox) is gone,
    and all of them again once the batch is over, so a file a submission forged in
    ``out`` is always replaced.
    """
    submissions, batch, skipped = find_submissions(path, single)
    out = Path(out).resolve()
    folders = [submission.folder for submission in submissions]
    if any(_inside(out, folder) for folder in folders + [Path(path).resolve()]):
        raise InstructorError(f"--out {out} is inside the submissions; choose a folder outside them")
    limits = limits if limits is not None else default_limits()
    seed = seed if seed is not None else secrets.randbits(32)
    hidden = (Path(path).resolve(), out)
    # The sandbox template starts importing now, while this process reads the
    # instructor's notebooks and warms up: on two cores its start is the critical path.
    shared = None if in_process else SharedTemplate(lambda: open_template(limits, hidden))
    try:
        if shared is not None:
            shared.start()
        check_sources()
        return _grade_and_write(path, out, submissions, batch, seed=seed, limits=limits, jobs=jobs,
                                shared=shared, progress=progress, skipped=skipped)
    finally:
        if shared is not None:
            shared.close()


def _grade_and_write(path: Path, out: Path, submissions: list[Submission], batch: bool, *, seed: int, limits,
                     jobs: int | None, shared, progress: bool,
                     skipped: Sequence[tuple[str, str]] = ()) -> list[GradeReport]:
    folders = [submission.folder for submission in submissions]
    try:
        out.mkdir(parents=True, exist_ok=True)
        log_path = out / "grader.log"
        log_path.write_text(f"grading {results.log_text(str(path))} with seed {seed}\n", encoding="utf-8")
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
        reports[report.student] = report
        results.write_report(folder_of(report), report)
        results.append_log(log_path, results.instructor_log(report))

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
        results.write_report(folder_of(report), report)
    if batch:
        results.write_grades(out / "grades.csv", reports.values(), skipped)
        results.write_integrity(out / "integrity.json", reports.values())
        _write_class_report(out, log_path)
    if instructor_error is not None:
        raise instructor_error
    return [reports[submission.student] for submission in submissions]


def _write_class_report(out: Path, log_path: Path) -> None:
    """report.html and report.csv for the instructor; a failure there loses no grade."""
    from autograder.report import write_class_report

    try:
        write_class_report(out)
    except Exception:  # noqa: BLE001 - the grades are written; the report is a convenience
        results.append_log(log_path, "class report not written:\n" + traceback.format_exc())


def _grade_all(submissions: list[Submission], *, batch: bool, seed: int, limits, jobs: int | None,
               shared: "SharedTemplate | None", progress: bool) -> Iterator[GradeReport]:
    """Each submission's report as it is done. ``shared``: the batch's sandbox template
    (already starting); ``None`` runs student code in the grading child (trusted only)."""
    from autograder.workers import run_batch, template_alive, warm_up

    def open_slot():
        return shared.open() if shared is not None else open_template(limits, in_process=True)

    if not batch:
        (submission,) = submissions
        warm_up(seed)  # while the template imports its own (two cores: ~3 s saved)
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
    from dataclasses import replace

    note = "the template stopped while this submission was graded; it was graded again on a fresh one"
    return replace(report, events=(note, *report.events))


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, file=sys.stderr, unit="submission", desc="grading",
                dynamic_ncols=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH",
                        help="a folder holding the notebooks, or an nbgrader submitted/ tree")
    parser.add_argument("--out", type=Path, required=True, metavar="OUT",
                        help="where results.json and feedback.md go (per student in a batch, with grades.csv)")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="submissions graded at once (default: one per core)")
    parser.add_argument("--cell-timeout", type=float, default=None, metavar="S",
                        help="seconds one notebook cell may run (default 30)")
    parser.add_argument("--call-timeout", type=float, default=None, metavar="S",
                        help="seconds one call of a student function may run (default 10)")
    parser.add_argument("--seed", type=int, default=None, metavar="N",
                        help="seed of the hidden tests' inputs (default: a fresh one, reported)")
    parser.add_argument("--nbgrader", action="store_true",
                        help="also record each notebook's score in the course's nbgrader gradebook "
                             "(PATH must be the course's submitted/ folder)")
    # Development only: runs student code inside the grader. Not in --help on purpose.
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)


def nbgrader_course(path: Path) -> Path:
    """The course directory of an nbgrader ``submitted/`` folder."""
    path = Path(path).resolve()
    if path.name != "submitted" or not path.is_dir():
        raise InstructorError(f"--nbgrader needs the course's submitted/ folder as PATH, not {path}")
    return path.parent


def record_in_gradebook(course_root: Path, submitted: Path, reports: Sequence[GradeReport]) -> None:
    """Each notebook's autograded points into nbgrader's gradebook (failed gradings excluded)."""
    from autograder.gradebook import record_scores

    for report in reports:
        if report.failure is not None:
            continue
        scores = {stem: got for stem, (got, _) in report.by_notebook().items()}
        record_scores(course_root, report.student, scores, submitted / report.student / ASSIGNMENT)
    print(f"recorded {len(reports)} submission(s) in {course_root / 'gradebook.db'}")


def run(args: argparse.Namespace) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise InstructorError("--jobs must be at least 1")
    for name in ("cell_timeout", "call_timeout"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise InstructorError(f"--{name.replace('_', '-')} must be positive")
    course_root = nbgrader_course(args.path) if args.nbgrader else None
    reports = grade_path(args.path, args.out, seed=args.seed, jobs=args.jobs, in_process=args.in_process,
                         limits=default_limits(args.cell_timeout, args.call_timeout))
    print(results.score_table(reports))
    if course_root is not None:
        record_in_gradebook(course_root, Path(args.path), reports)
    failed = [report.student for report in reports if report.failure is not None]
    if failed:
        print(f"error: grading failed for {len(failed)} submission(s) ({', '.join(results.log_text(name, 60) for name in failed[:5])}); "
              f"details in {Path(args.out) / 'grader.log'}", file=sys.stderr)
        return 1
    return 0
