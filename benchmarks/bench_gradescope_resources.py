"""One submission in Gradescope's default container: time and memory, measured in a cgroup.

    .venv/bin/python benchmarks/bench_gradescope_resources.py                 # 768 MB, 0.5 CPU
    .venv/bin/python benchmarks/bench_gradescope_resources.py --cpus 1 --memory-mb 1536 --runs 3

Gradescope runs ``run_autograder`` once per submission in a fresh container with, by
default, 768 MB of memory and half a virtual CPU (its "Autograder Settings" raise both).
This script builds ``autograder.zip`` with ``python -m autograder gradescope``, unzips it
into a Gradescope-like root (``source/``, ``submission/``, ``results/`` and a
``submission_metadata.json``, whose id fixes the seed), puts the solution notebooks (or
``--submission``) in ``submission/``, and runs the bundle's own
``run_autograder`` inside new cgroups (v1: memory, cpu, cpuacct, pids) with those limits:
the CPU as a CFS quota (with a high ``cpu.shares``, so the group gets its quota even on a
busy machine, as a container gets its allocation), the memory as a hard limit (and
memory+swap, so nothing swaps).

Printed, per run and as the median of ``--runs``: the wall time, the CPU time the cgroup
used (``cpuacct.usage``), the time the quota throttled it, the peak memory the kernel
charged to the cgroup (``memory.max_usage_in_bytes``, which counts page cache the run
brought in) and the peak of its anonymous memory (``rss`` + ``shmem`` of ``memory.stat``,
sampled every 20 ms), the peak number of tasks, how often the limit was hit
(``memory.failcnt``), OOM kills, and the score ``results.json`` got; a run still going
after Gradescope's default timeout (10 minutes) is stopped, as Gradescope stops it.

Needs root and cgroup v1 mounted at /sys/fs/cgroup/{memory,cpu,cpuacct,pids}. The page
cache is warm (torch's libraries were read before), as it is for every submission but
the first on a Gradescope host; a cold cache costs the first run a few seconds of I/O.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
CFS_PERIOD_US = 100_000
MB = 1 << 20
#: Gradescope's default overall timeout: a run still going then is stopped.
TIMEOUT_S = 600
#: cpu.shares of the measured group (the default is 1024 per task or group): enough to
#: get its whole quota beside a dozen busy processes.
RESERVED_SHARES = 16 * 1024
#: The submission id every run is given, so every run grades the same inputs.
SUBMISSION_ID = 271828


# ----------------------------------------------------------------------------- cgroups


def _own_path(controller: str) -> str:
    """This process's cgroup path in ``controller``'s hierarchy (a new group nests under
    it, so whatever limits this process already lives under still apply)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path.lstrip("/")
    raise RuntimeError(f"this process is in no {controller} cgroup")


def cgroups_available() -> str | None:
    """None when this machine can run the measurement, else why not."""
    if os.geteuid() != 0:
        return "needs root (it creates cgroups)"
    for controller in CONTROLLERS:
        if not (CGROUP_ROOT / controller / "cgroup.procs").is_file():
            return f"no cgroup v1 {controller} hierarchy at {CGROUP_ROOT / controller}"
    return None


class Cgroup:
    """A fresh group in each controller, with Gradescope-like limits; removed on close."""

    def __init__(self, name: str, memory_bytes: int, cpus: float):
        self.paths = {}
        for controller in CONTROLLERS:
            path = CGROUP_ROOT / controller / _own_path(controller) / name
            path.mkdir()
            self.paths[controller] = path
        memory = self.paths["memory"]
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        swap_limit = memory / "memory.memsw.limit_in_bytes"
        if swap_limit.exists():
            swap_limit.write_text(str(memory_bytes))  # memory + swap: no swapping past the limit
        (self.paths["cpu"] / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
        (self.paths["cpu"] / "cpu.cfs_quota_us").write_text(str(int(cpus * CFS_PERIOD_US)))
        # A container is guaranteed its CPUs; on a busy machine a group at the default
        # weight gets far less than its quota. A high weight makes the quota the bound.
        (self.paths["cpu"] / "cpu.shares").write_text(str(RESERVED_SHARES))

    def join(self) -> None:
        """Put the calling process in every group (runs in the child before exec)."""
        for path in self.paths.values():
            (path / "cgroup.procs").write_text(str(os.getpid()))

    def read(self, controller: str, name: str) -> str:
        return (self.paths[controller] / name).read_text()

    def number(self, controller: str, name: str) -> int:
        return int(self.read(controller, name).split()[0])

    def stat(self, controller: str, name: str) -> dict[str, int]:
        return {key: int(value) for key, value in
                (line.split() for line in self.read(controller, name).splitlines() if line.strip())}

    def close(self) -> None:
        for path in self.paths.values():
            for _ in range(50):
                pids = [int(pid) for pid in (path / "cgroup.procs").read_text().split()]
                for pid in pids:  # whatever the run left behind
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


# ----------------------------------------------------------------------------- one run


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    throttled_s: float
    peak_charged_mb: float
    peak_anonymous_mb: float
    peak_tasks: int
    limit_hits: int
    oom_kills: int
    score: float | None
    timed_out: bool = False


def gradescope_root(bundle: Path, submission: Path, parent: Path) -> Path:
    """Gradescope's layout: the unzipped bundle in source/, the student's files in
    submission/, an empty results/."""
    root = Path(tempfile.mkdtemp(prefix="bench-gradescope-", dir=parent))
    os.chmod(root, 0o755)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)
    shutil.copytree(submission, root / "submission")
    (root / "results").mkdir()
    # Gradescope's description of the submission: its id fixes the hidden tests' seed.
    (root / "submission_metadata.json").write_text(json.dumps({"id": SUBMISSION_ID, "previous_submissions": []}))
    return root


