"""One submission fits Gradescope's default container: 768 MB and half a CPU.

The bundle's own ``run_autograder`` grades the solution inside cgroups with those
limits (``benchmarks/bench_gradescope_resources.py``); the figures are printed so a
run of the test (``pytest -s``) shows what the README quotes.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_gradescope_resources as bench  # noqa: E402

pytestmark = pytest.mark.slow

#: Gradescope's default limits.
MEMORY_MB, CPUS = 768, 0.5


@pytest.mark.skipif(bench.cgroups_available() is not None,
                    reason=f"cgroup measurement unavailable: {bench.cgroups_available()}")
def test_one_submission_fits_gradescopes_default_container(capsys):
    with capsys.disabled():
        (run,) = bench.measure_submission(memory_mb=MEMORY_MB, cpus=CPUS, runs=1,
                                          report=lambda line: print("\n" + line if "cgroup" in line else line))
    assert run.score == 100, "the solution must get full marks inside the limits"
    assert run.oom_kills == 0 and run.limit_hits == 0, "nothing may be killed or squeezed for memory"
    assert run.peak_charged_mb < MEMORY_MB
    assert not run.timed_out and run.wall_s < bench.TIMEOUT_S
    assert run.throttled_s > 0, "the CPU quota must really have applied"
