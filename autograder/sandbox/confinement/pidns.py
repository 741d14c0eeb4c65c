"""A PID namespace for a sandbox: ``kill(-1)``, pid probes and ``ns_last_pid`` reach
only the sandbox's own processes.

``unshare(CLONE_NEWPID)`` moves the caller's *children* into the new namespace, not
the caller. Two ways to get there:

* ``fork`` (the template, as root): unshare, fork the sandbox (pid 1 of the new
  namespace, and the pid the template knows), then ``setns`` back to the template's
  own namespace for the next fork. No extra process.
* ``enter`` (a sandbox that made a user namespace first, not root): fork once; the
  child is pid 1 and goes on to confine itself and serve; the parent (the pid the
  template knows) becomes a relay that holds nothing (every descriptor closed), waits
  for the child and exits as it did. Killing the relay kills pid 1 (``PDEATHSIG``).

Either way, when pid 1 dies the kernel kills every process of the namespace, so the
template's ``kill_tree`` by pid works unchanged.
"""

from __future__ import annotations

import ctypes
import os
import signal

CLONE_NEWPID = 0x20000000
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


_CLONE_NEWPID_UNAVAILABLE = -2
_own_namespace = -1  # the template's own PID namespace, opened on first use


def fork() -> tuple[int, bool]:
    """``os.fork()``, the child being pid 1 of a new PID namespace where the caller may
    make one: ``(pid, True)``; elsewhere (no ``CAP_SYS_ADMIN``) a plain fork:
    ``(pid, False)``."""
    global _own_namespace
    if _own_namespace == -1:
        try:
            _own_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            _own_namespace = _CLONE_NEWPID_UNAVAILABLE
    made = _own_namespace >= 0 and _libc.unshare(CLONE_NEWPID) == 0
    if _own_namespace >= 0 and not made:  # refused here (Docker's defaults): fork plainly from now on
        os.close(_own_namespace)
        _own_namespace = _CLONE_NEWPID_UNAVAILABLE
    try:
        pid = os.fork()
    except OSError:
        _back(made)
        raise
    if pid != 0:
        _back(made)
    return pid, made


def _back(made: bool) -> None:
    """The template's next children go to its own namespace again."""
    if made and _libc.setns(_own_namespace, CLONE_NEWPID) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"setns back to the template's PID namespace: {os.strerror(code)}")


def unshare_pid() -> None:
    """Make the next child the first process of a new PID namespace (``OSError`` if refused)."""
    if _libc.unshare(CLONE_NEWPID) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"unshare(CLONE_NEWPID): {os.strerror(code)}")


def enter(keep_fds=()) -> None:
    """After ``unshare_pid``: fork; return in the child (pid 1 of the namespace); the
    parent relays the child's exit and never returns. ``keep_fds`` are the child's
    business: the relay closes every descriptor so a peer sees the sandbox's end as soon
    as the child closes it."""
    # The relay holds ``alive``'s write end until it dies: pid 1 cannot ask getppid()
    # (0 in the namespace) whether the relay died before its PDEATHSIG was set.
    alive, holder = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(holder)
        _die_with_parent(alive)
        return
    _relay(child, holder)


def _die_with_parent(alive: int) -> None:
    import select

    if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        os._exit(1)
    poller = select.poll()
    poller.register(alive, select.POLLIN)
    if poller.poll(0):  # the relay's end is closed: it died before the prctl
        os._exit(1)
    os.close(alive)


def _relay(child: int, holder: int) -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the template's death ends it, and so pid 1
    # No socket, pipe or file of the sandbox stays open here.
    os.closerange(0, holder)
    os.closerange(holder + 1, 1 << 16)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda number, frame: os.kill(child, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)
