"""How a sandbox is confined: the limits it runs under and the steps that apply them.

``Limits`` is the instructor-facing knob set. ``confine`` runs in a freshly forked
sandbox, before any student code, and applies every layer the machine allows, in
this order (``autograder.sandbox.confinement`` has each layer and names the level):

* namespaces, as root or inside a user namespace, where the kernel allows them: a
  new network namespace (no interface is up, so even 127.0.0.1 is unreachable), a new
  IPC namespace, a new PID namespace (the sandbox is its pid 1: ``kill(-1)`` and pid
  probes reach only its own processes; as root the template forks it straight into
  it, in a user namespace the pid the template knows relays) and a new
  mount namespace in which the hidden paths (the hidden tests, the instructor's
  notebooks) and ``/run`` (service sockets) are covered by empty read-only tmpfs
  mounts, ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are private size-capped tmpfs,
  ``/proc`` is the namespace's own and, as root, the interpreter and the virtual
  environment are bound back read-only under a folder the sandbox's uid cannot
  traverse (a pyenv Python under ``/root``). Under Docker's defaults (no
  ``CAP_SYS_ADMIN``) or where user namespaces are off, there are none, and the
  layers below stand in for them;
* cgroups: the sandbox joins groups of its own, made by the template, capping memory
  (children and kernel memory included), processes and its CPU share;
* a scratch folder: the private ``/tmp``, or ``/tmp/backprop-sandbox-PID`` (mode 700,
  the sandbox's uid, removed by the template) where ``/tmp`` is shared;
* rlimits: ``RLIMIT_AS`` (its starting size plus ``memory_bytes``), ``RLIMIT_NPROC``,
  ``RLIMIT_CPU``, no core files, and no file larger than ``tmp_bytes`` on a shared disk;
* Landlock (read-only allowlist, the scratch folder writable, no TCP, no signal out
  of the sandbox) and seccomp (no namespaces, mounts, ptrace, bpf...; no socket but
  ``AF_UNIX`` and no ``kill(-1)`` where no namespace stops them);
* as root (with or without ``CAP_SYS_ADMIN``): an unprivileged uid of its own
  (``SANDBOX_UID_BASE + pid``, unused by any account), so a sandbox cannot signal,
  trace or read the files of another sandbox, and the process cap (``RLIMIT_NPROC``
  counts per uid) is its own;
* always: ``PR_SET_NO_NEW_PRIVS`` and death with its parent (``PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from dataclasses import dataclass

from autograder.sandbox import confinement
from autograder.sandbox.confinement import layers, pidns, visible

#: Per-sandbox uids are this plus the sandbox's pid (pids stay below 2**22).
SANDBOX_UID_BASE = 1_500_000_000

_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_BIND, _MS_REC, _MS_PRIVATE = 1 << 12, 1 << 14, 1 << 18
_MS_REMOUNT = 32
#: Scratch folders each sandbox gets a private, size-capped copy of.
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_NO_NEW_PRIVS = 1, 4, 38


@dataclass(frozen=True)
class Limits:
    """What one sandbox may use. Times in seconds, sizes in bytes.

    ``cell_timeout``: one notebook cell. ``call_timeout``: one call from the grader.
    ``memory_bytes``: address space on top of the sandbox's size when it starts.
    ``max_processes``: processes *and threads* of the sandbox's uid (as root; not
    root, on top of those the user already runs). ``output_bytes``: printed output
    kept per notebook for the instructor's log (the rest is read and dropped).
    ``tmp_bytes``: each private tmpfs (``/tmp``...). ``max_restarts``: fresh sandboxes
    one notebook may need before its calls give up. ``cpu_seconds``: CPU time of each
    sandbox process (``RLIMIT_CPU``), so a thread spinning after its call returned
    cannot slow grading for long. ``notebook_seconds``: all of one notebook's cells,
    restarts included (past it the notebook is given up: its calls fail).
    ``submission_seconds``: everything a submission runs, cells and calls, from its
    first sandbox on (past it every call fails at once); so a string of slow cells
    cannot hold a batch for minutes.
    """

    cell_timeout: float = 30.0
    call_timeout: float = 10.0
    memory_bytes: int = 2 * 1024**3
    max_processes: int = 64
    output_bytes: int = 64 * 1024
    tmp_bytes: int = 64 * 1024**2
    max_restarts: int = 8
    cpu_seconds: float = 600.0
    notebook_seconds: float = 60.0
    submission_seconds: float = 120.0


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, options: str | None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, flags,
                       options.encode() if options else None), f"mount {target}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, value, 0, 0, 0), f"prctl {option}")


def confine(config: dict) -> dict:
    """Confine the calling (freshly forked) process; return what was applied.

    ``config``: ``hidden`` (paths to cover), ``uid``/``gid`` (``None``: one per
    sandbox), ``memory_bytes``, ``max_processes``, ``tmp_bytes``, ``cgroups`` (the
    template's ``confinement.cgroups.Cgroups``, if any). Each layer is applied where
    the machine allows it (``autograder.sandbox.confinement``); what applied is in
    the result, with its ``level``. Raises ``OSError`` when a step that the machine
    allows fails half-way (a mount after the namespaces were made, the uid change).
    """
    root = os.geteuid() == 0
    # The pid the template knows: /proc is still the template's (pid 1 of a namespace
    # the template made sees itself there by that pid).
    key = int(os.readlink("/proc/self"))
    applied: dict = {"network": False, "hidden": [], "uid": os.getuid()}
    uid, gid = config.get("uid"), config.get("gid")
    if root and uid is None:
        uid = gid = SANDBOX_UID_BASE + key
    namespaces = _make_namespaces(applied, root, bool(config.get("pid_namespace")))
    if "pid" in namespaces and not config.get("pid_namespace"):
        pidns.enter()  # from here on, pid 1 of the namespace; the template's pid relays
    # Before anything is allocated, so all that follows is counted; after the relay's
    # fork, so the OOM killer never picks the relay (whose death would end the sandbox).
    applied.update(layers.enter_cgroups(config, key))
    if "mount" in namespaces:
        _make_private_mounts(config, applied, strict=root)
        if root:
            applied["revealed"] = visible.reveal(layers.interpreter_trees(), uid, gid, _mount)
    private_tmp = "mount" in namespaces and "not_covered" not in applied
    scratch = layers.scratch_folder(key, uid, gid, private_tmp)
    applied["scratch"] = scratch
    # RLIMIT_NPROC counts every task of the uid in the user namespace: as root our own
    # uid has none yet; a normal user has others unless it got a namespace of its own.
    _set_rlimits(config, shared_uid=not root and "userns" not in applied, private_tmp=private_tmp)
    applied.update(layers.restrict(config, scratch, private_mounts=private_tmp,
                                   network_namespace="net" in namespaces, pid_namespace="pid" in namespaces))
    if root:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        applied["uid"] = uid
        applied["fresh_uid"] = True
    prctl(_PR_SET_NO_NEW_PRIVS, 1)
    # A uid change makes the process non-dumpable, which hides /proc/self/fd from it
    # (and breaks subprocess); core files stay off through RLIMIT_CORE.
    prctl(_PR_SET_DUMPABLE, 1)
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
    applied["layers"] = confinement.layers_applied(applied)
    applied["level"] = confinement.level(applied["layers"])
    return applied


def _make_namespaces(applied: dict, root: bool, pid_namespace: bool) -> set[str]:
    """New network, IPC, mount and PID namespaces (as root directly, else inside a user
    namespace), or none where the kernel refuses (Docker's defaults, a hardened
    kernel): then the other layers stand in for them, and ``applied`` says why.
    ``pid_namespace``: the template forked this process into one already."""
    if not root:
        return _try_user_namespace(applied)
    try:
        _unshare(_CLONE_NEWNET | _CLONE_NEWNS | _CLONE_NEWIPC | (0 if pid_namespace else pidns.CLONE_NEWPID))
    except OSError as error:
        applied["namespaces_missing"] = f"unshare as root: {error.strerror}"
        return set()
    applied["network"] = applied["root_namespaces"] = True
    return {"net", "mount", "ipc", "pid"}


def _make_private_mounts(config: dict, applied: dict, strict: bool) -> None:
    """Cover the hidden paths and ``/run``, give private ``/tmp``s and a ``/proc`` that
    hides other users. ``strict``: any failure raises (root), else it is noted."""
    _mount("", "/", None, _MS_REC | _MS_PRIVATE, None)  # nothing propagates back out
    size = int(config.get("tmp_bytes", 64 * 1024**2))
    for path in PRIVATE_TMP:
        try:
            _private_tmp(path, f"size={size},mode=1777", config.get("keep", ()))
        except OSError as error:
            if strict:
                raise
            applied.setdefault("not_covered", []).append(f"{path} ({error.strerror})")
    # After the private /tmp: a hidden path inside a tree kept from /tmp is covered too.
    empty = ("tmpfs", "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "size=4k,mode=0555")
    steps = [(path, empty) for path in (*config.get("hidden", ()), "/run")]
    for path, (source, fstype, flags, options) in steps:
        try:
            if os.path.isdir(path):
                _mount(source, path, fstype, flags, options)
            elif os.path.exists(path):  # a single file: cover it with an empty one
                _mount("/dev/null", path, None, _MS_BIND, None)
            else:
                continue
        except OSError as error:
            if strict:
                raise
            applied.setdefault("not_covered", []).append(f"{path} ({error.strerror})")
            continue
        if options.startswith("size=4k"):
            applied["hidden"].append(path)
    try:
        _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "hidepid=2")
    except OSError:
        pass  # a kernel without hidepid: /proc shows process names, nothing more


def _private_tmp(path: str, options: str, keep) -> None:
    """A fresh tmpfs on ``path``; trees in ``keep`` that lay under it (the grader's code
    and Python environment, when they live in /tmp) are bound back, read-only."""
    if not os.path.isdir(path):
        return
    kept = sorted(k for k in keep if k.startswith(path.rstrip("/") + "/") and os.path.isdir(k))
    kept = [k for k in kept if not any(k.startswith(other + "/") for other in kept if other != k)]
    handles = [(k, os.open(k, os.O_PATH | os.O_DIRECTORY)) for k in kept]
    try:
        _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV, options)
        for target, fd in handles:
            os.makedirs(target, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND | _MS_REC, None)
            _mount("", target, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None)
    finally:
        for _, fd in handles:
            os.close(fd)


def _try_user_namespace(applied: dict) -> set[str]:
    uid, gid = os.getuid(), os.getgid()
    try:
        _unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWNS | _CLONE_NEWIPC | pidns.CLONE_NEWPID)
    except OSError as error:
        applied["namespaces_missing"] = f"no user namespace ({error.strerror})"
        return set()
    applied["network"] = True
    applied["userns"] = True
    try:
        with open("/proc/self/setgroups", "w") as handle:
            handle.write("deny")
        with open("/proc/self/uid_map", "w") as handle:
            handle.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as handle:
            handle.write(f"{gid} {gid} 1")
    except OSError as error:
        applied["namespaces_missing"] = f"user namespace without a uid map ({error.strerror})"
        applied["mounts"] = False
        return {"net", "ipc", "pid"}
    return {"net", "mount", "ipc", "pid"}


def _set_rlimits(config: dict, shared_uid: bool, private_tmp: bool = True) -> None:
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as handle:
        size = int(handle.read().split()[0]) * page
    memory = size + int(config["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    processes = int(config["max_processes"])
    if shared_uid:
        processes += _tasks_of(os.getuid())
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = int(config.get("cpu_seconds", 600))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    if not private_tmp:  # a scratch folder on the shared disk: no file larger than the tmpfs would hold
        size = int(config.get("tmp_bytes", 64 * 1024**2))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def _tasks_of(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                pass
    return count
