"""The command line: every verb is wired, documented, cheap to start and safe by default."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autograder import cli
from autograder.paths import PROJECT_ROOT


@pytest.mark.parametrize("verb", sorted(cli.COMMANDS))
def test_every_command_has_a_module_with_help(verb, capsys):
    module = cli.load_command(cli.COMMANDS[verb][0])
    assert callable(module.add_arguments) and callable(module.run)
    with pytest.raises(SystemExit) as exit_info:
        cli.main([verb, "--help"])
    assert exit_info.value.code == 0
    assert cli.COMMANDS[verb][1] in " ".join(capsys.readouterr().out.split())


def test_no_command_is_a_usage_error():
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2


def test_the_unsafe_in_process_mode_is_not_offered_in_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["grade", "--help"])
    text = capsys.readouterr().out
    assert "--in-process" not in text
    for option in ("--out", "--jobs", "--cell-timeout", "--call-timeout", "--seed"):
        assert option in text


def test_building_the_parser_imports_neither_torch_nor_nbgrader():
    code = ("import sys; from autograder import cli; cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'nbgrader', 'pytest', 'IPython') if m in sys.modules))")
    finished = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "[]"


def test_python_dash_m_autograder_reports_an_instructor_error_in_one_line(tmp_path):
    finished = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp_path / "nowhere"),
                               "--out", str(tmp_path / "out")], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=60)
    assert finished.returncode == 2
    assert finished.stderr == f"error: {tmp_path / 'nowhere'}: no such folder\n"


@pytest.mark.parametrize("verb", ["grade", "gradescope", "gradescope-run"])
def test_the_hidden_tests_visibility_is_one_shared_option(verb, capsys):
    with pytest.raises(SystemExit):
        cli.main([verb, "--help"])
    assert "--visibility {hidden,after_due_date,after_published,visible}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        cli.main([verb, "--visibility", "sometimes"])
    assert exit_info.value.code == 2
