"""The sandboxed provider behaves like the in-process one, across a process boundary,
and keeps its limits when the student code misbehaves in ordinary ways.

One template serves the whole module (it costs a few seconds to start); every test
closes its submission, and the last test checks nothing was left running.
"""

import os
import time
from dataclasses import replace

import numpy as np
import pytest

from autograder.errors import (
    AutogradUsed,
    CallTimeout,
    FunctionMissing,
    NotebookMissing,
    SandboxDied,
    StudentException,
)
from autograder.handles import Handle
from autograder.sandbox.client import Limits, Template
from autograder.sandbox.submission import SandboxSubmission
from autograder.sandbox.processes import alive

from confinement_settings import PID, host_pid

pytestmark = pytest.mark.slow  # starts sandbox templates and sandboxes

ROOT = os.geteuid() == 0
FAST = Limits(call_timeout=2.0, cell_timeout=2.0)

RELU = """
import numpy as np
def relu(z):
    return np.maximum(z, 0)
"""

BACKWARD = """
import numpy as np

class Cache:
    def __init__(self, X, Z1, A1):
        self.X, self.Z1, self.A1 = X, Z1, A1
    def __len__(self):
        return 3
    def __getitem__(self, i):
        return (self.X, self.Z1, self.A1)[i]
    def norms(self, scale=1.0):
        return [float(np.linalg.norm(a)) * scale for a in (self.X, self.Z1, self.A1)]

def forward(X, params):
    Z1 = X @ params["W1"] + params["b1"]
    A1 = np.maximum(Z1, 0)
    return A1 @ params["W2"] + params["b2"], Cache(X, Z1, A1)

def uses_cache(cache):
    return cache.A1.sum()
"""


@pytest.fixture(scope="module")
def template():
    with Template(FAST) as template:
        yield template


def params(rng, D=3, H=4):
    return {"W1": rng.normal(size=(D, H)), "b1": rng.normal(size=H),
            "W2": rng.normal(size=(H, 1)), "b2": rng.normal(size=1)}


def test_arrays_and_builtins_round_trip_with_exact_types(submit):
    nb = submit(n01=[RELU, "def echo(*a, **k):\n    return a, k"]).notebook("n01")
    out = nb.relu(np.array([[-1.0, 2.0]]))
    assert type(out) is np.ndarray and out.dtype == np.float64 and out.tolist() == [[0.0, 2.0]]
    args, kwargs = nb.echo([1, (2.5, None)], "s", np.int32(7), flag=True, x=np.arange(3, dtype=np.int16))
    assert args == ([1, (2.5, None)], "s", 7) and type(args[2]) is int
    assert kwargs["flag"] is True and kwargs["x"].dtype == np.int16


def test_handles_stay_in_the_sandbox_and_can_be_passed_back(submit):
    nb = submit(n02=[BACKWARD]).notebook("n02")
    rng = np.random.default_rng(0)
    X, p = rng.normal(size=(5, 3)), params(rng)
    out, cache = nb.forward(X, p)
    assert out.shape == (5, 1) and isinstance(cache, Handle)
    assert cache.handle_type == "__main__.Cache"
    np.testing.assert_array_equal(cache.X, X)
    assert len(cache) == 3 and np.array_equal(cache[0], X)
    assert cache.norms(scale=2.0)[0] == pytest.approx(2 * np.linalg.norm(X))
    assert nb.uses_cache(cache) == pytest.approx(np.maximum(X @ p["W1"] + p["b1"], 0).sum())


def test_a_handle_only_reaches_the_notebook_that_made_it(submit):
    submission = submit(n02=[BACKWARD], n03=[BACKWARD])
    rng = np.random.default_rng(2)
    _, cache = submission.notebook("n02").forward(rng.normal(size=(2, 3)), params(rng))
    submission.notebook("n03").forward(rng.normal(size=(2, 3)), params(rng))  # its own handle #1 exists
    with pytest.raises(TypeError, match="lives in n02.ipynb, not n03.ipynb"):
        submission.notebook("n03").uses_cache(cache)


def test_torch_modules_are_handles_whose_tensors_arrive_as_arrays(submit):
    cells = ["import torch\ndef model():\n    torch.manual_seed(0)\n"
             "    return torch.nn.Sequential(torch.nn.Linear(2, 3).double(), torch.nn.ReLU())"]
    net = submit(n03=cells).notebook("n03").model()
    assert net.handle_type == "torch.nn.modules.container.Sequential" and len(net) == 2
    weight = net[0].weight
    assert type(weight) is np.ndarray and weight.shape == (3, 2) and weight.dtype == np.float64


