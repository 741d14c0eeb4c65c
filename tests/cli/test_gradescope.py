"""The Gradescope bundle, run for real in Gradescope's directory layout.

Each run lays out ``source/`` (the unzipped bundle), ``submission/`` and ``results/``
under a root of its own and runs the bundle's ``run_autograder`` with
``AUTOGRADER_ROOT`` pointing there. The root sits under ``build/``, not ``/tmp``:
every sandbox gets a private ``/tmp``, so code under the real one is invisible to it.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.cli.gradescope import build_bundle
from autograder.cli.gradescope_run import MAX_UNZIPPED_BYTES, collect_notebooks, seed_from_metadata, submission_seed
from autograder import cli
from autograder.errors import InstructorError
from autograder.outputs.results import schema_problems
from autograder.paths import GRADING_TESTS_DIR, PROJECT_ROOT, RELEASE_DIR, SOURCE_DIR
from grading_tests.mistakes import MISTAKES

pytestmark = pytest.mark.slow  # runs Gradescope's run_autograder end to end

SOURCE = SOURCE_DIR
RELEASE = RELEASE_DIR


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build_bundle(tmp_path_factory.mktemp("bundle"))


def test_bundle_has_gradescope_scripts_at_its_root_and_everything_grading_needs(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        setup = archive.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder"} <= names
    assert all(modes[name] & stat.S_IXUSR for name in ("setup.sh", "run_autograder"))
    assert {f"source/backprop/{stem}.ipynb" for stem in ("01_relu", "02_backward", "03_mlp", "04_bce")} <= names
    assert "grading_tests/test_02_backward.py" in names and "autograder/grading/grade.py" in names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    assert "download.pytorch.org/whl/cpu" in setup, "setup.sh must install the CPU build of torch"
    assert "go-rwx" in setup and "grading_tests" in setup


def _notebook_bytes(path):
    return Path(path).read_bytes()


def test_notebooks_are_found_at_the_top_in_folders_and_in_zips(tmp_path):
    submission = tmp_path / "submission"
    (submission / "deep" / "deeper").mkdir(parents=True)
    (submission / "__MACOSX").mkdir()
    shutil.copy(SOURCE / "01_relu.ipynb", submission / "01_relu.ipynb")
    shutil.copy(RELEASE / "01_relu.ipynb", submission / "deep" / "01_relu.ipynb")  # deeper copy loses
    shutil.copy(SOURCE / "02_backward.ipynb", submission / "deep" / "deeper" / "02_backward.ipynb")
    shutil.copy(RELEASE / "04_bce.ipynb", submission / "__MACOSX" / "04_bce.ipynb")  # resource fork junk
    with zipfile.ZipFile(submission / "work.zip", "w") as archive:
        archive.write(SOURCE / "03_mlp.ipynb", "hw/03_mlp.ipynb")
    found = collect_notebooks(submission, tmp_path / "collected")
    assert found == ["01_relu", "02_backward", "03_mlp"]
    assert (tmp_path / "collected" / "01_relu.ipynb").read_bytes() == _notebook_bytes(SOURCE / "01_relu.ipynb")


def test_a_zip_bomb_is_not_unpacked(tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    with zipfile.ZipFile(submission / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("01_relu.ipynb", b"0" * (MAX_UNZIPPED_BYTES + 1))
    assert collect_notebooks(submission, tmp_path / "collected") == []


# ------------------------------------------------------------------------------ real runs


@pytest.fixture
def gradescope_root(bundle):
    (PROJECT_ROOT / "build").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="gradescope-", dir=PROJECT_ROOT / "build"))
    os.chmod(root, 0o755)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def run_autograder(root: Path, prefix=()) -> dict:
    """Gradescope's run of the bundle; ``prefix``: a command to run it under."""
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    done = subprocess.run([*prefix, "bash", str(root / "source" / "run_autograder")], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    text = (root / "results" / "results.json").read_text()
    data = json.loads(text)
    assert schema_problems(data) == []
    return data


def submit(root: Path, replacements: dict[tuple[str, str], str] = {}) -> None:
    """The solution notebooks, with some solution cells (stem, grade_id) replaced."""
    for path in sorted(SOURCE.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if (path.stem, grade_id) in replacements:
                cell.source = replacements[(path.stem, grade_id)]
        nbformat.write(notebook, root / "submission" / path.name)


def test_a_correct_submission_gets_full_marks(gradescope_root):
    submit(gradescope_root)
    data = run_autograder(gradescope_root)
    assert data["score"] == 100
    assert sum(test["max_score"] for test in data["tests"]) == 100
    assert "graded by hand" in data["output"]


def test_the_instructors_visibility_reaches_every_hidden_test(gradescope_root, tmp_path):
    bundle = build_bundle(tmp_path, visibility="after_published")
    with zipfile.ZipFile(bundle) as archive:
        script = archive.read("run_autograder").decode()
        (gradescope_root / "source" / "run_autograder").write_text(script)
    assert 'gradescope-run --root "$ROOT" --visibility after_published' in script
    submit(gradescope_root)
    data = run_autograder(gradescope_root)
    assert data["score"] == 100 and {test["visibility"] for test in data["tests"]} == {"after_published"}
    assert {test["output_format"] for test in data["tests"]} == {"md"}
    with pytest.raises(InstructorError, match="--visibility must be one of hidden, after_due_date"):
        build_bundle(tmp_path, visibility="never")


def test_the_instructors_required_isolation_reaches_every_run(gradescope_root, tmp_path):
    # Gradescope's containers give no namespaces: "full" refuses there, uid+landlock+seccomp grades.
    bundle = build_bundle(tmp_path, require_isolation="uid+landlock+seccomp")
    with zipfile.ZipFile(bundle) as archive:
        script = archive.read("run_autograder").decode()
    assert '--visibility visible --require-isolation uid+landlock+seccomp' in script
    with zipfile.ZipFile(build_bundle(tmp_path / "plain")) as archive:
        assert "--require-isolation" not in archive.read("run_autograder").decode()
    with pytest.raises(InstructorError, match="unknown isolation level 'strong'"):
        build_bundle(tmp_path, require_isolation="strong")
    for command in ("grade", "gradescope-run"):
        with pytest.raises(SystemExit) as exited:
            cli.main([command, str(tmp_path), "--out", str(tmp_path / "out"), "--require-isolation", "strong"]
                     if command == "grade" else [command, "--root", str(gradescope_root), "--require-isolation", "strong"])
        assert exited.value.code == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope runs the bundle as root")
def test_a_correct_submission_gets_full_marks_under_dockers_defaults(gradescope_root):
    """As Gradescope runs it: root without CAP_SYS_ADMIN, namespaces and mounts refused.
    The sandbox goes without namespaces, says so to the instructor, and grades."""
    from confinement_settings import SETTINGS

    submit(gradescope_root)
    data = run_autograder(gradescope_root, prefix=SETTINGS["docker"])
    assert data["score"] == 100
    assert data["extra_data"]["confinement"] == "no-namespaces: uid+landlock+seccomp+cgroups"
    assert "confinement" not in data["output"]  # the instructor's, not the student's


FORGER = '''
import json, os
forged = {"score": 1000, "output": "forged", "tests": []}
for folder in (os.environ.get("AUTOGRADER_ROOT", "/autograder") + "/results", "{root}/results", "/autograder/results", "."):
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "results.json"), "w") as handle:
            json.dump(forged, handle)
    except OSError:
        pass

def relu(z):
    return z  # wrong on purpose: the real score must show it
'''


def test_forged_results_files_change_nothing(gradescope_root):
    submit(gradescope_root, {("01_relu", "relu"): FORGER.replace("{root}", str(gradescope_root))})
    data = run_autograder(gradescope_root)
    assert data["output"] != "forged" and data["tests"]
    assert data["score"] < 100, "the wrong relu must lose points"
    assert all(test["score"] <= test["max_score"] for test in data["tests"])


READER = '''
import glob

attempts = []
for pattern in ("{root}/source/grading_tests/*.py", "{root}/source/source/backprop/*.ipynb"):
    names = glob.glob(pattern) or [pattern.replace("*", "test_02_backward" if pattern.endswith(".py") else "02_backward")]
    for name in names:
        try:
            with open(name) as handle:
                attempts.append(handle.read())
        except OSError as error:
            attempts.append(type(error).__name__)
print("\\n".join(attempts))

def forward(X, params):
    raise RuntimeError(" | ".join(attempts))
'''


def test_the_hidden_tests_and_solutions_cannot_be_read(gradescope_root):
    submit(gradescope_root, {("02_backward", "forward"): READER.replace("{root}", str(gradescope_root))})
    data = run_autograder(gradescope_root)
    text = json.dumps(data)
    secrets = [line.strip() for path in [*GRADING_TESTS_DIR.glob("*.py"),
                                         SOURCE / "02_backward.ipynb"]
               for line in path.read_text().splitlines() if len(line.strip()) > 40]
    assert not [line for line in secrets if json.dumps(line)[1:-1] in text]
    messages = " ".join(test["output"] for test in data["tests"] if "forward" in test["tags"])
    assert "`forward` raised RuntimeError" in messages
    assert "PermissionError" in messages or "FileNotFoundError" in messages


# ------------------------------------------------------------------------------ regrading


def write_metadata(root: Path, submission_id) -> None:
    """What Gradescope puts beside the submission (the fields we read and a few others)."""
    metadata = {"id": submission_id, "created_at": "2026-12-02T10:00:00.000000-08:00",
                "assignment": {"id": 25828, "title": "Backprop", "total_points": "110.0"},
                "users": [{"email": "student@example.edu", "id": 1234, "name": "A Student"}],
                "previous_submissions": []}
    (root / "submission_metadata.json").write_text(json.dumps(metadata))


def test_regrade_all_gives_a_submission_the_same_grade(gradescope_root):
    mistake = next(m for m in MISTAKES if m.key == "backward-no-mean")  # its diagnosis quotes numbers
    submit(gradescope_root, {(mistake.notebook, mistake.function): mistake.source})
    write_metadata(gradescope_root, 123456789)
    first = run_autograder(gradescope_root)
    regraded = run_autograder(gradescope_root)  # "Regrade all": the same submission, run again
    assert f"Grading seed: {submission_seed(123456789)}" in first["output"]
    first.pop("execution_time"), regraded.pop("execution_time")
    assert first == regraded
    assert first["score"] < 100


def test_each_submission_has_its_own_seed_and_a_missing_id_draws_one(tmp_path):
    assert submission_seed(1) != submission_seed(2)
    assert submission_seed(123456789) == submission_seed("123456789")
    assert 0 <= submission_seed(1) < 2 ** 32
    for content in (None, "not json", json.dumps({"id": None}), json.dumps({"id": True}), json.dumps([1])):
        path = tmp_path / "submission_metadata.json"
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(content)
        assert seed_from_metadata(path) is None


def test_setup_installs_the_torch_version_the_tests_ran_with(bundle):
    import torch

    with zipfile.ZipFile(bundle) as archive:
        setup = archive.read("setup.sh").decode()
    tested = torch.__version__.split("+")[0]
    assert f"torch=={tested} --index-url https://download.pytorch.org/whl/cpu" in setup
