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
from pathlib import Path
from typing import Sequence

import pytest

from autograder.errors import SubmissionError
from autograder.grading import pytest_internals
from autograder.grading.model import SuiteResult, TestOutcome
from autograder.paths import GRADING_TESTS_DIR, NOTEBOOKS
from autograder.providers import PROVIDER_PLUGIN

PYTEST_CONFIG = Path(__file__).with_name("pytest-grading.ini")
#: pytest plugins the hidden tests do not use, left out of every submission's session:
#: ``unraisableexception`` and ``threadexception`` end it with a full ``gc.collect()``,
#: ``logging`` installs capture handlers around every test phase, ``capture`` redirects
#: the file descriptors around each test (nothing is printed: the log is captured
#: whole below): a cost every submission paid for nothing.
UNUSED_PLUGINS = ("unraisableexception", "threadexception", "logging", "warnings", "faulthandler",
                  "junitxml", "doctest", "pastebin", "stepwise", "setuponly", "setupplan", "subtests")
INTERNAL_ERROR = ("Internal grading error: the grader could not check this. "
                  "It is not your fault; your instructor has the details.")


class _ProviderPlugin:
    """Registers the submission under the name the hidden tests' conftest asks for."""

    def __init__(self, submission):
        self.submission = submission

    def pytest_configure(self, config):
        config.pluginmanager.register(self.submission, PROVIDER_PLUGIN)


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
    if _raised_while_checking(excinfo.tb):
        # The student's value broke the comparison (10**400 as a float, a dict where a
        # number belongs...): that value is wrong, and the student is told so.
        return (f"{UNCHECKABLE} ({error.__class__.__name__}: {_one_line(error)}); return what the "
                "assignment asks for (a float, or an array of the expected shape).", None, "UncheckableValue")
    detail = "".join(traceback.format_exception(excinfo.type, error, excinfo.tb))
    return INTERNAL_ERROR, detail, None


UNCHECKABLE = "The value your function returned could not be checked"
#: The hidden tests' modules that compare a student's value with the expected one:
#: an exception raised inside them comes from the value, not from the grader.
CHECKING_MODULES = ("grading_tests/diagnose.py", "grading_tests/checks.py")


def _raised_while_checking(tb) -> bool:
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename.replace(os.sep, "/")
        if filename.endswith(CHECKING_MODULES):
            return True
        tb = tb.tb_next
    return False


def _one_line(error: BaseException) -> str:
    try:
        text = " ".join(str(error).split())
    except Exception:  # noqa: BLE001
        text = ""
    return text[:200]


def pytest_args(seed: int, tests_dir: Path = GRADING_TESTS_DIR, select: Sequence[str] = ()) -> list[str]:
    """The command line of every hidden-test session."""
    args = [
        str(tests_dir), "-c", str(PYTEST_CONFIG), "--rootdir", str(tests_dir),
        "-p", "no:cacheprovider", "--assert=plain", "-q", "--seed", str(seed),
        "--strict-markers", "-o", "console_output_style=classic", "--capture=no",
        # pytest's failure reports are never shown to anyone here: the student's message
        # is the exception's own, and an internal error's full traceback comes from
        # ``describe_failure``. Building them was most of a failing submission's time,
        # even in pytest's shortest style.
        "--tb=no",
    ]
    for plugin in UNUSED_PLUGINS:
        args += ["-p", f"no:{plugin}"]
    return args + list(select)


def run_hidden_tests(submission, seed: int, tests_dir: Path = GRADING_TESTS_DIR,
                     select: Sequence[str] = ()) -> SuiteResult:
    """Grade ``submission`` (a provider with ``notebook(stem)``) with the hidden tests.

    ``select``: optional ``-k`` expressions or node ids to run a subset. Uses the
    session ``prepare`` left in this process for the same arguments, if any (once:
    a session runs its tests one time), else starts pytest afresh.
    """
    prepared = _PREPARED.pop((seed, str(tests_dir), tuple(select)), None)
    if prepared is not None:
        return prepared.run(submission)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    collector = _Collector()
    log = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(log), redirect_stderr(log):
        exit_code = pytest.main(pytest_args(seed, tests_dir, select),
                                plugins=[_ProviderPlugin(submission), collector])
    return _suite_result(collector, exit_code, seed, time.perf_counter() - started, log.getvalue())


