"""The backprop assignment's grader: runs untrusted notebooks in a sandbox and scores
them with the hidden tests in ``grading_tests/``. See DESIGN.md for how the parts fit."""

from pathlib import Path

#: The repository root (an nbgrader course directory).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "backprop"
NOTEBOOKS = ("01_relu", "02_backward", "03_mlp", "04_bce")
#: The notebooks with a "NumPy only" function (ASSIGNMENT.md): their NumPy-only sandbox
#: is started with the others instead of at the first NumPy-only call.
NUMPY_ONLY_NOTEBOOKS = ("02_backward", "03_mlp")
