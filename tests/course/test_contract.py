"""The notebooks honour the contract (ASSIGNMENT.md) and the conventions of DESIGN.md section 1.

Read from the notebook files with ``ast`` and nbformat only; nothing is executed here
(tests/course/test_notebooks.py runs them in a real kernel).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from autograder.paths import NOTEBOOKS, PROJECT_ROOT, RELEASE_DIR, SOURCE_DIR

SOURCE = SOURCE_DIR
RELEASE = RELEASE_DIR
#: Where DESIGN.md says the binding contract lives (next to the repository, not in it).
ASSIGNMENT_MD = PROJECT_ROOT.parent / "shared" / "ASSIGNMENT.md"

#: The contract's signatures, notebook by notebook, as written in ASSIGNMENT.md.
CONTRACT = {
    "01_relu": ["relu(z)", "relu_grad(z)", "sigmoid(z)", "sigmoid_grad(z)", "numerical_gradient(f, x, eps=1e-6)"],
    "02_backward": ["forward(X, params)", "mse_loss(out, y)", "backward(X, y, params, cache)", "autograd_grads(X, y, params)"],
    "03_mlp": [
        "init_mlp(layer_sizes, seed)", "mlp_forward(X, params)", "mlp_backward(y, params, cache)",
        "sgd_step(params, grads, lr)", "train_mlp(X, y, layer_sizes, lr, epochs, seed)", "to_torch(params)",
    ],
    "04_bce": ["bce_loss(probs, y, eps=1e-12)", "bce_dloss_dprob(p, y)", "bce_with_logits(z, y)", "bce_grad_logits(z, y)"],
}
FUNCTIONS = [(stem, signature.split("(")[0], signature) for stem, signatures in CONTRACT.items() for signature in signatures]


def parameters(function: ast.FunctionDef) -> list[tuple[str, object]]:
    """[(name, default or Ellipsis)] of a function definition, defaults evaluated."""
    args = function.args
    assert not (args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs), "contract functions take plain parameters"
    defaults = [...] * (len(args.args) - len(args.defaults)) + [ast.literal_eval(d) for d in args.defaults]
    return [(arg.arg, default) for arg, default in zip(args.args, defaults)]


def contract_parameters(signature: str) -> list[tuple[str, object]]:
    return parameters(ast.parse(f"def {signature}: pass").body[0])


def read(folder: Path, stem: str):
    return nbformat.read(folder / f"{stem}.ipynb", as_version=4)


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def cell_with_id(notebook, grade_id: str):
    matches = [cell for cell in notebook.cells if meta(cell).get("grade_id") == grade_id]
    assert len(matches) == 1, f"expected one cell with grade_id {grade_id!r}, found {len(matches)}"
    return matches[0]


def defined_function(cell, name: str) -> ast.FunctionDef:
    definitions = [node for node in ast.parse(cell.source).body if isinstance(node, ast.FunctionDef) and node.name == name]
    assert definitions, f"the cell {name!r} does not define {name}"
    return definitions[0]


def test_notebook_files_match_the_contract():
    assert tuple(CONTRACT) == NOTEBOOKS
    assert sorted(path.stem for path in SOURCE.glob("*.ipynb")) == list(NOTEBOOKS)
    assert sorted(path.stem for path in RELEASE.glob("*.ipynb")) == list(NOTEBOOKS)


def test_embedded_contract_matches_assignment_md():
    if not ASSIGNMENT_MD.is_file():
        pytest.skip(f"{ASSIGNMENT_MD} is not next to this checkout")
    text = ASSIGNMENT_MD.read_text()
    found: dict[str, list[str]] = {}
    stem = None
    for line in text.splitlines():
        heading = re.match(r"## (\d\d_\w+)\.ipynb", line)
        if heading:
            stem = heading.group(1)
            found[stem] = []
        row = re.match(r"\| `(\w+\(.*?\))` \|", line)
        if stem and row:
            found[stem].append(row.group(1))
    assert found == CONTRACT


@pytest.mark.parametrize("stem, name, signature", FUNCTIONS, ids=[name for _, name, _ in FUNCTIONS])
def test_source_defines_the_contract_signature(stem, name, signature):
    cell = cell_with_id(read(SOURCE, stem), name)
    assert cell.cell_type == "code"
    assert meta(cell) == {"solution": True, "grade": False, "locked": False, "grade_id": name, "schema_version": 3}
    function = defined_function(cell, name)
    assert parameters(function) == contract_parameters(signature)
    docstring = ast.get_docstring(function)
    assert docstring and "Returns" in docstring and "shape" in docstring, f"{name} needs a full docstring with shapes"
    lines = cell.source.splitlines()
    begin = [i for i, line in enumerate(lines) if line.strip() == "### BEGIN SOLUTION"]
    end = [i for i, line in enumerate(lines) if line.strip() == "### END SOLUTION"]
    assert len(begin) == len(end) == 1 and begin[0] < end[0], f"{name}: one solution region"
    docstring_end = max(i for i, line in enumerate(lines) if '"""' in line)
    assert docstring_end < begin[0], f"{name}: the docstring must stay outside the solution region"