#: Sessions made by ``prepare``, by (seed, tests folder, selection); each runs once.
_PREPARED: dict[tuple, "PreparedSuite"] = {}


def prepare(seed: int, tests_dir: Path = GRADING_TESTS_DIR, select: Sequence[str] = ()) -> "PreparedSuite":
    """Configure pytest and collect the hidden tests now, for the next
    ``run_hidden_tests`` with these arguments in this process or in any process forked
    from it (the warm grader prepares once per batch; each child runs it once)."""
    prepared = PreparedSuite(seed, tests_dir, select)
    _PREPARED[(seed, str(tests_dir), tuple(select))] = prepared
    return prepared


def is_prepared(seed: int) -> bool:
    """Whether ``prepare`` left a session for ``seed`` in this process."""
    return any(key[0] == seed for key in _PREPARED)


class PreparedSuite:
    """A pytest session, configured and collected, whose tests have not run yet.

    Starting pytest and collecting the hidden tests used to be paid by every
    submission; the warm grader does it once per batch (every submission of a batch has the same
    seed) and each forked child runs the collected tests against its own submission.
    The session is pytest's own (``pytest.main`` does the same steps); only running
    it is split from making it. A session runs once: ``run`` uses it up.
    """

    def __init__(self, seed: int, tests_dir: Path = GRADING_TESTS_DIR, select: Sequence[str] = ()):
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        self.seed = seed
        self.collector = _Collector()
        self.log = io.StringIO()  # pytest's terminal output goes here (bound at configure)
        self.used = False
        with redirect_stdout(self.log), redirect_stderr(self.log):
            self.config = pytest_internals.make_config(pytest_args(seed, tests_dir, select), plugins=[self.collector])
            try:
                pytest_internals.configure(self.config)
                self.session = pytest_internals.new_session(self.config)
                self.session.exitstatus = pytest.ExitCode.OK
                self.config.hook.pytest_sessionstart(session=self.session)
                self.config.hook.pytest_collection(session=self.session)
            except BaseException:
                pytest_internals.unconfigure(self.config)
                raise
        collect_errors = [key for key in self.collector.failures if key.startswith("collect:")]
        if collect_errors or not self.session.items:
            self.close()
            raise RuntimeError("the hidden tests could not be collected:\n" + self.log.getvalue()[-4000:])

    def run(self, submission) -> SuiteResult:
        if self.used:
            raise RuntimeError("a prepared hidden-test session runs once")
        self.used = True
        session, config = self.session, self.config
        started = time.perf_counter()
        with redirect_stdout(self.log), redirect_stderr(self.log):
            config.pluginmanager.register(submission, PROVIDER_PLUGIN)
            try:
                config.hook.pytest_runtestloop(session=session)
                session.exitstatus = pytest.ExitCode.TESTS_FAILED if session.testsfailed else pytest.ExitCode.OK
            except (session.Failed, session.Interrupted, Exception) as error:  # as pytest.main reports them
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
                self.log.write("".join(traceback.format_exception(error)))
            finally:
                self.close()
        return _suite_result(self.collector, session.exitstatus, self.seed, time.perf_counter() - started,
                             self.log.getvalue())

    def close(self) -> None:
        """End the session (pytest's session-finish hooks and unconfigure)."""
        with redirect_stdout(self.log), redirect_stderr(self.log):
            try:
                if getattr(self, "session", None) is not None:
                    self.config.hook.pytest_sessionfinish(session=self.session, exitstatus=self.session.exitstatus)
            finally:
                pytest_internals.unconfigure(self.config)


def _suite_result(collector: "_Collector", exit_code, seed: int, seconds: float, log: str) -> SuiteResult:
    """The outcomes pytest reported, as a ``SuiteResult``; a session that could not run
    its tests is the grader's failure, not the student's."""
    collect_errors = [detail for key, (_, detail, _) in collector.failures.items() if key.startswith("collect:")]
    if exit_code not in (0, 1) or collect_errors or not collector.order:
        raise RuntimeError(f"the hidden tests could not run (pytest exit {int(exit_code)}):\n"
                           + "\n".join(str(e) for e in collect_errors) + "\n" + log[-4000:])
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
    return SuiteResult(seed=seed, tests=tuple(tests), seconds=seconds, log=log)
