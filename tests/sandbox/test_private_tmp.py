"""A grader checked out under /tmp (as CI and `git clone . /tmp/fresh` do) still works.

Every sandbox gets a private /tmp; the grader's own trees that lie there are bound back
read-only, and what the sandbox must not see stays out of reach.
"""

import os

import pytest

from autograder.sandbox import client as sandbox
from autograder.sandbox.client import Limits, Template
from autograder.sandbox.submission import SandboxSubmission

pytestmark = pytest.mark.slow  # starts a sandbox template

PEEK = '''
import os

def peek(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError as error:
        return type(error).__name__

def write(path):
    try:
        with open(path, "w") as handle:
            handle.write("x")
        return "written"
    except OSError as error:
        return type(error).__name__
'''


@pytest.fixture
def tmp_tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("kept", numbered=True)
    os.chmod(base, 0o755)
    for parent in base.parents:
        if str(parent).startswith("/tmp/") and os.stat(parent).st_mode & 0o005 != 0o005:
            os.chmod(parent, os.stat(parent).st_mode | 0o005)
    kept = base / "grader"
    kept.mkdir()
    (kept / "code.py").write_text("grader code")
    (kept / "hidden").mkdir()
    (kept / "hidden" / "answers.txt").write_text("secret")
    other = base / "other-student.txt"
    other.write_text("someone else's work")
    for path in (kept, kept / "hidden"):
        os.chmod(path, 0o755)
    for path in (kept / "code.py", kept / "hidden" / "answers.txt", other):
        os.chmod(path, 0o644)
    return kept, other


def test_kept_trees_under_tmp_are_readable_and_read_only_hidden_paths_stay_covered(monkeypatch, tmp_tree):
    kept, other = tmp_tree
    monkeypatch.setattr(sandbox, "KEPT_PATHS", (*sandbox.KEPT_PATHS, str(kept)))
    with Template(Limits(), hidden_paths=(str(kept / "hidden"),)) as template:
        submission = SandboxSubmission(template, {"01_relu": [PEEK]})
        try:
            notebook = submission.notebook("01_relu")
            assert notebook.peek(str(kept / "code.py")) == "grader code"
            assert notebook.write(str(kept / "new.py")) in ("OSError", "PermissionError")
            assert notebook.peek(str(kept / "hidden" / "answers.txt")) == "FileNotFoundError"
            assert notebook.peek(str(other)) == "FileNotFoundError"
            assert notebook.write("/tmp/scratch.txt") == "written"  # its own /tmp still works
        finally:
            submission.close()
    assert not (kept / "new.py").exists()
