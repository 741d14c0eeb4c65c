"""The in-process provider: runs a submission's notebooks inside the grader's process.

For developing the hidden tests and for the project's own tests only. It trusts the
code it runs; real grading goes through ``autograder.sandbox.submission``. Its semantics are the
sandbox's (same ``Dispatcher``, same plain-data rule, same errors), so the hidden tests
cannot tell the two apart.
"""

from __future__ import annotations

from pathlib import Path

from autograder.errors import SubmissionError
from autograder.handles import Notebook
from autograder.notebooks.read import prepare_notebook
from autograder.paths import NOTEBOOKS, SOURCE_DIR
from autograder.sandbox.cells import new_shell, quiet, run_cells
from autograder.sandbox.dispatch import Dispatcher


class FailingTransport:
    """Stands in for a notebook that could not be loaded: every call raises its error."""

    def __init__(self, error: SubmissionError):
        self.error = error

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise self.error
        return fail


class InProcessSubmission:
    """A submission folder whose notebooks run in this process, each on first use.

    ``source_dir``: the instructor's notebooks whose locked cells replace the
    submission's (``None`` runs the submission's cells as they are).
    """

    def __init__(self, path, source_dir: Path | None = SOURCE_DIR, cell_timeout: float = 30.0):
        self.path = Path(path)
        self.source_dir = Path(source_dir) if source_dir is not None else None
        self.cell_timeout = cell_timeout
        self._notebooks: dict[str, Notebook] = {}
        self.cell_results: dict[str, list] = {}
        self.output: dict[str, str] = {}

    def notebook(self, stem: str) -> Notebook:
        if stem not in self._notebooks:
            self._notebooks[stem] = Notebook(stem, self._load(stem))
        return self._notebooks[stem]

    def _load(self, stem: str):
        source = None
        if self.source_dir is not None and (self.source_dir / f"{stem}.ipynb").is_file():
            source = self.source_dir / f"{stem}.ipynb"
        try:
            cells = prepare_notebook(self.path / f"{stem}.ipynb", source)
        except SubmissionError as error:
            return FailingTransport(error)
        namespace: dict = {"__name__": "__main__"}
        shell = new_shell(namespace)
        with quiet() as printed:
            results = run_cells(shell, cells, self.cell_timeout)
        self.cell_results[stem] = results
        self.output[stem] = printed.getvalue()
        errors = tuple(result.error for result in results if result.error)
        return Dispatcher(stem, shell.user_ns, errors)

    def close(self, wait: bool = True) -> None:
        """Forget the notebooks (``wait`` is the sandboxed provider's; nothing runs elsewhere here)."""
        self._notebooks.clear()


__all__ = ["InProcessSubmission", "NOTEBOOKS"]