def measure(root: Path, *, memory_bytes: int, cpus: float, python: str, timeout: float = TIMEOUT_S) -> Run:
    group = Cgroup(f"bench-gradescope-{os.getpid()}-{time.monotonic_ns()}", memory_bytes, cpus)
    peaks = {"anonymous": 0, "tasks": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                stat = group.stat("memory", "memory.stat")
                peaks["anonymous"] = max(peaks["anonymous"], stat.get("total_rss", 0) + stat.get("total_shmem", 0))
                peaks["tasks"] = max(peaks["tasks"], group.number("pids", "pids.current"))
            except (OSError, ValueError):
                pass
            done.wait(0.02)

    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=python)
    sampler = threading.Thread(target=sample, daemon=True)
    try:
        sampler.start()
        started = time.perf_counter()
        timed_out = False
        try:
            done_process = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=root,
                                          preexec_fn=group.join, capture_output=True, text=True, timeout=timeout)
            if done_process.returncode != 0:
                sys.stderr.write(done_process.stdout[-2000:] + done_process.stderr[-2000:])
        except subprocess.TimeoutExpired:  # as Gradescope does: the run is stopped, whatever it was doing
            timed_out = True
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        cpu_stat = group.stat("cpu", "cpu.stat")
        oom = group.stat("memory", "memory.oom_control").get("oom_kill", 0)
        run = Run(
            wall_s=wall,
            cpu_s=group.number("cpuacct", "cpuacct.usage") / 1e9,
            throttled_s=cpu_stat.get("throttled_time", 0) / 1e9,
            peak_charged_mb=group.number("memory", "memory.max_usage_in_bytes") / MB,
            peak_anonymous_mb=peaks["anonymous"] / MB,
            peak_tasks=peaks["tasks"],
            limit_hits=max(group.number("memory", name) for name in ("memory.failcnt", "memory.memsw.failcnt")
                           if (group.paths["memory"] / name).exists()),
            oom_kills=oom,
            score=None if timed_out else _score(root / "results" / "results.json"),
            timed_out=timed_out,
        )
    finally:
        done.set()
        group.close()
    return run


def _score(path: Path) -> float | None:
    try:
        return float(json.loads(path.read_text())["score"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_bundle(python: str, into: Path) -> Path:
    subprocess.run([python, "-m", "autograder", "gradescope", "--out", str(into)], cwd=ROOT, check=True,
                   capture_output=True, text=True)
    return into / "autograder.zip"


def solution_submission(into: Path) -> Path:
    folder = into / "solution"
    shutil.copytree(ROOT / "source" / "backprop", folder)
    return folder


def measure_submission(submission: Path | None = None, *, memory_mb: int = 768, cpus: float = 0.5, runs: int = 1,
                       python: str = sys.executable, report=print) -> list[Run]:
    """Run one submission ``runs`` times in fresh cgroups; print and return the figures."""
    problem = cgroups_available()
    if problem is not None:
        raise RuntimeError(f"cannot measure here: {problem}")
    (ROOT / "build").mkdir(exist_ok=True)
    # Under build/, not /tmp: every sandbox gets a private /tmp, so the bundle must live elsewhere.
    with tempfile.TemporaryDirectory(prefix="bench-gradescope-", dir=ROOT / "build") as scratch:
        scratch = Path(scratch)
        os.chmod(scratch, 0o755)
        bundle = build_bundle(python, scratch)
        submission = submission or solution_submission(scratch)
        report(f"one submission ({submission.name}) through run_autograder in a cgroup of "
               f"{memory_mb} MB and {cpus:g} CPU; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        results = []
        for index in range(runs):
            root = gradescope_root(bundle, submission, scratch)
            run = measure(root, memory_bytes=memory_mb * MB, cpus=cpus, python=python)
            results.append(run)
            report(f"  run {index + 1}: " + _line(run))
            shutil.rmtree(root, ignore_errors=True)
        if runs > 1:
            report("  median: " + _line(_median(results)))
        return results


def _line(run: Run) -> str:
    score = "no results.json" if run.score is None else f"score {run.score:g}"
    if run.timed_out:
        score = f"stopped at the {TIMEOUT_S // 60:g}-minute timeout, no results.json"
    return (f"wall {run.wall_s:.1f} s, CPU {run.cpu_s:.1f} s (throttled {run.throttled_s:.1f} s), "
            f"peak memory {run.peak_charged_mb:.0f} MB charged / {run.peak_anonymous_mb:.0f} MB anonymous, "
            f"{run.peak_tasks} tasks at most, limit hit {run.limit_hits} times, {run.oom_kills} OOM kills, {score}")


def _median(runs: list[Run]) -> Run:
    def middle(name):
        return statistics.median(getattr(run, name) for run in runs)

    return Run(middle("wall_s"), middle("cpu_s"), middle("throttled_s"), middle("peak_charged_mb"),
               middle("peak_anonymous_mb"), int(middle("peak_tasks")), int(middle("limit_hits")),
               int(middle("oom_kills")), runs[0].score)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-mb", type=int, default=768, help="the container's memory (Gradescope: 768)")
    parser.add_argument("--cpus", type=float, default=0.5, help="the container's CPUs (Gradescope: 0.5)")
    parser.add_argument("--runs", type=int, default=1, help="runs, each in fresh cgroups (the median is printed)")
    parser.add_argument("--submission", type=Path, default=None,
                        help="a folder of notebooks as a student uploads it (default: the solution)")
    parser.add_argument("--python", default=sys.executable, help="the Python run_autograder uses")
    args = parser.parse_args(argv)
    problem = cgroups_available()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    measure_submission(args.submission, memory_mb=args.memory_mb, cpus=args.cpus, runs=args.runs, python=args.python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
