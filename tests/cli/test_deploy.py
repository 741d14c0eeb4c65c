"""The cluster files in deploy/ run the commands README promises.

No cluster here: each engine's part is played by what it does to the command. The
Kubernetes Job's container command runs under bash with the JOB_COMPLETION_INDEX each
Pod gets, the Slurm script with the SLURM_ARRAY_* variables each array task gets, and a
stand-in ``python`` prints the arguments it was given. Every command must then parse
with the grader's own argument parser, so a renamed option breaks this test, not a
course's grading night.
"""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from autograder.paths import PROJECT_ROOT
from autograder.cli import build_parser

pytestmark = pytest.mark.slow  # starts processes

DEPLOY = PROJECT_ROOT / "deploy"


@pytest.fixture
def fake_python(tmp_path):
    """A ``python`` that prints its arguments, one per line, and exits 0."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "python"
    script.write_text('#!/bin/sh\nfor argument in "$@"; do printf "%s\\n" "$argument"; done\n')
    script.chmod(0o755)
    return script


def arguments_of(output: str) -> list[str]:
    arguments = output.splitlines()
    assert arguments[:2] == ["-m", "autograder"], arguments
    return arguments[2:]


def parses(arguments: list[str]):
    return build_parser().parse_args(arguments)


def load_job(name: str) -> dict:
    job = yaml.safe_load((DEPLOY / "kubernetes" / name).read_text())
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    return job


def container_env(container: dict) -> dict[str, str]:
    return {entry["name"]: str(entry["value"]) for entry in container.get("env", [])}


def test_the_indexed_job_grades_every_shard_once_with_one_seed(fake_python):
    job = load_job("grade-shards.yaml")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    (container,) = spec["template"]["spec"]["containers"]
    env = container_env(container)
    assert int(env["SHARDS"]) == spec["completions"], "SHARDS must equal completions"
    assert container["command"][0] == "bash"
    shards, seeds = [], set()
    for index in range(spec["completions"]):
        pod_env = dict(os.environ, **env, JOB_COMPLETION_INDEX=str(index),
                       PATH=f"{fake_python.parent}{os.pathsep}{os.environ['PATH']}")
        done = subprocess.run([*container["command"], *container["args"]], env=pod_env,
                              capture_output=True, text=True, timeout=30, check=True)
        args = parses(arguments_of(done.stdout))
        assert args._module.startswith("autograder") and args.path == Path("/course/submitted")
        shards.append(args.shard)
        seeds.add(args.seed)
    assert [str(shard) for shard in shards] == [f"{k}/{spec['completions']}" for k in
                                               range(1, spec["completions"] + 1)]
    assert seeds == {int(env["SEED"])}


def test_the_kubernetes_merge_job_merges_the_shards_output():
    job = load_job("merge.yaml")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:3] == ["python", "-m", "autograder"]
    args = parses(command[3:])
    assert args.command == "merge" and Path("/course/grading") in map(Path, args.outs)
    shard_job = load_job("grade-shards.yaml")
    assert "--out /course/grading" in " ".join(shard_job["spec"]["template"]["spec"]["containers"][0]["args"])


def run_sbatch(script: str, fake_python: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    env.update(variables, PYTHON=str(fake_python))
    return subprocess.run(["bash", str(DEPLOY / "slurm" / script)], env=env, capture_output=True, text=True,
                          timeout=30)


def test_each_slurm_array_task_grades_its_own_shard(fake_python, tmp_path):
    shards = []
    for task in (1, 2, 3):
        done = run_sbatch("grade-shards.sbatch", fake_python, COURSE=str(tmp_path), SEED="11",
                          SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_TASK_COUNT="3", SLURM_ARRAY_TASK_MIN="1",
                          SLURM_CPUS_PER_TASK="2")
        assert done.returncode == 0, done.stderr
        args = parses(arguments_of(done.stdout))
        assert (args.path, args.out, args.seed, args.jobs) == (tmp_path / "submitted", tmp_path / "grading", 11, 2)
        shards.append(str(args.shard))
    assert shards == ["1/3", "2/3", "3/3"]


@pytest.mark.parametrize("missing, words", [("SEED", "SEED"), ("COURSE", "COURSE")])
def test_the_slurm_script_refuses_to_start_without_its_settings(fake_python, tmp_path, missing, words):
    variables = dict(COURSE=str(tmp_path), SEED="11", SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="3")
    del variables[missing]
    done = run_sbatch("grade-shards.sbatch", fake_python, **variables)
    assert done.returncode != 0 and words in done.stderr and not done.stdout


def test_a_slurm_array_that_does_not_start_at_1_is_refused(fake_python, tmp_path):
    done = run_sbatch("grade-shards.sbatch", fake_python, COURSE=str(tmp_path), SEED="11",
                      SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_TASK_COUNT="3", SLURM_ARRAY_TASK_MIN="0")
    assert done.returncode == 2 and "from 1" in done.stderr


def test_the_slurm_merge_step_merges_into_the_course(fake_python, tmp_path):
    done = run_sbatch("merge.sbatch", fake_python, COURSE=str(tmp_path))
    assert done.returncode == 0, done.stderr
    args = parses(arguments_of(done.stdout))
    assert args.command == "merge" and [Path(out) for out in args.outs] == [tmp_path / "grading"]
    assert Path(args.nbgrader) == tmp_path / "submitted"


def test_the_image_installs_the_torch_version_the_tests_ran_with():
    import torch

    dockerfile = (DEPLOY / "Dockerfile").read_text()
    tested = torch.__version__.split("+")[0]
    assert f"ARG TORCH_VERSION={tested}" in dockerfile
    assert "download.pytorch.org/whl/cpu" in dockerfile
    # editable: the grader finds grading_tests/ and source/ beside itself
    assert "pip install --no-cache-dir -e" in dockerfile