@pytest.mark.parametrize("stem, name, signature", FUNCTIONS, ids=[name for _, name, _ in FUNCTIONS])
def test_release_stub_keeps_signature_and_docstring_and_raises(stem, name, signature):
    source_function = defined_function(cell_with_id(read(SOURCE, stem), name), name)
    stub = defined_function(cell_with_id(read(RELEASE, stem), name), name)
    assert parameters(stub) == contract_parameters(signature)
    assert ast.get_docstring(stub) == ast.get_docstring(source_function)
    body = stub.body[1:]  # after the docstring
    assert len(body) == 1 and isinstance(body[0], ast.Raise), f"the stub of {name} must only raise"
    assert ast.unparse(body[0].exc) == "NotImplementedError()"


@pytest.mark.parametrize("stem, name, signature", FUNCTIONS, ids=[name for _, name, _ in FUNCTIONS])
def test_every_function_is_followed_by_its_locked_public_check(stem, name, signature):
    notebook = read(SOURCE, stem)
    ids = [meta(cell).get("grade_id") for cell in notebook.cells]
    check = cell_with_id(notebook, f"check_{name}")
    assert ids.index(f"check_{name}") > ids.index(name)
    assert meta(check) == {"grade": False, "locked": True, "solution": False, "grade_id": f"check_{name}", "schema_version": 3}
    assert f"{name}(" in check.source, f"check_{name} must call {name}"
    assert re.search(rf'print\(f?"{name}: ok', check.source), f"check_{name} must print a '{name}: ok' line"


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_source_notebook_layout(stem):
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

    notebook = read(SOURCE, stem)
    MetadataValidatorV3().validate_nb(notebook)  # raises on metadata nbgrader would reject
    assert notebook.metadata.kernelspec.name == "python3"
    assert notebook.metadata.kernelspec.language == "python"
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    imports = code_cells[0]
    assert meta(imports).get("grade_id") == "imports" and meta(imports).get("locked") is True
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code_cells), "source notebooks are stored without outputs"


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_every_nbgrader_cell_is_a_contract_function_its_check_or_a_locked_helper(stem):
    functions = {name for name, *_ in (sig.split("(") for sig in CONTRACT[stem])}
    for cell in read(SOURCE, stem).cells:
        m = meta(cell)
        if not m:
            continue
        if m.get("solution") and not m.get("grade"):
            assert m["grade_id"] in functions, f"solution cell {m['grade_id']} is not a contract function"
        elif m.get("grade"):
            assert m["grade_id"] in ("bce_derivation", f"hidden_tests_{stem}"), m["grade_id"]
        else:
            assert m.get("locked") is True


AUTOGRADED_POINTS = {"01_relu": 15, "02_backward": 30, "03_mlp": 35, "04_bce": 20}


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_each_notebook_carries_its_autograded_points_in_one_locked_grade_cell(stem):
    """nbgrader's gradebook learns each notebook's autograded points from this cell."""
    cells = [cell for cell in read(SOURCE, stem).cells if meta(cell).get("grade_id") == f"hidden_tests_{stem}"]
    assert len(cells) == 1
    assert cells[0].cell_type == "code"
    assert meta(cells[0]) == {"grade": True, "grade_id": f"hidden_tests_{stem}", "locked": True,
                              "points": AUTOGRADED_POINTS[stem], "schema_version": 3,
                              "solution": False, "task": False}


def test_the_derivation_is_a_manually_graded_markdown_answer():
    cell = cell_with_id(read(SOURCE, "04_bce"), "bce_derivation")
    assert cell.cell_type == "markdown"
    assert meta(cell) == {"solution": True, "grade": True, "points": 10, "grade_id": "bce_derivation",
                          "locked": False, "schema_version": 3}
    assert r"\sigma(z) - y" in cell.source
    released = cell_with_id(read(RELEASE, "04_bce"), "bce_derivation")
    assert released.source == "YOUR ANSWER HERE"
    assert meta(released)["points"] == 10 and meta(released)["grade"] is True
