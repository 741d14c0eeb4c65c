"""Options several commands share, defined once: the same flag, type and help everywhere
(``--jobs``, ``--seed``, ``--out``, ``--visibility``, ``--require-isolation``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder.errors import InstructorError


def add_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="submissions graded at once (default: one per core)")


def add_seed(parser: argparse.ArgumentParser, reported: bool = False) -> None:
    """``reported``: the command prints the seed it drew (``grade``)."""
    default = "a fresh one, reported" if reported else "a fresh one"
    parser.add_argument("--seed", type=int, default=None, metavar="N",
                        help=f"seed of the hidden tests' inputs (default: {default})")


def add_out(parser: argparse.ArgumentParser, help: str, *, required: bool = False, default: Path | None = None,
            metavar: str = "OUT") -> None:
    parser.add_argument("--out", type=Path, required=required, default=default, metavar=metavar, help=help)


def add_visibility(parser: argparse.ArgumentParser) -> None:
    """When Gradescope shows the hidden tests to a student (results.json's ``visibility``)."""
    from autograder.outputs.results import VISIBILITIES

    parser.add_argument("--visibility", choices=VISIBILITIES, default="visible",
                        help="when Gradescope shows the hidden tests to students (default: visible; hidden "
                             "tests still count in the score)")


def add_require_isolation(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--require-isolation", default=None, metavar="LEVEL", type=_isolation_level,
                        help="grade nothing unless the sandboxes get at least this confinement: full, or "
                             "layers joined by + (namespaces, uid, landlock, seccomp, cgroups); "
                             "grader.log says what this machine gives (see README.md, Confinement)")


def _isolation_level(text: str) -> str:
    from autograder.sandbox.confinement import required_layers

    try:
        required_layers(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def check_jobs(args: argparse.Namespace) -> None:
    """``--jobs`` below 1 is the instructor's mistake: one line and exit 2."""
    if args.jobs is not None and args.jobs < 1:
        raise InstructorError("--jobs must be at least 1")
