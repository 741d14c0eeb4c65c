"""``gradescope``: write autograder.zip, the bundle to upload to Gradescope as its autograder.

``python -m autograder gradescope --out DIR`` writes ``DIR/autograder.zip``: Gradescope's
``setup.sh`` and ``run_autograder`` at its root, beside this project (the harness, the
hidden tests and the instructor's source notebooks). Gradescope unzips it into
``/autograder/source``, runs ``setup.sh`` once to build the image, then runs
``run_autograder`` as root for every submission.

``run_autograder`` calls ``python -m autograder gradescope-run``, which gathers the
four notebooks from ``/autograder/submission`` (top level, sub-folders or zip files)
and grades them with ``autograder.grading.grade.grade_path``, the very function local grading
uses, so the two cannot drift. ``AUTOGRADER_ROOT`` (default ``/autograder``) moves the
whole layout, which is how the tests run it anywhere.

The hidden tests and source notebooks are made readable by root only, and every
sandbox also sees them covered by an empty mount. A ``results.json`` is always
written: when grading itself fails, it says so without a word of the tests.
"""

from __future__ import annotations

import argparse
import shlex
import stat
import zipfile
from pathlib import Path

from autograder.cli import options
from autograder.errors import InstructorError
from autograder.paths import NOTEBOOKS, PROJECT_ROOT

#: What the bundle carries from this project, relative to its root.
BUNDLED = ("pyproject.toml", "README.md", "autograder", "grading_tests", "source/backprop")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the grading image.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
# A virtual environment from the system Python (under /usr, readable by every user):
# the sandbox drops to an unprivileged uid and must still import numpy and torch.
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
# The CPU build of torch (the CUDA one is several GB and no GPU is used), at the version
# the grader was tested with where this bundle was built.
/autograder/venv/bin/pip install torch=={torch_version} --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install -e /autograder/source
# The hidden tests and the solutions: root only.
chmod -R go-rwx /autograder/source/grading_tests /autograder/source/source
# Warm the bytecode caches so the first submission does not pay for them.
/autograder/venv/bin/python -c "import numpy, torch, IPython, matplotlib, pytest"
"""

def tested_torch_version() -> str:
    """The torch installed here, where the project's tests ran, without its local part
    (``2.13.0+cpu`` -> ``2.13.0``): what setup.sh pins."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch").split("+")[0]
    except PackageNotFoundError:
        raise InstructorError("torch is not installed here: the bundle pins the torch version the grader "
                              "was tested with, so build it where the tests run (make install)") from None


RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this as root for every submission; it writes results/results.json.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
cd "$ROOT/source" && "$PYTHON" -m autograder gradescope-run --root "$ROOT" --visibility {visibility}{require_isolation}
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    # Python itself could not start: still give Gradescope a valid file.
    mkdir -p "$ROOT/results"
    printf '%s\\n' '{"score": 0, "output": "The autograder could not start (exit status '"$status"'). Your instructor has been told; please let them know too.", "stdout_visibility": "hidden", "tests": []}' > "$ROOT/results/results.json"
fi
exit 0
"""


# ----------------------------------------------------------------------------- the bundle


def build_bundle(out_dir: Path, project_root: Path = PROJECT_ROOT, visibility: str = "visible",
                 require_isolation: str | None = None) -> Path:
    """Write ``out_dir/autograder.zip``; return its path. ``visibility``: the hidden tests'
    on Gradescope; ``require_isolation``: the least confinement to grade with (a
    submission graded below it gets "could not grade", the reason in the instructor's
    log); both passed to every ``gradescope-run``."""
    from autograder.outputs.results import VISIBILITIES
    from autograder.sandbox.confinement import required_layers

    if visibility not in VISIBILITIES:
        raise InstructorError(f"--visibility must be one of {', '.join(VISIBILITIES)}")
    if require_isolation is not None:
        try:
            required_layers(require_isolation)
        except ValueError as error:
            raise InstructorError(str(error)) from None
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InstructorError(f"cannot create {out_dir}: {error.strerror}") from None
    for stem in NOTEBOOKS:
        if not (project_root / "source" / "backprop" / f"{stem}.ipynb").is_file():
            raise InstructorError(f"source/backprop/{stem}.ipynb is missing; the bundle needs all four")
    bundle = out_dir / "autograder.zip"
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _add_text(archive, "setup.sh", SETUP_SH.replace("{torch_version}", tested_torch_version()))
        _add_text(archive, "run_autograder", RUN_AUTOGRADER.replace("{visibility}", visibility).replace(
            "{require_isolation}", f" --require-isolation {shlex.quote(require_isolation)}" if require_isolation else ""))
        for relative in BUNDLED:
            path = project_root / relative
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for file in files:
                if "__pycache__" in file.parts or file.suffix == ".pyc" or ".ipynb_checkpoints" in file.parts:
                    continue
                archive.write(file, file.relative_to(project_root).as_posix())
    return bundle


def _add_text(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = (stat.S_IFREG | 0o755) << 16  # executable, as Gradescope requires
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_out(parser, "where autograder.zip is written", required=True, metavar="DIR")
    options.add_visibility(parser)
    options.add_require_isolation(parser)


def run(args: argparse.Namespace) -> int:
    bundle = build_bundle(args.out, visibility=args.visibility, require_isolation=args.require_isolation)
    print(f"wrote {bundle} ({bundle.stat().st_size // 1024} KiB): upload it as the assignment's autograder")
    return 0


