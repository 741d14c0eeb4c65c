"""The kernel layers as the sandbox's confine step applies them (``autograder.sandbox.limits``).

``confine`` makes the namespaces where it can, then calls, in this order:

1. ``enter_cgroups`` first (as the grader's user, before anything is allocated), so
   the sandbox and all it will start are counted in its groups;
2. ``scratch_folder``: where the sandbox may write. With a private mount namespace
   that is its own size-capped ``/tmp``; without one, ``/tmp/backprop-sandbox-KEY``,
   made here (mode 700, the sandbox's uid) and removed by the template afterwards;
3. ``restrict``, after the namespaces, mounts and rlimits and before the uid change
   (the Landlock rules are opened with the grader's own access): Landlock with a
   read-only allowlist (``readable_trees``) and the scratch folder writable, then the
   seccomp filter (sockets and negative-pid kills only where no namespace stops them).
"""

from __future__ import annotations

import functools
import os
import shutil
import sys

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
    path = f"{SCRATCH_PREFIX}{key}"
    remove_scratch(key)  # left by an earlier sandbox with the same pid
    os.mkdir(path, 0o700)
    if uid is not None:
        os.chown(path, uid, gid)
    return path


def remove_scratch(key: int) -> None:
    shutil.rmtree(f"{SCRATCH_PREFIX}{key}", ignore_errors=True)


@functools.lru_cache(maxsize=8)
def _readable_trees(project_root: str, hidden: tuple[str, ...]) -> tuple[str, ...]:
    import autograder

    project = os.path.realpath(project_root)
    trees = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(autograder.__file__)),
             *(path for path in sys.path if path)]
    trees = [tree for tree in trees if not contains(tree, project)]
    return tuple(landlock.readable_roots(trees, hidden))


def contains(tree, path) -> bool:
    """Whether ``path`` is ``tree`` or lies beneath it (both resolved)."""
    tree, path = os.path.realpath(tree), os.path.realpath(path)
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def readable_trees(project_root, hidden) -> list[str]:
    """What a sandbox must read: the interpreter's prefixes, every ``sys.path`` entry
    and the grader's own package, minus the ``hidden`` trees beneath them. The project's
    root and the folders above it (``python -m`` puts the working folder, ``/`` for the
    template, on ``sys.path``) are not among them: they hold the hidden tests and the
    solutions. Of the project, only ``autograder/`` is. Remembered per ``hidden``: the template asks before it forks, so a
    sandbox does not walk the folders again."""
    return list(_readable_trees(str(project_root), tuple(hidden)))


def restrict(config: dict, scratch: str, private_mounts: bool, network_namespace: bool,
             pid_namespace: bool) -> dict:
    """Landlock, then seccomp, on the calling (single-threaded) process."""
    from autograder.paths import PROJECT_ROOT

    write = [scratch] + (["/var/tmp", "/dev/shm"] if private_mounts else [])
    read = [*landlock.SYSTEM_READ, *readable_trees(PROJECT_ROOT, config.get("hidden", ()))]
    return {"landlock": landlock.restrict(read=read, write=write),
            "seccomp": seccomp.restrict(network=network_namespace, signals=pid_namespace)}
