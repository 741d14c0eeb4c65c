"""seccomp: system calls a sandbox may not make, whatever its uid and capabilities.

No privilege is needed (the filter is loaded under ``PR_SET_NO_NEW_PRIVS``), and a
filter can only be narrowed afterwards, never lifted. ``restrict`` loads one built
with libseccomp (through ``pyseccomp``: ctypes over ``libseccomp.so.2``, which every
Debian and Ubuntu image has because apt depends on it; libseccomp checks the
architecture and spells the BPF, which are the parts hand-written filters get wrong).
The default is to allow; what is refused fails with an errno, so a notebook that
tries sees an ``OSError`` in its own cell and the grader carries on:

* new namespaces and mounts: ``unshare``, ``setns``, ``clone`` with any namespace
  flag, the mount family (``EPERM``); ``clone3`` fails with ``ENOSYS`` (its flags sit
  in memory a filter cannot read), so glibc falls back to ``clone``, as under Docker;
* reaching into other processes or the kernel: ``ptrace``, ``process_vm_readv`` and
  ``writev``, ``pidfd_getfd``, ``kcmp``, ``bpf``, ``perf_event_open``, the key
  ring, ``userfaultfd``, ``io_uring`` (whose requests no filter sees), module
  loading, ``kexec``, ``reboot``, ``swapon``, clock setting, ``chroot``,
  ``open_by_handle_at``, ``acct``, ``quotactl``;
* ``network=False`` (no network namespace): ``socket`` and ``socketpair`` of any
  family but ``AF_UNIX`` (``EAFNOSUPPORT``): no TCP, UDP, raw packets or netlink;
* ``signals=False`` (no PID namespace): ``kill`` with a negative pid (``-1``: every
  process the uid may signal; ``-N``: a process group). ``kill(0, ...)`` stays: a
  sandbox is a session of its own, so its group is its own.
"""

from __future__ import annotations

import errno

#: Namespace flags of clone(2)/unshare(2).
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
#: Refused with EPERM wherever the sandbox runs.
REFUSED = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "chroot",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "open_by_handle_at", "name_to_handle_at", "acct", "quotactl", "syslog", "iopl", "ioperm",
    "fanotify_init", "lookup_dcookie", "vhangup",
)
_AF_UNIX = 1


def available() -> str | None:
    """``None`` where filters can be loaded here, else why not."""
    try:
        import pyseccomp  # noqa: F401 - loads libseccomp.so.2
    except (ImportError, OSError, RuntimeError) as error:
        return f"libseccomp or pyseccomp is missing ({error})"
    return None


def restrict(network: bool = False, signals: bool = False) -> dict:
    """Load the filter on the calling thread (and its future children).

    ``network``/``signals``: the sandbox has a network / PID namespace of its own, so
    sockets / negative pids need no filtering. Returns what was refused, or
    ``{"unavailable": reason}``. The filter is built once per process (``prepare``, in
    the template before it forks) and only loaded here.
    """
    prepared = prepare(network, signals)
    if "unavailable" in prepared:
        return prepared
    rules, applied = prepared["filter"], prepared["applied"]
    try:
        rules.load()
    except OSError as error:
        return {"unavailable": f"the filter could not be loaded ({error.strerror})"}
    return dict(applied)


_prepared: dict[tuple[bool, bool], dict] = {}


def prepare(network: bool = False, signals: bool = False) -> dict:
    """Build (once) the filter ``restrict`` loads: ``{"filter": ..., "applied": ...}``."""
    key = (network, signals)
    if key not in _prepared:
        _prepared[key] = _build(network, signals)
    return _prepared[key]


def _build(network: bool, signals: bool) -> dict:
    reason = available()
    if reason:
        return {"unavailable": reason}
    import pyseccomp as seccomp

    refuse = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in REFUSED:
        try:
            rules.add_rule(refuse, name)
        except (OSError, ValueError):  # unknown to this libseccomp or this architecture
            continue
    for flag in NAMESPACE_FLAGS:
        rules.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    applied = {"namespaces": True, "mounts": True, "ptrace": True}
    if not network:
        for name in ("socket", "socketpair"):
            rules.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), name, seccomp.Arg(0, seccomp.NE, _AF_UNIX))
        applied["sockets"] = "AF_UNIX only"
    if not signals:
        # pid_t is 32 bits: its sign bit, whatever the upper half of the register holds.
        rules.add_rule(refuse, "kill", seccomp.Arg(0, seccomp.MASKED_EQ, 0x80000000, 0x80000000))
        applied["kill"] = "no negative pid"
    return {"filter": rules, "applied": applied}
