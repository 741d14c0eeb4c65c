"""Landlock: what a sandbox may read, write, connect to and signal, enforced by the kernel.

No privilege is needed (Linux 5.13+), so this layer holds wherever the grader runs:
as root, under Docker's defaults (Gradescope) and as an unprivileged user. One call,
``restrict``, made by the sandbox itself after every other step that needs the file
system (mounts, the uid change) and before any student code:

* files: read (and execute) only beneath ``read`` paths, read and write only beneath
  ``write`` paths (the sandbox's private temporary folder, ``/dev/null``...); nothing
  else is reachable, whatever the uid's permissions say. ``readable_roots`` turns the
  trees the sandbox needs into rules that leave out the hidden ones beneath them;
* network (ABI 4): no TCP ``bind`` or ``connect`` at all;
* scopes (ABI 6): no signal to, and no abstract unix socket of, a process outside the
  sandbox's own Landlock domain. Each sandbox restricts itself, so each has a domain
  of its own: ``kill(-1, SIGKILL)`` reaches only the sandbox and what it started,
  never the grader, the template or another student, even with no PID namespace and
  the grader's own uid. Landlock also denies ``ptrace`` (and so ``/proc/PID/mem`` and
  ``environ``) of processes outside the domain.

The syscalls come from ``landlockpy`` (0BSD, ctypes, no compiler). Of the three
bindings on the package index, ``landlock`` stops at ABI 5 file rights (no network
rules, no scopes); ``py-landlock`` (alpha) and ``landlockpy`` (beta) both know ABI 4
network rules and ABI 6 scopes, and ``landlockpy``, the more recent, drops right by
right what an older kernel does not know (best effort). What the kernel lacks is
reported, never fatal: ``restrict`` returns what it applied.
"""

from __future__ import annotations

import os
import stat

#: Beneath these a sandbox may read and execute: the C library, the system's Python,
#: shared data (fonts, zoneinfo), configuration, /proc and /sys (which Python, NumPy
#: and PyTorch read). Home directories, /tmp, /var, /run, /srv, /mnt are not here.
SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc", "/sys")
#: Device files a sandbox reads and writes (no other device).
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 where there is none (or no binding)."""
    try:
        from landlockpy import _syscall

        return _syscall.abi_version()
    except (ImportError, OSError):
        return 0


def readable_roots(trees, hidden) -> list[str]:
    """The paths to allow so that everything beneath ``trees`` is readable except what
    lies beneath ``hidden``: a tree that holds a hidden path is replaced by its entries
    (recursively), leaving the hidden ones out. Paths are resolved; missing ones dropped."""
    return split_roots(trees, hidden)[0]


def listable_dirs(trees, hidden) -> list[str]:
    """The directories ``readable_roots`` replaced by their entries. A sandbox may list
    them (``READ_DIR``, which Landlock grants to everything beneath too: the hidden
    trees' file names, never their contents): Python's import system lists a
    ``sys.path`` folder before it finds anything in it, so ``site-packages`` must stay
    listable when torch inside it is hidden."""
    return split_roots(trees, hidden)[1]


def split_roots(trees, hidden) -> tuple[list[str], list[str]]:
    """``readable_roots`` and ``listable_dirs`` from one walk."""
    hidden = {os.path.realpath(p) for p in hidden}
    roots: list[str] = []
    split: list[str] = []

    def visit(path: str) -> None:
        if path in hidden or any(path.startswith(h.rstrip("/") + "/") for h in hidden):
            return
        if not any(h.startswith(path.rstrip("/") + "/") for h in hidden):
            roots.append(path)
            return
        try:
            entries = sorted(os.listdir(path))
        except OSError:
            return
        split.append(path)
        for entry in entries:
            visit(os.path.join(path, entry))

    for tree in dict.fromkeys(os.path.realpath(p) for p in trees):
        if os.path.exists(tree):
            visit(tree)
    return list(dict.fromkeys(roots)), list(dict.fromkeys(split))


def restrict(read=(), write=(), devices=DEVICES, deny_tcp: bool = True, scoped: bool = True,
             list_only=()) -> dict:
    """Enforce a Landlock domain on the calling thread and its future children;
    ``list_only``: directories that may be listed but whose files stay unreadable.

    Returns ``{"abi": N, "files": True, "tcp": bool, "scoped": [...]}``, or
    ``{"abi": 0, "unavailable": reason}`` where the kernel or the binding has none.
    Sets ``PR_SET_NO_NEW_PRIVS`` (Landlock needs it without ``CAP_SYS_ADMIN``).
    """
    try:
        from landlockpy import AccessFS, AccessNet, Ruleset, Scope
        from landlockpy.errors import UnsupportedError
    except ImportError as error:
        return {"abi": 0, "unavailable": f"landlockpy is not installed ({error})"}
    try:
        ruleset = Ruleset(handled_net=(AccessNet.BIND_TCP | AccessNet.CONNECT_TCP) if deny_tcp else AccessNet.NONE,
                          scoped=(Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL) if scoped else Scope.NONE)
    except (UnsupportedError, OSError) as error:
        return {"abi": 0, "unavailable": f"Landlock is not available ({os.strerror(error.errno) if error.errno else error})"}
    with ruleset:
        file_read = AccessFS.READ_FILE | AccessFS.EXECUTE
        file_write = file_read | AccessFS.WRITE_FILE | AccessFS.TRUNCATE | AccessFS.IOCTL_DEV
        everything = ruleset.handled_fs
        for path in read:
            _allow(ruleset, path, file_read | AccessFS.READ_DIR, file_read)
        for path in write:
            _allow(ruleset, path, everything, file_write)
        for path in devices:
            _allow(ruleset, path, file_write, file_write)
        for path in list_only:
            _allow(ruleset, path, AccessFS.READ_DIR, AccessFS.NONE)
        ruleset.restrict()
        names = {Scope.SIGNAL: "signal", Scope.ABSTRACT_UNIX_SOCKET: "abstract_unix_socket"}
        return {"abi": ruleset.abi_version, "files": True,
                "tcp": bool(ruleset.handled_net & AccessNet.CONNECT_TCP),
                "scoped": [name for flag, name in names.items() if ruleset.scoped & flag]}


def _allow(ruleset, path: str, directory_access, file_access) -> None:
    """A rule for ``path`` (a directory's rights reach everything beneath it); a path
    the process cannot open is left out, which only denies more."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    access = directory_access if stat.S_ISDIR(mode) else file_access
    try:
        ruleset.allow_path(path, access)
    except OSError:
        pass
