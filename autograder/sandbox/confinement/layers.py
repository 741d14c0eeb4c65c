"""The kernel layers as the sandbox's confine step applies them (``autograder.sandbox.limits``).

``confine`` makes the namespaces where it can, then calls, in this order:

1. ``enter_cgroups`` (as the grader's user, before anything is allocated, after the
   relay's fork if there is one), so the sandbox and all it will start are counted in
   its groups;
2. ``scratch_folder``: where the sandbox may write. With a private mount namespace
   that is its own size-capped ``/tmp``; without one, ``/tmp/backprop-sandbox-KEY-XXXX``,
   made here (mode 700, the sandbox's uid) and removed by the template afterwards;
3. ``restrict``, after the namespaces, mounts and rlimits and before the uid change
   (the Landlock rules are opened with the grader's own access): Landlock with a
   read-only allowlist (``readable_trees``: the system's folders and
   ``interpreter_trees`` minus the hidden paths beneath them, the folders around those
   listable only) and the scratch folder writable, then the
   seccomp filter (sockets and negative-pid kills only where no namespace stops them).
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import sys
import tempfile

from autograder.sandbox.confinement import landlock, seccomp

#: Where a sandbox without a private /tmp gets its scratch folder, by its key (pid).
SCRATCH_PREFIX = "/tmp/backprop-sandbox-"


def enter_cgroups(config: dict, key: int) -> dict:
    """Join sandbox ``key``'s groups (made by the template's ``Cgroups``, passed in
    ``config["cgroups"]``); what joined and what is missing, with why."""
    groups = config.get("cgroups")
    if groups is None:
        return {"cgroups": [], "cgroups_missing": {"all": "not set up by the template"}}
    return groups.enter(key, int(config["memory_bytes"]), int(config["max_processes"]))


def scratch_folder(key: int, uid: int | None, gid: int | None, private_tmp: bool) -> str:
    """The folder the sandbox may write to (its HOME and TMPDIR)."""
    if private_tmp:
        return "/tmp"
    path = tempfile.mkdtemp(prefix=f"{os.path.basename(SCRATCH_PREFIX)}{key}-", dir=os.path.dirname(SCRATCH_PREFIX))
    if uid is not None:
        os.chown(path, uid, gid)
    return path


def remove_scratch(key: int) -> None:
    for path in glob.glob(f"{SCRATCH_PREFIX}{key}-*"):
        shutil.rmtree(path, ignore_errors=True)  # another user's, left by a sandbox of the same pid, stays


def interpreter_trees() -> list[str]:
    """What a sandbox runs on: the interpreter (as written and resolved), its prefixes
    (the virtual environment, the Python it was made from), the grader's own package and
    every ``sys.path`` entry. Not the project's root or a folder above it (``python -m``
    puts the working folder, ``/`` for the template, on ``sys.path``): it holds the
    hidden tests and the solutions; of the project, only ``autograder/`` is needed."""
    import autograder
    from autograder.paths import PROJECT_ROOT

    trees = [sys.executable, os.path.realpath(sys.executable), sys.prefix, sys.base_prefix,
             os.path.dirname(os.path.realpath(autograder.__file__)), *(path for path in sys.path if path)]
    return [tree for tree in dict.fromkeys(trees) if not contains(tree, PROJECT_ROOT)]


def contains(tree, path) -> bool:
    """Whether ``path`` is ``tree`` or lies beneath it (both resolved)."""
    tree, path = os.path.realpath(tree), os.path.realpath(path)
    return path == tree or path.startswith(tree.rstrip("/") + "/")


@functools.lru_cache(maxsize=8)
def readable_trees(hidden: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a sandbox may read (the system's folders and ``interpreter_trees``), minus
    the ``hidden`` trees beneath them (torch under ``/usr/local`` too, as on Gradescope),
    and the folders split around them, which it may only list. Remembered per
    ``hidden``: the template asks before it forks, so a sandbox does not walk again."""
    read, listable = landlock.split_roots([*landlock.SYSTEM_READ, *interpreter_trees()], hidden)
    return tuple(read), tuple(listable)


def restrict(config: dict, scratch: str, private_mounts: bool, network_namespace: bool,
             pid_namespace: bool) -> dict:
    """Landlock, then seccomp, on the calling (single-threaded) process."""
    write = [scratch] + (["/var/tmp", "/dev/shm"] if private_mounts else [])
    read, list_only = readable_trees(tuple(config.get("hidden", ())))
    return {"landlock": landlock.restrict(read=read, write=write, list_only=list_only),
            "seccomp": seccomp.restrict(network=network_namespace, signals=pid_namespace)}
