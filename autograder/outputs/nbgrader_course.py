"""What an nbgrader course expects of autograding besides the scores: submission times,
late penalties, and feedback where nbgrader's exchange finds it.

``nbgrader autograde`` does three things we do not get by writing scores alone, and
``grade --nbgrader`` (and ``merge --nbgrader``) does them the same way:

* It stores each submission's time, read from ``submitted/<student>/<assignment>/
  timestamp.txt`` (written by ``nbgrader submit``, kept by ``collect``), in the
  gradebook (``submission_time``).
* It gives each notebook of a late submission the penalty of the course's
  late-submission plugin (``c.AssignLatePenalties.plugin_class`` and its options in
  ``nbgrader_config.py``): nbgrader's own ``AssignLatePenalties`` preprocessor is run
  here, with the course's configuration, so the plugin, its cap at the notebook's
  score and ``nbgrader export``'s penalised totals are nbgrader's. Like nbgrader, the
  configuration comes from the Jupyter config paths and then the course directory, and
  a plugin module beside ``nbgrader_config.py`` can be imported.
* ``nbgrader release_feedback`` publishes ``feedback/<student>/<assignment>/<notebook>.html``
  under a hash of the submission's secret (``submission_secret.txt``) and the notebook's
  name, and ``fetch_feedback`` looks for exactly the notebooks the student submitted. So
  the student's feedback page is written there once per notebook they submitted (the
  same page each time: it covers the whole assignment), beside copies of
  ``timestamp.txt`` and ``submission_secret.txt``. A submission that did not come through
  the exchange (no secret) gets none there: release_feedback could not match it, and
  would stop at it.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.errors import InstructorError
from autograder.paths import ASSIGNMENT, NOTEBOOKS

if TYPE_CHECKING:
    from autograder.grading.model import GradeReport

#: What nbgrader reads beside a submission's notebooks. Both are a line or two; anything
#: bigger, or not a plain file, is not what nbgrader wrote.
TIMESTAMP_FILE = "timestamp.txt"
SECRET_FILE = "submission_secret.txt"
MAX_SMALL_FILE = 4096


def read_small_text(path: Path) -> str | None:
    """A short text file nbgrader wrote in a student's folder, or None (missing, a link,
    not a regular file, too big, not text): read as every file a student controls is."""
    from autograder.notebooks import untrusted

    try:
        return untrusted.read_bytes(path, max_bytes=MAX_SMALL_FILE).decode("utf-8")
    except (untrusted.Unreadable, UnicodeDecodeError):
        return None


def submission_time(submitted_dir: Path) -> datetime.datetime | None:
    """When the student submitted, from ``timestamp.txt`` as nbgrader parses it (UTC).
    None without one; an unreadable one is reported and treated as none."""
    from nbgrader.utils import parse_utc

    text = read_small_text(Path(submitted_dir) / TIMESTAMP_FILE)
    if text is None or not text.strip():
        return None
    try:
        return parse_utc(text.strip())
    except (ValueError, OverflowError):
        print(f"warning: {Path(submitted_dir) / TIMESTAMP_FILE} is not a time nbgrader can read; "
              "recorded without a submission time (so without a late penalty)", file=sys.stderr)
        return None


# ----------------------------------------------------------------------------- late penalties


def course_config(course_root: Path):
    """The course's nbgrader configuration, loaded as nbgrader's apps load it: every
    ``nbgrader_config.py`` on the Jupyter config path, then the course directory's."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    config = Config()
    for directory in [*reversed(jupyter_config_path()), str(course_root)]:
        try:
            config.merge(PyFileConfigLoader("nbgrader_config.py", path=directory).load_config())
        except ConfigFileNotFound:
            continue
        except Exception as error:  # noqa: BLE001 - the instructor's file: one clear line
            raise InstructorError(f"{directory}/nbgrader_config.py cannot be loaded: {error}") from None
    return config


@contextlib.contextmanager
def _course_importable(course_root: Path):
    """nbgrader's apps put their working directory (the course) on ``sys.path`` so a
    plugin module can sit beside nbgrader_config.py; so do we, while it is loaded."""
    entry = str(course_root)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def assign_late_penalties(course_root: Path, student: str, config) -> None:
    """Each notebook's late penalty, by nbgrader's ``AssignLatePenalties`` and the course's
    plugin, for a submission already in the gradebook with its scores and time."""
    from nbformat.v4 import new_notebook
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties

    db_url = f"sqlite:///{Path(course_root) / 'gradebook.db'}"
    with Gradebook(db_url) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        stems = [notebook.name for notebook in submission.notebooks]
        if submission.total_seconds_late <= 0:
            # What the preprocessor does for a submission in time, without loading the plugin per notebook.
            for notebook in submission.notebooks:
                notebook.late_submission_penalty = None
            gradebook.db.commit()
            return
    with _course_importable(Path(course_root)):
        for stem in stems:
            resources = {"nbgrader": {"notebook": stem, "assignment": ASSIGNMENT, "student": student,
                                      "db_url": db_url}}
            try:
                AssignLatePenalties(config=config).preprocess(new_notebook(), resources)
            except Exception as error:  # noqa: BLE001 - the course's plugin failed: the instructor's to fix
                raise InstructorError(f"the course's late-submission plugin failed for {student}/{stem}: "
                                      f"{type(error).__name__}: {error}") from None


# ----------------------------------------------------------------------------- feedback


def feedback_dir(course_root: Path, student: str) -> Path:
    """Where ``nbgrader release_feedback`` looks for a student's feedback."""
    return Path(course_root) / "feedback" / student / ASSIGNMENT


def write_feedback(course_root: Path, report: "GradeReport", submitted_dir: Path) -> bool:
    """The student's feedback page where release_feedback finds it, once per notebook they
    submitted; False (and nothing written) for a submission not made through the exchange."""
    from autograder.outputs.feedback import render_feedback
    from autograder.outputs.results import results_json, write_text

    submitted_dir = Path(submitted_dir)
    timestamp = read_small_text(submitted_dir / TIMESTAMP_FILE)
    secret = read_small_text(submitted_dir / SECRET_FILE)
    if timestamp is None or secret is None:
        return False
    submitted = [stem for stem in NOTEBOOKS if (submitted_dir / f"{stem}.ipynb").is_file()]
    page = render_feedback(results_json(report), student=report.student or None)
    target = feedback_dir(course_root, report.student)
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.glob("*.html"):  # from an earlier grading of other notebooks
        if stale.stem not in submitted:
            stale.unlink()
    for stem in submitted:
        write_text(target / f"{stem}.html", page)
    write_text(target / TIMESTAMP_FILE, timestamp)
    write_text(target / SECRET_FILE, secret)
    with contextlib.suppress(OSError):
        os.chmod(target / SECRET_FILE, 0o600)  # as nbgrader keeps it: the secret names the feedback
    return True
