"""The grader runs on Python 3.10, ``python3`` on Gradescope's default Ubuntu 22.04 image.

CI runs 3.11, so nothing else would notice a 3.11-only module, function or syntax
(``tomllib``, ``datetime.UTC``, ``except*``, ``typing.Self``...) slipping into code
that runs inside Gradescope's container. ``vermin`` reads every file and names the
minimum version each construct needs.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow  # starts processes

#: What runs on Gradescope (the grader and the hidden tests), and what an instructor
#: runs beside it.
CHECKED = ("autograder", "grading_tests", "benchmarks", "tests")


def vermin() -> list[str]:
    beside = Path(sys.executable).parent / "vermin"
    found = str(beside) if beside.exists() else shutil.which("vermin")
    assert found, "vermin is missing: install the dev extra (pip install -e '.[dev]')"
    return [found]


def test_the_code_needs_nothing_newer_than_python_3_10():
    done = subprocess.run([*vermin(), "--target=3.10-", "--violations", "--no-tips", "--eval-annotations",
                           *CHECKED], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


def test_the_check_catches_a_3_11_only_api(tmp_path):
    (tmp_path / "newer.py").write_text("from datetime import UTC\n")
    done = subprocess.run([*vermin(), "--target=3.10-", "--violations", "--no-tips", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "datetime.UTC" in done.stdout
