"""``report``: write the class report (report.html, report.csv) of a grading output folder."""

from __future__ import annotations

import time

from autograder.outputs.report import write_class_report
from autograder.outputs.words import REPORT_CSV


def add_arguments(parser) -> None:
    parser.add_argument("out", metavar="OUT", help="a grading output folder (OUT/<student>/results.json)")


def run(args) -> int:
    started = time.perf_counter()
    html_path = write_class_report(args.out)
    print(f"wrote {html_path} and {html_path.with_name(REPORT_CSV)} "
          f"({time.perf_counter() - started:.1f} s)")
    return 0
