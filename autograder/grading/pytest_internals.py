"""pytest's private API, in one place, for the one version it was tested with.

``autograder.grading.suite`` configures pytest and collects the hidden tests once per
batch, then runs them in each forked child: the steps ``pytest.main`` takes, split
in two. pytest has no public API for that, so those steps use names it keeps private
(``_prepareconfig``, ``Config._do_configure``...), which may change in any major
release. They are all here, and importing this module with another major version of
pytest fails at once with a message saying so, rather than in the middle of a batch.
pyproject.toml pins the same major version.
"""

from __future__ import annotations

from typing import Sequence

import pytest

from autograder.errors import InstructorError

#: The major version of pytest whose private API this module uses.
TESTED_MAJOR = 9


def check_version() -> None:
    """Refuse any pytest but the major version this module was written for."""
    major = int(pytest.__version__.split(".")[0])
    if major != TESTED_MAJOR:
        raise InstructorError(
            f"the grader drives pytest {TESTED_MAJOR}.x through its private API, but pytest "
            f"{pytest.__version__} is installed; install pytest>={TESTED_MAJOR},<{TESTED_MAJOR + 1} "
            f"(pyproject.toml) or port autograder/grading/pytest_internals.py")


check_version()


def make_config(args: Sequence[str], plugins: Sequence[object]) -> pytest.Config:
    """A ``Config`` for this command line, with ``plugins`` registered, not configured yet."""
    from _pytest.config import _prepareconfig

    return _prepareconfig(list(args), plugins=list(plugins))


def configure(config: pytest.Config) -> None:
    """Run the ``pytest_configure`` hooks, as ``pytest.main`` does before a session."""
    config._do_configure()


def unconfigure(config: pytest.Config) -> None:
    """Run the ``pytest_unconfigure`` hooks (once, however often called)."""
    config._ensure_unconfigure()


def new_session(config: pytest.Config) -> pytest.Session:
    """The session ``pytest.main`` would make for ``config``."""
    return pytest.Session.from_config(config)
