"""The warm template process, and the sandbox it forks for each notebook.

``python -m autograder.template FD`` is started by ``autograder.sandbox.Template``
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

A sandbox (``serve``) puts its stdout and stderr on the output pipe, confines itself
(``autograder.limits.confine``), reports ``ready`` and answers requests on its socket:
``run`` (the notebook's cells; it reports ``{"cell": i}`` as each cell starts, so the
grader can time cells from outside) and then the ``Dispatcher`` calls.
"""

from __future__ import annotations

import gc
import os
import select
import signal
import socket
import sys
import time

from autograder import codec

_PR_SET_CHILD_SUBREAPER = 36
CONTROL_MESSAGE_BYTES = 1 << 20
#: Exit statuses a sandbox uses for its own failures (anything else is the student's).
EXIT_NOT_CONFINED = 3
EXIT_LOST_SOCKET = 86


#: Whether this template is the torch-free one (``--numpy-only``): it never imports
#: torch, and ``import torch`` gives ``autograder.notorch``'s stand-in.
NUMPY_ONLY = False


def warm_up(numpy_only: bool = False) -> None:
    """Import what notebooks use, so each forked sandbox starts with it loaded.
    ``numpy_only``: everything but torch, whose import gives the stand-in."""
    global NUMPY_ONLY
    NUMPY_ONLY = numpy_only
    if numpy_only:
        from autograder import notorch

        notorch.install()
    os.environ["MPLBACKEND"] = "Agg"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401
    import numpy.fft  # noqa: F401 - NumPy 2 loads these lazily, after the sandbox's
    import numpy.linalg  # noqa: F401 - privilege drop, which may not read them
    import numpy.random  # noqa: F401
    import numpy.testing  # noqa: F401
    if not numpy_only:
        import torch  # noqa: F401
        import torch.overrides  # noqa: F401
    from IPython.core.interactiveshell import InteractiveShell  # noqa: F401

    import autograder.dispatch  # noqa: F401
    import autograder.execute  # noqa: F401
    import autograder.guard  # noqa: F401
    import autograder.notorch  # noqa: F401

    global _pristine_shell
    _pristine_shell = _build_shell()
    # What the template imported lives as long as every sandbox: a student's garbage
    # collections need not walk it (nor copy its pages into each forked sandbox).
    gc.freeze()


#: An IPython shell nobody has used, built once before any fork: each sandbox runs its
#: notebook in its own copy (building one costs ~35 ms of traitlets bookkeeping).
_pristine_shell = None


def _build_shell():
    """A fresh shell whose profile folder is a throwaway one (a sandbox never needs it:
    it has a private /tmp and an IPYTHONDIR of its own for anything it starts)."""
    import shutil
    import tempfile

    from autograder.execute import new_shell

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
    from autograder.limits import _prctl

    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the grader
    try:
        warm_up(numpy_only="--numpy-only" in argv[1:])
    except BaseException as error:  # noqa: BLE001 - reported to the grader as text
        control.send(_message({"error": f"the template could not import what notebooks need: {error!r}"}))
        return 1
    control.send(_message({"ready": os.getpid()}))
    template = _Template(control)
    try:
        template.loop()
    finally:
        for channel in list(template.channels.values()):
            template.kill_tree(channel, list(channel.sandboxes))
        _reap_all()  # leave no zombie to whoever inherits them
    return 0


def _reap_all() -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


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

    def __init__(self, control: socket.socket):
        self.owner = _Channel(control)
        self.channels: dict[int, _Channel] = {control.fileno(): self.owner}
        self.uids: dict[int, int] = {}  # sandbox -> its private uid (as root)

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
        try:
            pid = os.fork()
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        if pid == 0:
            status = 1
            try:
                for other in self.channels.values():
                    other.sock.close()
                status = serve(fds[0], fds[1], config)
            finally:
                os._exit(status)
        for fd in fds:
            os.close(fd)
        channel.sandboxes.add(pid)
        if config.get("uid") is None and os.geteuid() == 0:
            from autograder.limits import SANDBOX_UID_BASE

            self.uids[pid] = SANDBOX_UID_BASE + pid  # as confine() picks it
        return pid

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._reaped(pid, status)

    def _reaped(self, pid: int, status: int) -> None:
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
        # would wait for that (~10 ms each), so without ``wait`` they are not read.
        exiting = set().union(*(other.forgotten for other in self.channels.values()))
        deadline = time.monotonic() + 10  # a process exiting with gigabytes mapped takes a while
        while time.monotonic() < deadline:
            if wait:
                children, owned = _process_table(uids)
            else:
                children, owned = _process_table(uids, skip=killed | exiting)
            every_sandbox = self.sandboxes
            roots = doomed | {pid for pid in children.get(me, ()) if pid not in every_sandbox}
            if wait:
                victims = (_subtrees(children, roots) | owned) - {me}
            else:  # what the killed ones forked before the signal reached them, too
                victims = (_subtrees(children, roots | killed, known_alive=killed) | owned) - {me} - killed
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
            doomed = {pid for pid in doomed if _alive(pid)} if wait else doomed - killed
        for pid in mine:  # killed on purpose: nobody will ask how they died
            channel.statuses.pop(pid, None)
            self.uids.pop(pid, None)
            if pid in channel.sandboxes:
                channel.forgotten.add(pid)
        return len(killed)


