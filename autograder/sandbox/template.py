"""The warm template process, and the sandbox it forks for each notebook.

``python -m autograder.sandbox.template FD`` is started by ``autograder.sandbox.client.Template``
with one end of a ``SOCK_SEQPACKET`` control socket on ``FD``. It imports what student
notebooks use (NumPy, PyTorch, IPython, matplotlib) once, and never the hidden tests;
then it serves the grader:

``spawn``      with two file descriptors (the sandbox's end of a socketpair and the
               write end of its output pipe) attached by ``SCM_RIGHTS``: fork a
               sandbox, reply with its pid.
``status``     the exit status of a sandbox that died (waits a little for it).
``kill_tree``  kill the given sandboxes, everything they started and every other
               process that was orphaned onto the template, then reply.

The template is a child subreaper (``PR_SET_CHILD_SUBREAPER``): whatever a sandbox
starts, even a ``setsid`` grandchild whose parent died, is reparented to it, so
``kill_tree`` finds it in ``/proc``. When the grader closes the control socket (or
dies), the template kills every descendant and exits.

``--companion FD2`` (how the grader starts it): the torch-free companion template
(``--numpy-only``'s, which serves NumPy-only calls) is forked from this process once
what both hold (NumPy, matplotlib, IPython, the sandbox's own code) is imported and
before torch is: the companion never held torch, and the two share one start instead
of importing the same libraries twice side by side. The companion serves ``FD2`` as
its own template (``_Template``) with the stand-in of ``autograder.sandbox.notorch``;
this template leaves it out of everything it does to its own children, and it dies
with this template (``PR_SET_PDEATHSIG``).

Each forked sandbox runs ``autograder.sandbox.server.serve``.
"""

from __future__ import annotations

import gc
import os
import select
import signal
import socket
import sys
import time

from autograder.sandbox import codec
from autograder.sandbox.processes import alive, process_table, subtrees
from autograder.sandbox.protocol import CONTROL_MESSAGE_BYTES
from autograder.sandbox.server import serve

_PR_SET_CHILD_SUBREAPER = 36


def warm_up(numpy_only: bool = False) -> None:
    """Import what notebooks use, so each forked sandbox starts with it loaded.
    ``numpy_only``: everything but torch, whose import gives the stand-in of
    ``autograder.sandbox.notorch`` (this is then the torch-free template)."""
    if numpy_only:
        from autograder.sandbox import notorch

        notorch.install()
    import_common()
    if not numpy_only:
        import_torch()
    finish_warm_up()


def import_common() -> None:
    """What both templates hold: everything notebooks use but torch."""
    os.environ["MPLBACKEND"] = "Agg"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401
    import numpy.fft  # noqa: F401 - NumPy 2 loads these lazily, after the sandbox's
    import numpy.linalg  # noqa: F401 - privilege drop, which may not read them
    import numpy.random  # noqa: F401
    import numpy.testing  # noqa: F401
    from IPython.core.interactiveshell import InteractiveShell  # noqa: F401

    import autograder.sandbox.cells  # noqa: F401
    import autograder.sandbox.dispatch  # noqa: F401
    import autograder.sandbox.guard  # noqa: F401
    import autograder.sandbox.notorch  # noqa: F401
    from autograder.sandbox.confinement import landlock, seccomp

    landlock.abi_version()  # finds the C library once, not in every sandbox
    for namespaces in (False, True):  # built here once, only loaded by each sandbox
        seccomp.prepare(network=namespaces, signals=namespaces)


def import_torch() -> None:
    import torch
    import torch.overrides  # noqa: F401

    torch.manual_seed(0)  # loads what seeding loads (CUDA's, MPS's), once; each sandbox reseeds the CPU's


def finish_warm_up() -> None:
    """The last step of a template's start, after its imports."""
    global _pristine_shell
    _pristine_shell = _build_shell()
    # What the template imported lives as long as every sandbox: a student's garbage
    # collections need not walk it (nor copy its pages into each forked sandbox).
    gc.freeze()


#: An IPython shell nobody has used, built once before any fork: each sandbox runs its
#: notebook in its own copy (building one is mostly traitlets bookkeeping, paid once).
_pristine_shell = None


