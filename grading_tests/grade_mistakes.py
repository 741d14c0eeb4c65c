"""Grading the catalogue of mistakes (``grading_tests.mistakes``): a submission per
mistake, graded in-process with the hidden tests, at one seed or at many, and the table
in docs/mistakes.md. Regenerate that table (from the catalogue and a real grading run)::

    .venv/bin/python -m grading_tests.grade_mistakes --write docs/mistakes.md
"""

from __future__ import annotations

from dataclasses import dataclass

from grading_tests.mistakes import MISTAKES, Mistake, apply_mistake

class OneNotebookChanged:
    """A provider: notebook ``stem`` from ``changed``, the others from ``base``.

    Notebooks share nothing, so a mistake in one cannot affect the others; borrowing
    the solution's executed notebooks keeps grading the catalogue fast.
    """

    def __init__(self, base, stem: str, changed):
        self.base, self.stem, self.changed = base, stem, changed

    def notebook(self, stem: str):
        return (self.changed if stem == self.stem else self.base).notebook(stem)


def mistake_submission(mistake: Mistake, solution, folder, source_dir=None):
    """Write the mistake's notebook into ``folder``; a provider grading it in-process
    with ``solution`` (an executed provider of the source notebooks) for the rest."""
    from pathlib import Path

    import nbformat

    from autograder.inprocess import InProcessSubmission
    from autograder.paths import SOURCE_DIR

    source_dir = Path(source_dir) if source_dir is not None else SOURCE_DIR
    folder = Path(folder)
    notebook = nbformat.read(source_dir / f"{mistake.notebook}.ipynb", as_version=4)
    nbformat.write(apply_mistake(notebook, mistake), str(folder / f"{mistake.notebook}.ipynb"))
    return OneNotebookChanged(solution, mistake.notebook, InProcessSubmission(folder, source_dir=source_dir))


def outcome_row(mistake: Mistake, run) -> dict:
    """What grading the mistake gave, in the terms the table and the tests use."""
    failed = [test for test in run.tests if test.status == "failed"]
    messages = "\n".join(test.output for test in failed)
    return {
        "points_lost": run.max_score - run.score,
        "failed": len(failed),
        "outside": [test.name for test in failed if not set(mistake.functions) & set(test.tags)],
        "named": mistake.diagnosis is not None and mistake.diagnosis in messages,
        "first_message": failed[0].output.splitlines()[0] if failed and failed[0].output else "",
        "internal": [test.name for test in failed if test.internal_error],
    }


def caught(mistake: Mistake, row: dict) -> bool:
    """Graded as the catalogue promises: points lost, only in the mistake's own tests,
    no internal error, and its diagnosis said where it has one."""
    return bool(row["failed"]) and not row["outside"] and not row["internal"] and (
        mistake.diagnosis is None or row["named"])


# ------------------------------------------------------- the catalogue at many seeds, fast


@dataclass(frozen=True)
class HiddenTest:
    """One collected hidden test: what pytest would call, and with what."""

    nodeid: str
    function: object
    fixtures: tuple[str, ...]  # the test function's arguments: fixtures and parameters
    params: dict
    properties: dict  # name, points, tags: the item's user_properties


def collect_hidden_tests(tests_dir=None) -> list[HiddenTest]:
    """The hidden tests as pytest collects them (once: collection is a third of a
    session's time, and a session grades one submission at one seed)."""
    import inspect
    import io
    import os
    from contextlib import redirect_stderr, redirect_stdout

    import pytest

    from autograder.grading.suite import pytest_args
    from autograder.paths import GRADING_TESTS_DIR

    collected: list[HiddenTest] = []

    class Keep:
        def pytest_collection_finish(self, session):
            for item in session.items:
                callspec = getattr(item, "callspec", None)
                arguments = tuple(inspect.signature(item.function).parameters)
                collected.append(HiddenTest(item.nodeid, item.function, arguments,
                                            dict(callspec.params) if callspec else {}, dict(item.user_properties)))

    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    log = io.StringIO()
    with redirect_stdout(log), redirect_stderr(log):
        code = pytest.main([*pytest_args(0, tests_dir or GRADING_TESTS_DIR), "--collect-only"], plugins=[Keep()])
    if code != 0 or not collected:
        raise RuntimeError("the hidden tests could not be collected:\n" + log.getvalue()[-4000:])
    return collected


