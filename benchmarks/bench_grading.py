"""Grading speed: our grader against ``nbgrader autograde`` and ``otter run``.

    make bench                                   # everything (about 10 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_grading.py --quick      # 10 and 100 only, fewer repeats
    .venv/bin/python benchmarks/bench_grading.py --sizes 10 100 1000 --no-otter --plot docs/bench.png

What it measures, in one run (every figure is a median of ``--repeat`` runs unless
said otherwise; the machine's load is printed beside them):

1. cohorts of 10, 100 and 1,000 submissions built from the instructor's solution and
   the mistake catalogue (``benchmarks/cohorts.py``);
2. the 10-submission cohort graded by real ``nbgrader autograde`` (a course directory
   made on the fly from ``source/``: ``generate_assignment``, then the cohort in
   ``submitted/``), by ``otter run`` on an equivalent bundle (one per notebook, run
   in a separate virtual environment; skipped, and said so, when otter-grader cannot
   be installed), and by ours (``python -m autograder grade submitted --jobs 2``, a
   fresh process each time, start-up included; one first run, not counted, fills the
   page cache, and the timed runs are taken half before and half after nbgrader's):
   wall time, throughput, ratio;
3. the larger cohorts with ours only: time against cohort size, a linear fit (start-up
   plus a cost per submission) and the plot;
4. a cold single submission (the Gradescope case: a fresh process grading one folder)
   against ``python -c "import torch"`` alone;
5. the peak memory of the two-job batch (the sum of the proportional set sizes of the
   grader and every process under it, sampled every 50 ms);
6. the harness's own time per submission, two ways. Amortised over a batch: what one
   more submission costs the batch (the fit's slope, ``--jobs`` jobs) minus its share
   of the essential work, i.e. the student's cells and the hidden tests' own work
   (the tests' call phases in-process, where a call to the student is a plain function
   call), measured for one submission of each kind in the cohort and divided by the
   jobs that share the cores. And for one job with nothing to share: a warm grader
   grades the solution again and again, minus its cells and its tests' own work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PYTHON = sys.executable
SEED = 1
#: Timed runs of ours on the 10-submission cohort (at least; a few seconds each).
OURS_REPEAT = 6
#: Targets of issue 6.
TARGET_RATIO, AIM_RATIO = 30.0, 50.0
TARGET_COLD_FACTOR = 2.0
TARGET_OVERHEAD = 0.100
TARGET_MEMORY = 1.5e9


def load() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def say(text: str = "") -> None:
    print(text, flush=True)


def timed_run(command, *, cwd=ROOT, env=None, timeout=None, check=True) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout)
    seconds = time.perf_counter() - started
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} exited {done.returncode}:\n"
                           + done.stdout.decode("utf-8", "replace")[-3000:])
    return seconds


# ----------------------------------------------------------------------------- ours


def ours_command(path: Path, out: Path, jobs: int | None = None) -> list[str]:
    command = [PYTHON, "-m", "autograder", "grade", str(path), "--out", str(out), "--seed", str(SEED)]
    return command + (["--jobs", str(jobs)] if jobs else [])


def grade_ours(submitted: Path, scratch: Path, jobs: int) -> float:
    out = scratch / "ours-out"
    shutil.rmtree(out, ignore_errors=True)
    seconds = timed_run(ours_command(submitted, out, jobs))
    rows = (out / "grades.csv").read_text().strip().splitlines()
    expected = len([p for p in submitted.iterdir() if p.is_dir()])
    if len(rows) - 1 != expected:
        raise RuntimeError(f"grades.csv has {len(rows) - 1} rows for {expected} submissions")
    return seconds


class TreeMemory(threading.Thread):
    """Peak of the summed PSS of ``pid`` and all its descendants, sampled."""

    def __init__(self, pid: int, every: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak = 0
        self.peak_processes = 0
        self.stop = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.stop.is_set():
            pids = self._tree()
            total = sum(self._pss(pid) for pid in pids)
            if total > self.peak:
                self.peak, self.peak_processes = total, len(pids)
            self.stop.wait(self.every)

    def _tree(self) -> set[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", "rb") as handle:
                        ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        found, stack = set(), [self.pid]
        while stack:
            pid = stack.pop()
            if pid not in found:
                found.add(pid)
                stack.extend(children.get(pid, ()))
        return found

    @staticmethod
    def _pss(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Pss:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return 0


def batch_memory(submitted: Path, scratch: Path, jobs: int) -> tuple[int, int]:
    out = scratch / "memory-out"
    shutil.rmtree(out, ignore_errors=True)
    process = subprocess.Popen(ours_command(submitted, out, jobs), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    sampler = TreeMemory(process.pid)
    process.wait()
    sampler.stop.set()
    sampler.join()
    return sampler.peak, sampler.peak_processes


# ----------------------------------------------------------------------------- nbgrader


def grade_nbgrader(submitted: Path, scratch: Path) -> float:
    """``nbgrader autograde`` on a course made on the fly: real kernels, every cell."""
    course = scratch / "nbgrader-course"
    shutil.rmtree(course, ignore_errors=True)
    (course / "source").mkdir(parents=True)
    shutil.copytree(ROOT / "source" / "backprop", course / "source" / "backprop",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'bench'\n"
        "c.ClearSolutions.code_stub = {'python': '# YOUR CODE HERE\\nraise NotImplementedError()'}\n")
    env = {**os.environ, "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    nbgrader = [PYTHON, "-m", "nbgrader"]
    timed_run(nbgrader + ["generate_assignment", "backprop", "--force"], cwd=course, env=env)
    shutil.copytree(submitted, course / "submitted")
    seconds = timed_run(nbgrader + ["autograde", "backprop", "--force"], cwd=course, env=env, timeout=3600)
    graded = list((course / "autograded").glob("*/backprop/*.ipynb"))
    expected = 4 * len(list(submitted.iterdir()))
    if len(graded) != expected:
        raise RuntimeError(f"nbgrader autograded {len(graded)} notebooks, expected {expected}")
    return seconds


# ----------------------------------------------------------------------------- otter

#: One OK-format test per notebook: a few calls of its functions, as otter-grader
#: assignments usually check (much less than our hidden suite does).
OTTER_TESTS = {
    "01_relu": ">>> bool(np.allclose(relu(np.array([-1.0, 2.0])), [0.0, 2.0]))\nTrue\n"
               ">>> bool(np.allclose(sigmoid_grad(np.array([0.0])), [0.25]))\nTrue",
    "02_backward": ">>> rng = np.random.default_rng(0)\n"
                   ">>> X, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 1))\n"
                   ">>> p = {'W1': rng.normal(size=(3, 4)), 'b1': np.zeros(4), 'W2': rng.normal(size=(4, 1)), 'b2': np.zeros(1)}\n"
                   ">>> out, cache = forward(X, p)\n"
                   ">>> g, a = backward(X, y, p, cache), autograd_grads(X, y, p)\n"
                   ">>> all(bool(np.allclose(g[k], a[k])) for k in p)\nTrue",
    "03_mlp": ">>> p = init_mlp([2, 4, 1], 0)\n>>> sorted(p)\n['W1', 'W2', 'b1', 'b2']",
    "04_bce": ">>> bool(np.isclose(bce_loss(np.full((2, 1), 0.5), np.array([[0.0], [1.0]])), np.log(2)))\nTrue",
}


def otter_python(venv: Path, install: bool) -> tuple[Path | None, str]:
    """The otter venv's python, installing otter-grader (and ipykernel) there if asked;
    the notebooks' own packages (NumPy, PyTorch) come from this project's environment
    through a .pth file, so nothing is installed twice and our venv is left alone."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "otter").exists():
        if not install:
            return None, f"no otter-grader in {venv} (run without --no-otter-install to install it)"
        try:
            subprocess.run([sys.executable if not Path("/usr/bin/python3").exists() else "/usr/bin/python3",
                            "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", "otter-grader", "ipykernel"],
                           check=True, capture_output=True, timeout=900)
        except (subprocess.SubprocessError, OSError) as error:
            detail = getattr(error, "stderr", b"") or b""
            return None, f"otter-grader did not install: {error} {detail.decode('utf-8', 'replace')[-300:]}"
    site = next((venv / "lib").glob("python3*/site-packages"), None)
    ours = next((Path(PYTHON).parent.parent / "lib").glob("python3*/site-packages"), None)
    if site is None or ours is None:
        return None, "cannot find the site-packages folders"
    (site / "zz_backprop_project.pth").write_text(str(ours) + "\n")
    return python, ""


