"""Forked grading children and the batch that runs them ``jobs`` at a time.

Plain callables stand in for grading, and plain objects for sandbox templates, so these
run in well under a second: what is checked is the life cycle, not a grade.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

import pytest

from autograder.grading.workers import Child, ChildFailed, run_batch
from autograder.sandbox.processes import alive


def answer_of(work, timeout: float = 10.0):
    try:
        return Child(work, timeout=timeout).wait()
    except ChildFailed as failure:
        return failure


def test_a_child_sends_back_what_its_work_returns_from_an_empty_folder_of_its_own():
    def work() -> bytes:
        return f"{os.getpid()} {os.listdir('.')}".encode()

    pid, listing = answer_of(work).decode().split(" ", 1)
    assert int(pid) != os.getpid() and listing == "[]"


@pytest.mark.parametrize("work, reason", [
    (lambda: 1 / 0, "exited with status 1"),
    (lambda: os.kill(os.getpid(), signal.SIGKILL), "killed by SIGKILL"),
    (lambda: b"", "sent no result"),
    (lambda: time.sleep(30), "did not finish within 0.5 s"),
], ids=["raises", "killed", "answers-nothing", "too-slow"])
def test_a_child_that_ends_without_an_answer_becomes_childfailed_with_its_reason(work, reason):
    failure = answer_of(work, timeout=0.5)
    assert isinstance(failure, ChildFailed) and reason in failure.reason


def test_what_a_failing_child_printed_is_kept_for_the_instructor():
    def work() -> bytes:
        # pytest's capture replaced sys.stdout and sys.stderr in this process; the
        # child's descriptors 1 and 2 are what the grader keeps
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        print("the child's own words")
        raise RuntimeError("broken")

    failure = answer_of(work)
    assert "the child's own words" in failure.output and "RuntimeError: broken" in failure.output


def test_nothing_a_child_started_outlives_its_answer():
    def work() -> bytes:
        grandchild = os.fork()
        if grandchild == 0:  # in the child's process group, left running
            os.closerange(3, 1 << 16)  # not holding the answer's pipe open
            time.sleep(60)
            os._exit(0)
        return str(grandchild).encode()

    child = Child(work, timeout=10)
    workdir = child.workdir
    grandchild = int(child.wait())
    assert not os.path.exists(workdir)
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not alive(grandchild)


class FakeTemplate:
    """What a slot holds; ``alive`` is what the batch asks after each child."""

    opened = 0

    def __init__(self):
        FakeTemplate.opened += 1
        self.alive_now = True

    def alive(self) -> bool:
        return self.alive_now


def open_fake():
    return contextlib.nullcontext(FakeTemplate())


def start_echo(item, template):
    def work() -> bytes:
        if item == "fails":
            os._exit(3)
        return item.encode()

    return Child(work, timeout=10)


def test_a_batch_yields_every_item_with_its_answer_and_reuses_each_slots_template():
    FakeTemplate.opened = 0
    items = ["a", "b", "c", "d", "e"]
    answers = dict(run_batch(items, jobs=2, open_template=open_fake, start=start_echo, prepare=lambda: None))
    assert answers == {item: item.encode() for item in items}
    assert FakeTemplate.opened == 2  # one per slot, however many items


def test_a_failed_child_costs_its_slot_a_fresh_template_and_no_other_item_anything():
    FakeTemplate.opened = 0
    answers = dict(run_batch(["fails", "b", "c"], jobs=1, open_template=open_fake, start=start_echo,
                             prepare=lambda: None))
    assert isinstance(answers["fails"], ChildFailed) and "status 3" in answers["fails"].reason
    assert answers["b"] == b"b" and answers["c"] == b"c"
    assert FakeTemplate.opened == 2  # the slot's template was renewed after the failure


def test_an_item_graded_while_its_template_died_is_graded_once_more_on_a_fresh_one():
    FakeTemplate.opened = 0
    started: list[str] = []

    def start(item, template):
        started.append(item)
        if len(started) == 1:
            template.alive_now = False  # the template dies under the first child
        return start_echo(item, template)

    answers = list(run_batch(["a"], jobs=1, open_template=open_fake, start=start, prepare=lambda: None,
                             tidy=lambda template: template.alive(), retry=lambda item, answer: True))
    assert answers == [("a", b"a")] and started == ["a", "a"] and FakeTemplate.opened == 2
