"""Rules enforced from outside the student's code (issue 13), one sandbox call at a time.

NumPy-only calls run where PyTorch cannot be loaded, whatever the student's code does; a
test function handed to the student's ``numerical_gradient`` is a value and nothing else;
a function that keeps killing its process costs its own calls only. The batch-level view
of the same cases (grades of whole hostile submissions) is in test_batch_hostile.py.
"""

import numpy as np
import pytest

from autograder.errors import AutogradUsed, FunctionMissing, SandboxDied, StudentException
from autograder.sandbox.client import Limits, Template

pytestmark = pytest.mark.slow  # starts sandbox templates and sandboxes
LIMITS = Limits(call_timeout=3.0, cell_timeout=3.0, max_processes=32)
X = np.array([[1.0, -2.0], [0.5, 3.0]])

#: Each tries to use autograd in a NumPy-only call; none may get a value from torch.
AUTOGRAD_BYPASSES = {
    "plain": "def grad(x):\n    t = torch.tensor(x, requires_grad=True)\n    (t ** 2).sum().backward()\n"
             "    return t.grad.numpy()\n",
    # autograd.grad kept from notebook time, called in a thread (a mode is thread-local)
    "thread": "import threading\nkept = torch.autograd.grad\ndef grad(x):\n    out = {}\n    def work():\n"
              "        try:\n            t = torch.tensor(x, requires_grad=True)\n"
              "            out['g'] = kept((t ** 2).sum(), t)[0].numpy()\n"
              "        except BaseException as error:\n            out['e'] = error\n"
              "    th = threading.Thread(target=work)\n    th.start()\n    th.join()\n"
              "    return out.get('g', 'no torch')\n",
    "disable_torch_function": "kept = torch.autograd.grad\ndef grad(x):\n    try:\n"
                              "        with torch._C.DisableTorchFunction():\n"
                              "            t = torch.tensor(x, requires_grad=True)\n"
                              "            return kept((t ** 2).sum(), t)[0].numpy()\n"
                              "    except BaseException:\n        return 'no torch'\n",
    "popped_mode": "kept = torch.autograd.grad\ndef grad(x):\n    try:\n"
                   "        from torch.overrides import _pop_mode_temporarily\n"
                   "        with _pop_mode_temporarily():\n"
                   "            t = torch.tensor(x, requires_grad=True)\n"
                   "            return kept((t ** 2).sum(), t)[0].numpy()\n"
                   "    except BaseException:\n        return 'no torch'\n",
    "patched_guard": "import contextlib, sys\nkept = torch.autograd.grad\ndef grad(x):\n"
                     "    for name in list(sys.modules):\n        if name.startswith('autograder'):\n"
                     "            try:\n                sys.modules[name].torch_forbidden = contextlib.nullcontext\n"
                     "            except Exception:\n                pass\n"
                     "    try:\n        t = sys.modules['torch'].tensor(x, requires_grad=True)\n"
                     "        return kept((t ** 2).sum(), t)[0].numpy()\n"
                     "    except BaseException as error:\n        return 'no torch: ' + type(error).__name__\n",
    "reimport": "import sys\ndef grad(x):\n    sys.modules.pop('torch', None)\n"
                "    sys.meta_path[:] = [f for f in sys.meta_path if 'notorch' not in type(f).__module__]\n"
                "    try:\n        import torch as real\n        t = real.tensor(x, requires_grad=True)\n"
                "        return real.autograd.grad((t ** 2).sum(), t)[0].numpy()\n"
                "    except BaseException as error:\n        return 'no torch: ' + type(error).__name__\n",
    "helper_process": "def grad(x):\n    import subprocess, sys\n"
                      "    code = 'import torch; print(torch.ones(2).sum().item())'\n"
                      "    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)\n"
                      "    return 'no torch' if done.returncode else 'torch in a helper: ' + done.stdout\n",
    "forked_at_notebook_time": "import os, time\nkept = torch.autograd.grad\nrequests, answers = os.pipe(), os.pipe()\n"
                               "if os.fork() == 0:\n    import numpy\n    while True:\n"
                               "        n = int(os.read(requests[0], 16) or b'0')\n"
                               "        t = torch.ones(n, dtype=torch.float64, requires_grad=True)\n"
                               "        g = kept((t ** 2).sum(), t)[0].numpy()\n"
                               "        os.write(answers[1], g.tobytes())\n"
                               "def grad(x):\n    os.write(requests[1], str(x.size).encode().ljust(16))\n"
                               "    return np.frombuffer(os.read(answers[0], 8 * x.size)).reshape(x.shape) * x\n",
}


@pytest.fixture(scope="module")
def template():
    with Template(LIMITS) as template:
        yield template


@pytest.mark.parametrize("name", list(AUTOGRAD_BYPASSES))
def test_numpy_only_calls_cannot_reach_torch(submit, name):
    cells = ["import numpy as np\nimport torch\n", AUTOGRAD_BYPASSES[name]]
    nb = submit(nb=cells).notebook("nb")
    try:
        got = nb.call("grad", X, numpy_only=True)
    except (AutogradUsed, StudentException, FunctionMissing):  # FunctionMissing: torch at notebook time
        return
    assert not isinstance(got, np.ndarray), f"{name}: torch computed {got}"
    assert "torch in a helper" not in str(got)