def test_iterating_a_handle_gives_its_items_in_one_request_and_the_students_errors(submit):
    cells = ["import torch\ndef model():\n"
             "    return torch.nn.Sequential(torch.nn.Linear(2, 3).double(), torch.nn.ReLU(), torch.nn.Sigmoid())\n"
             "class Broken:\n    def __len__(self):\n        return 3\n"
             "    def __getitem__(self, i):\n        if i == 1:\n            raise IndexError('no second item')\n"
             "        return i\n"
             "def broken():\n    return Broken()\n"]
    submission = submit(n03=cells)
    nb = submission.notebook("n03")
    net = nb.model()
    transport = getattr(nb._transport, "main", nb._transport)  # the notebook's usual sandbox
    sent = []
    real = transport._send_request
    transport._send_request = lambda label, request: sent.append(request["op"]) or real(label, request)
    layers = [layer for layer in net]  # as the hidden tests iterate (list() would ask len() too)
    assert sent == ["items"]
    assert [layer.handle_type.rsplit(".", 1)[1] for layer in layers] == ["Linear", "ReLU", "Sigmoid"]
    assert layers[0].weight.shape == (3, 2)
    with pytest.raises(StudentException, match="no second item"):
        [item for item in nb.broken()]


def test_reference_function_is_usable_in_the_sandbox_and_gives_values_only(submit):
    cells = ["import numpy as np\ndef numerical_gradient(f, x, eps=1e-6):\n"
             "    g = np.zeros_like(x)\n    for i in np.ndindex(x.shape):\n        old = x[i]\n"
             "        x[i] = old + eps; fp = f(x)\n        x[i] = old - eps; fm = f(x)\n"
             "        x[i] = old; g[i] = (fp - fm) / (2 * eps)\n    return g"]
    nb = submit(n01=cells).notebook("n01")
    f = nb.reference_function("cubic_sum", a=1.0, b=0.5, c=0.1)
    x = np.linspace(-1, 1, 4)
    expected = 3 * x**2 + 0.5 * np.cos(x) + 0.2 * x.sum()
    np.testing.assert_allclose(nb.numerical_gradient(f, x), expected, rtol=1e-6)
    with pytest.raises(StudentException, match="no attribute 'gradient'"):  # the grader keeps the answer
        f.gradient


def test_call_options_cross_the_boundary(submit):
    cells = ["import torch, numpy as np\n"
             "def grads(x):\n    t = torch.tensor(x, requires_grad=True)\n    (t * t).sum().backward()\n"
             "    return t.grad.numpy()\n"
             "def scale_inplace(x):\n    x *= 2\n    return None\n"]
    nb = submit(n02=cells).notebook("n02")
    np.testing.assert_array_equal(nb.grads(np.ones(2)), [2.0, 2.0])
    with pytest.raises(AutogradUsed):
        nb.call("grads", np.ones(2), numpy_only=True)
    result, (after,) = nb.call("scale_inplace", np.ones(2), return_args=True)
    assert result is None and after.tolist() == [2.0, 2.0]
    with pytest.raises(StudentException, match="read-only"):
        nb.call("scale_inplace", np.ones(2), readonly_args=True)


def test_the_types_of_a_result_cross_the_boundary_as_in_process(submit):
    cells = ["import torch, numpy as np\n"
             "def autograd_grads(x):\n    t = torch.tensor(x, requires_grad=True)\n    (t * t).sum().backward()\n"
             "    return {'W1': t.grad, 'b1': np.ones(1), 'loss': np.float64(1.0)}\n"]
    nb = submit(n02=cells).notebook("n02")
    grads, types = nb.call("autograd_grads", np.ones(2), return_types=True)
    assert type(grads["W1"]) is np.ndarray and grads["W1"].tolist() == [2.0, 2.0]
    assert types == nb.last_call_types == {"W1": "torch.Tensor", "b1": "numpy.ndarray", "loss": "numpy.float64"}
    nb.call("autograd_grads", np.ones(2))
    assert nb.last_call_types == types


def test_an_argument_that_cannot_cross_is_the_graders_error_and_spares_the_sandbox(submit):
    submission = submit(n01=[RELU])
    nb = submission.notebook("n01")
    with pytest.raises(TypeError, match="cannot send the arguments of `relu`"):
        nb.relu({1, 2})
    assert nb.relu(np.array([-1.0])).tolist() == [0.0] and len(submission.spawned) == 1


def test_errors_name_the_function_and_the_failing_cells(submit):
    nb = submit(n01=["def broken(x):\n    raise ValueError('nope')", "1 / 0"]).notebook("n01")
    with pytest.raises(StudentException, match="ValueError: nope"):
        nb.broken(1)
    with pytest.raises(FunctionMissing, match="ZeroDivisionError"):
        nb.relu(1)


