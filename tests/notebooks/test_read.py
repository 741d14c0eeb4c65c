"""Reading submitted notebooks, and taking locked cells from the instructor's source."""

import json

import nbformat
import pytest

from autograder.errors import InstructorError, NotebookMissing
from autograder.notebooks.read import SKIP_TAG, merge_with_source, prepare_notebook, read_source_notebook


def code(source, grade_id=None, locked=False, solution=False, tags=()):
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "locked": locked, "solution": solution,
                                     "grade": False, "schema_version": 3}
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


SOURCE = notebook(
    code("import numpy as np", "imports", locked=True),
    code("def relu(z):\n    return np.maximum(z, 0)", "relu", solution=True),
    code("assert relu(-1.0) == 0; print('ok')", "check_relu", locked=True),
    code("import matplotlib.pyplot as plt\nplt.plot([1, 2])", "plot", locked=True, tags=[SKIP_TAG]),
)


def test_locked_cells_come_from_the_source_and_solutions_from_the_student():
    student = notebook(
        code("import numpy as np\nnp.maximum = None", "imports", locked=True),  # edited a locked cell
        code("def relu(z):\n    return z * (z > 0)", "relu", solution=True),
        code("helper = 1"),
        code("print('I removed the check')", "check_relu", locked=True),
    )
    cells = merge_with_source(student, SOURCE)
    assert cells == ["import numpy as np", "def relu(z):\n    return z * (z > 0)", "helper = 1",
                     "assert relu(-1.0) == 0; print('ok')"]


def test_a_deleted_locked_cell_is_put_back_in_its_place():
    student = notebook(code("def relu(z):\n    return z", "relu", solution=True))
    cells = merge_with_source(student, SOURCE)
    assert cells[0] == "import numpy as np"
    assert cells[1].startswith("def relu")
    assert cells[2].startswith("assert relu")


def test_cells_tagged_skip_when_grading_are_left_out():
    cells = merge_with_source(SOURCE, SOURCE)
    assert not any("plt.plot" in cell for cell in cells)


@pytest.mark.parametrize("content, phrase", [
    (b"\xff\xfe\x00junk", "not valid UTF-8"),
    (b"{not json", "not a valid notebook"),
    (b'{"cells": 3, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "not a valid notebook"),
])
def test_unreadable_notebooks_are_reported_by_name(tmp_path, content, phrase):
    path = tmp_path / "02_backward.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookMissing) as error:
        prepare_notebook(path, None)
    assert "02_backward.ipynb" in str(error.value) and phrase in str(error.value)


def test_a_missing_notebook_is_reported_by_name(tmp_path):
    with pytest.raises(NotebookMissing, match="03_mlp.ipynb"):
        prepare_notebook(tmp_path / "03_mlp.ipynb", None)


def version_3_notebook(code: str) -> str:
    """A notebook in nbformat 3 (worksheets, ``input``) holding one code cell."""
    cell = {"cell_type": "code", "input": code, "language": "python", "outputs": [], "metadata": {}}
    return json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                       "worksheets": [{"cells": [cell], "metadata": {}}]})


def test_an_old_format_notebook_is_upgraded_and_runs(tmp_path):
    path = tmp_path / "01_relu.ipynb"
    path.write_text(version_3_notebook("x = 41 + 1"))
    assert prepare_notebook(path, None) == ["x = 41 + 1"]


def test_a_broken_instructor_notebook_is_one_line_naming_it(tmp_path):
    path = tmp_path / "02_backward.ipynb"
    path.write_text('{"nbformat": 4, "cells": [')
    with pytest.raises(InstructorError) as error:
        read_source_notebook(path)
    message = str(error.value)
    assert message.startswith(f"source notebook {path} cannot be read: Expecting value")
    assert "\n" not in message


def test_an_instructor_notebook_in_an_older_format_is_upgraded(tmp_path):
    path = tmp_path / "01_relu.ipynb"
    path.write_text(version_3_notebook("import numpy as np"))
    source = read_source_notebook(path)
    assert [cell["source"] for cell in source["cells"]] == ["import numpy as np"]
