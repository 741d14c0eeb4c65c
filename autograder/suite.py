"""Running the hidden tests against one submission, programmatically.

pytest runs with a fixed root and configuration (``grading_tests/`` and this
package's ``pytest-grading.ini``), plain assertions (so no test source reaches a
message), no cache, no plugin auto-loading, and our two plugins: the provider of
student notebooks and the collector of outcomes.
"""

from __future__ import annotations

import io
import os
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pytest

from autograder import NOTEBOOKS, PROJECT_ROOT
from autograder.errors import SubmissionError
from autograder.score import Scored

GRADING_TESTS = PROJECT_ROOT / "grading_tests"
PYTEST_CONFIG = Path(__file__).with_name("pytest-grading.ini")
#: pytest plugins the hidden tests do not use, left out of every submission's session:
#: ``unraisableexception`` and ``threadexception`` end it with a full ``gc.collect()``,
#: ``logging`` installs capture handlers around every test phase, ``capture`` redirects
#: the file descriptors around each test (nothing is printed: the log is captured
#: whole below); together about 0.3 s of each submission.
UNUSED_PLUGINS = ("unraisableexception", "threadexception", "logging", "warnings", "faulthandler",
                  "junitxml", "doctest", "pastebin", "stepwise", "setuponly", "setupplan", "subtests")
INTERNAL_ERROR = ("Internal grading error: the grader could not check this. "
                  "It is not your fault; your instructor has the details.")


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


class _ProviderPlugin:
    """Registers the submission under the name the hidden tests' conftest asks for."""

    def __init__(self, submission):
        self.submission = submission

    def pytest_configure(self, config):
        config.pluginmanager.register(self.submission, "backprop_submission")


class _Collector:
    def __init__(self):
        self.failures: dict[str, tuple[str, str | None, str | None]] = {}
        self.items: dict[str, dict] = {}
        self.order: list[str] = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if item.nodeid not in self.items:
            self.items[item.nodeid] = dict(item.user_properties)
            self.order.append(item.nodeid)
        if report.failed and item.nodeid not in self.failures:
            self.failures[item.nodeid] = describe_failure(call.excinfo)
        elif report.skipped and item.nodeid not in self.failures:
            self.failures[item.nodeid] = ("This check was skipped.", "skipped", None)

    def pytest_collectreport(self, report):
        if report.failed:
            self.failures[f"collect:{report.nodeid}"] = ("", str(report.longrepr), None)


def describe_failure(excinfo) -> tuple[str, str | None, str | None]:
    """(message for the student, traceback for the instructor or None, diagnosis key)."""
    if excinfo is None:
        return "This check failed.", None, None
    error = excinfo.value
    if isinstance(error, SubmissionError):
        return str(error), None, type(error).__name__
    if isinstance(error, AssertionError):
        message = str(error).strip()
        signature = getattr(error, "signature", None)
        return (message or "This check failed."), None, signature if isinstance(signature, str) else None
    detail = "".join(traceback.format_exception(excinfo.type, error, excinfo.tb))
    return INTERNAL_ERROR, detail, None


def run_hidden_tests(submission, seed: int, tests_dir: Path = GRADING_TESTS,
                     select: Sequence[str] = ()) -> SuiteResult:
    """Grade ``submission`` (a provider with ``notebook(stem)``) with the hidden tests.

    ``select``: optional ``-k`` expressions or node ids to run a subset.
    """
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    collector = _Collector()
    args = [
        str(tests_dir), "-c", str(PYTEST_CONFIG), "--rootdir", str(tests_dir),
        "-p", "no:cacheprovider", "--assert=plain", "-q", "--seed", str(seed),
        "--strict-markers", "-o", "console_output_style=classic", "--capture=no",
        # pytest's long tracebacks (source lines, reprs) are never shown to anyone here,
        # and building them cost ~0.25 s per failed test: 7 s of a stub submission's 8 s.
        # Internal errors still get their full traceback from ``describe_failure``.
        "--tb=native",
    ]
    for plugin in UNUSED_PLUGINS:
        args += ["-p", f"no:{plugin}"]
    args += list(select)
    log = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(log), redirect_stderr(log):
        exit_code = pytest.main(args, plugins=[_ProviderPlugin(submission), collector])
    seconds = time.perf_counter() - started
    collect_errors = [detail for key, (_, detail, _) in collector.failures.items() if key.startswith("collect:")]
    if exit_code not in (0, 1) or collect_errors or not collector.order:
        raise RuntimeError(f"the hidden tests could not run (pytest exit {int(exit_code)}):\n"
                           + "\n".join(collect_errors) + "\n" + log.getvalue()[-4000:])
    tests = []
    counters: dict[str, int] = {}
    for nodeid in collector.order:
        props = collector.items[nodeid]
        tags = tuple(props.get("tags", ()))
        notebook = tags[0] if tags else "other"
        counters[notebook] = counters.get(notebook, 0) + 1
        section = NOTEBOOKS.index(notebook) + 1 if notebook in NOTEBOOKS else 9
        max_score = float(props.get("points", 0.0))
        failure = collector.failures.get(nodeid)
        tests.append(TestOutcome(
            name=str(props.get("name", nodeid)),
            number=f"{section}.{counters[notebook]}",
            score=0.0 if failure else max_score,
            max_score=max_score,
            status="failed" if failure else "passed",
            output=failure[0] if failure else "",
            tags=tags,
            nodeid=nodeid,
            internal_error=failure[1] if failure else None,
            diagnosis=failure[2] if failure else None,
        ))
    return SuiteResult(seed=seed, tests=tuple(tests), seconds=seconds, log=log.getvalue())
