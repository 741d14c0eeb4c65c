"""The four ways the grader runs, as command prefixes for a test to start Python under;
and pids from inside a sandbox's PID namespace, as this side sees them (``host_pid``).

(a) ``root``: root with every capability; (b) ``docker``: root without CAP_SYS_ADMIN,
namespaces and mounts refused (``tests/tools/docker_like.py``, Docker's defaults and
Gradescope's); (c) ``user``: uid 65534 with user namespaces; (d) ``user_no_userns``:
uid 65534 with namespaces refused by a seccomp filter. The tests run as root (CI
does) and step down to each.
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.paths import PROJECT_ROOT

DOCKER_LIKE = str(Path(__file__).parent / "tools" / "docker_like.py")
NOBODY = 65534
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"
AS_NOBODY = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
SETTINGS = {
    "root": [],
    "docker": [sys.executable, DOCKER_LIKE],
    "user": AS_NOBODY,
    "user_no_userns": [sys.executable, DOCKER_LIKE, *AS_NOBODY],
}


def readable_by_all(path) -> bool:
    """Whether every user can reach ``path`` and read it (every folder above it too)."""
    path = Path(path).resolve()
    for folder in [*reversed(path.parents), path]:
        mode = os.stat(folder).st_mode
        if stat.S_ISDIR(mode) and mode & 0o005 != 0o005 or not stat.S_ISDIR(mode) and not mode & 0o004:
            return False
    return True


def open_project_copy() -> Path:
    """This project's tree where uid 65534 can read it: the project itself if it can,
    else a copy (without .git) in a temporary folder every user can read (CI clones
    into whatever folder it likes). The Python environment must be readable already:
    the sandbox needs that as root too."""
    if readable_by_all(PROJECT_ROOT / "autograder" / "__init__.py") and readable_by_all(PROJECT_ROOT / "tests"):
        return PROJECT_ROOT
    base = Path(tempfile.mkdtemp(prefix="backprop-open-"))
    os.chmod(base, 0o755)
    target = base / "project"
    shutil.copytree(PROJECT_ROOT, target, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__"))
    for folder, dirs, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return target


def run_python(setting: str, code: str, *args: str, project: Path = PROJECT_ROOT, timeout: float = 60,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -c code args...`` in ``setting`` with ``project`` first on sys.path."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(project),
                   "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    return subprocess.run([*SETTINGS[setting], sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=timeout, cwd="/", env=environment)


#: Notebook code whose ``pid()`` says where it runs: its PID namespace and its pid in it.
#: A sandbox is pid 1 of a namespace of its own where namespaces can be made, so its own
#: pids mean nothing out here; ``host_pid`` finds the process they name.
PID = "import os\ndef pid():\n    return os.readlink('/proc/self/ns/pid'), os.getpid()"


def host_pid(where) -> int:
    """This process's pid for ``(namespace, pid)`` as a sandbox reported it (``PID``)."""
    namespace, pid = where
    if namespace == os.readlink("/proc/self/ns/pid"):
        return pid
    return host_pids(namespace, [pid])[0]


def host_pids(namespace: str, pids) -> list[int]:
    """The pids out here of the processes ``pids`` of PID namespace ``namespace`` (living ones)."""
    if namespace == os.readlink("/proc/self/ns/pid"):
        return list(pids)
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != namespace:
                continue
            with open(f"/proc/{entry}/status") as handle:
                inner = next(line for line in handle if line.startswith("NSpid:")).split()[-1]
        except (OSError, StopIteration):
            continue
        found[int(inner)] = int(entry)
    return [found[pid] for pid in pids if pid in found]
