"""Render the class report of a synthetic 1,000-student class and print the time it takes.

    python benchmarks/bench_report.py [--students 1000] [--repeat 3] [--keep OUT]

The class is the same synthetic one the tests use (tests/outputs/test_report.py): realistic
results.json files for four notebooks worth 15/30/35/20 points, with named mistakes,
timeouts, crashes and missing notebooks. Prints the time to write the results, each
phase of the report (load, summarize, histograms, HTML + CSV), the end-to-end time of
``write_class_report`` and the sizes of the files it writes, and the time to write
every student's feedback.html.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "outputs")]

from test_report import synthetic_class, write_class  # noqa: E402

from autograder.outputs import report, svg, words  # noqa: E402
from autograder.outputs.feedback import write_feedback_html  # noqa: E402


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of write_class_report; the median is printed")
    parser.add_argument("--keep", type=Path, help="write the class here and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        out = args.keep or Path(scratch) / "out"
        students = synthetic_class(args.students)
        _, seconds = timed(write_class, out, students)
        print(f"{args.students} students, {sum(len(r['tests']) for r in students.values())} test results")
        print(f"  writing results.json + grades.csv   {seconds:6.2f} s")

        submissions, seconds = timed(report.load_class, out)
        print(f"  load_class                          {seconds:6.2f} s")
        summary, seconds = timed(report.summarize, submissions)
        print(f"  summarize                           {seconds:6.2f} s")
        charts, seconds = timed(lambda: {d.name: svg.histogram_svg(d) for d in summary.distributions})
        print(f"  histograms (5 inline SVG)           {seconds:6.2f} s")
        _, seconds = timed(lambda: (report.render_html(summary, charts), report.render_csv(summary)))
        print(f"  render_html + render_csv            {seconds:6.2f} s")

        runs = [timed(report.write_class_report, out)[1] for _ in range(args.repeat)]
        print(f"write_class_report, end to end: median {statistics.median(runs):.2f} s "
              f"over {len(runs)} runs (min {min(runs):.2f} s, max {max(runs):.2f} s)")
        html, csv = out / words.REPORT_HTML, out / words.REPORT_CSV
        print(f"  report.html {html.stat().st_size / 1e3:8.0f} kB, report.csv {csv.stat().st_size / 1e3:6.0f} kB")

        paths = sorted(out.glob("*/results.json"))
        written, seconds = timed(lambda: [write_feedback_html(p) for p in paths])
        sizes = [p.stat().st_size for p in written]
        print(f"feedback.html for every student: {seconds:.2f} s ({1e3 * seconds / len(paths):.2f} ms each), "
              f"median size {statistics.median(sizes) / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