def _build_shell():
    """A fresh shell whose profile folder is a throwaway one (a sandbox never needs it:
    it has a private /tmp and an IPYTHONDIR of its own for anything it starts)."""
    import shutil
    import tempfile

    from autograder.sandbox.cells import new_shell

    folder = tempfile.mkdtemp(prefix="backprop-ipython-")
    previous = os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = folder
    try:
        return new_shell({"__name__": "__main__"})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if previous is None:
            del os.environ["IPYTHONDIR"]
        else:
            os.environ["IPYTHONDIR"] = previous


# -- the template -------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    control = socket.socket(fileno=int(argv[0]))
    companion_fd = int(argv[argv.index("--companion") + 1]) if "--companion" in argv[1:] else None
    companion_pid = None
    numpy_only = "--numpy-only" in argv[1:]
    from autograder.sandbox.limits import prctl

    prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the grader
    try:
        if numpy_only:
            warm_up(numpy_only=True)
        else:
            import_common()
            if companion_fd is not None:
                companion_pid = _fork_companion(control, companion_fd)
            import_torch()
            finish_warm_up()
    except BaseException as error:  # noqa: BLE001 - reported to the grader as text
        control.send(_message({"error": f"the template could not import what notebooks need: {error!r}"}))
        return 1
    return _serve(control, companion_pid)


def _fork_companion(control: socket.socket, fd: int) -> int:
    """Fork the torch-free companion template, which serves ``fd``: its pid. The
    companion itself never returns from here. ``notorch.install`` refuses to make it
    torch-free if torch was imported before the fork (the grader is then told why)."""
    pid = os.fork()
    if pid != 0:
        os.close(fd)
        return pid
    status = 1
    try:
        control.close()
        status = _companion_main(socket.socket(fileno=fd))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _companion_main(control: socket.socket) -> int:
    """The forked companion: become torch-free, finish starting, serve ``control``."""
    from autograder.sandbox import notorch
    from autograder.sandbox.limits import prctl

    prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the template, and so with the grader
    if os.getppid() == 1:  # the template died before the line above
        return 1
    try:
        notorch.install()
        finish_warm_up()
    except BaseException as error:  # noqa: BLE001 - reported to the grader as text
        control.send(_message({"error": f"the torch-free template could not start: {error!r}"}))
        return 1
    return _serve(control, None)


def _serve(control: socket.socket, companion: int | None) -> int:
    """Report ready on ``control`` and serve it until the grader closes it.
    ``companion``: the torch-free template forked from this one (not a sandbox)."""
    from autograder.sandbox.confinement.cgroups import Cgroups
    from autograder.sandbox.limits import prctl

    prctl(_PR_SET_CHILD_SUBREAPER, 1)
    template = _Template(control, Cgroups(), companion)
    control.send(_message({"ready": os.getpid(), "cgroups": template.cgroups.applied,
                           "cgroups_missing": template.cgroups.unavailable}))
    try:
        template.loop()
    finally:
        for channel in list(template.channels.values()):
            template.kill_tree(channel, list(channel.sandboxes))
        _reap_all()  # leave no zombie to whoever inherits them (the companion ends with its socket)
        template.tidy()
        template.cgroups.close()
    return 0


def _reap_all() -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.005)


def _message(value) -> bytes:
    return b"".join(bytes(part) for part in codec.encode(value))


def _unmessage(data: bytes):
    header_length, body_length = codec.PREFIX.unpack_from(data)
    return codec.decode(data[8:8 + header_length], data[8 + header_length:])


