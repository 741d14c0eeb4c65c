"""Reading files a student controls: never through a link, never more than a cap, never echoed.

A submission folder is written by the student (or by whatever unpacked their upload), and
the grader runs as root. So a notebook "file" may be a symbolic link to the instructor's
solutions, to a classmate's work or to ``/proc/self/environ``; a FIFO that blocks the
reader forever; a device; or ten gigabytes. :func:`read_bytes` opens it with
``O_NOFOLLOW | O_NONBLOCK`` (a link is refused by the kernel, not by a check that a
rename could race), accepts only a regular file, reads at most a cap, and does so with the
privileges of the file's owner when that owner is not root, so a link the kernel did
follow higher up the path (a linked folder) cannot reach what its owner could not read.

:func:`parse_notebook_json` parses the bytes so that no input can raise past it: bad
UTF-8, nesting deeper than any notebook has, huge cells. Every refusal is an
``Unreadable`` whose ``reason`` is a sentence about the file, never its content.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from pathlib import Path

#: Larger than any notebook a student saves (outputs with plots included: a few MB).
MAX_FILE_BYTES = 32 * 1024 * 1024
#: The code of one notebook must fit in one message to the sandbox with room to spare.
MAX_CODE_BYTES = 4 * 1024 * 1024
#: Notebooks nest five levels or so (cells, metadata, nbgrader); widgets a few more.
MAX_JSON_DEPTH = 64


class Unreadable(Exception):
    """A file the grader will not read; ``reason`` completes "this notebook could not be read: ..."."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def describe_kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "it is a symbolic link"
    if stat.S_ISDIR(mode):
        return "it is a folder"
    if stat.S_ISFIFO(mode):
        return "it is a named pipe (FIFO), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a file"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a file"
    return "it is not a regular file"


def check_regular(path: Path, max_bytes: int = MAX_FILE_BYTES) -> os.stat_result:
    """``lstat`` of ``path`` if it is a regular file (not a link) of at most ``max_bytes``."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise Unreadable("no such file") from None
    except OSError as error:
        raise Unreadable(f"it could not be opened ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise Unreadable(describe_kind(info.st_mode))
    if info.st_size > max_bytes:
        raise Unreadable(f"it is larger than {max_bytes // 2**20} MB")
    return info


def read_bytes(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The content of the regular file ``path``, or ``Unreadable``; see the module doc."""
    path = Path(path)
    check_regular(path, max_bytes)  # a clear reason for the common cases, before opening
    try:  # the folder with our own rights (its owner may not reach it), the file with its owner's
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise Unreadable(f"its folder could not be opened ({error.strerror})") from None
    try:
        with _as_owner_of(folder):
            fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                         dir_fd=folder)
    except OSError as error:
        if error.errno == errno.ELOOP:  # the name became a symbolic link since the lstat
            raise Unreadable("it is a symbolic link") from None
        raise Unreadable(f"it could not be opened ({error.strerror})") from None
    finally:
        os.close(folder)
    try:
        info = os.fstat(fd)  # what was opened, not what the name pointed to a moment ago
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(describe_kind(info.st_mode))
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise Unreadable(f"it is larger than {max_bytes // 2**20} MB")
        return b"".join(chunks)
    except OSError as error:
        raise Unreadable(f"it could not be read ({error.strerror})") from None
    finally:
        os.close(fd)


@contextlib.contextmanager
def _as_owner_of(folder: int):
    """Open with the file-system identity of the owner of the open ``folder`` when we
    are root and it is not: root's power to read any file must not serve a student's
    hard link or a race. Only the file-system uid changes (``setfsuid``): this
    thread's, for the time of an open."""
    if os.geteuid() != 0:
        yield
        return
    owner = os.fstat(folder)
    if owner.st_uid == 0:
        yield
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.setfsgid(owner.st_gid)
    libc.setfsuid(owner.st_uid)
    try:
        yield
    finally:
        libc.setfsuid(0)
        libc.setfsgid(0)


def parse_notebook_json(raw: bytes) -> dict:
    """A notebook's JSON as a dict, or ``Unreadable``; no input raises anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("the file is not valid UTF-8; save it again from Jupyter") from None
    try:
        data = json.loads(text)  # C; deeper than the recursion limit is a RecursionError here
    except (ValueError, RecursionError, MemoryError):
        raise Unreadable("it is not a valid notebook: not valid JSON, or nested far too deep") from None
    if _deeper_than(data, MAX_JSON_DEPTH):
        # Everything after this (nbformat, merging, copying) may recurse through it.
        raise Unreadable(f"its JSON is nested more than {MAX_JSON_DEPTH} levels deep; it is not a notebook")
    if type(data) is not dict:
        raise Unreadable("it is not a notebook (its JSON is not an object)")
    return data


def _deeper_than(data, limit: int) -> bool:
    """Whether parsed JSON nests more than ``limit`` containers deep (without recursing)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if type(value) is dict:
            stack.extend((item, depth + 1) for item in value.values() if type(item) in (dict, list))
        elif type(value) is list:
            stack.extend((item, depth + 1) for item in value if type(item) in (dict, list))
    return False
