"""``grade``: score submissions with the hidden tests and write what Gradescope reads.

The command around ``autograder.grading.grade.grade_path``: its options, the score
table it prints, and nbgrader's gradebook when asked (``--nbgrader``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.cli import options
from autograder.errors import InstructorError
from autograder.grading.grade import grade_path
from autograder.grading.templates import default_limits
from autograder.outputs import results
from autograder.outputs.gradebook import record_in_gradebook


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
    options.add_seed(parser, reported=True)
    options.add_visibility(parser)
    parser.add_argument("--nbgrader", action="store_true",
                        help="also record each notebook's score in the course's nbgrader gradebook "
                             "(PATH must be the course's submitted/ folder)")
    parser.add_argument("--require-isolation", default=None, metavar="LEVEL",
                        help="grade nothing unless the sandboxes get at least this confinement: full, or "
                             "layers joined by + (namespaces, uid, landlock, seccomp, cgroups); "
                             "grader.log says what this machine gives (see README.md, Confinement)")
    # Development only: runs student code inside the grader. Not in --help on purpose.
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)


def nbgrader_course(path: Path) -> Path:
    """The course directory of an nbgrader ``submitted/`` folder."""
    path = Path(path).resolve()
    if path.name != "submitted" or not path.is_dir():
        raise InstructorError(f"--nbgrader needs the course's submitted/ folder as PATH, not {path}")
    return path.parent


def run(args: argparse.Namespace) -> int:
    options.check_jobs(args)
    for name in ("cell_timeout", "call_timeout"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise InstructorError(f"--{name.replace('_', '-')} must be positive")
    course_root = nbgrader_course(args.path) if args.nbgrader else None
    reports = grade_path(args.path, args.out, seed=args.seed, jobs=args.jobs, in_process=args.in_process,
                         limits=default_limits(args.cell_timeout, args.call_timeout),
                         require_isolation=args.require_isolation,
                         visibility=args.visibility)
    print(results.score_table(reports))
    if course_root is not None:
        record_in_gradebook(course_root, Path(args.path), reports)
    failed = [report.student for report in reports if report.failure is not None]
    if failed:
        names = ", ".join(results.log_text(name, 60) for name in failed[:5])  # as safe on a terminal as in the log
        print(f"error: grading failed for {len(failed)} submission(s) ({names}); "
              f"details in {Path(args.out) / 'grader.log'}", file=sys.stderr)
        return 1
    return 0