def test_missing_notebooks_cost_no_process(submit):
    submission = submit(n02=NotebookMissing("n02", "it is not a valid notebook"))
    with pytest.raises(NotebookMissing, match="not a valid notebook"):
        submission.notebook("n02").forward(1)
    with pytest.raises(NotebookMissing):
        submission.notebook("n04").bce_loss(1)
    assert submission.spawned == ()


def test_sandbox_starts_lazily_once_per_notebook(submit):
    submission = submit(n01=[RELU], n02=[BACKWARD])
    nb = submission.notebook("n01")
    assert submission.spawned == ()
    started = time.perf_counter()
    nb.relu(np.ones(1))
    first = time.perf_counter() - started
    for _ in range(5):
        nb.relu(np.ones(1))
    assert len(submission.spawned) == 1
    assert first < 1.5  # a fork of the warm template, not a 3 s interpreter start with torch


def test_per_call_round_trip_is_well_under_a_millisecond(submit):
    nb = submit(n01=[RELU]).notebook("n01")
    x = np.ones((10, 4))
    nb.relu(x)
    batches = []
    for _ in range(5):  # the best of five batches: other work on the machine only adds
        started = time.perf_counter()
        for _ in range(50):
            nb.relu(x)
        batches.append((time.perf_counter() - started) / 50)
    assert min(batches) < 1e-3


def test_call_timeout_is_enforced_even_with_signals_blocked(submit):
    cells = [RELU, "import signal\ndef spin():\n"
                   "    signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals))\n"
                   "    for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):\n"
                   "        signal.signal(s, signal.SIG_IGN)\n    while True:\n        pass"]
    submission = submit(n01=cells)
    nb = submission.notebook("n01")
    started = time.monotonic()
    with pytest.raises(CallTimeout, match="did not return within 2 s"):
        nb.spin()
    assert time.monotonic() - started < FAST.call_timeout + 2
    assert nb.relu(np.array([-1.0])).tolist() == [0.0]  # a fresh sandbox took over
    assert [e.kind for e in submission.events].count("call_timeout") == 1
    assert len(submission.spawned) == 2


def test_cell_timeout_is_enforced_from_outside_and_later_cells_still_run(submit):
    hang = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"
    submission = submit(n01=["x = 1", hang, RELU])
    started = time.monotonic()
    assert submission.notebook("n01").relu(np.array([3.0])).tolist() == [3.0]
    assert time.monotonic() - started < FAST.cell_timeout + 6
    errors = [r.error for r in submission.cell_results["n01"]]
    assert errors[0] is None and "cell 2: ran longer than 2 s" in errors[1] and errors[2] is None
    assert any(e.kind == "cell_timeout" for e in submission.events)


def test_a_cell_that_kills_the_process_is_skipped_on_the_rerun(submit):
    submission = submit(n01=["import os\nos._exit(0)", RELU])
    assert submission.notebook("n01").relu(np.array([-2.0])).tolist() == [0.0]
    assert "cell 1: stopped the process" in submission.cell_results["n01"][0].error


def test_death_during_a_call_is_reported_and_a_fresh_sandbox_takes_over(submit):
    cells = [BACKWARD, "import os\ndef die():\n    os._exit(3)"]
    submission = submit(n02=cells)
    nb = submission.notebook("n02")
    rng = np.random.default_rng(1)
    _, cache = nb.forward(rng.normal(size=(2, 3)), params(rng))
    with pytest.raises(SandboxDied, match="exited with status 3"):
        nb.die()
    out, _ = nb.forward(np.zeros((1, 3)), params(rng))
    assert out.shape == (1, 1)
    with pytest.raises(SandboxDied, match="earlier run of your notebook"):
        nb.uses_cache(cache)  # the old cache died with its process; never another object
    assert any(e.kind == "died" and "status 3" in e.detail for e in submission.events)


def test_segfault_is_a_sandbox_death(submit):
    nb = submit(n01=[RELU, "import ctypes\ndef crash():\n    return ctypes.string_at(0)"]).notebook("n01")
    with pytest.raises(SandboxDied, match="SIGSEGV"):
        nb.crash()
    assert nb.relu(np.array([1.0])).tolist() == [1.0]


def test_memory_is_capped_and_a_hog_fails_only_its_own_call(submit):
    cells = [RELU, "import numpy as np\ndef hog():\n    return np.ones(2**31).sum()",
             "def grow():\n    chunks = []\n    while True:\n        chunks.append(bytearray(2**26))"]
    nb = submit(limits=replace(FAST, memory_bytes=512 * 2**20), n01=cells).notebook("n01")
    with pytest.raises(StudentException, match="MemoryError"):
        nb.hog()
    with pytest.raises((StudentException, SandboxDied)):
        nb.grow()
    assert nb.relu(np.array([1.0])).tolist() == [1.0]


