"""``release``: build release/ from source/ with nbgrader and check no solution leaked.

The building and the checks are ``autograder.notebooks.release``'s; this is the command.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from autograder.errors import InstructorError
from autograder.notebooks import release
from autograder.paths import ASSIGNMENT, PROJECT_ROOT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--course", type=Path, default=PROJECT_ROOT,
        help="course root holding nbgrader_config.py, source/ and release/ (default: this repository)",
    )
    parser.add_argument("--assignment", default=ASSIGNMENT, help=f"assignment id (default: {ASSIGNMENT})")
    parser.add_argument(
        "--check", action="store_true",
        help="do not write release/; fail if it differs from a fresh build of source/",
    )


def run(args: argparse.Namespace) -> int:
    course = Path(args.course).resolve()
    assignment = args.assignment
    committed = course / "release" / assignment
    with tempfile.TemporaryDirectory(prefix="backprop-release-") as workdir:
        built = release.build_release(course, assignment, Path(workdir))
        if args.check:
            differences = release.release_differences(built, committed)
            if differences:
                raise InstructorError(
                    f"release/{assignment} is not what nbgrader builds from source/{assignment} "
                    f"({differences[0]}); run `make release`"
                )
        else:
            release.replace_tree(built, committed)
    problems = release.release_problems(course / "source" / assignment, committed)
    if problems:
        raise InstructorError(f"release/{assignment} leaks the solution: {problems[0]}")
    print(release.summary(course / "source" / assignment, committed))
    return 0
