"""Adding up points: one definition for every result that holds a ``tests`` tuple.

Pure and light (no pytest, no torch), so ``grade`` and ``suite`` share it.
"""

from __future__ import annotations

from autograder.paths import NOTEBOOKS


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
        totals = {stem: (0.0, 0.0) for stem in NOTEBOOKS}
        for test in self.tests:
            got, most = totals.get(test.notebook, (0.0, 0.0))
            totals[test.notebook] = (got + test.score, most + test.max_score)
        return totals