class _Channel:
    """One connection from the grader (one grading job) and the sandboxes it asked for."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sandboxes: set[int] = set()  # forked and not yet reaped
        self.statuses: dict[int, int] = {}  # reaped sandbox -> wait status
        self.forgotten: set[int] = set()  # killed on purpose, still exiting: nobody will ask


class _Template:
    """Serves the owner's control socket and any channels opened through it.

    Each grading job has a channel of its own: its sandboxes, their statuses and its
    ``kill_tree`` requests stay apart from the other jobs'. When the owner's socket
    closes, everything ends; when another channel closes, its sandboxes are killed.
    """

    def __init__(self, control: socket.socket, cgroups, companion: int | None = None):
        self.companion = companion  # the torch-free template forked from this one: no sandbox
        self.owner = _Channel(control)
        self.channels: dict[int, _Channel] = {control.fileno(): self.owner}
        self.uids: dict[int, int] = {}  # sandbox -> its private uid (as root)
        self.cgroups = cgroups  # each sandbox's groups (confinement.cgroups.Cgroups)
        self.untidy: set[int] = set()  # reaped sandboxes whose groups or scratch folder remain

    @property
    def sandboxes(self) -> set[int]:
        return set().union(*(channel.sandboxes for channel in self.channels.values()))

    def loop(self) -> None:
        poller = select.poll()
        poller.register(self.owner.sock, select.POLLIN)
        while True:
            for fd, _ in poller.poll(1000):
                channel = self.channels.get(fd)
                if channel is None:
                    continue
                try:
                    data, fds, _, _ = socket.recv_fds(channel.sock, CONTROL_MESSAGE_BYTES, 4)
                except OSError:
                    data, fds = b"", []
                if not data:
                    if channel is self.owner:
                        return  # the grader is gone, or done
                    self.close_channel(channel, poller)
                    continue
                request = _unmessage(data)
                reply = self.handle(channel, request, fds, poller)
                try:
                    channel.sock.send(_message({**reply, "tag": request.get("tag")}))
                except OSError:
                    if channel is self.owner:
                        return
                    self.close_channel(channel, poller)
            self.reap()

    def close_channel(self, channel: _Channel, poller) -> None:
        self.kill_tree(channel, list(channel.sandboxes))
        poller.unregister(channel.sock)
        del self.channels[channel.sock.fileno()]
        channel.sock.close()

    def handle(self, channel: _Channel, request: dict, fds: list[int], poller) -> dict:
        op = request.get("op")
        if op == "spawn":
            try:
                return {"pid": self.spawn(channel, fds, request["config"])}
            except OSError as error:  # fork failed: out of memory or processes
                return {"error": f"fork: {error.strerror}"}
        if op == "channel" and len(fds) == 1:
            sock = socket.socket(fileno=fds[0])
            self.channels[sock.fileno()] = _Channel(sock)
            poller.register(sock, select.POLLIN)
            return {"channel": True}
        for fd in fds:
            os.close(fd)
        if op == "status":
            return {"status": self.status(channel, request["pid"], request.get("wait", 1.0))}
        wait = request.get("wait", True) is not False
        if op == "kill_tree":
            return {"killed": self.kill_tree(channel, request["pids"], wait)}
        if op == "sweep":
            return {"killed": self.kill_tree(channel, list(channel.sandboxes), wait)}
        return {"error": f"unknown request {op!r}"}

    def spawn(self, channel: _Channel, fds: list[int], config: dict) -> int:
        from autograder.sandbox.confinement import layers, pidns

        layers.readable_trees(tuple(config.get("hidden", ())))  # remembered before the fork
        try:  # as root, each sandbox is pid 1 of a PID namespace of its own
            pid, pid_namespace = pidns.fork() if os.geteuid() == 0 else (os.fork(), False)
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        if pid == 0:
            status = 1
            try:
                for other in self.channels.values():
                    other.sock.close()
                status = serve(fds[0], fds[1], {**config, "cgroups": self.cgroups, "pid_namespace": pid_namespace},
                               shell=_pristine_shell)
            finally:
                os._exit(status)
        for fd in fds:
            os.close(fd)
        channel.sandboxes.add(pid)
        if config.get("uid") is None and os.geteuid() == 0:
            from autograder.sandbox.limits import SANDBOX_UID_BASE

            self.uids[pid] = SANDBOX_UID_BASE + pid  # as confine() picks it
        return pid

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                break
            self._reaped(pid, status)
        if self.untidy:
            self.tidy()

    def tidy(self) -> None:
        """Remove the groups and scratch folders of reaped sandboxes; a group that still
        holds a process (killed, still exiting) is tried again at the next reap."""
        from autograder.sandbox.confinement import layers

        for pid in list(self.untidy):
            if self.cgroups.remove(pid):
                layers.remove_scratch(pid)
                self.untidy.discard(pid)

    def _reaped(self, pid: int, status: int) -> None:
        if pid == self.companion:  # it ended (its grader is gone): the grader sees it
            self.companion = None
            return
        self.untidy.add(pid)
        for channel in self.channels.values():
            if pid in channel.sandboxes:
                channel.sandboxes.discard(pid)
                if pid in channel.forgotten:
                    channel.forgotten.discard(pid)
                else:
                    channel.statuses[pid] = status

    def status(self, channel: _Channel, pid: int, wait: float):
        deadline = time.monotonic() + wait
        while pid not in channel.statuses and pid in channel.sandboxes and time.monotonic() < deadline:
            time.sleep(0.005)
            self.reap()
        status = channel.statuses.pop(pid, None)
        if status is None:
            return None
        if os.WIFSIGNALED(status):
            return {"signal": os.WTERMSIG(status)}
        return {"exit": os.waitstatus_to_exitcode(status)}

    def _wait_for(self, pids: set[int], deadline: float) -> None:
        """Reap these children of the template (killed) as they die, until ``deadline``."""
        pids = set(pids)
        pause = 0.0005
        while pids and time.monotonic() < deadline:
            for pid in list(pids):
                try:
                    done, status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pids.discard(pid)
                    continue
                if done:
                    pids.discard(pid)
                    self._reaped(pid, status)
            if pids:
                time.sleep(pause)
                pause = min(pause * 2, 0.005)

    def kill_tree(self, channel: _Channel, pids: list[int], wait: bool = True) -> int:
        """SIGKILL the sandboxes ``pids`` of ``channel``, everything they started and
        every orphan of the template; return once all are gone, or (``wait`` false)
        once every one of them has been sent SIGKILL: then a process cannot fork or
        run any more, and the loop reaps it when it has finished exiting.

        Only the channel's own processes are touched: a pid that is not one of its
        unreaped sandboxes (another job's, or reused by now) is ignored. As root, each
        sandbox's private uid also finds whatever left its process tree. An orphan
        (reparented to the template: its parent died) is nobody's sandbox and is
        killed whoever asks.
        """
        me = os.getpid()
        mine = {pid for pid in pids if pid in channel.sandboxes or pid in channel.statuses}
        doomed = {pid for pid in mine if pid in channel.sandboxes}
        uids = {self.uids[pid] for pid in mine if pid in self.uids}
        killed: set[int] = set()
        # Killed earlier and still unmapping their memory: reading their /proc files
        # would wait for that, so without ``wait`` they are not read.
        exiting = set().union(*(other.forgotten for other in self.channels.values()))
        deadline = time.monotonic() + 10  # a process exiting with gigabytes mapped takes a while
        while time.monotonic() < deadline:
            if wait:
                children, owned = process_table(uids)
            else:
                children, owned = process_table(uids, skip=killed | exiting)
            for pid in mine:  # whatever left the tree and changed uid is still in the groups
                owned |= self.cgroups.members(pid) - killed - exiting
            every_sandbox = self.sandboxes
            roots = doomed | {pid for pid in children.get(me, ())
                              if pid not in every_sandbox and pid != self.companion}
            if wait:
                victims = (subtrees(children, roots) | owned) - {me}
            else:  # what the killed ones forked before the signal reached them, too
                victims = (subtrees(children, roots | killed, known_alive=killed) | owned) - {me} - killed
            if not victims:
                break
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
            # Our own children among them are waited for directly, which is much
            # cheaper than reading /proc again while they unmap their memory.
            ours = victims & set(children.get(me, ()))
            if wait and ours:
                self._wait_for(ours, deadline)
            elif wait:
                time.sleep(0.002)  # grandchildren: they are reparented to us as they die
            self.reap()
            doomed = {pid for pid in doomed if alive(pid)} if wait else doomed - killed
        for pid in mine:  # killed on purpose: nobody will ask how they died
            channel.statuses.pop(pid, None)
            self.uids.pop(pid, None)
            if pid in channel.sandboxes:
                channel.forgotten.add(pid)
        return len(killed)


if __name__ == "__main__":
    # Straight out once every sandbox is reaped: tearing down an interpreter that holds
    # torch is slow, and the grader would spend it waiting in Template.close().
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
