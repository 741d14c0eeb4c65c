"""The README documents every command the CLI has, and the Makefile's main targets."""

import re

from autograder.cli import COMMANDS, build_parser
from autograder.paths import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()


def test_every_command_is_in_the_readme():
    missing = [verb for verb in COMMANDS if f"python -m autograder {verb}" not in README]
    assert not missing, f"commands missing from README.md: {missing}"


def test_every_command_has_help_that_parses():
    parser = build_parser()
    for verb in COMMANDS:
        usage = parser._subparsers._group_actions[0].choices[verb].format_help()
        assert usage.startswith("usage:")


def test_the_readme_names_the_make_targets_that_exist():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    for target in re.findall(r"`make (\w+)", README):
        assert re.search(rf"^{target}:", makefile, re.M), f"README mentions make {target}, the Makefile has none"