def run_collected(tests, submission, seed: int, notebook: str | None = None):
    """Run the collected ``tests`` (those of ``notebook``, if given) against ``submission``
    at ``seed`` by calling each test function with the fixtures pytest would give it;
    the outcomes as ``run_hidden_tests`` reports them. ``tests/hidden_tests/test_mistake_seeds.py``
    checks that both agree."""
    import sys

    import pytest

    from autograder.grading.model import SuiteResult, TestOutcome
    from autograder.grading.suite import describe_failure
    from grading_tests.conftest import NOTEBOOK_FIXTURES, generator_for

    outcomes = []
    for test in tests:
        tags = tuple(test.properties["tags"])
        if notebook is not None and tags[0] != notebook:
            continue
        kwargs = {}
        for name in test.fixtures:
            if name in NOTEBOOK_FIXTURES:
                kwargs[name] = submission.notebook(NOTEBOOK_FIXTURES[name])
            elif name == "rng":
                kwargs[name] = generator_for(seed, test.nodeid)
            elif name == "seed":
                kwargs[name] = seed
            elif name in test.params:
                kwargs[name] = test.params[name]
            else:
                raise RuntimeError(f"{test.nodeid} uses the fixture {name!r}, which run_collected cannot give")
        try:
            test.function(**kwargs)
            failure = None
        except Exception:  # what pytest reports as a failed test
            failure = describe_failure(pytest.ExceptionInfo.from_exc_info(sys.exc_info()))
        points = float(test.properties["points"])
        outcomes.append(TestOutcome(
            name=test.properties["name"], number="", score=0.0 if failure else points, max_score=points,
            status="failed" if failure else "passed", output=failure[0] if failure else "", tags=tags,
            nodeid=test.nodeid, internal_error=failure[1] if failure else None,
            diagnosis=failure[2] if failure else None))
    return SuiteResult(seed=seed, tests=tuple(outcomes), seconds=0.0)


def grade_catalogue(mistakes, seeds, solution, folder, tests=None):
    """Grade every mistake at every seed (only its notebook's tests: the others borrow
    the solution's notebooks, which it cannot affect); ``{(key, seed): row}``.

    Seeds outermost, with the trusted references remembered: the mistakes of one seed
    share their inputs, so each reference is computed once per seed.
    """
    from pathlib import Path

    from grading_tests import reference

    tests = tests if tests is not None else collect_hidden_tests()
    submissions = {}
    for index, mistake in enumerate(mistakes):
        where = Path(folder) / f"{index:03d}-{mistake.key}"
        where.mkdir(parents=True, exist_ok=True)
        submissions[mistake.key] = mistake_submission(mistake, solution, where)
    rows = {}
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the sandbox (autograder/template.py); many threads only contend here
    reference.remember()
    try:
        for seed in seeds:
            for mistake in mistakes:
                run = run_collected(tests, submissions[mistake.key], seed, mistake.notebook)
                rows[mistake.key, seed] = outcome_row(mistake, run)
            reference.remember()  # start afresh: another seed asks for other references
    finally:
        reference.remember(False)
        torch.set_num_threads(threads)
    return rows


def render_table(rows, seed: int) -> str:
    lines = [
        "# The mistake catalogue",
        "",
        f"{len(rows)} realistic wrong implementations of contract functions (a few split across two "
        "functions, and a few cheats), each applied to the solution notebook and graded by the hidden "
        "tests. *Lost* is the points the hidden suite takes off; *failed* the number of failing tests, "
        "all of them tagged with a function the mistake touches; *diagnosis* the phrase the failure "
        "message must contain when the mistake has a recognisable signature (checked: ✓). "
        "tests/hidden_tests/test_mistake_seeds.py checks the same at 20 seeds.",
        "",
        f"Generated from `grading_tests/mistakes.py` and a grading run (seed {seed}); do not edit by "
        "hand. Regenerate with `.venv/bin/python -m grading_tests.grade_mistakes --write docs/mistakes.md`.",
        "",
        "| notebook | function | mistake | diagnosis | lost | failed | first failure message (start) |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for mistake, row in rows:
        diagnosis = f"{mistake.diagnosis} {'✓' if row['named'] else '✗ (not named)'}" if mistake.diagnosis else "—"
        message = row["first_message"]
        message = message if len(message) <= 160 else message[:157] + "..."
        functions = " + ".join(f"`{function}`" for function in mistake.functions)
        lines.append(f"| {mistake.notebook} | {functions} | {_cell(mistake.description)} (`{mistake.key}`) "
                     f"| {_cell(diagnosis)} | {row['points_lost']:g} | {row['failed']} | {_cell(message)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def main(argv=None) -> int:
    import argparse
    import tempfile
    from pathlib import Path

    from autograder.grading.suite import run_hidden_tests
    from autograder.inprocess import InProcessSubmission
    from autograder.paths import SOURCE_DIR

    parser = argparse.ArgumentParser(description="Grade every catalogued mistake; print or write the table.")
    parser.add_argument("--write", metavar="PATH", help="write the Markdown table there (default: print it)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)

    solution = InProcessSubmission(SOURCE_DIR)
    rows, problems = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for index, mistake in enumerate(MISTAKES):
            folder = Path(tmp) / str(index)
            folder.mkdir()
            run = run_hidden_tests(mistake_submission(mistake, solution, folder), args.seed)
            row = outcome_row(mistake, run)
            rows.append((mistake, row))
            if not caught(mistake, row):
                problems.append(f"{mistake.key}: {row}")
    table = render_table(rows, args.seed)
    if args.write:
        Path(args.write).write_text(table, encoding="utf-8")
        print(f"wrote {args.write}: {len(rows)} mistakes")
    else:
        print(table)
    for problem in problems:
        print(f"NOT AS EXPECTED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