def otter_bundles(python: Path, scratch: Path) -> dict[str, Path]:
    bundles = {}
    for stem, code in OTTER_TESTS.items():
        folder = scratch / "otter" / stem
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "tests").mkdir(parents=True)
        test = {"name": f"q_{stem}", "points": 1, "suites": [{
            "cases": [{"code": ">>> import numpy as np\n" + code, "hidden": False, "locked": False}],
            "scored": True, "setup": "", "teardown": "", "type": "doctest"}]}
        (folder / "tests" / f"q_{stem}.py").write_text("OK_FORMAT = True\n\ntest = " + repr(test) + "\n")
        subprocess.run([str(python), "-m", "otter", "generate", "-t", "tests", "-o", "autograder.zip",
                        "--no-config", "--no-requirements", "--no-environment"],
                       cwd=folder, check=True, capture_output=True, timeout=300)
        bundles[stem] = folder / "autograder.zip"
    return bundles


def grade_otter(python: Path, submitted: Path, scratch: Path, students: int) -> tuple[float, list[float], int]:
    """``otter run`` on every notebook of the first ``students`` of the cohort, one after
    another (otter grades one notebook per run): wall time, per-run times and the peak
    memory of the first run."""
    bundles = otter_bundles(python, scratch)
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    runs, peak = [], 0
    started = time.perf_counter()
    for student in sorted(submitted.iterdir())[:students]:
        for stem, bundle in bundles.items():
            out = scratch / "otter-out" / student.name / stem
            out.mkdir(parents=True, exist_ok=True)
            command = [str(python), "-m", "otter", "run", "-a", str(bundle), "-o", str(out), "--no-logo",
                       str(student / "backprop" / f"{stem}.ipynb")]
            run_started = time.perf_counter()
            process = subprocess.Popen(command, cwd=out, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            sampler = TreeMemory(process.pid, every=0.1) if not runs else None
            output = process.communicate(timeout=600)[0]
            if sampler is not None:
                sampler.stop.set()
                sampler.join()
                peak = sampler.peak
            runs.append(time.perf_counter() - run_started)
            results = out / "results.json"
            if process.returncode != 0 or not results.exists() or "Autograder Failed" in results.read_text():
                raise RuntimeError(f"otter run failed ({process.returncode}):\n"
                                   + output.decode("utf-8", "replace")[-2000:])
    return time.perf_counter() - started, runs, peak


# ----------------------------------------------------------------------------- overhead


def _cell_seconds(cells: dict) -> float:
    """The student's cells of one submission, run in plain shells as the sandbox runs them."""
    from autograder.sandbox.cells import new_shell, quiet, run_cells

    total = 0.0
    with quiet():
        for code in cells.values():
            if isinstance(code, list):
                total += sum(r.seconds for r in run_cells(new_shell({"__name__": "__main__"}), code, 30.0))
    return total


class _TimedProvider:
    """The in-process provider for ``folder`` (notebooks run at once, before any test
    is timed), adding up the hidden tests' call phases in ``calls``."""

    def __init__(self, folder: Path, stems):
        from autograder import paths
        from autograder.inprocess import InProcessSubmission
        from autograder.sandbox.cells import quiet

        self.inner = InProcessSubmission(folder, paths.SOURCE_DIR)
        self.calls = 0.0
        with quiet():
            for stem in stems:
                self.inner.notebook(stem)

    def notebook(self, stem):
        return self.inner.notebook(stem)

    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            self.calls += report.duration


def cohort_work(submitted: Path, limit: int) -> dict:
    """Runs in its own process (``--measure-work``): the student's cells and the hidden
    tests' own work of the first ``limit`` submissions of a cohort (one of each kind),
    in-process, as ``measure_overhead`` measures them for one; the trusted references
    are remembered across submissions, as a batch does."""
    import torch

    from autograder.grading import submissions
    from autograder.grading.suite import run_hidden_tests
    from grading_tests import reference

    torch.set_num_threads(1)  # as the grader runs the tests
    submissions.check_sources()
    reference.remember()
    students = sorted(p for p in submitted.iterdir() if p.is_dir())[:limit]
    if students:  # what the notebooks import (matplotlib: ~0.5 s) is the template's, not a cell's
        _cell_seconds(submissions.read_submission(students[0] / "backprop"))
    works = []
    for student in students:
        folder = student / "backprop"
        cells = submissions.read_submission(folder)
        provider = _TimedProvider(folder, cells)
        run_hidden_tests(provider, SEED)  # the batch's first submission computes the references
        provider.calls = 0.0
        run_hidden_tests(provider, SEED)
        works.append(_cell_seconds(cells) + provider.calls)
    return {"submissions": len(works), "mean_work": statistics.fmean(works)}


def measure_overhead(folder: Path, repeat: int) -> dict:
    """Runs in its own process (``--measure-overhead``): see the module doc, item 6."""
    import pytest  # noqa: F401

    from autograder.grading import grade, submissions, templates
    from autograder.grading.suite import run_hidden_tests

    limits = templates.default_limits()
    sub_times, inside = [], []
    with templates.open_template(limits, (folder,)) as template:
        grade.grade_submission(folder, seed=SEED, limits=limits, template=template)  # warm-up
        for _ in range(repeat):
            started = time.perf_counter()
            report = grade.grade_submission(folder, seed=SEED, limits=limits, template=template)
            sub_times.append(time.perf_counter() - started)
            inside.append(report.execution_time)
            assert report.failure is None, report.failure

    cells = submissions.read_submission(folder)
    cell_times = [_cell_seconds(cells) for _ in range(repeat)]
    provider = _TimedProvider(folder, cells)
    body_times = []
    for _ in range(repeat):
        provider.calls = 0.0
        run_hidden_tests(provider, SEED, select=getattr(grade, "PYTEST_EXTRA_ARGS", ()))
        body_times.append(provider.calls)
    per_submission = statistics.median(sub_times)
    cells_s, body_s = statistics.median(cell_times), statistics.median(body_times)
    return {"per_submission": per_submission, "child": statistics.median(inside), "cells": cells_s,
            "tests_body": body_s, "overhead": per_submission - cells_s - body_s}


# ----------------------------------------------------------------------------- report


def _kinds_count() -> int:
    """How many kinds of submission a cohort cycles through (cohorts.variants)."""
    from grading_tests.mistakes import MISTAKES

    return len(MISTAKES) + 2  # the solution, the half-done one, one per catalogued mistake


def fit_line(points: list[tuple[int, float]]) -> tuple[float, float, float]:
    """Least squares t = a + b n: (a, b, r squared)."""
    xs, ys = [float(n) for n, _ in points], [t for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    return a, b, (1.0 - ss_res / ss_tot) if ss_tot else 1.0


def plot(path: Path, points, fit, nbgrader_per_submission, otter_per_submission, otter_note="measured at 10") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [n for n, _ in points]
    top = max(sizes)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(sizes, [t for _, t in points], "o", color="C0", label="ours, measured (2 jobs)")
    a, b, r2 = fit
    # a + b n is curved on log-log axes: draw it through many points, not two
    grid = [top ** (i / 60) for i in range(61)]
    ax.plot(grid, [a + b * n for n in grid], "-", color="C0", alpha=0.6,
            label=f"ours, fit: {a:.1f} s + {b * 1e3:.0f} ms x n  (R² {r2:.4f})")
    if nbgrader_per_submission:
        ax.plot(grid, [nbgrader_per_submission * n for n in grid], "--", color="C3",
                label=f"nbgrader autograde: {nbgrader_per_submission:.1f} s x n (measured at 10)")
    if otter_per_submission:
        ax.plot(grid, [otter_per_submission * n for n in grid], ":", color="C2",
                label=f"otter run: {otter_per_submission:.1f} s x n ({otter_note})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("submissions (4 notebooks each)")
    ax.set_ylabel("wall time to grade the cohort (s)")
    ax.set_title("Grading time against cohort size, 2 cores")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="cohorts of 10 and 100, fewer repeats")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="cohort sizes (default 10 100 1000)")
    parser.add_argument("--jobs", type=int, default=2, help="our batch's jobs (default 2)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per median (default 3, --quick 2)")
    parser.add_argument("--no-nbgrader", action="store_true", help="skip nbgrader autograde")
    parser.add_argument("--no-otter", action="store_true", help="skip otter run")
    parser.add_argument("--otter-venv", type=Path, default=Path(tempfile.gettempdir()) / "backprop-bench-otter",
                        help="virtual environment for otter-grader, kept apart from ours")
    parser.add_argument("--no-otter-install", action="store_true", help="use --otter-venv only if it exists")
    parser.add_argument("--otter-students", type=int, default=10,
                        help="grade only this many of the 10 with otter and scale to 10 (it is slow)")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "bench.png")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--keep", type=Path, default=None, help="scratch folder to keep (default: temporary)")
    parser.add_argument("--measure-overhead", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure-work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 3)
    if args.measure_overhead:
        print(json.dumps(measure_overhead(args.measure_overhead, repeat)))
        return 0
    if args.measure_work:
        print(json.dumps(cohort_work(args.measure_work, limit=_kinds_count())))
        return 0
    sizes = args.sizes or ([10, 100] if args.quick else [10, 100, 1000])
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="bench-grading-"))
    scratch.mkdir(parents=True, exist_ok=True)
    figures: dict = {"machine": f"{os.cpu_count()} cores, {platform.python_version()}", "sizes": sizes}
    try:
        return run(args, sizes, repeat, scratch, figures)
    finally:
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


