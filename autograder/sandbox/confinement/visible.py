"""Make the interpreter, the grader's code and its Python environment visible to a
sandbox uid that cannot reach them (a pyenv build under ``/root``, mode 700).

Inside the sandbox's mount namespace (so only the sandbox sees it), ``reveal``
covers the top-most folder the sandbox's uid cannot traverse with an empty tmpfs
and binds each needed tree back beneath it, read-only: ``/root`` becomes a folder
holding ``/root/.pyenv/versions/3.12.7`` and nothing else. This needs a mount
namespace; without one the sandbox cannot be given these trees, and the grader
says so (``autograder.sandbox``'s probe) instead of grading with a broken sandbox.
"""

from __future__ import annotations

import os
import stat

_MS_RDONLY, _MS_NOSUID, _MS_NODEV = 1, 2, 4
_MS_BIND, _MS_REC, _MS_REMOUNT = 1 << 12, 1 << 14, 32


def _traversable(path: str, uid: int, gid: int) -> bool:
    info = os.stat(path)
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def blocked_ancestors(trees, uid: int, gid: int) -> dict[str, list[str]]:
    """For each top-most folder ``uid`` cannot traverse, the needed trees beneath it."""
    blocked: dict[str, list[str]] = {}
    for tree in dict.fromkeys(os.path.realpath(t) for t in trees):
        if not os.path.exists(tree):
            continue
        parts = tree.strip("/").split("/")
        for depth in range(1, len(parts)):
            folder = "/" + "/".join(parts[:depth])
            if not _traversable(folder, uid, gid):
                blocked.setdefault(folder, []).append(tree)
                break
    return blocked


def reveal(trees, uid: int, gid: int, mount) -> list[str]:
    """Cover each folder above ``trees`` that ``uid`` cannot traverse with a tmpfs
    every user may traverse, and bind the trees back read-only. ``mount`` is
    ``autograder.sandbox.limits``' mount helper; the caller is root in a private mount
    namespace. Returns the folders covered."""
    covered = []
    for folder, kept in blocked_ancestors(trees, uid, gid).items():
        kept = sorted(set(kept))
        kept = [k for k in kept if not any(k.startswith(other + "/") for other in kept if other != k)]
        handles = [(k, os.open(k, os.O_PATH)) for k in kept]
        umask = os.umask(0o022)  # the folders made on the tmpfs: traversable by every user
        try:
            mount("tmpfs", folder, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=64k,mode=0755")
            for target, fd in handles:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    os.makedirs(target, mode=0o755, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
                    open(target, "a").close()
                mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND | _MS_REC, None)
                mount("", target, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None)
            mount("", folder, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV, None)
        finally:
            os.umask(umask)
            for _, fd in handles:
                os.close(fd)
        covered.append(folder)
    return covered
