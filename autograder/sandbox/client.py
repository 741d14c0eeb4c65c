"""The grader's side of the sandbox template: the process every sandbox is forked from.

Public API (for the grading orchestration)::

    from autograder.sandbox.client import Limits, Template
    from autograder.sandbox.submission import SandboxSubmission

    with Template(Limits(), hidden_paths=(grading_tests_dir, source_dir)) as template:
        for cells_by_stem in submissions:           # stem -> list of cells, or a SubmissionError
            submission = SandboxSubmission(template, cells_by_stem)
            try:
                run_hidden_tests(submission, seed)  # the provider: submission.notebook(stem)
            finally:
                submission.close()                  # kills every process the submission started
            log(submission.events, submission.cell_results, submission.output)

``Template(limits=Limits(), hidden_paths=..., user=None)`` starts the warm template
process (``autograder.sandbox.template``): it imports NumPy, PyTorch, IPython and matplotlib
once and forks a sandbox per notebook in a few milliseconds. One template serves every
grading job of a batch, each through a ``channel()`` of its own: a channel's sandboxes,
their statuses and its kill requests stay apart from the other channels' (a process
orphaned onto the template is nobody's, and the next sweep of any channel kills it).
``user``: as root, the account the sandboxes run as
(``None``: a fresh uid per sandbox, the safest; ``"nobody"`` works too). As root, it
checks at start that this uid can read the interpreter and its packages and raises
``InstructorError`` if not. The template dies with the thread that started it
(``PR_SET_PDEATHSIG``), so start it from one that outlives it, such as the main thread.
``numpy_only``: by default (``None``) a torch-free companion template starts with it
(``numpy_only_template``): the template process forks it once NumPy, matplotlib and
IPython are imported and before torch is (``--companion FD``), so the two pay for one
start; ``True`` starts a torch-free template alone (``--numpy-only``); ``False`` runs
without one (NumPy-only calls are then only watched from inside).

What this side makes sure of before any student code runs:

* the template starts from a scrubbed environment (``KEPT_ENVIRONMENT``: nothing of the
  grader's own, no tokens or credentials), in ``/``, with a fixed hash seed, so every
  sandbox starts from the same random state (Python, NumPy, PyTorch) and grading the
  same submission twice gives the same values;
* memory, processes, CPU time, network, IPC, signals, visible files and the uid are
  confined inside each sandbox before any student code runs, with every layer the
  machine allows (see ``autograder.sandbox.limits``); the probe sandbox of ``wait_ready``
  reports which (``Template.isolation``, ``Template.level``), and ``require_isolation``
  refuses below a level;
* the torch-free template's sandboxes cover torch's files (``find_torch_paths``).

What is enforced while a submission is graded is ``autograder.sandbox.submission``'s.
"""

from __future__ import annotations

import copy
import os
import pwd
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from autograder.errors import InstructorError
from autograder.paths import GRADING_TESTS_DIR, PROJECT_ROOT
from autograder.sandbox import codec, confinement
from autograder.sandbox.limits import Limits
from autograder.sandbox.processes import alive
from autograder.sandbox.protocol import CONTROL_MESSAGE_BYTES, template_request

__all__ = ["Limits", "Template"]

DEFAULT_HIDDEN = (GRADING_TESTS_DIR, PROJECT_ROOT / "source")
#: Hidden whatever ``hidden_paths`` says: the git history holds the hidden tests and the
#: solutions; the nbgrader folders and the example submissions hold other people's work.
ALWAYS_HIDDEN = tuple(PROJECT_ROOT / name for name in (
    ".git", ".pytest_cache", "examples", "submitted", "autograded", "feedback", "out", "gradebook.db"))
