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
    for option in ("--out", "--jobs", "--cell-timeout", "--call-timeout", "--notebook-seconds",
                   "--submission-seconds", "--seed"):
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


def test_grade_passes_every_time_limit_to_the_sandboxes(tmp_path, monkeypatch):
    """--cell-timeout, --call-timeout, --notebook-seconds and --submission-seconds reach
    the limits grading runs with; a limit left out keeps its default."""
    from autograder.cli import grade as grade_command
    from autograder.sandbox.limits import Limits

    seen = {}
    monkeypatch.setattr(grade_command, "grade_path", lambda *args, **kwargs: seen.update(kwargs) or [])
    assert cli.main(["grade", str(tmp_path), "--out", str(tmp_path / "out"), "--notebook-seconds", "7",
                     "--submission-seconds", "90", "--cell-timeout", "5"]) == 0
    limits = seen["limits"]
    assert (limits.notebook_seconds, limits.submission_seconds, limits.cell_timeout) == (7.0, 90.0, 5.0)
    assert limits.call_timeout == Limits().call_timeout


@pytest.mark.parametrize("option", ["--notebook-seconds", "--submission-seconds"])
def test_a_time_limit_must_be_positive(option, tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path), "--out", str(tmp_path / "out"), option, "0"]) == 2
    assert capsys.readouterr().err == f"error: {option} must be positive\n"


@pytest.mark.slow
def test_notebook_seconds_stops_a_string_of_slow_cells(tmp_path):
    """A notebook whose cells take 3 x 1.5 s: with --notebook-seconds 2 it is given up
    (its tests fail and say why), the other notebooks are graded as usual."""
    import json

    import nbformat

    submission = tmp_path / "backprop"
    submission.mkdir()
    for stem in ("01_relu", "04_bce"):
        notebook = nbformat.read(str(PROJECT_ROOT / "source" / "backprop" / f"{stem}.ipynb"), as_version=4)
        if stem == "01_relu":
            notebook.cells[1:1] = [nbformat.v4.new_code_cell("import time\ntime.sleep(1.5)") for _ in range(3)]
        nbformat.write(notebook, str(submission / f"{stem}.ipynb"))
    out = tmp_path / "out"
    finished = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out),
                               "--seed", "1", "--notebook-seconds", "2"], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    tests = json.loads((out / "results.json").read_text())["tests"]
    relu = [test for test in tests if test["name"].startswith("01")]
    bce = [test for test in tests if test["name"].startswith("04")]
    assert relu and all(test["score"] == 0 for test in relu)
    assert "longer than 2 s in all" in relu[0]["output"]
    assert bce and all(test["score"] == test["max_score"] for test in bce)
