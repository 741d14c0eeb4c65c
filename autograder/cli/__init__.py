"""``python -m autograder``: one sub-command per verb, each in its own module.

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
Errors become messages and exit codes here, in one place.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from autograder.errors import InstructorError

#: verb -> (module, one-line help). Modules are imported only when their verb runs,
#: so `grade` never pays for nbgrader and `release` never pays for torch.
COMMANDS = {
    "grade": ("autograder.cli.grade", "grade one submission folder or an nbgrader submitted/ tree"),
    "validate": ("autograder.cli.validate", "check the solution scores 100, the stubs 0, every mistake is caught"),
    "release": ("autograder.cli.release", "build release/ from source/ with nbgrader and check it"),
    "demo": ("autograder.cli.demo", "build the release and grade the example submissions"),
    "gradescope": ("autograder.cli.gradescope", "write autograder.zip, the bundle to upload to Gradescope"),
    "gradescope-run": ("autograder.cli.gradescope_run", "grade inside Gradescope's container (run_autograder calls this)"),
    "report": ("autograder.cli.report", "write the class report (report.html, report.csv) of a grading output folder"),
    "merge": ("autograder.cli.merge", "join the shards of a grading (grade --shard K/N) into one batch's output"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for verb, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(verb, help=help_text, description=help_text)
        command.set_defaults(_module=module_name)
        load_command(module_name).add_arguments(command)
    return parser


def load_command(spec: str):
    """``"package.module"`` or ``"package.module:Object"``: what has add_arguments and run."""
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(load_command(args._module).run(args) or 0)
    except InstructorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
