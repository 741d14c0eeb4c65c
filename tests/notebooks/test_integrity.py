"""The integrity scan flags code that reaches into the grader or the interpreter, never
the instructor's or an honest student's, and never raises whatever the source."""

from autograder.grading.grade import integrity_flags
from autograder.grading.submissions import read_submission
from autograder.paths import SOURCE_DIR
from autograder.notebooks.integrity import scan

TAMPERING = {
    "import autograder.dispatch": "grader's own package",
    "sys.modules['autograder.dispatch'].torch_forbidden = None": "sys.modules",
    "with torch._C.DisableTorchFunction():\n    pass": "torch's C internals",
    "import gc\nobjects = gc.get_objects()": "walks every object",
    "import ctypes": "ctypes",
    "import os\nif os.fork() == 0:\n    pass": "forks a process",
    "import threading": "starts threads",
    "from torch.overrides import _pop_mode_temporarily": "function dispatch",
    "f = lambda: 0\ng = f.__globals__": "globals",
    "x = getattr(__import__('sys'), 'modules')": "imports modules by name",
}


def test_each_kind_of_tampering_is_flagged_with_its_line():
    for code, reason in TAMPERING.items():
        flags = scan("02_backward", ["import numpy as np\n", "x = 1\n" + code])
        assert flags, code
        assert all(flag.cell == 2 and flag.line >= 2 for flag in flags), code
        assert any(reason in flag.reason for flag in flags), (code, flags)


def test_the_solutions_and_honest_numpy_are_not_flagged():
    assert integrity_flags(read_submission(SOURCE_DIR)) == ()
    assert scan("02_backward", ["def backward(X, y, params, cache):\n    return {k: np.zeros_like(v) "
                                "for k, v in params.items()}\n", "!pip list\n%timeit 1\n"]) == ()


def test_no_source_makes_the_scan_raise():
    odd = ["def f(:\n", "(" * 10_000 + ")" * 10_000, "x = '" + "\\" * 3 + "'", None, "\x00", "a" * 1_000_000,
           "import sys\n" * 500]
    flags = scan("01_relu", odd)
    assert len(flags) <= 50
