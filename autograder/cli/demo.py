"""``demo``: build the release with nbgrader, then grade the example submissions.

The examples (``examples/submitted/``: a correct one, one with typical mistakes, one
half done) are graded as one nbgrader ``submitted/`` tree, together with the freshly
built release as a fourth submission (the stubs a student starts from score 0), and
the scores are printed as a table. Results land in ``--out`` (default ``out/demo``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from autograder.cli import options
from autograder.errors import InstructorError
from autograder.paths import ASSIGNMENT, EXAMPLES_DIR, PROJECT_ROOT, SOURCE_DIR

EXAMPLES = EXAMPLES_DIR / "submitted"
RELEASE_STUDENT = "release_stubs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_out(parser, "where the results go (default: out/demo)", default=PROJECT_ROOT / "out" / "demo")
    options.add_jobs(parser)
    options.add_seed(parser)


def run(args: argparse.Namespace) -> int:
    from autograder.grading import grade
    from autograder.notebooks import release
    from autograder.outputs import results

    if not EXAMPLES.is_dir():
        raise InstructorError(f"no examples in {EXAMPLES}; run `python -m autograder.notebooks.examples`")
    with tempfile.TemporaryDirectory(prefix="backprop-demo-") as workdir:
        workdir = Path(workdir)
        (workdir / "course").mkdir()
        built = release.build_release(PROJECT_ROOT, ASSIGNMENT, workdir / "course")
        problems = release.release_problems(SOURCE_DIR, built)
        if problems:
            raise InstructorError(f"the release leaks the solution: {problems[0]}")
        print(f"built the release with nbgrader: {len(list(built.glob('*.ipynb')))} notebooks, no solution leaked")
        submitted = workdir / "submitted"
        shutil.copytree(EXAMPLES, submitted)
        shutil.copytree(built, submitted / RELEASE_STUDENT / ASSIGNMENT)
        reports = grade.grade_path(submitted, args.out, seed=args.seed, jobs=args.jobs)
    print(results.score_table(reports))
    print(f"\nIn {args.out}: results.json, feedback.md and feedback.html per submission; "
          "grades.csv and the class report (report.html)")
    return 1 if any(report.failure is not None for report in reports) else 0