def _process_table(uids: set[int], skip: set[int] = frozenset()) -> tuple[dict[int, list[int]], set[int]]:
    """Living (not zombie) processes by parent pid, and those whose uid is in ``uids``,
    from /proc; the pids in ``skip`` are left out unread. A process that made itself
    non-dumpable shows as root's here, but it cannot leave the tree under the template
    (the template is their subreaper), which is searched too."""
    children: dict[int, list[int]] = {}
    owned: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in skip:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            if fields[0] in (b"Z", b"X"):
                continue
            # /proc/N belongs to the process's uid (sandboxes stay dumpable); unlike
            # /proc/N/status, reading it never waits for an exiting process to unmap.
            if uids and os.stat(f"/proc/{entry}").st_uid in uids:
                owned.add(int(entry))
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children, owned


def _children_by_parent() -> dict[int, list[int]]:
    """Living (not zombie) processes by parent pid, from /proc."""
    return _process_table(set())[0]


def _subtrees(children: dict[int, list[int]], roots: set[int], known_alive: set[int] = frozenset()) -> set[int]:
    found: set[int] = set()
    stack = [pid for pid in roots if pid in known_alive or _alive(pid)]
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found.add(pid)
        stack.extend(children.get(pid, ()))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


# -- the sandbox ----------------------------------------------------------------------------


