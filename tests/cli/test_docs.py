"""The README documents every command the CLI has, and the Makefile's main targets."""

import re

import pytest

from autograder.cli import COMMANDS, build_parser
from autograder.paths import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()


def test_every_command_is_in_the_readme():
    missing = [verb for verb in COMMANDS if f"python -m autograder {verb}" not in README]
    assert not missing, f"commands missing from README.md: {missing}"


def test_every_command_has_help_that_parses(capsys):
    for verb in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args([verb, "--help"])
        assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("usage:")


def test_the_readme_names_the_make_targets_that_exist():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    for target in re.findall(r"`make (\w+)", README):
        assert re.search(rf"^{target}:", makefile, re.M), f"README mentions make {target}, the Makefile has none"
