"""``merge``: join the shards of a grading (``grade --shard K/N``) into one batch's output.

Reads every shard's finished records from the output folders given (one folder all the
shards wrote to, or one per shard), refuses while a shard is missing or unfinished, and
writes what one batch writes at its end: each student's ``results.json``,
``feedback.md`` and ``feedback.html``, ``grades.csv``, ``grader.log`` and the class
report. With ``--nbgrader``, the course's gradebook is written here, once, and not by
the shards (many writers on one SQLite file on shared storage is asking for trouble).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.cli import options
from autograder.cli.grade import nbgrader_course
from autograder.errors import InstructorError
from autograder.grading.grade import write_batch
from autograder.grading.shards import STATE_DIR, gather
from autograder.outputs import results
from autograder.outputs.gradebook import record_in_gradebook
from autograder.outputs.words import GRADER_LOG


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outs", nargs="+", type=Path, metavar="OUT",
                        help="the shards' output folders (the --out of each grade --shard)")
    options.add_out(parser, "where the merged batch goes (default: OUT, when all the shards wrote to one)",
                    metavar="DEST")
    parser.add_argument("--nbgrader", type=Path, default=None, metavar="SUBMITTED",
                        help="also record every student in the gradebook of the nbgrader course whose "
                             "submitted/ folder this is, with their feedback for release_feedback")


def run(args: argparse.Namespace) -> int:
    if args.out is None and len(args.outs) > 1:
        raise InstructorError("several output folders: say where the merged batch goes with --out")
    destination = (args.out or args.outs[0]).resolve()
    course_root = nbgrader_course(args.nbgrader) if args.nbgrader is not None else None
    gathered = gather([out.resolve() for out in args.outs])
    reports, seed = gathered.reports, gathered.seed
    sources = ", ".join(str(out) for out in args.outs)
    write_batch(destination, reports, skipped=gathered.skipped,
                header=f"merged {len(reports)} students from the shards in {sources} "
                       f"(seed {seed}; each shard's own log is in {STATE_DIR}/)\n")
    print(results.score_table(reports))
    if course_root is not None:
        record_in_gradebook(course_root, Path(args.nbgrader), reports)
    failed = [report.student for report in reports if report.failure is not None]
    print(f"merged {len(reports)} students into {destination} (seed {seed})")
    if failed:
        names = ", ".join(results.log_text(name, 60) for name in failed[:5])  # as safe on a terminal as in the log
        print(f"error: grading failed for {len(failed)} submission(s) ({names}); "
              f"details in {destination / GRADER_LOG}", file=sys.stderr)
        return 1
    return 0
