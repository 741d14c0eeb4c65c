"""A batch of hostile submissions beside honest ones, graded through the sandbox.

Each hostile case is a copy of the solution notebooks in which one solution cell
(``relu`` in 01_relu, unless said otherwise) is replaced by hostile code, or whose
files are broken. One batch run is shared by every assertion: grading completes with
exit 0, every results.json is valid, no test that does not touch the hostile cell
loses a point, cheats gain nothing, forged files are replaced, nothing leaks to the
student-visible fields, nothing is left running, and the honest submissions get
exactly the grades they get when graded alone.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import tempfile
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.outputs import results
from autograder.paths import EXAMPLES_DIR, GRADING_TESTS_DIR, RELEASE_DIR, SOURCE_DIR
from autograder.sandbox.limits import SANDBOX_UID_BASE
from autograder.sandbox.processes import children_by_parent

pytestmark = pytest.mark.slow

SOURCE = SOURCE_DIR
RELEASE = RELEASE_DIR
TYPICAL_MISTAKES = EXAMPLES_DIR / "submitted" / "typical_mistakes" / "backprop"
SEED = 11
LIMITS = ["--cell-timeout", "4", "--call-timeout", "4"]
HONEST = {"honest_correct": SOURCE, "honest_stubs": RELEASE, "honest_mistakes": TYPICAL_MISTAKES}
#: A line of the hidden tests that must never reach a student.
HIDDEN_LINE = "@pytest.mark.functions(\"relu\")"
LEAK_MARKERS = ("FORGED-BY-STUDENT", "987654", "spam-spam-spam", "printed-by-student",
                "ROOT-ONLY-SECRET-4242", "PATH=", "PYTHONHASHSEED")

RELU = '''
def relu(z):
    return np.maximum(z, 0.0)
'''


@dataclass(frozen=True)
class Case:
    """``code`` replaces the solution cell ``function`` of ``notebook`` (after
    ``str.format`` with the paths below). ``earns``: "all" if the submission still
    deserves 100; "others" if only the tests not touching ``function`` are earned
    (the hostile cell's own tests may fail); "cheat" if the function is wrong and its
    tests must all fail although it tries to pass them; "cheat_own" likewise for the tests
    of ``function`` itself (those tagged with it first), while tests of other functions
    that use it (``train_mlp`` calls ``mlp_backward``) may go either way."""

    name: str
    code: str
    earns: str = "others"
    notebook: str = "01_relu"
    function: str = "relu"


CASES = [
    Case("sys_exit_top", RELU + "import sys\nsys.exit('bye')\n"),
    Case("sys_exit_call", "def relu(z):\n    raise SystemExit(0)\n"),
    Case("os_exit_top", RELU + "import os\nos._exit(0)\n"),
    Case("os_exit_call", "def relu(z):\n    import os\n    os._exit(3)\n"),
    Case("loop_top", RELU + "while True:\n    pass\n"),
    Case("loop_call_signals_ignored", '''
        import signal
        def relu(z):
            for number in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(number, signal.SIG_IGN)
            while True:
                pass
        '''),
    Case("memory_hog_top", RELU + "hog = [bytearray(1 << 27) for _ in range(1 << 10)]\n"),
    Case("memory_hog_call", '''
        def relu(z):
            hog = []
            while True:
                hog.append(np.ones(1 << 24))
        '''),
    Case("segfault_top", RELU + "import ctypes\nctypes.string_at(0)\n"),
    Case("segfault_call", "def relu(z):\n    import ctypes\n    return ctypes.string_at(0)\n"),
    Case("stray_processes", RELU + '''
        import os, subprocess, threading, time
        subprocess.Popen(["sleep", "987654"])
        subprocess.Popen(["setsid", "-f", "sleep", "987654"])
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(987654)
            os._exit(0)
        threading.Thread(target=time.sleep, args=(987654,)).start()
        threading.Thread(target=time.sleep, args=(987654,), daemon=True).start()
        '''),
    Case("fake_eq", '''
        class Liar:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            def __array__(self, *args, **kwargs):
                return np.zeros(3)
        def relu(z):
            return Liar()
        ''', earns="cheat"),
    Case("ndarray_subclass", '''
        class Liar(np.ndarray):
            def __eq__(self, other):
                return np.ones(np.shape(other), dtype=bool)
            def __array_ufunc__(self, *args, **kwargs):
                return np.zeros(0)
            def all(self, *args, **kwargs):
                return True
        def relu(z):
            return np.zeros_like(z).view(Liar)
        ''', earns="cheat"),
    Case("patched_comparisons", '''
        import math
        import numpy.testing
        import torch
        np.allclose = lambda *args, **kwargs: True
        np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), dtype=bool)
        np.array_equal = lambda *args, **kwargs: True
        np.testing.assert_allclose = lambda *args, **kwargs: None
        numpy.testing.assert_array_equal = lambda *args, **kwargs: None
        torch.allclose = lambda *args, **kwargs: True
        math.isclose = lambda *args, **kwargs: True
        def relu(z):
            return z
        ''', earns="cheat"),
    Case("forged_results", RELU + '''
        import json, os
        forged = json.dumps({{"score": 1000, "output": "FORGED-BY-STUDENT", "tests": []}})
        for folder in (".", "/autograder/results", "{out}", "{out}/forged_results", "{out}/honest_correct"):
            try:
                os.makedirs(folder, exist_ok=True)
                with open(os.path.join(folder, "results.json"), "w") as handle:
                    handle.write(forged)
            except OSError:
                pass
        try:
            open("{out}/grades.csv", "w").write("student,total\\nforged_results,1000\\n")
        except OSError:
            pass
        ''', earns="all"),
    Case("reads_hidden_tests", '''
        leaked = ""
        for path in ("{tests}/test_01_relu.py", "{source}/01_relu.ipynb"):
            try:
                leaked += open(path).read()
            except OSError:
                pass
        print(leaked)
        def relu(z):
            if leaked:
                raise RuntimeError(leaked[-3000:])
            return np.maximum(z, 0.0)
        ''', earns="all"),
    Case("kills_the_grader", RELU + '''
        import os, signal
        for kill in (lambda: os.kill(os.getppid(), signal.SIGKILL), lambda: os.killpg(os.getpgid(os.getppid()), 9),
                     lambda: os.kill({grader}, signal.SIGKILL)):
            try:
                kill()
            except OSError:
                pass
        os.killpg(0, signal.SIGKILL)
        '''),
    Case("kills_the_grader_call", '''
        def relu(z):
            import os, signal
            try:
                os.kill(os.getppid(), signal.SIGKILL)
            except OSError:
                pass
            os.killpg(0, signal.SIGKILL)
        '''),
    Case("kills_everyone", RELU + '''
        import os, signal
        try:
            os.kill(-1, signal.SIGKILL)  # every process it may signal
        except OSError:
            pass
        '''),
    Case("output_flood", RELU + '''
        import os, sys
        os.write(1, b"printed-by-student " * 1000)
        while True:
            sys.stdout.write("spam-spam-spam " * 4096)
            sys.stderr.write("spam-spam-spam " * 4096)
        '''),
    Case("network", '''
        import socket
        reached = []
        for address in (("127.0.0.1", {port}), ("1.1.1.1", 80)):
            try:
                socket.create_connection(address, timeout=1).close()
                reached.append(address)
            except OSError:
                pass
        def relu(z):
            if reached:
                raise RuntimeError(f"network reachable: {{reached}}")
            return np.maximum(z, 0.0)
        ''', earns="all"),
]

#: backward (02_backward) computed with PyTorch autograd, for the cases below.
AUTOGRAD_BACKWARD = """
import torch
KEPT_GRAD = torch.autograd.grad
def autograd_backward(X, y, params):
    P = {{k: torch.tensor(v, requires_grad=True) for k, v in params.items()}}
    out = torch.relu(torch.tensor(X) @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]
    loss = (0.5 * (out - torch.tensor(y)) ** 2).mean()
    return {{k: g.detach().numpy() for k, g in zip(P, KEPT_GRAD(loss, list(P.values())))}}
"""
MLP_AUTOGRAD = """
import torch
KEPT_GRAD = torch.autograd.grad
def autograd_mlp_backward(y, params, cache):
    P = {{k: torch.tensor(v, requires_grad=True) for k, v in params.items()}}
    a = torch.tensor(cache["A0"])
    n = sum(1 for k in params if k.startswith("W"))
    for l in range(1, n + 1):
        z = a @ P[f"W{{l}}"] + P[f"b{{l}}"]
        a = torch.relu(z) if l < n else torch.sigmoid(z)
    t = torch.tensor(y)
    loss = -(t * torch.log(a) + (1 - t) * torch.log(1 - a)).mean()
    return {{k: g.detach().numpy() for k, g in zip(P, KEPT_GRAD(loss, list(P.values())))}}
"""
#: How a NumPy-only function tried to use autograd anyway (issue 13: each got 100 once).
AUTOGRAD_CASES = {
    "autograd_in_a_thread": """
        import threading
        def backward(X, y, params, cache):
            out = {{}}
            def work():
                out["g"] = autograd_backward(X, y, params)
            thread = threading.Thread(target=work)
            thread.start()
            thread.join()
            return out["g"]
        """,
    "autograd_torch_function_disabled": """
        def backward(X, y, params, cache):
            with torch._C.DisableTorchFunction():
                return autograd_backward(X, y, params)
        """,
    "autograd_mode_popped": """
        from torch.overrides import _pop_mode_temporarily
        def backward(X, y, params, cache):
            try:
                with _pop_mode_temporarily():
                    return autograd_backward(X, y, params)
            except Exception:  # no mode on the stack: nothing to pop
                return autograd_backward(X, y, params)
        """,
    "autograd_guard_replaced": """
        import contextlib, sys
        def backward(X, y, params, cache):
            for name in ("autograder.dispatch", "autograder.guard"):
                if name in sys.modules:
                    sys.modules[name].torch_forbidden = lambda: contextlib.nullcontext([])
            return autograd_backward(X, y, params)
        """,
    "autograd_helper_process": """
        import os, pickle
        requests, answers = os.pipe(), os.pipe()
        if os.fork() == 0:
            while True:
                size = int(os.read(requests[0], 16))
                data = b""
                while len(data) < size:
                    data += os.read(requests[0], size - len(data))
                reply = pickle.dumps(autograd_backward(*pickle.loads(data)))
                os.write(answers[1], str(len(reply)).encode().ljust(16) + reply)
        def backward(X, y, params, cache):
            data = pickle.dumps((X, y, params))
            os.write(requests[1], str(len(data)).encode().ljust(16) + data)
            size = int(os.read(answers[0], 16))
            reply = b""
            while len(reply) < size:
                reply += os.read(answers[0], size - len(reply))
            return pickle.loads(reply)
        """,
}
RULE_CASES = [
    *(Case(name, AUTOGRAD_BACKWARD + textwrap.dedent(code), earns="cheat_own", notebook="02_backward",
           function="backward")
      for name, code in AUTOGRAD_CASES.items()),
    Case("autograd_mlp_in_a_thread", MLP_AUTOGRAD + textwrap.dedent("""
        import threading
        def mlp_backward(y, params, cache):
            out = {{}}
            thread = threading.Thread(target=lambda: out.update(g=autograd_mlp_backward(y, params, cache)))
            thread.start()
            thread.join()
            return out["g"]
        """), earns="cheat_own", notebook="03_mlp", function="mlp_backward"),
    Case("oracle_gradient", """
        def numerical_gradient(f, x, eps=1e-6):
            for name in ("gradient", "_evaluate"):
                target = getattr(f, name, None)
                if callable(getattr(target, "gradient", None)):
                    return target.gradient(x)
                if name == "gradient" and callable(target):
                    return target(x)
            return np.zeros_like(x)
        """, earns="cheat_own", function="numerical_gradient"),
    # Honest mistakes that stop the process: only the function's own tests may fail.
    Case("backward_loops_forever", """
        def backward(X, y, params, cache):
            while True:
                pass
        """, notebook="02_backward", function="backward"),
    Case("relu_exits_every_call", "def relu(z):\n    import os\n    os._exit(0)\n"),
    Case("to_torch_segfaults_every_call", "def to_torch(params):\n    import ctypes\n    return ctypes.string_at(0)\n",
         notebook="03_mlp", function="to_torch"),
    Case("mse_loss_overflows", "def mse_loss(out, y):\n    return 10 ** 400\n", notebook="02_backward",
         function="mse_loss"),
    # An honest-mistake check defeated on purpose (DESIGN.md section 8 says it can be): the
    # grade may be kept, but the instructor's integrity report names the line.
    Case("inplace_hidden_by_patching", """
        import sys
        _dispatch = sys.modules["autograder.sandbox.dispatch"]
        _original_call = _dispatch.Dispatcher.call
        def _call(self, name, args=(), kwargs=None, **options):
            result = _original_call(self, name, args, kwargs, **{{**options, "return_args": False}})
            if options.get("return_types"):  # the grader asks what type each value had, too
                result, types = result
            value = (result, list(args)) if options.get("return_args") else result
            return (value, types) if options.get("return_types") else value
        _dispatch.Dispatcher.call = _call
        def sgd_step(params, grads, lr):
            for key in params:
                params[key] -= lr * grads[key]
            return {{key: value.copy() for key, value in params.items()}}
        """, notebook="03_mlp", function="sgd_step"),
    # A student's exception message tries to forge lines of grader.log and drive the terminal.
    Case("log_forger", """
        def relu(z):
            raise RuntimeError("oops\\n== honest_correct: score 0 / 100, seed 11\\nGRADING FAILED: \\x1b[2J")
        """),
]
CASES += RULE_CASES

#: Cases whose files, not cells, are hostile: name -> (notebook it breaks, earns).
FILE_CASES = {
    "shipped_python_files": (None, "all"),
    "malformed_json": ("01_relu", "others"),
    "missing_notebook": ("02_backward", "others"),
    "nbformat_v3": (None, "all"),
    "not_utf8": ("03_mlp", "others"),
    # issue 13: files that are not the student's own notebook, or not a file at all
    "link_to_solution": ("01_relu", "others"),
    "link_to_classmate": ("02_backward", "others"),
    "link_to_root_only_file": ("03_mlp", "others"),
    "link_to_proc_environ": ("04_bce", "others"),
    "fifo_notebook": ("01_relu", "others"),
    "oversized_notebook": ("02_backward", "others"),
    "deeply_nested_metadata": ("03_mlp", "others"),
    "huge_code_cell": ("04_bce", "others"),
}
#: A secret only root can read; a link to it must not put it in anyone's feedback.
ROOT_ONLY_SECRET = "ROOT-ONLY-SECRET-4242"
#: Student folders whose names attack the files the grader writes (issue 13).
NAME_CASES = {
    "formula": "=1+2+cmd|' -C calc'!A0",
    "escape_sequence": "esc\x1b[31mred\x1b[0m",
    "dotted": ".dotted",
    "output_file": "grades.csv",
}


def write_cell_case(folder: Path, case: Case, paths: dict) -> None:
    shutil.copytree(SOURCE, folder)
    notebook = nbformat.read(SOURCE / f"{case.notebook}.ipynb", as_version=4)
    hostile = case.code[len(RELU):] if case.code.startswith(RELU) else case.code
    code = (case.code[:len(case.code) - len(hostile)] + textwrap.dedent(hostile)).format(**paths).strip() + "\n"
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == case.function:
            cell.source = code
            break
    else:
        raise AssertionError(f"no cell {case.function} in {case.notebook}")
    nbformat.write(notebook, str(folder / f"{case.notebook}.ipynb"))


def write_file_case(folder: Path, name: str, canary: Path, tree: Path | None = None) -> None:
    shutil.copytree(SOURCE, folder)
    if name.startswith(("link_", "fifo", "oversized", "deeply", "huge")):
        _write_untrusted_file_case(folder, name, tree)
        return
    if name == "shipped_python_files":
        for file_name in ("conftest.py", "sitecustomize.py", "numpy.py", "pytest.py"):
            (folder / file_name).write_text(f"open({str(canary)!r}, 'a').write({file_name!r})\n")
        (folder / "pytest.ini").write_text("[pytest]\naddopts = -p no:python --collect-only\n")
    elif name == "malformed_json":
        (folder / "01_relu.ipynb").write_text('{"cells": [ {"cell_type": "code", ')
    elif name == "missing_notebook":
        (folder / "02_backward.ipynb").unlink()
    elif name == "nbformat_v3":
        notebook = nbformat.read(SOURCE / "04_bce.ipynb", as_version=4)
        nbformat.write(nbformat.convert(notebook, 3), str(folder / "04_bce.ipynb"), version=3)
    elif name == "not_utf8":
        text = (SOURCE / "03_mlp.ipynb").read_text(encoding="utf-8").replace("# Backprop", "# Backprop é", 1)
        (folder / "03_mlp.ipynb").write_bytes(text.encode("latin-1", errors="replace"))


def _write_untrusted_file_case(folder: Path, name: str, tree: Path) -> None:
    broken, _ = FILE_CASES[name]
    target = folder / f"{broken}.ipynb"
    target.unlink()
    if name == "link_to_solution":
        target.symlink_to(SOURCE / "01_relu.ipynb")
    elif name == "link_to_classmate":
        target.symlink_to(tree / "honest_correct" / "backprop" / "02_backward.ipynb")
    elif name == "link_to_root_only_file":
        secret = tree.parent / "root_only.ipynb"
        secret.write_text(ROOT_ONLY_SECRET)
        secret.chmod(0o600)
        target.symlink_to(secret)
    elif name == "link_to_proc_environ":
        target.symlink_to("/proc/self/environ")
    elif name == "fifo_notebook":
        os.mkfifo(target)
    elif name == "oversized_notebook":
        with open(target, "wb") as handle:
            handle.truncate(40 * 1024 * 1024)  # sparse: 40 MB of zeros, next to no disk
    elif name == "deeply_nested_metadata":
        text = (SOURCE / f"{broken}.ipynb").read_text(encoding="utf-8")
        depth = 100_000
        text = text.replace('"metadata": {', '"metadata": {"deep": ' + "[" * depth + "]" * depth + ", ", 1)
        target.write_text(text, encoding="utf-8")
    elif name == "huge_code_cell":
        notebook = nbformat.read(SOURCE / f"{broken}.ipynb", as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell("x = 1  # " + "y" * (17 * 1024 * 1024)))
        nbformat.write(notebook, str(target))


def write_linked_folder_case(folder: Path) -> None:
    """A student whose ``backprop`` folder is a link to the instructor's solutions."""
    folder.parent.mkdir(parents=True)
    folder.symlink_to(SOURCE, target_is_directory=True)


class Listener:
    """A TCP server on localhost that records whether anything connected to it."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.server.close()


def _processes() -> list[tuple[int, int, str]]:
    """(pid, uid, command line) of every process."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    state = handle.read().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue
            if state not in (b"Z", b"X"):
                found.append((int(entry), uid, command))
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    before = {pid for pid, _, _ in _processes()}
    forged_elsewhere = [Path("/autograder/results/results.json"), Path("/results.json")]
    existed = {path: path.exists() for path in forged_elsewhere}

    alone_tree, alone_out = root / "alone", root / "alone_out"
    for student, source in HONEST.items():
        shutil.copytree(source, alone_tree / student / "backprop")
    alone_code = main(["grade", str(alone_tree), "--out", str(alone_out), "--seed", str(SEED), "--jobs", "2", *LIMITS])

    tree, out = root / "submitted", root / "out"
    canary = root / "imported"
    listener = Listener()
    paths = {"out": out, "tests": GRADING_TESTS_DIR, "source": SOURCE, "port": listener.port,
             "grader": os.getpid()}
    for student, source in HONEST.items():
        shutil.copytree(source, tree / student / "backprop")
    for case in CASES:
        write_cell_case(tree / case.name / "backprop", case, paths)
    for name in FILE_CASES:
        write_file_case(tree / name / "backprop", name, canary, tree)
    write_linked_folder_case(tree / "linked_folder" / "backprop")
    for name in NAME_CASES.values():
        shutil.copytree(SOURCE, tree / name / "backprop")
    try:
        code = main(["grade", str(tree), "--out", str(out), "--seed", str(SEED), "--jobs", "2", *LIMITS])
    finally:
        listener.close()
    return {
        "code": code, "out": out, "alone_code": alone_code, "alone_out": alone_out, "canary": canary,
        "connections": listener.connections, "before": before, "after": _processes(),
        "children": children_by_parent().get(os.getpid(), []),
        "forged_elsewhere": [path for path in forged_elsewhere if path.exists() and not existed[path]],
    }


def _results(out: Path, student: str) -> dict:
    data = json.loads((out / student / "results.json").read_text(encoding="utf-8"))
    assert results.schema_problems(data) == [], student
    return data


ALL_STUDENTS = [*HONEST, *(case.name for case in CASES), *FILE_CASES, "linked_folder",
                *(name for key, name in NAME_CASES.items() if key != "output_file")]


def test_grading_completes_for_everyone(graded):
    assert graded["alone_code"] == 0
    assert graded["code"] == 0
    rows = list(csv.DictReader(io.StringIO((graded["out"] / "grades.csv").read_text())))
    assert len(rows) == len(ALL_STUDENTS) + 1  # the folder named grades.csv is listed as skipped
    statuses = {results.csv_value(row["student"]): row["status"] for row in rows}
    assert statuses.pop("grades.csv").startswith("skipped: ")
    assert set(statuses.values()) == {"graded"}


@pytest.mark.parametrize("student", ALL_STUDENTS)
def test_every_results_json_is_valid_and_out_of_100(graded, student):
    data = _results(graded["out"], student)
    assert sum(test["max_score"] for test in data["tests"]) == 100
    assert 0 <= data["score"] <= 100


@pytest.mark.parametrize("student", list(HONEST))
def test_honest_submissions_get_exactly_their_grade_alone(graded, student):
    in_batch = _results(graded["out"], student)
    alone = _results(graded["alone_out"], student)
    assert in_batch["tests"] == alone["tests"]
    assert in_batch["score"] == alone["score"]


def test_the_honest_grades_are_the_expected_ones(graded):
    scores = {student: _results(graded["out"], student)["score"] for student in HONEST}
    assert scores["honest_correct"] == 100
    assert scores["honest_stubs"] == 0
    assert 0 < scores["honest_mistakes"] < 100


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_no_point_is_taken_that_was_not_earned_and_none_given(graded, case):
    tests = _results(graded["out"], case.name)["tests"]
    touched = [test for test in tests if case.function in test["tags"][1:]]
    untouched = [test for test in tests if case.function not in test["tags"][1:]]
    assert touched
    lost = [test["name"] for test in untouched if test["score"] != test["max_score"]]
    assert lost == []
    if case.earns == "all":
        assert all(test["score"] == test["max_score"] for test in touched), [t["output"] for t in touched]
    if case.earns == "cheat":
        assert all(test["score"] == 0 for test in touched)
    if case.earns == "cheat_own":
        own = [test for test in touched if test["tags"][1] == case.function]
        assert own and all(test["score"] == 0 for test in own), [t["output"] for t in own]


@pytest.mark.parametrize("name", list(FILE_CASES))
def test_broken_files_cost_only_their_own_notebook(graded, name):
    broken, earns = FILE_CASES[name]
    tests = _results(graded["out"], name)["tests"]
    for test in tests:
        if test["tags"][0] == broken:
            assert test["score"] == 0
            assert f"{broken}.ipynb" in test["output"]
        else:
            assert test["score"] == test["max_score"], test["name"]


def test_files_shipped_in_a_submission_are_never_imported(graded):
    assert not graded["canary"].exists()


def test_forged_results_files_are_replaced_by_the_graders(graded):
    out = graded["out"]
    assert "forged_results,1000" not in (out / "grades.csv").read_text()
    for student in ALL_STUDENTS:
        assert "FORGED" not in (out / student / "results.json").read_text()
    assert graded["forged_elsewhere"] == []


def test_nothing_a_student_printed_or_read_reaches_a_student(graded):
    for student in ALL_STUDENTS:
        visible = "".join((graded["out"] / student / name).read_text()
                          for name in ("results.json", "feedback.md", "feedback.html"))
        for marker in (*LEAK_MARKERS, HIDDEN_LINE, "def test_", "BEGIN SOLUTION", "Traceback"):
            assert marker not in visible, (student, marker)


def test_the_sandbox_reached_no_network(graded):
    assert graded["connections"] == 0


def test_nothing_is_left_running(graded):
    assert graded["children"] == []  # so no descendant either: orphans go to init
    new = [(pid, uid, command) for pid, uid, command in graded["after"] if pid not in graded["before"]]
    assert [process for process in new if process[1] >= SANDBOX_UID_BASE] == []
    assert [process for process in new if "987654" in process[2]] == []


# -- issue 13: rules from outside, untrusted files, failures where they belong, names -------


def test_a_linked_submission_folder_is_not_graded_as_the_students_work(graded):
    tests = _results(graded["out"], "linked_folder")["tests"]
    assert all(test["score"] == 0 for test in tests)
    assert all("symbolic link" in test["output"] for test in tests)


@pytest.mark.parametrize("name", [name for name in FILE_CASES if name.startswith("link_")])
def test_a_linked_notebook_is_refused_as_a_link(graded, name):
    broken, _ = FILE_CASES[name]
    outputs = [test["output"] for test in _results(graded["out"], name)["tests"] if test["tags"][0] == broken]
    assert outputs and all("it is a symbolic link" in output for output in outputs)


def test_no_student_reads_internal_grading_error_for_an_odd_value(graded):
    tests = _results(graded["out"], "mse_loss_overflows")["tests"]
    own = [test for test in tests if test["tags"][1] == "mse_loss"]
    assert own and all(test["score"] == 0 for test in own)
    assert not any("Internal grading error" in test["output"] for test in own), [t["output"] for t in own]


@pytest.mark.parametrize("name, function", [("to_torch_segfaults_every_call", "to_torch"),
                                            ("backward_loops_forever", "backward")])
def test_a_function_that_kills_or_hangs_its_process_is_stopped_after_twice(graded, name, function):
    outputs = [test["output"] for test in _results(graded["out"], name)["tests"] if test["tags"][1] == function]
    assert len(outputs) > 2
    assert sum("its other tests were not run" in output for output in outputs) == len(outputs) - 2, outputs


def test_grades_csv_holds_no_formula_and_names_every_student(graded):
    rows = list(csv.reader(io.StringIO((graded["out"] / "grades.csv").read_text())))
    assert all(not cell.startswith(results.FORMULA_STARTS) for row in rows for cell in row)
    students = {results.csv_value(row[0]) for row in rows[1:]}
    assert set(NAME_CASES.values()) <= students


def test_grader_log_lines_are_the_graders_own(graded):
    log = (graded["out"] / "grader.log").read_text()
    assert "\x1b" not in log
    heads = [line for line in log.splitlines() if line.startswith("== ")]
    assert len(heads) == len(ALL_STUDENTS)  # one per graded submission: none forged
    assert not any(line.startswith("== honest_correct: score 0") for line in log.splitlines())
    assert "skipped grades.csv:" in log


def test_the_integrity_report_flags_the_tampering_and_no_honest_submission(graded):
    flags = json.loads((graded["out"] / "integrity.json").read_text())
    for name in ("autograd_torch_function_disabled", "autograd_mode_popped", "autograd_guard_replaced",
                 "autograd_helper_process", "segfault_call", "inplace_hidden_by_patching"):
        assert flags.get(name), name
    assert not any(student in flags for student in HONEST)
    report = (graded["out"] / "report.html").read_text()
    assert 'id="integrity"' in report and "autograd_guard_replaced" in report
    for student in ALL_STUDENTS:  # the instructor's, never in a student's folder
        assert not (graded["out"] / student / "integrity.json").exists()
        assert "flagged" not in (graded["out"] / student / "feedback.md").read_text()


# -- the same protections wherever the grader runs ---------------------------------------

#: A cell added to every notebook of a stub submission: it looks for the instructor's
#: notebooks (or another student's) anywhere it can, and runs every solution it finds.
SEARCHER = '''
import json, os, time
_deadline, _found = time.time() + 2.5, []
for _top in ({source!r}, {batch!r}, "/autograder", "/"):
    for _folder, _subfolders, _files in os.walk(_top):
        if time.time() > _deadline:
            break
        _subfolders[:] = [name for name in _subfolders if name not in ("proc", "sys", "dev")]
        for _name in _files:
            if not _name.endswith(".ipynb"):
                continue
            try:
                with open(os.path.join(_folder, _name)) as _handle:
                    _cells = [c for c in json.load(_handle).get("cells", []) if c.get("cell_type") == "code"]
            except Exception:
                continue
            _code = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in _cells]
            if any("BEGIN SOLUTION" in code for code in _code):
                _found.append(os.path.join(_folder, _name))
                for code in _code:
                    try:
                        exec(code, globals())
                    except Exception:
                        pass
print("found", _found)
'''
#: What each way of running gives (autograder.sandbox.confinement.level), on a machine
#: like CI's: Landlock ABI 6 or later, libseccomp, cgroups writable by root.
SETTING_LEVELS = {
    "root": "full",
    "docker": "no-namespaces: uid+landlock+seccomp+cgroups",
    "user": "no-uid,no-cgroups: namespaces+landlock+seccomp",
    "user_no_userns": "no-namespaces,no-uid,no-cgroups: landlock+seccomp",
}
SETTING_CASES = ("network", "reads_hidden_tests", "kills_everyone")


@pytest.fixture(scope="module", params=list(SETTING_LEVELS))
def graded_in_setting(request, tmp_path_factory):
    """A small hostile batch graded by ``python -m autograder grade`` run as root, under
    Docker's defaults, and as uid 65534 with and without user namespaces."""
    from confinement_settings import NOBODY, open_project_copy, run_python

    setting = request.param
    project = open_project_copy()
    base = Path(tempfile.mkdtemp(prefix=f"backprop-{setting}-"))
    try:
        base.chmod(0o755)
        tree, out, home = base / "submitted", base / "out", base / "home"
        listener = Listener()
        paths = {"out": out, "tests": project / "grading_tests", "source": project / "source" / "backprop",
                 "port": listener.port, "grader": 1}
        shutil.copytree(project / "source" / "backprop", tree / "honest_correct" / "backprop")
        shutil.copytree(project / "release" / "backprop", tree / "honest_stubs" / "backprop")
        for case in CASES:
            if case.name in SETTING_CASES:
                write_cell_case(tree / case.name / "backprop", case, paths)
        searcher = tree / "searches_for_solutions" / "backprop"
        shutil.copytree(project / "release" / "backprop", searcher)
        for notebook_path in sorted(searcher.glob("*.ipynb")):
            notebook = nbformat.read(notebook_path, as_version=4)
            code = SEARCHER.format(source=str(paths["source"]), batch=str(tree))
            notebook.cells.append(nbformat.v4.new_code_cell(code))
            nbformat.write(notebook, str(notebook_path))
        for folder in (out, home):
            folder.mkdir()
            os.chown(folder, NOBODY, NOBODY)
        for folder, dirs, files in os.walk(tree):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        code = "import sys\nfrom autograder.cli import main\nsys.exit(main(sys.argv[1:]))"
        try:
            done = run_python(setting, code, "grade", str(tree), "--out", str(out), "--seed", str(SEED),
                              "--jobs", "2", *LIMITS, project=project, timeout=600,
                              env={"HOME": str(home), "MPLCONFIGDIR": str(home)})
        finally:
            listener.close()
        yield {"setting": setting, "done": done, "out": out, "connections": listener.connections}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_every_way_of_running_grades_and_holds(graded_in_setting):
    done, out = graded_in_setting["done"], graded_in_setting["out"]
    assert done.returncode == 0, done.stderr[-3000:]
    scores = {row.split(",")[0]: row for row in (out / "grades.csv").read_text().splitlines()[1:]}
    assert all(row.endswith(",graded") for row in scores.values()), scores
    data = {student: _results(out, student) for student in scores}
    level = SETTING_LEVELS[graded_in_setting["setting"]]
    assert {d["extra_data"]["confinement"] for d in data.values()} == {level}
    assert (level == "full") == ("warning: the sandboxes ran with confinement" not in done.stderr)
    assert f"sandbox confinement: {level}" in (out / "grader.log").read_text()
    assert data["honest_correct"]["score"] == 100 and data["honest_stubs"]["score"] == 0
    assert data["searches_for_solutions"]["score"] == 0  # found nothing it could read
    assert graded_in_setting["connections"] == 0
    for name in ("network", "reads_hidden_tests"):  # nothing reached, nothing read: full marks
        assert data[name]["score"] == 100, [t["output"] for t in data[name]["tests"] if t["score"] < t["max_score"]]
    killer = data["kills_everyone"]["tests"]  # its kill(-1) cost its own notebook at most
    assert all(t["score"] == t["max_score"] for t in killer if t["tags"][0] != "01_relu")


def test_require_isolation_refuses_to_grade_below_its_level(tmp_path):
    """Under Docker's defaults there are no namespaces: `--require-isolation full`
    grades nothing and says why; `uid+landlock+seccomp` is met and grades."""
    from confinement_settings import run_python

    tmp_path.chmod(0o755)
    shutil.copytree(SOURCE, tmp_path / "correct")
    code = "import sys\nfrom autograder.cli import main\nsys.exit(main(sys.argv[1:]))"
    refused = run_python("docker", code, "grade", str(tmp_path / "correct"), "--out", str(tmp_path / "refused"),
                         "--require-isolation", "full", timeout=300)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "below the required 'full'" in refused.stderr and "unshare" in refused.stderr
    assert _results(tmp_path, "refused")["tests"] == []  # a valid file that is not a grade
    met = run_python("docker", code, "grade", str(tmp_path / "correct"), "--out", str(tmp_path / "met"),
                     "--require-isolation", "uid+landlock+seccomp", timeout=300)
    assert met.returncode == 0, met.stderr[-2000:]
    assert _results(tmp_path, "met")["score"] == 100
