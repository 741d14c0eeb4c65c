"""Every notebook runs top to bottom in a real Jupyter kernel (nbclient + ipykernel).

The instructor's notebooks run clean with every public check printing its ``ok`` line.
The student notebooks run too; their only errors are the ``NotImplementedError`` of the
unanswered stubs (no ``NameError`` cascade, no dead kernel). Each notebook is executed
once per module and shared by the tests that read it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.paths import NOTEBOOKS, RELEASE_DIR, SOURCE_DIR

pytestmark = pytest.mark.slow

CELL_TIMEOUT_SECONDS = 120
#: Appended to each executed copy: shows which interpreter runs the kernel, and that it
#: is still alive after the last cell of the notebook.
PROBE = "import sys\nprint('kernel python:', sys.executable)"


def execute(path: Path, workdir: Path) -> tuple[nbformat.NotebookNode, float]:
    """Run a copy of a notebook cell by cell, going on after errors; return it and the seconds taken."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    # No kernel directories: "python3" resolves to ipykernel's native spec, which starts
    # this very interpreter (sys.executable), whatever kernels the user has installed.
    kernel = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    client = NotebookClient(
        notebook, km=kernel, timeout=CELL_TIMEOUT_SECONDS, allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},  # the kernel's cwd: nothing lands in the repo
    )
    start = time.perf_counter()
    try:
        client.execute()
        seconds = time.perf_counter() - start
    finally:
        # nbclient leaves a kernel it did not start running: stop it, or it outlives
        # the test (and the grading tests that check nothing is left running see it)
        if kernel.has_kernel:
            kernel.shutdown_kernel(now=True)
    return notebook, seconds


def errors(notebook) -> list[tuple[str, str, str]]:
    """(cell id, exception name, message) of every cell that raised."""
    return [
        (cell.get("id", "?"), output.ename, output.evalue)
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.outputs if output.output_type == "error"
    ]


def stdout(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def check_cells(notebook) -> list:
    return [cell for cell in notebook.cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").startswith("check_")]


def assert_kernel_survived(notebook) -> None:
    probe = notebook.cells[-1]
    assert probe.source == PROBE
    assert stdout(probe).strip() == f"kernel python: {sys.executable}", "the kernel died or runs another Python"


@pytest.fixture(scope="module", params=NOTEBOOKS)
def source_run(request, tmp_path_factory):
    notebook, seconds = execute(SOURCE_DIR / f"{request.param}.ipynb",
                                tmp_path_factory.mktemp("source-run"))
    print(f"\nsource {request.param}: {seconds:.1f} s")
    return notebook


@pytest.fixture(scope="module", params=NOTEBOOKS)
def release_run(request, tmp_path_factory):
    notebook, seconds = execute(RELEASE_DIR / f"{request.param}.ipynb",
                                tmp_path_factory.mktemp("release-run"))
    print(f"\nrelease {request.param}: {seconds:.1f} s")
    return notebook


def test_source_notebook_runs_without_error(source_run):
    assert errors(source_run) == []
    assert_kernel_survived(source_run)


def test_every_public_check_passes_and_prints_ok(source_run):
    checks = check_cells(source_run)
    assert checks, "the notebook has no public check"
    for cell in checks:
        function = cell.metadata.nbgrader.grade_id.removeprefix("check_")
        lines = stdout(cell).splitlines()
        assert lines and lines[-1].startswith(f"{function}: ok"), f"check_{function} printed {lines}"


def test_public_checks_print_no_array(source_run):
    # A check that printed an expected array would hand out the answer.
    for cell in check_cells(source_run):
        text = stdout(cell)
        assert "[" not in text and "array(" not in text, f"{cell.metadata.nbgrader.grade_id} printed {text!r}"
        assert len(text.splitlines()) <= 10
        assert not [o for o in cell.outputs if o.output_type in ("execute_result", "display_data")]


def test_notebook_draws_its_plots(source_run):
    images = [o for cell in source_run.cells if cell.cell_type == "code"
              for o in cell.outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert images, "every lesson has at least one plot"


def test_release_errors_are_only_not_implemented(release_run):
    found = errors(release_run)
    assert found, "the stubs must raise NotImplementedError"
    assert [e for e in found if e[1] != "NotImplementedError"] == []
    assert_kernel_survived(release_run)


def test_every_public_check_of_the_release_fails_on_its_stub(release_run):
    # Each check meets an unanswered stub first, never a name an earlier failure left undefined.
    for cell in check_cells(release_run):
        names = [o.ename for o in cell.outputs if o.output_type == "error"]
        assert names == ["NotImplementedError"], f"{cell.metadata.nbgrader.grade_id}: {names}"


def test_release_stub_cells_define_their_functions_without_error(release_run):
    for cell in release_run.cells:
        m = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and (m.get("solution") or m.get("grade_id") == "imports"):
            assert not [o for o in cell.outputs if o.output_type == "error"], m["grade_id"]


def test_a_failing_public_check_reports_and_the_notebook_runs_on(tmp_path):
    """In a real kernel, as *Run All* would: a wrong sigmoid prints a FAILED line, raises
    nothing, and every later check still runs."""
    from grading_tests.mistakes import MISTAKES, apply_mistake

    mistake = next(m for m in MISTAKES if m.key == "sigmoid-naive")  # exact, but exp overflows and warns
    source = nbformat.read(SOURCE_DIR / "01_relu.ipynb", as_version=4)
    path = tmp_path / "01_relu.ipynb"
    nbformat.write(apply_mistake(source, mistake), path)
    notebook, _ = execute(path, tmp_path)
    assert errors(notebook) == []
    assert_kernel_survived(notebook)
    verdicts = {cell.metadata.nbgrader.grade_id: stdout(cell).splitlines()[-1] for cell in check_cells(notebook)}
    assert verdicts["check_sigmoid"].startswith("sigmoid: FAILED: NumPy reported 'overflow encountered in exp'")
    assert verdicts["check_sigmoid_grad"].startswith("sigmoid_grad: FAILED")  # the solution's calls sigmoid
    assert [verdicts[c] for c in ("check_relu", "check_relu_grad", "check_numerical_gradient")] == [
        "relu: ok", "relu_grad: ok", "numerical_gradient: ok"]
