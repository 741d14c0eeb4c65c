"""The sandbox template a grading job forks from: started, shared, tidied, replaced.

One template process serves every job of a batch, each job through a channel of its
own (``SharedTemplate``); ``IN_PROCESS`` stands for none (trusted code only).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Sequence

from autograder import paths

#: ``template`` value that runs student code inside the grading child. Trusted code
#: only (developing the hidden tests); a submission can do anything to the grader.
IN_PROCESS = "in-process (unsafe: trusted code only)"


def default_limits(cell_timeout: float | None = None, call_timeout: float | None = None,
                   notebook_seconds: float | None = None, submission_seconds: float | None = None):
    """The sandbox's limits, with the time limits the instructor set (``None``: the default)."""
    from autograder.sandbox.limits import Limits

    overrides = {"cell_timeout": cell_timeout, "call_timeout": call_timeout,
                 "notebook_seconds": notebook_seconds, "submission_seconds": submission_seconds}
    return Limits(**{key: float(value) for key, value in overrides.items() if value is not None})


def open_template(limits, hidden_paths: Sequence[Path] = (), in_process: bool = False,
                  require_isolation: str | None = None):
    """A context manager yielding the template sandboxes are forked from.
    ``require_isolation``: refuse (``InstructorError``) where its sandboxes' confinement
    is below this level (``autograder.sandbox.confinement.required_layers``)."""
    if in_process:
        return contextlib.nullcontext(IN_PROCESS)
    from autograder.sandbox.client import Template

    hidden = (paths.GRADING_TESTS_DIR, paths.SOURCE_DIR, *hidden_paths)
    return Template(limits, hidden_paths=tuple(str(path) for path in hidden), require_isolation=require_isolation)


def tidy_template(template) -> bool:
    """After a child: end whatever its submission left running under ``template``;
    False when the template itself is gone, so its slot opens a new one.

    The child's ``SandboxSubmission.close()`` already kills its sandboxes; this sweep
    covers a child that died before it could. Only one child uses a template (or a
    channel of one) at a time, so every sandbox still under it belongs to the
    submission just graded.
    """
    if template == IN_PROCESS:
        return True
    if not template.alive():
        return False
    try:
        template.sweep(wait=False)
    except Exception:  # noqa: BLE001 - a template that cannot answer is replaced
        return False
    return template.alive()


class SharedTemplate:
    """One sandbox template process for every job of a batch, a channel per job.

    Each template imports torch, IPython and matplotlib, seconds of a core; on two
    cores a second one only delayed the batch's start. ``open()`` gives a job's
    slot a context manager that yields a channel (waiting for the template on entry,
    so every slot can ask at once); a template found dead is replaced for every
    slot that opens after that.
    """

    def __init__(self, start):
        self._start = start
        self._template = None
        self._isolation = None

    def start(self) -> None:
        """Start the template process now (``open`` waits for it). A template that
        cannot start fails there, where its submissions still get valid results."""
        if self._template is None:
            try:
                self._template = self._start()
            except Exception:  # noqa: BLE001 - open() starts it again and raises
                self._template = None

    def open(self):
        template = self._template
        if template is None or (template.ready and not template.alive()):
            if template is not None:
                template.close()
            template = self._template = self._start()
        return _Channel(template)

    @property
    def isolation(self) -> dict | None:
        """What the template's sandboxes are confined by (its probe's report), once one
        has been opened; ``level`` in it names it."""
        if self._template is not None and getattr(self._template, "isolation", None):
            self._isolation = self._template.isolation
        return self._isolation

    def close(self) -> None:
        self.isolation  # noqa: B018 - remembered past the template's end
        template, self._template = self._template, None
        if template is not None:
            template.close()


class _Channel:
    def __init__(self, template):
        self.template = template
        self.channel = None

    def __enter__(self):
        self.channel = self.template.channel()
        return self.channel

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
