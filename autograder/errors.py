"""Every error the grader knows, in one place.

Two families. ``InstructorError``: a mistake in how the grader was called (a wrong
path, a broken notebook in source/); the CLI prints its message on one line and exits
non-zero. ``SubmissionError``: something about a student's code; it never stops
grading, it fails the test that met it, and its ``str()`` is the sentence the student
reads.
"""

from __future__ import annotations

import re

#: What the contract allows a notebook to import.
ALLOWED_LIBRARIES = "numpy, torch, the standard library"
NOT_ALLOWED = "is not available in this assignment"
_MISSING_MODULE = re.compile(r"No module named '([A-Za-z_][\w.]*)'")


def library_not_allowed(text: str) -> str | None:
    """``"`scipy` is not available ..."`` when ``text`` reports a missing module, else ``None``."""
    found = _MISSING_MODULE.search(text)
    if found is None:
        return None
    module = found.group(1).split(".")[0]
    return f"`{module}` {NOT_ALLOWED}: use NumPy (allowed: {ALLOWED_LIBRARIES})"


class InstructorError(Exception):
    """A problem the instructor must fix; reported as one line, exit status 2."""


class SubmissionError(Exception):
    """A problem in a submission, reported to the student as a failed test."""


class NotebookMissing(SubmissionError):
    def __init__(self, stem: str, detail: str = ""):
        self.stem = stem
        self.detail = detail
        if detail and detail != "no such file":  # it is there, but not a notebook the grader may read
            super().__init__(f"{stem}.ipynb could not be read: {detail}.")
        else:
            super().__init__(f"{stem}.ipynb is missing from your submission or could not be read.")


class FunctionMissing(SubmissionError):
    def __init__(self, stem: str, name: str, cell_errors: tuple[str, ...] = ()):
        self.stem = stem
        self.name = name
        self.cell_errors = tuple(cell_errors)
        msg = f"`{name}` is not defined after running {stem}.ipynb."
        if self.cell_errors:
            msg += " Cells that raised an error: " + "; ".join(self.cell_errors[:3])
            if len(self.cell_errors) > 3:
                msg += f" (and {len(self.cell_errors) - 3} more)"
            msg += "."
            library = library_not_allowed(" ".join(self.cell_errors))
            if library is not None:
                msg += f" {library}."
        super().__init__(msg)


class StudentException(SubmissionError):
    def __init__(self, function: str, exc_type: str, message: str):
        self.function = function
        self.exc_type = exc_type
        self.message = message
        library = library_not_allowed(message) if exc_type == "ModuleNotFoundError" else None
        text = f"{exc_type}: {library}." if library else f"{exc_type}: {message}" if message else exc_type
        if len(text) > 500:
            text = text[:500] + "..."
        super().__init__(f"`{function}` raised {text}")


class CallTimeout(SubmissionError):
    def __init__(self, function: str, seconds: float):
        self.function = function
        self.seconds = seconds
        super().__init__(
            f"`{function}` did not return within {seconds:g} s (an infinite loop, or far too much work?)."
        )


class SandboxDied(SubmissionError):
    def __init__(self, function: str, reason: str):
        self.function = function
        self.reason = reason
        super().__init__(f"The process running your notebook died while running `{function}`: {reason}.")


class FunctionStopped(SandboxDied):
    """A function whose calls killed or hung its notebook's process too often: its
    remaining calls fail at once, so it costs its own tests and nobody else's."""

    def __init__(self, function: str, times: int):
        self.function = function
        self.times = times
        self.reason = f"it crashed or hung the notebook's process {times} times"
        count = "twice" if times == 2 else f"{times} times"
        SubmissionError.__init__(self, f"`{function}` crashed or hung the notebook's process {count}; "
                                       "its other tests were not run.")


class AutogradUsed(SubmissionError):
    def __init__(self, function: str, what: str):
        self.function = function
        self.what = what
        super().__init__(
            f"`{function}` must use NumPy only, but it used PyTorch ({what}). "
            "Compute the gradients by hand with NumPy."
        )


class NotPlainData(SubmissionError):
    def __init__(self, function: str, detail: str):
        self.function = function
        self.detail = detail
        super().__init__(f"`{function}` returned a value the grader cannot accept: {detail}.")
