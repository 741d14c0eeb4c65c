"""What the NumPy-only sandbox costs (issue 13): the torch-free template and the second run
of the notebooks with a NumPy-only function.

    .venv/bin/python benchmarks/bench_numpy_only.py [--repeat 15]

Prints the CPU a template needs to start (with torch, and the torch-free one), then grades
the instructor's solution ``--repeat`` times with one warm template, without and with the
torch-free companion, and prints the median wall time and CPU per submission (the grading
child, the sandboxes and both templates). The machine's load is printed beside them: on a
shared machine the wall times move with it, the CPU figures much less.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import paths  # noqa: E402
from autograder.grading import grade  # noqa: E402
from autograder.sandbox.client import Template  # noqa: E402
from autograder.sandbox.limits import Limits  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
HIDDEN = (paths.GRADING_TESTS_DIR, paths.SOURCE_DIR)


def process_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of a living process, in seconds."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return sum(int(field) for field in fields[11:15]) / TICK


def cpu_so_far(template: Template) -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = children.ru_utime + children.ru_stime + process_cpu(template.process.pid)
    if template.numpy_only_template is not None:
        spent += process_cpu(template.numpy_only_template.pid)
    return spent


def load() -> str:
    with open("/proc/loadavg") as handle:
        return handle.read().split()[0]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    limits = Limits()
    for numpy_only, label in ((False, "with torch"), (True, "torch-free")):
        with Template(limits, hidden_paths=HIDDEN, numpy_only=numpy_only) as template:
            print(f"template start, {label}: {process_cpu(template.process.pid):.2f} s CPU")
    from autograder.grading.workers import warm_up

    warm_up(11)
    scratch = Path(tempfile.mkdtemp(prefix="bench-numpy-only-"))
    folder = scratch / "solution"
    shutil.copytree(paths.SOURCE_DIR, folder)
    try:
        for numpy_only, label in ((False, "NumPy-only calls watched from inside (before issue 13)"),
                                  (None, "NumPy-only calls in the torch-free sandbox")):
            with Template(limits, hidden_paths=HIDDEN, numpy_only=numpy_only) as template:
                walls, cpus = [], []
                for _ in range(args.repeat + 1):  # the first warms the caches: not counted
                    started, spent = time.perf_counter(), cpu_so_far(template)
                    report = grade.grade_submission(folder, seed=11, limits=limits, template=template)
                    template.sweep()
                    walls.append(time.perf_counter() - started)
                    cpus.append(cpu_so_far(template) - spent)
                    assert report.score == 100, (report.score, report.failure)
                print(f"{label}: {statistics.median(walls[1:]) * 1000:.0f} ms wall, "
                      f"{statistics.median(cpus[1:]) * 1000:.0f} ms CPU per submission (load {load()})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
