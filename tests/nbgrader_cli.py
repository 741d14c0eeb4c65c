"""Running nbgrader's own command line from a test, as an instructor or a student would."""

import os
import subprocess
import sys
from pathlib import Path

#: nbgrader starts alembic by name: the virtual environment's bin must be on PATH.
VENV_BIN = str(Path(sys.executable).parent)


def nbgrader(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` run in ``cwd``; fails the test (with nbgrader's output) unless it succeeds."""
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done