def test_printed_output_is_kept_capped_and_never_reaches_the_grader(submit, capfd):
    cells = ["print('hello from the notebook')", "import sys, os\nos.write(2, b'x' * 300000)",
             "def talk():\n    print('y' * 1000)\n    return 1"]
    submission = submit(limits=replace(FAST, output_bytes=1000), n01=cells)
    assert submission.notebook("n01").talk() == 1
    submission.close()
    out, err = capfd.readouterr()
    assert "hello" not in out + err and "xxx" not in out + err
    assert submission.output["n01"].startswith("hello from the notebook\nxxx")
    assert "more bytes of output dropped" in submission.output["n01"]
    assert len(submission.output["n01"]) < 1100


def test_grading_twice_gives_the_same_values_even_unseeded(submit):
    cells = ["import numpy as np, random, torch\n"
             "def draw():\n    return [np.random.rand(), random.random(), torch.rand(1).item()]"]
    first = submit(n01=cells).notebook("n01").draw()
    second = submit(n01=cells).notebook("n01").draw()
    assert first == second


def test_sandbox_is_confined_as_designed(template):
    applied = template.isolation
    assert applied["network"] is True or not ROOT
    if ROOT:
        assert applied["uid"] != 0
        assert any(path.endswith("grading_tests") for path in applied["hidden"])


def test_close_leaves_no_sandbox_behind(template, submit):
    submission = submit(n01=[RELU, PID], n02=[RELU])
    pids = [host_pid(submission.notebook("n01").pid())]
    submission.notebook("n02").relu(np.ones(1))
    pids += list(submission.spawned)
    submission.close()
    assert not [pid for pid in pids if alive(pid)]


def test_a_forked_grading_worker_can_use_the_template_and_clean_up(template):
    """The orchestration forks one worker per submission; the worker talks to the
    template its parent started, and its close() must still kill its sandboxes."""
    read, write = os.pipe()
    worker = os.fork()
    if worker == 0:
        code = 1
        try:
            submission = SandboxSubmission(template, {"n01": [RELU, PID]})
            pid = host_pid(submission.notebook("n01").pid())
            submission.close()
            os.write(write, f"{pid} {int(alive(pid))} {int(template.alive())}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(worker, 0)
    pid, still_alive, template_alive = os.read(read, 100).decode().split()
    os.close(read)
    assert status == 0 and still_alive == "0" and template_alive == "1"
    assert template.alive()


def test_a_reply_left_by_a_killed_worker_is_not_taken_for_the_next_request(template):
    from autograder.sandbox import codec

    # As if a forked worker asked the template something and was killed before reading.
    question = {"op": "status", "pid": 1, "wait": 0.2, "tag": "gone:1"}
    template._control.send(b"".join(bytes(part) for part in codec.encode(question)))
    assert template.kill_tree([]) == 0  # its own reply, not the dead worker's {"status": None}


def test_kill_tree_never_touches_a_process_that_is_not_its_own(template):
    """A stale sandbox pid may have been reused by the time a submission closes."""
    import subprocess

    bystander = subprocess.Popen(["sleep", "30"])
    try:
        template.kill_tree([bystander.pid])
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_channels_of_one_template_keep_their_sandboxes_apart(template):
    """A batch's jobs share one template, each through a channel: one job's clean-up
    (after its submission, or a whole sweep) never reaches the other job's sandboxes,
    and closing a channel ends its own sandboxes only."""
    with template.channel() as job_a, template.channel() as job_b:
        first = SandboxSubmission(job_a, {"n01": [RELU, PID]})
        second = SandboxSubmission(job_b, {"n01": [RELU, PID]})
        a, b = host_pid(first.notebook("n01").pid()), host_pid(second.notebook("n01").pid())
        job_a.sweep()
        job_a.kill_tree([b])
        assert not alive(a) and alive(b)
        assert second.notebook("n01").relu(np.array([-1.0, 2.0])).tolist() == [0.0, 2.0]
        first.close()
        third = SandboxSubmission(job_b, {"n01": [RELU, PID]})
        c = host_pid(third.notebook("n01").pid())
    deadline = time.monotonic() + 5
    while (alive(b) or alive(c)) and time.monotonic() < deadline:  # ended when their channel closed
        time.sleep(0.02)
    assert not alive(b) and not alive(c)
    assert template.alive()
    second.close()  # nothing left to do, and no error for it
    third.close()


def test_closing_without_waiting_kills_at_once_and_the_template_reaps(template, submit):
    submission = submit(n01=[RELU, PID], n02=[RELU, PID])
    pids = [host_pid(submission.notebook("n01").pid()), host_pid(submission.notebook("n02").pid())]
    submission.close(wait=False)  # how grading ends a submission: SIGKILL, then on with the next one
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [pid for pid in pids if alive(pid)]
    assert template.sweep() == 0  # nothing left for the sweep after a submission
