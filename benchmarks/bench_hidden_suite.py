"""How long the hidden suite takes on one submission, in-process.

Prints the time to execute each notebook once (paid once per submission), then the
time of whole hidden-suite runs on the already executed notebooks (what each seed
costs), with the slowest tests. ``--seeds N`` grades the submission under N seeds
and reports any that does not score 100 (a sweep for flaky checks).

    .venv/bin/python benchmarks/bench_hidden_suite.py [--submission source/backprop] [--runs 10] [--seeds 0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.grading.suite import run_hidden_tests  # noqa: E402
from autograder.inprocess import InProcessSubmission  # noqa: E402
from autograder.paths import NOTEBOOKS  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", default=str(ROOT / "source" / "backprop"))
    parser.add_argument("--runs", type=int, default=10, help="timed whole-suite runs (default 10)")
    parser.add_argument("--seeds", type=int, default=0, help="also sweep this many seeds for a score below 100")
    args = parser.parse_args(argv)

    submission = InProcessSubmission(args.submission)
    print(f"submission: {args.submission}")
    total = 0.0
    for stem in NOTEBOOKS:
        started = time.perf_counter()
        submission.notebook(stem)
        seconds = time.perf_counter() - started
        total += seconds
        print(f"  execute {stem:12} {seconds:6.2f} s")
    print(f"  execute all        {total:6.2f} s   (once per submission; the first pays for imports)")

    run_hidden_tests(submission, 0)  # warm-up: pytest's own imports
    walls, inside = [], []
    durations: dict[str, list[float]] = {}
    for seed in range(1, args.runs + 1):
        started = time.perf_counter()
        result = run_hidden_tests(submission, seed)
        walls.append(time.perf_counter() - started)
        inside.append(result.seconds)
        if result.score != result.max_score:
            print(f"  seed {seed}: score {result.score} / {result.max_score}")
    print(f"hidden suite, {len(result.tests)} tests, {args.runs} runs on executed notebooks:")
    print(f"  per run: median {statistics.median(walls):.3f} s, min {min(walls):.3f} s, max {max(walls):.3f} s")
    print(f"  one submission, executed and graded: {total + statistics.median(walls):.2f} s")

    by_notebook = _module_times(submission)
    for stem, seconds in by_notebook.items():
        print(f"  {stem:12} tests {seconds:6.3f} s")

    if args.seeds:
        started = time.perf_counter()
        bad = []
        for seed in range(10_000, 10_000 + args.seeds):
            result = run_hidden_tests(submission, seed)
            if result.score != result.max_score:
                bad.append((seed, [(t.name, t.output[:300]) for t in result.tests if t.status != "passed"]))
        print(f"seed sweep: {args.seeds} seeds in {time.perf_counter() - started:.1f} s, "
              f"{len(bad)} below full marks")
        for seed, failures in bad:
            print(f"  seed {seed}: {failures}")
        return 1 if bad else 0
    return 0


def _module_times(submission) -> dict[str, float]:
    """Time of each notebook's test module alone (median of three)."""
    times = {}
    for stem in NOTEBOOKS:
        runs = []
        for seed in range(3):
            started = time.perf_counter()
            run_hidden_tests(submission, seed, select=["-k", f"test_{stem}"])
            runs.append(time.perf_counter() - started)
        times[stem] = statistics.median(runs)
    return times


if __name__ == "__main__":
    sys.exit(main())
