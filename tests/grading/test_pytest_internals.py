"""pytest's private API is used for one major version only, and says so loudly otherwise."""

from __future__ import annotations

import pytest

from autograder.errors import InstructorError
from autograder.grading import pytest_internals
from autograder.paths import PROJECT_ROOT


def test_the_installed_pytest_is_the_one_the_private_api_was_written_for():
    pytest_internals.check_version()  # importing the module already did; it must not raise


def test_another_major_version_is_one_clear_instructor_error(monkeypatch):
    monkeypatch.setattr(pytest, "__version__", f"{pytest_internals.TESTED_MAJOR + 1}.0.0")
    with pytest.raises(InstructorError, match=r"pytest_internals\.py"):
        pytest_internals.check_version()


def test_pyproject_pins_the_same_major_version():
    major = pytest_internals.TESTED_MAJOR
    assert f'"pytest>={major}.0,<{major + 1}"' in (PROJECT_ROOT / "pyproject.toml").read_text()
