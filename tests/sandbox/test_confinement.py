"""Each confinement layer on its own, in the four ways the grader runs: a forked Python
process applies the layer, then tries what it must stop.

As root (a, b), as uid 65534 with and without user namespaces (c, d); see
``tests/confinement_settings.py``. The whole sandbox, with every layer together, is
tested in test_hostile.py and test_batch_hostile.py.
"""

import json
import os
import socket

import pytest

from autograder.sandbox import confinement
from autograder.sandbox.confinement import landlock

from confinement_settings import SETTINGS, open_project_copy, run_python

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="steps down from root to each setting (CI runs as root)")]


@pytest.fixture(scope="module")
def project():
    return open_project_copy()


@pytest.fixture(scope="module")
def secret_tree(tmp_path_factory):
    """A readable-by-all folder: code the sandbox may read, answers it must not."""
    base = tmp_path_factory.mktemp("tree")
    for folder in [base, *base.parents]:
        if str(folder).startswith("/tmp/"):
            os.chmod(folder, os.stat(folder).st_mode | 0o755)
    (base / "code").mkdir(mode=0o755)
    (base / "code" / "ok.py").write_text("fine")
    (base / "answers").mkdir(mode=0o755)
    (base / "answers" / "solution.py").write_text("secret")
    for path in (base / "code" / "ok.py", base / "answers" / "solution.py"):
        os.chmod(path, 0o644)
    return base


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    yield server
    server.close()


def report(result) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


LANDLOCK = r"""
import json, os, socket, sys, tempfile
from autograder.sandbox.confinement import landlock
tree, port = sys.argv[1], int(sys.argv[2])
private = tempfile.mkdtemp(prefix="sandbox-")
roots = landlock.readable_roots([sys.prefix, sys.base_prefix, *filter(None, sys.path), tree], [tree + "/answers"])
child = os.fork()
if child == 0:
    import time
    for fd in (1, 2):
        os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    time.sleep(30)
    os._exit(0)
out = {"applied": landlock.restrict(read=[*landlock.SYSTEM_READ, *roots], write=[private])}

def attempt(name, action):
    try:
        action()
        out[name] = "allowed"
    except OSError as error:
        out[name] = type(error).__name__

attempt("read_code", lambda: open(tree + "/code/ok.py").read())
attempt("read_answers", lambda: open(tree + "/answers/solution.py").read())
attempt("list_answers", lambda: os.listdir(tree + "/answers"))
attempt("write_private", lambda: open(private + "/x", "w").write("x"))
attempt("write_tmp", lambda: open("/tmp/escaped-%d" % os.getpid(), "w").write("x"))
attempt("read_etc", lambda: open("/etc/passwd").read())
attempt("connect", lambda: socket.create_connection(("127.0.0.1", port), timeout=2))
attempt("signal_parent", lambda: os.kill(os.getppid(), 0))
attempt("signal_older_child", lambda: os.kill(child, 0))
attempt("import_numpy", lambda: __import__("numpy").linalg.norm([3.0, 4.0]))
print(json.dumps(out))
"""


@pytest.mark.parametrize("setting", SETTINGS)
def test_landlock_allows_the_listed_trees_and_nothing_else(setting, project, secret_tree, listener):
    out = report(run_python(setting, LANDLOCK, str(secret_tree), str(listener.getsockname()[1]), project=project))
    assert out["applied"]["abi"] >= 6 and out["applied"]["tcp"] and "signal" in out["applied"]["scoped"]
    assert out["read_code"] == out["read_etc"] == out["write_private"] == out["import_numpy"] == "allowed", out
    assert out["read_answers"] == out["list_answers"] == "PermissionError"
    assert out["write_tmp"] == "PermissionError"
    assert out["connect"] == "PermissionError"
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing reached the listener
    # A process started before the sandbox restricted itself is outside its domain.
    assert out["signal_parent"] == out["signal_older_child"] == "PermissionError"


def test_readable_roots_leave_out_the_hidden_trees_and_keep_their_siblings(secret_tree):
    roots = landlock.readable_roots([str(secret_tree)], [str(secret_tree / "answers")])
    assert roots == [str(secret_tree / "code")]
    assert landlock.readable_roots([str(secret_tree / "code")], [str(secret_tree / "answers")]) == [
        str(secret_tree / "code")]
    assert landlock.readable_roots([str(secret_tree / "answers" / "solution.py")], [str(secret_tree / "answers")]) == []


SPLIT = r"""
import json, os, sys
from autograder.sandbox.confinement import landlock
tree = sys.argv[1]
hidden = [tree + "/answers"]
landlock.restrict(read=landlock.readable_roots([tree], hidden), list_only=landlock.listable_dirs([tree], hidden))
out = {}
for name, action in (("list_tree", lambda: sorted(os.listdir(tree))), ("read_code", lambda: open(tree + "/code/ok.py").read()),
                     ("read_answers", lambda: open(tree + "/answers/solution.py").read())):
    try:
        out[name] = action()
    except OSError as error:
        out[name] = type(error).__name__
print(json.dumps(out))
"""