def test_torch_in_a_numpy_only_call_reads_the_usual_message(submit):
    nb = submit(nb=["import numpy as np\nimport torch\n", AUTOGRAD_BYPASSES["plain"]]).notebook("nb")
    with pytest.raises(AutogradUsed, match="must use NumPy only"):
        nb.call("grad", X, numpy_only=True)


def test_other_calls_still_have_torch_and_numpy_only_handles_are_rebuilt(submit):
    cells = ["import numpy as np\nimport torch\n",
             "class Cache:\n    def __init__(self, x):\n        self.x = x\n"
             "def forward(x):\n    return x * 2, Cache(x)\n"
             "def backward(cache):\n    return cache.x * 2\n"
             "def with_torch(x):\n    return torch.tensor(x).double().sum().item()\n"]
    nb = submit(nb=cells).notebook("nb")
    assert nb.with_torch(X) == pytest.approx(X.sum())
    _, cache = nb.forward(X)
    np.testing.assert_array_equal(nb.call("backward", cache, numpy_only=True), X * 2)


def test_a_test_function_gives_values_and_nothing_else(submit):
    cells = ["import numpy as np\n",
             "def numerical_gradient(f, x, eps=1e-6):\n"
             "    for attr in ('gradient', 'A', 'a', 'b', 'c', 'value', 'calls'):\n"
             "        if hasattr(f, attr):\n            return attr\n"
             "    g = np.zeros_like(x)\n    for i in np.ndindex(x.shape):\n"
             "        s = x.copy(); s[i] += eps; up = f(s)\n        s[i] -= 2 * eps; down = f(s)\n"
             "        g[i] = (up - down) / (2 * eps)\n    return g\n"]
    nb = submit(nb=cells).notebook("nb")
    f = nb.reference_function("cubic_sum", a=1.0, b=0.0, c=0.0)
    x = np.array([0.5, -1.0, 2.0])
    got = nb.numerical_gradient(f, x)
    assert isinstance(got, np.ndarray), got
    np.testing.assert_allclose(got, 3 * x**2, rtol=1e-6)


def test_a_function_that_keeps_killing_its_process_costs_only_its_own_calls(submit):
    cells = ["import os\ndef crash():\n    os._exit(3)\ndef fine():\n    return 7\n"]
    nb = submit(limits=LIMITS, nb=cells).notebook("nb")
    for _ in range(2):
        with pytest.raises(SandboxDied):
            nb.crash()
    with pytest.raises(SandboxDied, match="its other tests were not run"):
        nb.crash()
    assert [nb.fine() for _ in range(3)] == [7, 7, 7]


def test_read_only_arguments_cannot_be_made_writeable_again(submit):
    cells = ["import numpy as np\n"
             "def scale(z):\n    try:\n        z.setflags(write=True)\n    except ValueError:\n        pass\n"
             "    z *= 2\n    return z\n"]
    nb = submit(nb=cells).notebook("nb")
    with pytest.raises(StudentException, match="read-only"):
        nb.call("scale", X, readonly_args=True)


def test_torchs_files_are_invisible_to_a_numpy_only_call(submit, template):
    import os

    from autograder.sandbox.client import find_torch_paths

    if os.geteuid() != 0 and not template.numpy_only_template.isolation.get("hidden"):
        pytest.skip("no mount namespace for an unprivileged user on this kernel")
    folders = [path for path in find_torch_paths() if os.path.isdir(path)]
    assert folders and os.listdir(folders[0])
    cells = ["import os\ndef listing(folders):\n    return [sorted(os.listdir(f)) for f in folders]\n"]
    nb = submit(nb=cells).notebook("nb")
    assert nb.call("listing", folders, numpy_only=True) == [[] for _ in folders]
    assert nb.call("listing", folders[:1])[0]  # the usual sandbox has torch


def test_a_numpy_only_call_runs_where_torch_was_never_loaded(submit):
    """The torch-free template is forked from the template before torch is imported:
    no torch library is mapped in its sandboxes (the kernel's own list of what the
    process holds), while the usual sandbox holds it."""
    cells = ["def torch_mapped():\n    with open('/proc/self/maps') as maps:\n"
             "        return sorted({line.split()[-1].rsplit('/', 1)[-1] for line in maps if 'libtorch' in line})\n"]
    nb = submit(nb=cells).notebook("nb")
    assert nb.call("torch_mapped", numpy_only=True) == []
    assert "libtorch_cpu.so" in nb.call("torch_mapped")


@pytest.mark.parametrize("package", ["torch", "functorch"])
def test_a_process_that_imported_torch_cannot_be_made_numpy_only(package):
    """What the companion template checks once forked: any real package of torch already
    in the process refuses the stand-in (and so the torch-free template's start)."""
    import subprocess
    import sys

    from autograder.paths import PROJECT_ROOT

    code = (f"import {package}\nfrom autograder.sandbox import notorch\n"
            "try:\n    notorch.install()\nexcept RuntimeError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(" is already imported: this process cannot be made NumPy-only\n"), done.stdout
    assert done.stdout.split(".")[0].split()[0] in ("torch", "functorch"), done.stdout
