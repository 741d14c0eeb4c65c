"""``gradescope-run``: what ``run_autograder`` calls inside Gradescope's container.

It gathers the four notebooks from ``/autograder/submission`` (top level, sub-folders
or zip files) and grades them with ``autograder.grading.grade.grade_path``, the very
function local grading uses, so the two cannot drift. The seed comes from the
submission's id in ``/autograder/submission_metadata.json``, so a regrade of a submission
gives it the same grade. ``AUTOGRADER_ROOT`` (default
``/autograder``) moves the whole layout, which is how the tests run it anywhere. A
``results.json`` is always written: when grading itself fails, it says so without a
word of the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import sys
import tempfile
import traceback
import zipfile
from pathlib import Path, PurePosixPath

from autograder.cli import options
from autograder.errors import InstructorError
from autograder.outputs.words import RESULTS_JSON
from autograder.paths import NOTEBOOKS, PROJECT_ROOT

#: Readable by root only inside the bundle: the tests and the solutions.
PRIVATE = ("grading_tests", "source")


#: A zipped submission may not unpack to more than this (a zip bomb gets graded as empty).
MAX_UNZIPPED_BYTES = 64 * 1024 * 1024


def collect_notebooks(submission_dir: Path, into: Path) -> list[str]:
    """Copy the assignment's notebooks found in ``submission_dir`` into ``into``.

    Looks at the top level first, then sub-folders, then zip files; the shallowest copy
    of each notebook wins. Returns the stems found. The upload is the student's: links,
    FIFOs, devices and oversized files are passed over (``autograder.notebooks.untrusted``),
    in a zip too, so what is copied is always a file the student made.
    """
    from autograder.notebooks import untrusted

    wanted = {f"{stem}.ipynb" for stem in NOTEBOOKS}
    found: dict[str, tuple[int, bytes]] = {}

    def offer(name: str, depth: int, read) -> None:
        if name in wanted and (name not in found or depth < found[name][0]):
            found[name] = (depth, read())

    for path in sorted(Path(submission_dir).rglob("*")) if Path(submission_dir).is_dir() else []:
        parts = path.relative_to(submission_dir).parts
        if any(part.startswith(".") or part == "__MACOSX" for part in parts) or path.is_symlink():
            continue
        try:
            if path.suffix == ".ipynb":
                content = untrusted.read_bytes(path)
                offer(path.name, len(parts), lambda content=content: content)
            elif path.suffix == ".zip":
                untrusted.check_regular(path)
                _offer_from_zip(path, len(parts), offer)
        except untrusted.Unreadable:
            continue  # not a file the student made: a missing notebook is reported as such
    into.mkdir(parents=True, exist_ok=True)
    for name, (_, content) in found.items():
        (into / name).write_bytes(content)
    return sorted(name[:-len(".ipynb")] for name in found)


def _offer_from_zip(path: Path, depth: int, offer) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
                return
            for member in members:
                inner = PurePosixPath(member.filename)
                if "__MACOSX" in inner.parts or any(p.startswith(".") for p in inner.parts):
                    continue
                if stat.S_IFMT(member.external_attr >> 16) not in (0, stat.S_IFREG):  # a link stored in the zip
                    continue
                offer(inner.name, depth + len(inner.parts), lambda m=member: _read_member(archive, m))
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
        return  # an unreadable zip holds no notebook; the missing ones are reported as such


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    """A zip member's content, at most ``untrusted.MAX_FILE_BYTES`` of it whatever its
    header claims (a member that inflates past that is cut, and then fails as a notebook)."""
    from autograder.notebooks import untrusted

    with archive.open(member) as handle:
        return handle.read(untrusted.MAX_FILE_BYTES + 1)


def run_in_container(root: Path, visibility: str = "visible", require_isolation: str | None = None) -> int:
    """Grade ``root/submission`` into ``root/results/results.json``; never without a file.
    ``visibility``: the hidden tests' in results.json (``gradescope --visibility``);
    ``require_isolation``: grade nothing below that confinement (``gradescope --require-isolation``)."""
    root = Path(root)
    results_dir = root / "results"
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        _lock_private(Path(PROJECT_ROOT))
        with tempfile.TemporaryDirectory(prefix="gradescope-") as scratch:
            folder = Path(scratch) / "submission"
            collect_notebooks(root / "submission", folder)
            os.chmod(scratch, 0o700)
            from autograder.grading.grade import grade_path
            from autograder.outputs.words import format_points

            seed = seed_from_metadata(root / "submission_metadata.json")
            if seed is None:
                print("no submission id in submission_metadata.json: grading with a fresh seed")
            reports = grade_path(folder, results_dir, progress=False, single=True, seed=seed,
                                 visibility=visibility, require_isolation=require_isolation)
        print(f"graded: {format_points(reports[0].score)} / {format_points(reports[0].max_score)}")
        return 0
    except Exception as error:  # noqa: BLE001 - the edge: Gradescope must get a valid file
        detail = traceback.format_exc()
        print(detail, file=sys.stderr)  # Gradescope shows this to the instructor only
        public = str(error) if isinstance(error, InstructorError) else type(error).__name__
        _write_failure(results_dir / RESULTS_JSON, public)
        return 0


def submission_seed(submission_id: int | str) -> int:
    """The hidden tests' seed for a Gradescope submission: the same for every run of that
    submission ("Regrade all" gives the same grade), another for every other submission."""
    digest = hashlib.sha256(f"backprop-gradescope-submission:{submission_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def seed_from_metadata(path: Path) -> int | None:
    """The seed of the submission ``submission_metadata.json`` describes (its ``id``);
    None when there is no such file or id (then a fresh seed is drawn, as locally)."""
    try:
        submission_id = json.loads(Path(path).read_text(encoding="utf-8")).get("id")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(submission_id, bool) or not isinstance(submission_id, (int, str)) or submission_id == "":
        return None
    return submission_seed(submission_id)


def _lock_private(project_root: Path) -> None:
    """As root, make the hidden tests and solutions readable by root only."""
    if os.geteuid() != 0:
        return
    for name in PRIVATE:
        path = project_root / name
        if path.is_dir():
            for item in [path, *path.rglob("*")]:
                if not item.is_symlink():
                    item.chmod(item.stat().st_mode & ~0o077)


def _write_failure(path: Path, reason: str) -> None:
    data = {
        "score": 0,
        "output": ("The autograder could not grade this submission "
                   f"({reason}). Your instructor has been told; this is not a grade."),
        "stdout_visibility": "hidden",
        "tests": [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path,
                        default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")),
                        help="Gradescope's folder (default: $AUTOGRADER_ROOT or /autograder)")
    options.add_visibility(parser)
    options.add_require_isolation(parser)


def run(args: argparse.Namespace) -> int:
    return run_in_container(args.root, args.visibility, args.require_isolation)