def test_a_folder_around_a_hidden_tree_is_listable_and_the_hidden_files_stay_unreadable(project, secret_tree):
    # Python lists a sys.path folder before importing from it: site-packages must stay
    # listable when torch inside it is hidden (the NumPy-only sandboxes), or nothing new imports.
    assert landlock.listable_dirs([str(secret_tree)], [str(secret_tree / "answers")]) == [str(secret_tree)]
    assert landlock.listable_dirs([str(secret_tree / "code")], [str(secret_tree / "answers")]) == []
    out = report(run_python("docker", SPLIT, str(secret_tree), project=project))
    assert out == {"list_tree": ["answers", "code"], "read_code": "fine", "read_answers": "PermissionError"}


def test_hidden_trees_under_the_system_folders_are_left_out_too():
    # Gradescope's image installs torch under /usr/local: the NumPy-only sandboxes must
    # not read it there either.
    from autograder.sandbox.confinement.layers import readable_trees

    hidden = os.path.realpath("/usr/share")
    read, listable = readable_trees((hidden,))
    assert "/usr" not in read and "/usr" in listable and os.path.realpath("/usr/bin") in read
    assert not any(path == hidden or path.startswith(hidden + "/") for path in read)


SECCOMP = r"""
import ctypes, json, os, socket, subprocess, sys
from autograder.sandbox.confinement import seccomp
out = {"applied": seccomp.restrict(network=False, signals=False)}
libc = ctypes.CDLL(None, use_errno=True)

def attempt(name, action):
    try:
        action()
        out[name] = "allowed"
    except OSError as error:
        out[name] = os.strerror(error.errno) if error.errno else type(error).__name__

def call(result):
    if result != 0:
        raise OSError(ctypes.get_errno(), "")

attempt("unshare_user", lambda: call(libc.unshare(0x10000000)))
attempt("unshare_net", lambda: call(libc.unshare(0x40000000)))
attempt("mount", lambda: call(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)))
attempt("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW))
attempt("unix", lambda: socket.socketpair())
attempt("kill_all", lambda: os.kill(-1, 0))
attempt("kill_group", lambda: os.kill(-os.getppid(), 0))
attempt("kill_own_group", lambda: os.kill(0, 0))
attempt("ptrace", lambda: call(libc.ptrace(16, os.getppid(), None, None)))
out["subprocess"] = subprocess.run(["sh", "-c", "echo ok"], capture_output=True, text=True).stdout.strip()
out["unshare_command"] = subprocess.run(["unshare", "-Ur", "true"], capture_output=True).returncode
print(json.dumps(out))
"""


@pytest.mark.parametrize("setting", SETTINGS)
def test_seccomp_refuses_namespaces_mounts_sockets_and_broadcast_kills(setting, project):
    out = report(run_python(setting, SECCOMP, project=project))
    assert "unavailable" not in out["applied"]
    refused = "Operation not permitted"
    assert out["unshare_user"] == out["unshare_net"] == out["mount"] == out["ptrace"] == refused
    assert out["inet"] == out["netlink"] == "Address family not supported by protocol"
    assert out["kill_all"] == out["kill_group"] == refused
    assert out["unix"] == out["kill_own_group"] == "allowed"
    assert out["subprocess"] == "ok" and out["unshare_command"] != 0


CGROUPS = r"""
import json, os, sys, time
from autograder.sandbox.confinement.cgroups import Cgroups
groups = Cgroups(name="backprop-test-%d" % os.getpid())
out = {"applied": groups.applied, "unavailable": groups.unavailable}
if groups.applied:
    read, write = os.pipe()
    sandbox = os.fork()
    if sandbox == 0:
        entered = groups.enter(os.getpid(), memory_bytes=256 * 2**20, max_processes=12)
        children = []
        for _ in range(3):  # each alone fits under the cap, together they do not
            child = os.fork()
            if child == 0:
                block = bytearray(150 * 2**20)
                block[::4096] = b"x" * len(block[::4096])
                time.sleep(1)
                os._exit(0)
            children.append(child)
        killed = sum(os.WIFSIGNALED(os.waitpid(child, 0)[1]) for child in children)
        forked = 0
        try:
            for _ in range(40):
                if os.fork() == 0:
                    time.sleep(5)
                    os._exit(0)
                forked += 1
        except OSError:
            pass
        os.write(write, json.dumps({"entered": entered, "killed": killed, "forked": forked}).encode())
        os._exit(0)
    os.close(write)
    out.update(json.loads(os.read(read, 10000)))
    os.waitpid(sandbox, 0)
    while groups.members(sandbox):
        for pid in groups.members(sandbox):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        time.sleep(0.05)
    out["removed"] = groups.remove(sandbox)
    groups.close()
print(json.dumps(out))
"""