#: The environment the template (and so every sandbox) starts from: nothing of the
#: grader's own (tokens, credentials), only what Python and the libraries read.
KEPT_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "VIRTUAL_ENV")
#: What a sandbox must still see if it lives in a scratch folder the sandbox gets a
#: private copy of (a checkout in /tmp): the grader's code and its Python environment.
KEPT_PATHS = tuple(dict.fromkeys(
    str(Path(p).resolve()) for p in (PROJECT_ROOT, sys.prefix, sys.base_prefix, *sys.path)
    if p and Path(p).is_dir()))
#: How long a fresh sandbox may take to confine itself and build its IPython shell.
START_TIMEOUT = 30.0
#: How long the template may take to import NumPy, PyTorch, IPython and matplotlib.
TEMPLATE_START_TIMEOUT = 180.0


class Template:
    """The warm process that forks sandboxes. A context manager; ``close()`` ends it."""

    def __init__(self, limits: Limits = Limits(), hidden_paths=DEFAULT_HIDDEN, user: str | int | None = None,
                 python: str = sys.executable, numpy_only: bool | None = None, torch_paths=None,
                 require_isolation: str | None = None, companion_of: socket.socket | None = None):
        if require_isolation is not None:
            try:
                confinement.required_layers(require_isolation)
            except ValueError as error:
                raise InstructorError(str(error)) from None
        self.require_isolation = require_isolation
        self.limits = limits
        #: ``numpy_only``: True, this is the torch-free template (see ``numpy_only_template``);
        #: None (the default), it runs the notebooks and starts a torch-free one beside it;
        #: False, it runs every call itself (NumPy-only calls are then watched from inside).
        self.numpy_only = bool(numpy_only)
        torch_paths = find_torch_paths() if torch_paths is None else tuple(torch_paths)
        hidden = (*hidden_paths, *ALWAYS_HIDDEN, *(torch_paths if numpy_only else ()))
        self.hidden_paths = tuple(dict.fromkeys(str(Path(p).resolve()) for p in hidden))
        self.root = os.geteuid() == 0
        self.uid, self.gid = _resolve_user(user, self.root)
        self._lock = threading.Lock()
        self._owner = os.getpid()  # Popen.poll only works in the process that started it
        self._asked = 0
        self._replies: dict[str, dict] = {}  # answered requests not yet awaited, by tag
        self._ready = False
        self._is_channel = False
        self.isolation: dict | None = None  # what a sandbox's confinement applied (from the probe)
        #: Where NumPy-only calls run: a template that never imported torch, whose sandboxes
        #: cannot see torch's files (so no student code in them can load it). By default
        #: the template process forks it before importing torch (``--companion``).
        self.numpy_only_template: Template | None = None
        self.process: subprocess.Popen | None = None  # None: the companion, forked by the template
        self._pid: int | None = None
        if companion_of is not None:
            self._control = companion_of
            return
        self._control, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        companion = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) if numpy_only is None else None
        # PYTHONHASHSEED: the same set and dict orders in every grading run.
        env = {key: os.environ[key] for key in KEPT_ENVIRONMENT if key in os.environ}
        env.update(PYTHONHASHSEED="0", OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONPATH=str(PROJECT_ROOT))
        try:
            self.process = subprocess.Popen(
                [python, "-m", "autograder.sandbox.template", str(child_end.fileno()),
                 *(["--numpy-only"] if numpy_only else []),
                 *(["--companion", str(companion[1].fileno())] if companion else [])],
                pass_fds=[child_end.fileno(), *([companion[1].fileno()] if companion else [])],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True, cwd="/", env=env)
        finally:
            child_end.close()
            if companion:
                companion[1].close()
        if companion:
            self.numpy_only_template = Template(limits, hidden_paths, user, python, numpy_only=True,
                                                torch_paths=torch_paths, require_isolation=require_isolation,
                                                companion_of=companion[0])

    # -- lifecycle

    def __enter__(self) -> "Template":
        self.wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def ready(self) -> bool:
        """Whether the template has finished starting (``wait_ready`` returned)."""
        return self._ready

    def wait_ready(self) -> None:
        """Wait for the imports; as root, check the sandbox user can read the interpreter."""
        if self._ready:
            return
        try:
            if self.numpy_only_template is not None:
                # Ready (and probed) while this one still imports torch.
                self.numpy_only_template.wait_ready()
            reply = self._receive(TEMPLATE_START_TIMEOUT, "start")
            if "ready" not in reply:
                raise InstructorError(f"the sandbox template did not start: {reply.get('error', reply)}")
            self._ready = True
            self._pid = reply["ready"]
            self.isolation = self._probe()
            if self.require_isolation is not None and not confinement.meets(self.isolation["layers"],
                                                                            self.require_isolation):
                raise InstructorError(
                    f"the sandbox's confinement here is {self.level!r}, below the required "
                    f"{self.require_isolation!r} (--require-isolation): nothing was graded. "
                    f"{describe_missing(self.isolation)}")
        except BaseException:
            self.close()
            raise

    @property
    def level(self) -> str | None:
        """The confinement level every sandbox of this template gets (``"full"``, or
        ``"no-namespaces: uid+landlock+seccomp+cgroups"``...), once it is ready."""
        return self.isolation["level"] if self.isolation else None

    @property
    def pid(self) -> int | None:
        """The template process's pid (the companion's: once it is ready)."""
        return self.process.pid if self.process is not None else self._pid

    def alive(self) -> bool:
        """Whether the template process runs (also right in a forked grading worker), and
        its torch-free companion if it has one."""
        if self.numpy_only_template is not None and not self.numpy_only_template.alive():
            return False
        if self.process is None:  # the companion: the template is its parent, and reaps it
            return self._pid is None or alive(self._pid)
        if os.getpid() == self._owner:
            return self.process.poll() is None
        return alive(self.process.pid)

    def channel(self) -> "Template":
        """Another connection to this template's process, for one more grading job.

        It works like the template itself (``spawn``, ``kill_tree``, ``sweep``...), but
        its sandboxes are its own: its requests never touch another channel's. Closing
        it leaves the process running; closing the template ends every channel. One
        process for all jobs imports torch, IPython and matplotlib once, not per job.
        """
        self.wait_ready()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            reply = self._request(template_request("channel"), fds=[theirs.fileno()])
        finally:
            theirs.close()
        if reply.get("channel") is not True:
            ours.close()
            raise RuntimeError(f"the sandbox template could not open a channel: {reply.get('error', reply)}")
        other = copy.copy(self)
        other._control, other._lock, other._asked, other._is_channel = ours, threading.Lock(), 0, True
        other._replies = {}
        if self.numpy_only_template is not None:
            try:
                other.numpy_only_template = self.numpy_only_template.channel()
            except BaseException:
                ours.close()
                raise
        return other

    def close(self) -> None:
        if self.numpy_only_template is not None:
            self.numpy_only_template.close()
        # A channel, a forked worker's copy, or the companion (it ends with its socket,
        # and the template, which closes next, reaps it).
        if self._is_channel or os.getpid() != self._owner or self.process is None:
            self._control.close()
            return
        if self.process.poll() is None:
            self._control.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._control.close()

    # -- requests (used by SandboxSubmission)

    def spawn(self, stem: str, limits: Limits | None = None, probe: bool = False) -> tuple[int, socket.socket, int]:
        """Fork a sandbox: (pid, the grader's socket to it, the read end of its output)."""
        spawning = self.spawn_begin(stem, limits, probe)
        try:
            return spawning.pid(), spawning.sock, spawning.output
        except RuntimeError:
            os.close(spawning.output)
            raise

    def spawn_begin(self, stem: str, limits: Limits | None = None, probe: bool = False) -> "Spawning":
        """Ask for a sandbox and return at once: its socket works now (what is sent
        waits for it), its pid comes with ``Spawning.pid()``. Several asked in a row
        are forked one after another while the grader goes on."""
        self.wait_ready()
        limits = limits or self.limits
        ours, theirs = socket.socketpair()
        output_read, output_write = os.pipe()
        config = {"stem": stem, "hidden": list(self.hidden_paths), "keep": list(KEPT_PATHS),
                  "uid": self.uid, "gid": self.gid,
                  "memory_bytes": limits.memory_bytes, "max_processes": limits.max_processes,
                  "tmp_bytes": limits.tmp_bytes, "cpu_seconds": limits.cpu_seconds, "probe": probe}
        try:
            tag = self._send(template_request("spawn", config=config), fds=[theirs.fileno(), output_write])
        except BaseException:
            ours.close()
            os.close(output_read)
            raise
        finally:
            theirs.close()
            os.close(output_write)
        return Spawning(self, tag, ours, output_read)

    def status(self, pid: int, wait: float = 1.0) -> dict | None:
        return self._request(template_request("status", pid=pid, wait=wait))["status"]

    def kill_tree(self, pids, wait: bool = True) -> int:
        """Kill these sandboxes, all they started, and every orphan of the template.
        ``wait``: until they are gone, not only until each has been sent SIGKILL."""
        if not self.alive():
            return 0
        return self._request(template_request("kill_tree", pids=list(pids), wait=wait))["killed"]

    def sweep(self, wait: bool = True) -> int:
        """Kill every sandbox this channel started that still runs, all they started,
        and every orphan of the template (after a submission: whatever it left)."""
        if not self.alive():
            return 0
        killed = self.numpy_only_template.sweep(wait) if self.numpy_only_template is not None else 0
        return killed + self._request(template_request("sweep", wait=wait))["killed"]

    def _request(self, request: dict, fds=()) -> dict:
        return self._await(self._send(request, fds), request["op"])

    def _send(self, request: dict, fds=()) -> str:
        """Send a request; its tag, for ``_await``."""
        # Tagged with who asked: a forked worker killed after asking leaves its reply
        # behind, and the next asker must skip it rather than take it for its own.
        self._asked += 1
        tag = f"{os.getpid()}:{self._asked}"
        with self._lock:
            data = b"".join(bytes(part) for part in codec.encode({**request, "tag": tag}))
            try:
                socket.send_fds(self._control, [data], list(fds))
            except OSError as error:
                raise RuntimeError(f"the sandbox template is gone ({error})") from None
        return tag

    def _await(self, tag: str, what: str) -> dict:
        """The reply to the request tagged ``tag``; replies to this process's other
        requests are kept for their own ``_await``, any other reply is dropped."""
        mine = f"{os.getpid()}:"
        deadline = time.monotonic() + 60.0
        with self._lock:
            while tag not in self._replies:
                reply = self._receive(deadline - time.monotonic(), what)
                other = reply.pop("tag", None)
                if type(other) is str and other.startswith(mine):
                    self._replies[other] = reply
            return self._replies.pop(tag)

    def _receive(self, timeout: float, what: str) -> dict:
        self._control.settimeout(max(timeout, 0.001))
        try:
            data = self._control.recv(CONTROL_MESSAGE_BYTES)
        except socket.timeout:
            raise RuntimeError(f"the sandbox template did not answer ({what})") from None
        if not data:
            raise RuntimeError(f"the sandbox template exited during {what}")
        header_length, _ = codec.PREFIX.unpack_from(data)
        return codec.decode(data[8:8 + header_length], data[8 + header_length:])

    def _probe(self) -> dict:
        """Fork one sandbox that confines itself and checks what it can read."""
        pid, sock, output = self.spawn("probe", probe=True)
        try:
            reply = codec.receive(sock, time.monotonic() + START_TIMEOUT)
        except (codec.Timeout, codec.Closed, codec.CodecError) as error:
            raise InstructorError(f"a sandbox could not be started ({type(error).__name__})") from None
        finally:
            sock.close()
            os.close(output)
            self.kill_tree([pid])
        if "failed" in reply:
            raise InstructorError(f"a sandbox could not confine itself: {reply['failed']}")
        applied = reply["ready"]
        for path, reason, hidden in applied.get("unreadable", ()):
            if hidden:
                raise InstructorError(
                    f"the sandbox cannot see {path}: it lies under one of the hidden paths or the "
                    "sandbox's private /tmp. Keep the Python environment and the grader outside the "
                    "folders hidden from submissions (and outside /tmp).")
            raise InstructorError(
                f"the sandbox runs as an unprivileged user (uid {applied['uid']}), who cannot read "
                f"{path} ({reason}). Build the virtual environment from a Python every user can read "
                "(e.g. `make install PYTHON=/usr/bin/python3`), not one under /root or a private "
                "home directory.")
        return applied