def serve(sock_fd: int, output_fd: int, config: dict) -> int:
    """The forked sandbox: confine, run the notebook, answer calls until the socket closes."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    _close_fds_except({0, 1, 2, sock_fd})
    for stream in (sys.stdout, sys.stderr):  # block-buffered since the template started on /dev/null
        stream.reconfigure(line_buffering=True, write_through=True)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGALRM):
        signal.signal(signum, signal.SIG_DFL)
    sock = socket.socket(fileno=sock_fd)
    try:
        from autograder.limits import confine

        needed = _needed_paths() if config.get("probe") else {}
        applied = confine(config)
        if config.get("probe"):
            applied["unreadable"] = _unreadable_paths(needed)
        else:
            _private_environment()
    except BaseException as error:  # noqa: BLE001 - reported, then the sandbox exits
        codec.send(sock, {"failed": f"{type(error).__name__}: {error}"})
        return EXIT_NOT_CONFINED
    codec.send(sock, {"ready": applied})
    if config.get("probe"):
        return 0
    _Server(sock, config).loop()
    return 0


def _close_fds_except(keep: set[int]) -> None:
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _private_environment() -> None:
    home = "/tmp" if os.access("/tmp", os.W_OK) else os.getcwd()
    os.chdir(home)
    os.environ.update({"HOME": home, "TMPDIR": home, "USER": "student", "LOGNAME": "student",
                       "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
                       "IPYTHONDIR": os.path.join(home, ".ipython"), "OMP_NUM_THREADS": "1"})
    import random

    import numpy

    # Every sandbox starts from the same random state, so an unseeded notebook grades
    # the same twice (the template's own state depends on when it started).
    random.seed(0)
    numpy.random.seed(0)
    if not NUMPY_ONLY:
        import torch

        torch.set_num_threads(1)  # cores are shared by every sandbox; also keeps sums reproducible
        torch.manual_seed(0)


def _needed_paths() -> dict[str, str | None]:
    """The interpreter, its prefixes, every sys.path entry and this package, both as
    written and resolved (a symlinked venv may hide behind a private directory), that
    exist for the template; each with one entry it sees inside (directories only)."""
    import autograder

    paths = [sys.executable, sys.prefix, sys.base_prefix, os.path.dirname(autograder.__file__)]
    paths += [p for p in sys.path if p]
    needed = {}
    for path in dict.fromkeys(paths + [os.path.realpath(p) for p in paths]):
        try:
            needed[path] = min(os.listdir(path), default=None) if os.path.isdir(path) else None
        except OSError:
            continue
        if not os.path.exists(path):
            del needed[path]
    return needed


def _unreadable_paths(needed: dict[str, str | None]) -> list[list]:
    """Those ``needed`` paths this confined process cannot read, as ``[path, reason,
    hidden]``; ``hidden``: it is gone, or a directory that lost its entries (a mount
    covers it)."""
    import stat

    problems = []
    for path, entry in needed.items():
        try:
            if stat.S_ISDIR(os.stat(path).st_mode):
                if entry is not None and entry not in os.listdir(path):
                    problems.append([path, "covered by an empty mount", True])
            else:
                with open(path, "rb") as handle:
                    handle.read(1)
        except OSError as error:
            problems.append([path, error.strerror, isinstance(error, FileNotFoundError)])
    return problems


class _Server:
    """Answers the grader's requests with one notebook's ``Dispatcher``."""

    def __init__(self, sock: socket.socket, config: dict):
        self.sock = sock
        self.config = config
        self.dispatcher = None

    def loop(self) -> None:
        while True:
            try:
                request = codec.receive(self.sock)
            except codec.Closed:
                return  # the grader hung up: done
            reply = self.answer(request)
            try:
                codec.send_frame(self.sock, reply)
            except (codec.Closed, OSError):  # student code closed or broke our socket
                os._exit(EXIT_LOST_SOCKET)

    def answer(self, request: dict) -> list:
        from autograder.errors import NotPlainData, SubmissionError

        op = request["op"]
        label = request.get("label", op)
        try:
            value = self.run(request) if op == "run" else self.dispatch(op, request)
            reply = {"ok": value}
        except SubmissionError as error:
            reply = {"error": _error_fields(error)}
        except BaseException as error:  # noqa: BLE001 - a bug, or student code that broke us
            reply = {"internal": f"{type(error).__name__}: {error}"[:2000]}
        seq = request.get("seq")  # echoed, so a stray frame cannot pass for this reply
        try:
            return codec.encode({**reply, "seq": seq})
        except codec.CodecError as error:
            return codec.encode({"error": _error_fields(NotPlainData(label, str(error))), "seq": seq})

    def run(self, request: dict) -> list:
        from autograder.dispatch import Dispatcher
        from autograder.execute import new_shell, run_cells

        skipped = request.get("skip", {})
        cells = ["" if str(i) in skipped else code for i, code in enumerate(request["cells"])]
        shell = _pristine_shell if _pristine_shell is not None else new_shell({"__name__": "__main__"})
        results = run_cells(shell, cells, float(request["cell_timeout"]),
                            on_cell_start=lambda index: codec.send(self.sock, {"cell": index}))
        errors = [skipped.get(str(r.index)) or r.error for r in results]
        self.dispatcher = Dispatcher(request["stem"], shell.user_ns, tuple(e for e in errors if e))
        return [[r.index, r.seconds, error] for r, error in zip(results, errors)]

    def evaluate(self, function_id: int, x) -> float:
        """A test function's value at ``x``, asked of the grader, which alone holds the
        function (and so its gradient). Runs inside a student's call."""
        import numpy

        try:
            array = numpy.ndarray.copy(numpy.asarray(x, dtype=numpy.float64))
        except (TypeError, ValueError) as error:
            raise TypeError(f"f(x) needs an array of numbers: {error}") from None
        codec.send(self.sock, {"evaluate": function_id, "x": array})
        reply = codec.receive(self.sock)
        if type(reply) is dict and type(reply.get("value")) is float:
            return reply["value"]
        raise ValueError(str(reply.get("error", "f(x) could not be computed")) if type(reply) is dict else "f(x)")

    def dispatch(self, op: str, request: dict):
        dispatcher = self.dispatcher
        if op == "call":
            return dispatcher.call(request["name"], request["args"], request["kwargs"],
                                   **request["options"])
        if op == "reference_function":
            function_id = request["function"]
            return dispatcher.value_only(lambda x: self.evaluate(function_id, x))
        if op == "getattr":
            return dispatcher.getattr(request["id"], request["attr"])
        if op == "call_handle":
            return dispatcher.call_handle(request["id"], request["args"], request["kwargs"])
        if op == "len":
            return dispatcher.len(request["id"])
        if op == "getitem":
            return dispatcher.getitem(request["id"], request["key"])
        raise ValueError(f"unknown request {op!r}")


#: What each error's constructor takes, in order; the grader rebuilds them from this.
ERROR_FIELDS = {
    "NotebookMissing": ("stem", "detail"),
    "FunctionMissing": ("stem", "name", "cell_errors"),
    "StudentException": ("function", "exc_type", "message"),
    "CallTimeout": ("function", "seconds"),
    "SandboxDied": ("function", "reason"),
    "AutogradUsed": ("function", "what"),
    "NotPlainData": ("function", "detail"),
}


def _error_fields(error) -> list:
    name = type(error).__name__
    fields = ERROR_FIELDS.get(name)
    if fields is None:
        return ["StudentException", ["grader", name, str(error)]]
    return [name, [getattr(error, field) for field in fields]]


if __name__ == "__main__":
    # Straight out once every sandbox is reaped: tearing down an interpreter that holds
    # torch took ~0.3 s, which the grader spent waiting in Template.close().
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
