"""``grade``: score submissions with the hidden tests and write what Gradescope reads.

The command around ``autograder.grading.grade.grade_path``: its options, the score
table it prints, and nbgrader's gradebook when asked (``--nbgrader``). With ``--shard
K/N`` it grades one slice of a ``submitted/`` tree (``autograder.grading.shards``), and
``merge`` writes the rest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.cli import options
from autograder.errors import InstructorError
from autograder.grading.grade import grade_path
from autograder.grading import shards
from autograder.grading.shards import parse_shard
from autograder.grading.submissions import find_submissions
from autograder.grading.templates import default_limits
from autograder.outputs import results
from autograder.outputs.gradebook import record_in_gradebook
from autograder.outputs.words import GRADER_LOG


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH",
                        help="a folder holding the notebooks, or an nbgrader submitted/ tree")
    options.add_out(parser, "where results.json and feedback.md go (per student in a batch, with grades.csv)",
                    required=True)
    options.add_jobs(parser)
    parser.add_argument("--cell-timeout", type=float, default=None, metavar="S",
                        help="seconds one notebook cell may run (default 30)")
    parser.add_argument("--call-timeout", type=float, default=None, metavar="S",
                        help="seconds one call of a student function may run (default 10)")
    parser.add_argument("--notebook-seconds", type=float, default=None, metavar="S",
                        help="seconds all of one notebook's cells may run, restarts included; past them the "
                             "notebook is given up and its tests fail (default 60)")
    parser.add_argument("--submission-seconds", type=float, default=None, metavar="S",
                        help="seconds one submission may run in all, cells and calls; past them its remaining "
                             "calls fail at once (default 120)")
    options.add_seed(parser, reported=True)
    options.add_visibility(parser)
    parser.add_argument("--nbgrader", action="store_true",
                        help="also record each notebook's score, the submission's time and late penalty in the "
                             "course's nbgrader gradebook, and write the feedback where release_feedback looks "
                             "(PATH must be the course's submitted/ folder)")
    options.add_require_isolation(parser)
    parser.add_argument("--shard", type=parse_shard, default=None, metavar="K/N",
                        help="grade only the K-th of N slices of a submitted/ tree (students sorted by id), "
                             "skipping those already graded in OUT; needs --seed; `merge` joins the shards")
    # Development only: runs student code inside the grader. Not in --help on purpose.
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)


def nbgrader_course(path: Path) -> Path:
    """The course directory of an nbgrader ``submitted/`` folder."""
    path = Path(path).resolve()
    if path.name != "submitted" or not path.is_dir():
        raise InstructorError(f"--nbgrader needs the course's submitted/ folder as PATH, not {path}")
    return path.parent


def check_shard(args: argparse.Namespace) -> None:
    """A shard's seed is the grading's, never its own; its gradebook is merge's."""
    if args.seed is None:
        raise InstructorError("--shard needs --seed N, the same for every shard of this grading")
    if args.nbgrader:
        raise InstructorError("a shard does not write the gradebook: once every shard is done, "
                              "`python -m autograder merge OUT --nbgrader SUBMITTED` writes it once")


#: The time limits ``--cell-timeout``... set (``sandbox.limits.Limits``' fields).
TIME_LIMITS = ("cell_timeout", "call_timeout", "notebook_seconds", "submission_seconds")


def run(args: argparse.Namespace) -> int:
    options.check_jobs(args)
    for name in TIME_LIMITS:
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise InstructorError(f"--{name.replace('_', '-')} must be positive")
    already = 0
    if args.shard is not None:
        check_shard(args)
        mine = shards.slice_of(find_submissions(args.path)[0], args.shard)
        already = len(shards.finished(args.out, mine, args.seed))
    course_root = nbgrader_course(args.path) if args.nbgrader else None
    reports = grade_path(args.path, args.out, seed=args.seed, jobs=args.jobs, in_process=args.in_process,
                         limits=default_limits(**{name: getattr(args, name) for name in TIME_LIMITS}),
                         require_isolation=args.require_isolation, shard=args.shard,
                         visibility=args.visibility)
    print(results.score_table(reports))
    if args.shard is not None:
        print(f"shard {args.shard}: {len(reports)} students ({already} already graded); "
              f"when every shard is done: python -m autograder merge {args.out}")
    if course_root is not None:
        record_in_gradebook(course_root, Path(args.path), reports)
    failed = [report.student for report in reports if report.failure is not None]
    if failed:
        log = shards.log_path(args.out, args.shard) if args.shard is not None else Path(args.out) / GRADER_LOG
        names = ", ".join(results.log_text(name, 60) for name in failed[:5])  # as safe on a terminal as in the log
        print(f"error: grading failed for {len(failed)} submission(s) ({names}); details in {log}", file=sys.stderr)
        return 1
    return 0