def find_torch_paths() -> tuple[str, ...]:
    """Where PyTorch's files are (its packages and their metadata), found without
    importing it: what a NumPy-only sandbox must not see."""
    import importlib.util

    paths = []
    for name in ("torch", "functorch", "torchgen", "torchvision", "triton"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.submodule_search_locations:
            paths += list(spec.submodule_search_locations)
    for folder in dict.fromkeys(str(Path(path).parent) for path in paths):
        paths += [str(entry) for entry in Path(folder).glob("torch-*.dist-info")]
        if (Path(folder) / "nvidia").is_dir():  # the CUDA libraries torch loads
            paths.append(str(Path(folder) / "nvidia"))
    return tuple(dict.fromkeys(os.path.realpath(path) for path in paths))


def describe_missing(applied: dict) -> str:
    """Why the layers missing from a sandbox's confinement are missing, in a sentence."""
    reasons = []
    if applied.get("namespaces_missing"):
        reasons.append(f"namespaces: {applied['namespaces_missing']}")
    if not applied.get("fresh_uid"):
        reasons.append("uid: the grader does not run as root")
    for layer in ("landlock", "seccomp"):
        if "unavailable" in (applied.get(layer) or {}):
            reasons.append(f"{layer}: {applied[layer]['unavailable']}")
    landlock = applied.get("landlock") or {}
    if landlock.get("files") and "signal" not in landlock.get("scoped", ()):
        reasons.append(f"landlock: ABI {landlock.get('abi')} has no signal scope (Linux 6.12+), so "
                       "without a PID namespace or a uid of its own a sandbox may signal the grader")
    missing_groups = {k: v for k, v in (applied.get("cgroups_missing") or {}).items()}
    if missing_groups:
        reasons.append("cgroups: " + "; ".join(f"{k} {v}" for k, v in missing_groups.items()))
    return ("Missing: " + ". ".join(reasons) + ".") if reasons else ""


class Spawning:
    """A sandbox asked of the template: ``sock`` and ``output`` work at once, ``pid()``
    waits for the fork (and raises ``RuntimeError`` if there was none)."""

    def __init__(self, template: Template, tag: str, sock: socket.socket, output: int):
        self.template, self.tag, self.sock, self.output = template, tag, sock, output
        self._pid: int | None = None

    def pid(self) -> int:
        if self._pid is None:
            reply = self.template._await(self.tag, "spawn")
            if type(reply.get("pid")) is not int:
                self.sock.close()
                raise RuntimeError(f"the sandbox template could not fork: {reply.get('error', reply)}")
            self._pid = reply["pid"]
        return self._pid


def _resolve_user(user, root: bool) -> tuple[int | None, int | None]:
    if user is None:
        return None, None
    if not root:
        raise InstructorError("a sandbox user can only be set when the grader runs as root")
    try:
        entry = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
    except KeyError:
        raise InstructorError(f"no such user for the sandbox: {user}") from None
    if entry.pw_uid == 0:
        raise InstructorError("the sandbox user must not be root")
    return entry.pw_uid, entry.pw_gid