def run(args, sizes, repeat, scratch: Path, figures: dict) -> int:
    from cohorts import build_cohort, solution_submission, variants

    say(f"machine: {figures['machine']}; {load()}; scratch {scratch}")
    kinds = variants()
    cohorts = {n: build_cohort(n, scratch / f"cohort-{n}", kinds) for n in sorted(set(sizes) | {10})}
    say(f"cohorts built: {', '.join(str(n) for n in cohorts)} submissions "
        f"({len(kinds)} kinds: solution, half done, {len(kinds) - 2} catalogued mistakes)")

    # -- 1. the 10-submission cohort, three ways
    ten = cohorts[10]
    say("\n== 10 submissions (40 notebooks)")
    # One run first, not counted: it reads torch's libraries and the rest from disk into
    # the page cache, where they then are for every timed run of either grader (nbgrader
    # runs after it). Ours is timed ``OURS_REPEAT`` times, half before nbgrader and half
    # after, so a machine that slows down or speeds up meanwhile weighs on both sides.
    warm = grade_ours(ten, scratch, args.jobs)
    say(f"  ours, first run (page cache warm-up, not counted):     {warm:6.2f} s   [{load()}]")
    ours_ten = []

    def time_ours(runs: int) -> None:
        for _ in range(runs):
            ours_ten.append(grade_ours(ten, scratch, args.jobs))
            say(f"  ours (python -m autograder grade --jobs {args.jobs}, cold process): {ours_ten[-1]:6.2f} s   "
                f"[{load()}]")

    runs = max(repeat, OURS_REPEAT)
    time_ours(runs // 2)
    nbgrader10 = None
    if not args.no_nbgrader:
        try:
            nbgrader10 = grade_nbgrader(ten, scratch)
            say(f"  nbgrader autograde:                              {nbgrader10:6.2f} s   [{load()}]")
        except Exception as error:  # noqa: BLE001 - reported, the rest still runs
            say(f"  nbgrader autograde: could not run ({error})")
    time_ours(runs - runs // 2)
    ours10 = statistics.median(ours_ten)
    say(f"  ours, median of {len(ours_ten)}: {ours10:.2f} s (from {min(ours_ten):.2f} to {max(ours_ten):.2f} s)")
    figures["ours_10"] = ours10
    figures["ours_10_runs"] = ours_ten
    figures["nbgrader_10"] = nbgrader10
    otter10, otter_runs, otter_peak = None, [], 0
    if not args.no_otter:
        python, why = otter_python(args.otter_venv, install=not args.no_otter_install)
        if python is None:
            say(f"  otter run: not measured: {why}")
            figures["otter_note"] = why
        else:
            try:
                students = max(1, min(args.otter_students, 10))
                measured, otter_runs, otter_peak = grade_otter(python, ten, scratch, students)
                otter10 = measured * 10 / students
                scaled = "" if students == 10 else f" (measured on {students} submissions, scaled to 10)"
                figures["otter_students"] = students
                say(f"  otter run (one run per notebook):                {otter10:6.2f} s{scaled}   "
                    f"(per notebook: median {statistics.median(otter_runs):.2f} s, "
                    f"peak {otter_peak / 1e6:.0f} MB)   [{load()}]")
            except Exception as error:  # noqa: BLE001
                say(f"  otter run: could not run ({str(error)[:500]})")
                figures["otter_note"] = str(error)[:500]
    figures.update(otter_10=otter10, otter_per_notebook=statistics.median(otter_runs) if otter_runs else None,
                   otter_peak=otter_peak or None)

    # -- 2. larger cohorts, ours only
    say("\n== cohorts, ours only")
    points = [(10, ours10)]
    for n in sizes:
        if n == 10:
            continue
        runs = [grade_ours(cohorts[n], scratch, args.jobs) for _ in range(repeat if n <= 100 else 1)]
        points.append((n, statistics.median(runs)))
        say(f"  {n:5d} submissions: {points[-1][1]:7.2f} s  ({n / points[-1][1]:5.1f} submissions/s)   [{load()}]")
    points.sort()
    fit = fit_line(points) if len(points) > 1 else (0.0, ours10 / 10, 1.0)
    figures["points"] = points
    figures["fit"] = fit
    # Linear means the cost of one more submission does not grow with the cohort.
    marginal = [((b - a) / (m - n), n, m) for (n, a), (m, b) in zip(points, points[1:])]
    figures["marginal"] = marginal
    for cost, n, m in marginal:
        say(f"  from {n} to {m} submissions: {cost * 1e3:.0f} ms per extra submission")
    say(f"  fit: {fit[0]:.2f} s + {fit[1] * 1e3:.0f} ms per submission (R² {fit[2]:.5f}); "
        f"steady throughput {1 / fit[1]:.1f} submissions/s")

    # -- 3. cold single submission
    say("\n== cold single submission (fresh process) against `python -c 'import torch'`")
    single = solution_submission(scratch / "single" / "backprop")
    torch_times, cold_times = [], []
    for _ in range(max(repeat, 3)):
        torch_times.append(timed_run([PYTHON, "-c", "import torch"]))
        out = scratch / "single-out"
        shutil.rmtree(out, ignore_errors=True)
        cold_times.append(timed_run(ours_command(single, out)))
    torch_s, cold_s = statistics.median(torch_times), statistics.median(cold_times)
    figures.update(import_torch=torch_s, cold_single=cold_s)
    say(f"  import torch: {torch_s:.2f} s; cold grade: {cold_s:.2f} s ({cold_s / torch_s:.2f} x)   [{load()}]")

    # -- 4. memory
    peak, processes = batch_memory(ten, scratch, 2)
    figures["batch_peak_pss"] = peak
    say(f"\n== peak memory of a two-job batch (10 submissions): {peak / 1e6:.0f} MB PSS over {processes} processes")

    # -- 5. harness overhead
    say("\n== the harness's own time per submission (warm grader, one job)")
    done = subprocess.run([PYTHON, __file__, "--measure-overhead", str(single), "--repeat", str(max(repeat, 5))],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        say(f"  could not measure: {done.stderr[-2000:]}")
        overhead = None
    else:
        overhead = json.loads(done.stdout.strip().splitlines()[-1])
        say(f"  per submission {overhead['per_submission']:.3f} s = student's cells {overhead['cells']:.3f} s"
            f" + hidden tests' own work {overhead['tests_body']:.3f} s + harness {overhead['overhead']:.3f} s")
    figures["overhead"] = overhead

    # -- 6. the same, amortised over a batch: what a submission costs the batch beyond
    # its share of the essential work (cells and test bodies, spread over the jobs)
    biggest = cohorts[max(cohorts)]
    done = subprocess.run([PYTHON, __file__, "--measure-work", str(biggest)], cwd=ROOT, capture_output=True,
                          text=True)
    amortised = None
    if done.returncode != 0:
        say(f"  could not measure the cohort's work: {done.stderr[-2000:]}")
    else:
        work = json.loads(done.stdout.strip().splitlines()[-1])
        amortised = fit[1] - work["mean_work"] / args.jobs
        say(f"  amortised over the batch ({args.jobs} jobs): one more submission costs {fit[1] * 1e3:.0f} ms, "
            f"its cells and test bodies {work['mean_work'] * 1e3:.0f} ms of work (mean of {work['submissions']} "
            f"kinds, in-process) = {work['mean_work'] / args.jobs * 1e3:.0f} ms on {args.jobs} cores: "
            f"harness {amortised * 1e3:.0f} ms")
        figures["cohort_work"] = work
    figures["overhead_amortised"] = amortised

    if args.plot:
        nb_per = nbgrader10 / 10 if nbgrader10 else None
        students = figures.get("otter_students", 10)
        plot(args.plot, points, fit, nb_per, otter10 / 10 if otter10 else None,
             "measured at 10" if students == 10 else f"measured on {students}, scaled")
        say(f"\nplot: {args.plot}")

    # -- summary
    say("\n== summary (Markdown)\n")
    say(f"Measured {time.strftime('%Y-%m-%d')} on {figures['machine']}, {load()} at the end.\n")
    say("| 10 submissions (40 notebooks) | wall time | submissions/s | ours is faster by |")
    say("|---|---:|---:|---:|")
    if nbgrader10:
        say(f"| `nbgrader autograde` | {nbgrader10:.1f} s | {10 / nbgrader10:.2f} | {nbgrader10 / ours10:.0f}x |")
    if otter10:
        scaled = figures.get("otter_students", 10)
        label = "" if scaled == 10 else f", measured on {scaled} of the 10 and scaled"
        say(f"| `otter run` (one run per notebook{label}) | {otter10:.1f} s | {10 / otter10:.2f} "
            f"| {otter10 / ours10:.0f}x |")
    say(f"| ours, `grade --jobs {args.jobs}`, cold process | {ours10:.1f} s | {10 / ours10:.2f} | 1x |")
    say("")
    say("| cohort | ours, wall time | submissions/s |")
    say("|---:|---:|---:|")
    for n, t in points:
        say(f"| {n} | {t:.1f} s | {n / t:.1f} |")
    say("")
    ratio = nbgrader10 / ours10 if nbgrader10 else None
    steady_ratio = (nbgrader10 / 10) / fit[1] if nbgrader10 else None
    rows = []
    if ratio:
        rows.append(("throughput against nbgrader, 10 submissions, start-up included",
                     f"{ratio:.0f}x (steady state: {steady_ratio:.0f}x)", f">= {TARGET_RATIO:.0f}x (aim {AIM_RATIO:.0f}x)",
                     verdict(ratio >= TARGET_RATIO)))
    rows.append(("cold single submission", f"{cold_s:.1f} s = {cold_s / torch_s:.2f} x import torch ({torch_s:.1f} s)",
                 f"<= {TARGET_COLD_FACTOR:.0f}x", verdict(cold_s <= TARGET_COLD_FACTOR * torch_s)))
    if amortised is not None:
        rows.append(("harness's own time per submission, amortised over a batch",
                     f"{amortised * 1e3:.0f} ms ({args.jobs} jobs); one job, warm, no batch: "
                     + (f"{overhead['overhead'] * 1e3:.0f} ms" if overhead else "not measured"),
                     f"<= {TARGET_OVERHEAD * 1e3:.0f} ms", verdict(amortised <= TARGET_OVERHEAD)))
    elif overhead:
        rows.append(("harness's own time per submission (one job)", f"{overhead['overhead'] * 1e3:.0f} ms",
                     f"<= {TARGET_OVERHEAD * 1e3:.0f} ms", verdict(overhead["overhead"] <= TARGET_OVERHEAD)))
    if len(points) > 2:
        marginal = figures["marginal"]
        growth = marginal[-1][0] / marginal[0][0]
        rows.append(("linear in cohort size", f"R² {fit[2]:.4f}; per extra submission "
                     + ", ".join(f"{cost * 1e3:.0f} ms ({n}-{m})" for cost, n, m in marginal),
                     "linear to 1,000", verdict(fit[2] >= 0.999 and growth <= 1.5)))
    rows.append(("peak memory, two-job batch", f"{peak / 1e9:.2f} GB", f"<= {TARGET_MEMORY / 1e9:.1f} GB",
                 verdict(peak <= TARGET_MEMORY)))
    say("| target | measured | goal | |")
    say("|---|---|---|---|")
    for row in rows:
        say("| " + " | ".join(row) + " |")
    figures["verdicts"] = rows
    return 0


if __name__ == "__main__":
    sys.exit(main())
