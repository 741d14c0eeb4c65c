"""What each confinement layer adds to a sandbox's start, measured alone.

    .venv/bin/python benchmarks/bench_confinement.py [--runs 40]

A process holding what the template holds (NumPy, PyTorch, allocated as the template
allocates) forks a child, as the template does for each sandbox; the child applies one
layer after another, in the order ``autograder.sandbox.limits.confine`` does. Printed
per layer, over ``--runs`` children: the wall time (median and 90th percentile; on a
loaded machine it includes waiting for a core) and the CPU time the child spent (median;
what the layer costs whatever the load), in milliseconds, with the fork and the exit of
the child for scale. Run as root for every layer (as another user the layers it cannot
apply are reported as unavailable).
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
        start, cpu, me = time.perf_counter(), time.thread_time(), os.getpid()
        result = action()
        # A step that forked returns in the child, whose CPU clock started at the fork.
        spent = time.thread_time() - (cpu if os.getpid() == me else 0.0)
        times[name] = [(time.perf_counter() - start) * 1000, spent * 1000]
        return result

    if root:  # in confine()'s order; the PID namespace came with the fork
        step("namespaces: unshare (net, ipc, mount)", lambda: limits._unshare(
            limits._CLONE_NEWNET | limits._CLONE_NEWNS | limits._CLONE_NEWIPC))
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args(argv)
    import numpy  # noqa: F401 - the template's weight, which a fork copies the page tables of
    import torch  # noqa: F401

    for namespaces in (False, True):  # as the template does before any fork
        seccomp.prepare(network=namespaces, signals=namespaces)
    landlock.abi_version()
    layers.readable_trees(tuple(HIDDEN))
    groups = cgroups.Cgroups(name=f"backprop-bench-{os.getpid()}")
    results: dict[str, list[list]] = {}  # step -> [wall ms, CPU ms or None] per sandbox
    try:
        for _ in range(args.runs):  # a plain fork and exit, for scale
            start = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            forked = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            os.waitpid(pid, 0)
            results.setdefault("plain fork (for scale)", []).append([forked, None])
            results.setdefault("plain exit + reap (for scale)", []).append([(time.perf_counter() - start) * 1000, None])
        for _ in range(args.runs):
            read_end, write_end = os.pipe()
            start = time.perf_counter()
            pid = pidns.fork()[0] if os.geteuid() == 0 else os.fork()  # as the template forks a sandbox
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
            steps = {"fork into a new PID namespace (as root)": [forked, None], **times,
                     "sandbox exit + reap": [waited, None]}
            for name, value in steps.items():
                results.setdefault(name, []).append(value)
            groups.remove(pid)
            layers.remove_scratch(pid)
    finally:
        groups.close()
    print(f"{'step':<44}{'wall median':>12}{'wall p90':>10}{'CPU median':>12}   "
          f"(ms; {args.runs} sandboxes, uid {os.geteuid()}, load {os.getloadavg()[0]:.1f})")
    for name, values in results.items():
        walls = sorted(wall for wall, _ in values)
        cpus = [cpu for _, cpu in values if cpu is not None]
        cpu = f"{statistics.median(cpus):>12.2f}" if cpus else f"{'':>12}"
        print(f"{name:<44}{statistics.median(walls):>12.2f}{walls[int(len(walls) * 0.9) - 1]:>10.2f}{cpu}")
    if not groups.applied:
        print(f"cgroups not measured: {groups.unavailable}")
    if unavailable:
        print(f"not available here: {unavailable}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
