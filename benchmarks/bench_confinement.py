"""What each confinement layer adds to a sandbox's start, measured alone.

    .venv/bin/python benchmarks/bench_confinement.py [--runs 40]

A process holding what the template holds (NumPy, PyTorch, allocated as the template
allocates) forks a child, as the template does for each sandbox; the child applies one
layer after another, in the order ``autograder.sandbox.limits.confine`` does, and
reports the time each took. Printed:
the median and 90th percentile over ``--runs`` children, per layer, in milliseconds,
and the fork and the exit of the child, for scale. Run as root for every layer (as
another user the layers it cannot apply are reported as unavailable).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder.paths import PROJECT_ROOT  # noqa: E402
from autograder.sandbox.confinement import cgroups, landlock, layers, pidns, seccomp  # noqa: E402

from autograder.sandbox import limits  # noqa: E402

HIDDEN = [str(PROJECT_ROOT / "grading_tests"), str(PROJECT_ROOT / "source"), str(PROJECT_ROOT / ".git")]


def child(report: int, groups) -> None:
    times = {}
    root = os.geteuid() == 0
    key = os.getpid()

    def step(name, action):
        start = time.perf_counter()
        result = action()
        times[name] = (time.perf_counter() - start) * 1000
        return result

    if root:  # in confine()'s order
        step("namespaces: unshare (net, ipc, mount, pid)", lambda: limits._unshare(
            limits._CLONE_NEWNET | limits._CLONE_NEWNS | limits._CLONE_NEWIPC | pidns.CLONE_NEWPID))
        step("pid namespace: fork pid 1, parent relays", pidns.enter)
    if groups is not None and groups.applied:
        step("cgroups: join memory, pids, cpu", lambda: groups.enter(key, 2 * 1024**3, 64))
    if root:
        step("mounts: hidden paths, private /tmp, /proc", lambda: limits._make_private_mounts(
            {"hidden": HIDDEN, "tmp_bytes": 64 * 1024**2}, {"hidden": []}, strict=True))
    scratch = "/tmp" if root else step("scratch folder (no mount namespace)",
                                       lambda: layers.scratch_folder(key, None, None, False))
    applied = step("landlock + seccomp", lambda: layers.restrict({"hidden": HIDDEN}, scratch, root, root, root))
    if root:
        uid = 1_500_000_000 + key
        step("uid", lambda: (os.setgroups([]), os.setresgid(uid, uid, uid), os.setresuid(uid, uid, uid)))
    times["unavailable"] = [name for name, value in applied.items() if "unavailable" in value]
    os.write(report, (json.dumps(times) + "\n").encode())


def landlock_alone(runs: int) -> list[float]:
    read = [*landlock.SYSTEM_READ, *layers.readable_trees(tuple(HIDDEN))]
    figures = []
    for _ in range(runs):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            start = time.perf_counter()
            landlock.restrict(read=read, write=["/tmp"])
            os.write(write_end, f"{(time.perf_counter() - start) * 1000}\n".encode())
            os._exit(0)
        os.close(write_end)
        figures.append(float(os.read(read_end, 100)))
        os.close(read_end)
        os.waitpid(pid, 0)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args(argv)
    from autograder.sandbox.client import FORK_FRIENDLY_MEMORY

    if any(os.environ.get(name) != value for name, value in FORK_FRIENDLY_MEMORY.items()):
        # Allocate as the template does (huge pages), which is what a sandbox's fork copies.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **FORK_FRIENDLY_MEMORY})
    import numpy  # noqa: F401 - the template's weight, which a fork copies the page tables of
    import torch  # noqa: F401

    seccomp.prepare(network=False, signals=False)
    landlock.abi_version()  # as the template does: finds the C library once, before any fork
    groups = cgroups.Cgroups(name=f"backprop-bench-{os.getpid()}")
    results: dict[str, list[float]] = {}
    try:
        for _ in range(args.runs):
            read_end, write_end = os.pipe()
            start = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                try:
                    child(write_end, groups)
                finally:
                    os._exit(0)
            forked = (time.perf_counter() - start) * 1000
            os.close(write_end)
            with os.fdopen(read_end) as handle:
                line = handle.readline()
            exit_start = time.perf_counter()
            os.waitpid(pid, 0)
            waited = (time.perf_counter() - exit_start) * 1000
            times = json.loads(line)
            unavailable = times.pop("unavailable")
            for name, value in {"fork (for scale)": forked, **times, "exit + reap (for scale)": waited}.items():
                results.setdefault(name, []).append(value)
            groups.remove(pid)
            layers.remove_scratch(pid)
    finally:
        groups.close()
    results["  of which landlock alone"] = landlock_alone(args.runs)
    print(f"{'step':<42}{'median ms':>10}{'p90 ms':>10}   ({args.runs} sandboxes, uid {os.geteuid()})")
    for name, values in results.items():
        values = sorted(values)
        print(f"{name:<42}{statistics.median(values):>10.2f}{values[int(len(values) * 0.9) - 1]:>10.2f}")
    if not groups.applied:
        print(f"cgroups not measured: {groups.unavailable}")
    if unavailable:
        print(f"not available here: {unavailable}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
