"""Files a student controls are read as untrusted: no link, FIFO, device or oversized
file is followed or read, no input raises past the notebook parser, and no message
quotes a file's content."""

import json
import os
import stat
from pathlib import Path

import pytest

from autograder.notebooks import untrusted
from autograder.errors import NotebookMissing
from autograder.notebooks.read import read_notebook

SECRET = "SECRET-CONTENT-31337"


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.ipynb"
    path.write_text(SECRET)
    path.chmod(0o600)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(NotebookMissing) as caught:
        read_notebook(path, "01_relu")
    message = str(caught.value)
    assert SECRET not in message and "PATH=" not in message
    return message


def test_a_link_is_refused_as_a_link_whatever_it_points_to(tmp_path, secret):
    for name, target in (("to_secret", secret), ("to_environ", Path("/proc/self/environ")),
                         ("dangling", tmp_path / "nowhere")):
        link = tmp_path / f"{name}.ipynb"
        link.symlink_to(target)
        assert "it is a symbolic link" in refusal(link)


def test_a_fifo_a_device_and_a_folder_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)
    assert "named pipe" in refusal(fifo)
    assert "device" in refusal(Path("/dev/zero"))
    (tmp_path / "folder.ipynb").mkdir()
    assert "folder" in refusal(tmp_path / "folder.ipynb")


def test_an_oversized_file_is_refused_unread(tmp_path):
    big = tmp_path / "big.ipynb"
    with open(big, "wb") as handle:
        handle.truncate(untrusted.MAX_FILE_BYTES + 1)
    assert "larger than" in refusal(big)


@pytest.mark.parametrize("content, reason", [
    (b"\xff\xfe" + SECRET.encode(), "not valid UTF-8"),
    (SECRET.encode(), "not a valid notebook"),
    (b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not a valid notebook"),
    (b'{"a": ' + b"[" * 500 + b"]" * 500 + b"}", "nested more than"),
    (b"[1, 2]", "not a notebook"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": SECRET}]}).encode(),
     "not a valid notebook"),
])
def test_malformed_content_never_raises_past_the_parser_nor_echoes(tmp_path, content, reason):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    assert reason in refusal(path)


def test_a_file_owned_by_a_student_is_read_with_the_students_rights(tmp_path, secret):
    if os.geteuid() != 0:
        pytest.skip("only root reads with another user's rights")
    folder = tmp_path / "student"
    folder.mkdir()
    os.chown(folder, 12345, 12345)
    hard = folder / "hard.ipynb"
    os.link(secret, hard)  # a hard link to a root-only file: not a symlink, but not readable by its owner
    assert "could not be opened" in refusal(hard)
    own = folder / "own.ipynb"
    own.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}))
    os.chown(own, 12345, 12345)
    assert read_notebook(own, "01_relu")["cells"] == []
    assert stat.S_ISREG(os.lstat(own).st_mode)


def test_a_gradescope_upload_gives_only_the_students_own_files(tmp_path, secret):
    import zipfile

    from autograder.cli.gradescope_run import collect_notebooks

    upload = tmp_path / "submission"
    (upload / "nested").mkdir(parents=True)
    (upload / "01_relu.ipynb").symlink_to(secret)
    (upload / "nested" / "02_backward.ipynb").symlink_to("/proc/self/environ")
    os.mkfifo(upload / "03_mlp.ipynb")
    with zipfile.ZipFile(upload / "work.zip", "w") as archive:
        link = zipfile.ZipInfo("04_bce.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, str(secret))
        archive.writestr("03_mlp.ipynb", "{}")
    found = collect_notebooks(upload, tmp_path / "collected")
    assert found == ["03_mlp"]  # from the zip; the FIFO, the links and the zipped link are passed over
    assert (tmp_path / "collected" / "03_mlp.ipynb").read_text() == "{}"


def test_nbgrader_copies_regular_files_only(tmp_path, secret):
    from autograder.outputs.gradebook import _copy_for_formgrader

    submitted = tmp_path / "submitted" / "eve" / "backprop"
    submitted.mkdir(parents=True)
    (submitted / "01_relu.ipynb").write_text("{}")
    (submitted / "02_backward.ipynb").symlink_to(secret)
    _copy_for_formgrader(tmp_path, "eve", submitted)
    copied = tmp_path / "autograded" / "eve" / "backprop"
    assert sorted(path.name for path in copied.iterdir()) == ["01_relu.ipynb"]
    assert SECRET not in "".join(path.read_text() for path in copied.iterdir())
