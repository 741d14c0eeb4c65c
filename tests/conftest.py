"""Fixtures shared by the project's tests."""

import pytest


@pytest.fixture
def submit(template):
    """``submit(stem=cells, ...)`` -> an open SandboxSubmission, closed after the test.

    ``template`` comes from the test's own module, each with the limits it needs.
    """
    from autograder.sandbox.submission import SandboxSubmission

    opened = []

    def make(limits=None, **notebooks):
        submission = SandboxSubmission(template, notebooks, limits=limits)
        opened.append(submission)
        return submission

    yield make
    for submission in opened:
        submission.close()
