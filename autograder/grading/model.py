"""What grading produces: a submission, each hidden test's outcome, a submission's report.

Pure and light (no pytest, no torch): the grading path makes these, ``autograder.outputs``
turns them into files. Adding up points has one definition (``Scored``) for every
result that holds a ``tests`` tuple.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from autograder.paths import NOTEBOOKS


def notebook_order(stems) -> list[str]:
    """The assignment's notebooks first, in order, then any others alphabetically."""
    stems = set(stems)
    return [s for s in NOTEBOOKS if s in stems] + sorted(stems - set(NOTEBOOKS))


def notebook_totals(scores: Iterable[tuple[str, float, float]],
                    every_notebook: bool = False) -> dict[str, tuple[float, float]]:
    """``(notebook, score, max_score)`` of each test, summed per notebook: stem ->
    (points, max points). The assignment's notebooks come first, in order (every one of
    them with ``every_notebook``, else those with a test), then any other alphabetically."""
    totals: dict[str, tuple[float, float]] = {stem: (0.0, 0.0) for stem in NOTEBOOKS} if every_notebook else {}
    for stem, score, max_score in scores:
        got, most = totals.get(stem, (0.0, 0.0))
        totals[stem] = (got + score, most + max_score)
    return {stem: totals[stem] for stem in notebook_order(totals)}


class Scored:
    """Mixin for a result with ``tests``: items with ``score``, ``max_score``, ``notebook``."""

    tests: tuple

    @property
    def score(self) -> float:
        return sum(test.score for test in self.tests)

    @property
    def max_score(self) -> float:
        return sum(test.max_score for test in self.tests)

    def by_notebook(self) -> dict[str, tuple[float, float]]:
        """notebook stem -> (points, max points): the four notebooks first, always listed."""
        return notebook_totals(((test.notebook, test.score, test.max_score) for test in self.tests),
                               every_notebook=True)


@dataclass(frozen=True)
class TestOutcome:
    """One hidden test's result; field names follow Gradescope's results.json."""

    name: str
    number: str
    score: float
    max_score: float
    status: str  # "passed" or "failed"
    output: str
    tags: tuple[str, ...]
    nodeid: str
    internal_error: str | None = None
    diagnosis: str | None = None  # a named mistake's key, e.g. "summed-not-averaged"

    @property
    def notebook(self) -> str:
        return self.tags[0] if self.tags else ""


@dataclass(frozen=True)
class SuiteResult(Scored):
    seed: int
    tests: tuple[TestOutcome, ...]
    seconds: float
    log: str = field(default="", repr=False)


@dataclass(frozen=True)
class Submission:
    """One student's folder of notebooks; ``student`` names its results."""

    student: str
    folder: Path


@dataclass(frozen=True)
class GradeReport(Scored):
    """One submission's grade; what results.json, feedback.md and a grades.csv row hold.

    ``failure``: set when the grader itself failed (the score is then 0 and means
    nothing); it, ``log``, ``events`` and ``confinement`` (the sandbox's level, e.g.
    ``"full"``) are for the instructor only.
    """

    student: str
    seed: int
    tests: tuple[TestOutcome, ...] = ()
    execution_time: float = 0.0
    failure: str | None = None
    log: str = field(default="", repr=False)
    events: tuple[str, ...] = ()  # what happened to the notebooks' processes (timeouts, deaths)
    integrity: tuple[str, ...] = ()  # autograder.notebooks.integrity's flagged lines; never part of the score
    confinement: str = ""  # autograder.sandbox.confinement.level of the sandboxes it ran in