@pytest.mark.parametrize("setting", ["root", "docker"])
def test_cgroups_cap_a_sandbox_and_its_children_together_as_root(setting, project):
    out = report(run_python(setting, CGROUPS, project=project))
    assert out["applied"] == ["memory", "pids", "cpu"], out["unavailable"]
    assert set(out["entered"]["cgroups"]) == {"memory", "pids", "cpu"}
    assert out["killed"] >= 1  # 3 x 150 MiB under a 256 MiB cap: the kernel stops one at least
    assert out["forked"] < 12
    assert out["removed"] is True


@pytest.mark.parametrize("setting", ["user", "user_no_userns"])
def test_cgroups_not_available_to_a_user_is_reported_not_fatal(setting, project):
    out = report(run_python(setting, CGROUPS, project=project))
    assert out["applied"] == []
    assert set(out["unavailable"]) == {"memory", "pids", "cpu"}


def test_levels_name_what_applied_and_requirements_compare_layers():
    assert confinement.level(confinement.LAYERS) == "full"
    assert confinement.level(["uid", "landlock", "seccomp", "cgroups"]) == "no-namespaces: uid+landlock+seccomp+cgroups"
    assert confinement.level(["namespaces", "landlock", "seccomp"]) == "no-uid,no-cgroups: namespaces+landlock+seccomp"
    assert confinement.level([]) == "none"
    docker = ["uid", "landlock", "seccomp", "cgroups"]
    assert confinement.meets(docker, "landlock+seccomp")
    assert confinement.meets(docker, "no-namespaces: uid+landlock+seccomp+cgroups")
    assert not confinement.meets(docker, "full")
    assert confinement.meets([], "none")
    with pytest.raises(ValueError):
        confinement.required_layers("strong")


PID_NAMESPACE = r"""
import json, os, signal, socket, sys, time
from autograder.sandbox.confinement import pidns
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
bystander = os.fork()
if bystander == 0:
    time.sleep(60)
    os._exit(0)
relay = os.fork()
if relay == 0:
    ours.close()
    pidns.unshare_pid()
    pidns.enter()
    grandchild = os.fork()
    if grandchild == 0:
        time.sleep(60)
        os._exit(0)
    try:
        probe = "alive" if os.kill(bystander, 0) is None else ""
    except OSError as error:
        probe = type(error).__name__
    os.kill(-1, signal.SIGKILL)  # every process of the namespace but pid 1
    theirs.send(json.dumps({"pid": os.getpid(), "probe": probe,
                            "grandchild": os.waitpid(grandchild, 0)[1]}).encode())
    theirs.recv(1)
    os._exit(7)
theirs.close()
out = json.loads(ours.recv(1000))
ours.send(b"x")
out["relayed"] = os.waitstatus_to_exitcode(os.waitpid(relay, 0)[1])
out["bystander"] = os.waitpid(bystander, os.WNOHANG) == (0, 0)
os.kill(bystander, signal.SIGKILL)
print(json.dumps(out))
"""


def test_a_pid_namespace_keeps_kill_minus_one_and_pid_probes_inside(project):
    out = report(run_python("root", PID_NAMESPACE, project=project))
    assert out["pid"] == 1 and out["probe"] == "ProcessLookupError"
    assert out["grandchild"] == 9  # killed by the kill(-1) of its own namespace
    assert out["bystander"] is True and out["relayed"] == 7


REVEAL = r"""
import json, os, sys
from autograder.sandbox import limits
from autograder.sandbox.confinement import visible
home = sys.argv[1]
limits._unshare(limits._CLONE_NEWNS)
limits._mount("", "/", None, limits._MS_REC | limits._MS_PRIVATE, None)
out = {"covered": visible.reveal([home + "/python"], 65534, 65534, limits._mount)}
os.setgroups([])
os.setresgid(65534, 65534, 65534)
os.setresuid(65534, 65534, 65534)
out["read"] = open(home + "/python/lib/module.py").read()
out["listing"] = os.listdir(home)
try:
    open(home + "/python/lib/new.py", "w")
    out["write"] = "allowed"
except OSError as error:
    out["write"] = type(error).__name__
print(json.dumps(out))
"""


def test_trees_under_a_private_home_are_revealed_read_only_and_alone(project, tmp_path):
    os.chmod(tmp_path, 0o755)
    for folder in tmp_path.parents:
        if str(folder).startswith("/tmp/"):
            os.chmod(folder, os.stat(folder).st_mode | 0o755)
    home = tmp_path / "root"
    (home / "python" / "lib").mkdir(parents=True)
    (home / "python" / "lib" / "module.py").write_text("x = 1")
    (home / "secrets").mkdir()
    os.chmod(home, 0o700)
    for folder in (home / "python", home / "python" / "lib"):
        os.chmod(folder, 0o755)
    os.chmod(home / "python" / "lib" / "module.py", 0o644)
    out = report(run_python("root", REVEAL, str(home), project=project))
    assert out["covered"] == [str(home)]
    assert out["read"] == "x = 1" and out["listing"] == ["python"]
    assert out["write"] == "OSError"  # a read-only file system
