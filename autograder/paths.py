"""Where the course lives: the one home of every path the grader reads or hides.

The repository root is an nbgrader course directory; Gradescope's bundle keeps the
same layout under ``/autograder/source`` (``AUTOGRADER_ROOT`` moves it in tests).
"""

from pathlib import Path

#: The repository root (an nbgrader course directory).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "backprop"
NOTEBOOKS = ("01_relu", "02_backward", "03_mlp", "04_bce")

#: The instructor's notebooks (solutions between nbgrader markers).
SOURCE_DIR = PROJECT_ROOT / "source" / ASSIGNMENT
#: The student notebooks nbgrader builds from SOURCE_DIR (committed).
RELEASE_DIR = PROJECT_ROOT / "release" / ASSIGNMENT
#: The hidden tests, their references and the mistake catalogue.
GRADING_TESTS_DIR = PROJECT_ROOT / "grading_tests"
#: Example submissions for ``make demo``.
EXAMPLES_DIR = PROJECT_ROOT / "examples"
#: The notebooks with a "NumPy only" function (ASSIGNMENT.md): their NumPy-only sandbox
#: is started with the others instead of at the first NumPy-only call.
NUMPY_ONLY_NOTEBOOKS = ("02_backward", "03_mlp")
