"""Running a notebook's cells like Jupyter, without a kernel (what the sandbox runs)."""

from autograder.sandbox.cells import new_shell, run_cells


def test_a_raising_cell_is_recorded_and_execution_goes_on():
    namespace = {}
    results = run_cells(new_shell(namespace), ["x = 1", "raise SystemExit(3)", "undefined + 1",
                                                "def f(:", "y = x + 1"])
    assert [r.error is None for r in results] == [True, False, False, False, True]
    assert "SystemExit" in results[1].error and "NameError" in results[2].error
    assert "SyntaxError" in results[3].error
    assert namespace["y"] == 2


def test_ipython_semantics_magics_and_shell_lines():
    namespace = {}
    results = run_cells(new_shell(namespace), ["%time z = 3", "out = !echo hi", "w = z * 2"])
    assert all(r.error is None for r in results)
    assert namespace["w"] == 6 and list(namespace["out"]) == ["hi"]


def test_plain_python_cells_keep_what_a_notebook_relies_on():
    """Valid Python skips IPython's parsing, yet behaves as in Jupyter: IPython's
    builtins exist, a __future__ import holds for later cells, a function's source can
    be read, and a cell that is only IPython (indented paste, `?` help) still runs."""
    namespace = {}
    results = run_cells(new_shell(namespace), [
        "from __future__ import annotations\nshell = get_ipython()\ndisplay('shown')",
        "def f(x: NotDefinedAnywhere) -> int:\n    return 1",
        "import inspect\nsource = inspect.getsource(f)",
        "    indented = 1",
        "len?",
        "print(undefined_name)",
    ])
    assert [r.error for r in results[:5]] == [None] * 5, results
    assert namespace["shell"] is not None and namespace["indented"] == 1
    assert namespace["f"].__annotations__["x"] == "NotDefinedAnywhere"  # postponed by cell 1's import
    assert namespace["source"].startswith("def f(x")
    assert results[5].error == "cell 6: NameError: name 'undefined_name' is not defined"


def test_a_cell_past_its_time_limit_is_stopped():
    results = run_cells(new_shell({}), ["while True: pass", "done = True"], cell_timeout=0.5)
    assert "longer than 0.5 s" in results[0].error
    assert results[1].error is None


def test_matplotlib_magics_and_plots_run_without_a_screen():
    namespace = {}
    results = run_cells(new_shell(namespace), [
        "%matplotlib inline",
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1], [1, 0])\nplt.show()",
        "drawn = len(ax.lines)",
    ])
    assert [r.error for r in results] == [None, None, None]
    assert namespace["drawn"] == 1
