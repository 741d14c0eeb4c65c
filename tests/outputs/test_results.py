"""results.json, feedback.md, grades.csv and grader.log from a GradeReport (pure functions)."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest

from autograder.grading.model import GradeReport
from autograder.grading.model import TestOutcome as Outcome
from autograder.outputs import results


def outcome(notebook: str, number: str, score: float, max_score: float, output: str = "",
            internal_error: str | None = None, diagnosis: str | None = None) -> Outcome:
    return Outcome(name=f"{notebook}: check {number}", number=number, score=score, max_score=max_score,
                       status="passed" if score == max_score else "failed", output=output,
                       tags=(notebook, "relu"), nodeid=f"test_{notebook}.py::t{number}",
                       internal_error=internal_error, diagnosis=diagnosis)


REPORT = GradeReport(
    student="alice", seed=1234, execution_time=3.21,
    tests=(outcome("01_relu", "1.1", 10, 10),
           outcome("01_relu", "1.2", 0, 5, "`relu` returned 0.5 where z < 0 <script>", diagnosis="leaky"),
           outcome("02_backward", "2.1", 0.1, 0.1),
           outcome("02_backward", "2.2", 0.2, 0.2),
           outcome("03_mlp", "3.1", 0, 4.7, "Internal grading error: not your fault.",
                   internal_error="Traceback: KeyError in the grader's own code")),
    log="pytest said many things",
    events=("01_relu: call_timeout: `relu` did not return within 10 s",),
)


def test_results_json_follows_gradescope_and_sums_the_tests():
    data = results.results_json(REPORT)
    assert results.schema_problems(data) == []
    assert data["score"] == 10.3  # 10 + 0.1 + 0.2, without float noise
    assert data["stdout_visibility"] == "hidden"
    assert [test["number"] for test in data["tests"]] == ["1.1", "1.2", "2.1", "2.2", "3.1"]
    assert data["tests"][1] == {
        "name": "01_relu: check 1.2", "number": "1.2", "score": 0.0, "max_score": 5.0, "status": "failed",
        "output": "`relu` returned 0.5 where z \\< 0 \\<script\\>", "output_format": "md",
        "tags": ["01_relu", "relu"], "visibility": "visible", "extra_data": {"diagnosis": "leaky"},
    }
    assert "extra_data" not in data["tests"][0]
    json.dumps(data)  # serialisable as it is


def test_test_output_is_markdown_gradescope_renders_with_names_as_code_and_arrays_wrapped():
    message = ("`backward` is wrong: dW1 * 2 is <b>off</b>.\n  with X = " + ", ".join(["[1.5, -2.5, 3.5]"] * 12)
               + " (shape (12, 3), float64)\n  expected: 0.25\n  got:      0.5")
    report = GradeReport("bob", 1, (outcome("02_backward", "2.1", 0, 3, message, diagnosis="x"),))
    test = results.results_json(report)["tests"][0]
    assert test["output_format"] == "md"
    sentence, block = test["output"].split("\n\n")
    assert sentence == "`backward` is wrong: dW1 \\* 2 is \\<b\\>off\\</b\\>."  # only the name stays code
    lines = block.splitlines()
    assert all(line.startswith("    ") and len(line) <= 4 + 78 for line in lines)  # a code block, short lines
    assert lines[0] == "    with X = [1.5, -2.5, 3.5], [1.5, -2.5, 3.5], [1.5, -2.5, 3.5],"  # rows, not cut
    assert lines[1] == "             [1.5, -2.5, 3.5], [1.5, -2.5, 3.5], [1.5, -2.5, 3.5],"
    assert lines[-2:] == ["    expected: 0.25", "    got:      0.5"]


def test_the_hidden_tests_visibility_is_the_instructors_choice():
    assert {test["visibility"] for test in results.results_json(REPORT)["tests"]} == {"visible"}
    for visibility in ("hidden", "after_due_date", "after_published"):
        data = results.results_json(REPORT, visibility)
        assert {test["visibility"] for test in data["tests"]} == {visibility}
        assert results.schema_problems(data) == []
    with pytest.raises(ValueError, match="visibility must be one of"):
        results.results_json(REPORT, "sometimes")
    bad = results.results_json(REPORT)
    bad["tests"][0]["visibility"] = "sometimes"
    assert results.schema_problems(bad) == ["tests[0].visibility is 'sometimes'"]


def test_summary_gives_the_score_the_seed_and_the_hand_graded_part():
    output = results.results_json(REPORT)["output"]
    assert "10.3 / 20" in output
    assert "1234" in output
    assert "graded by hand" in output and "10 points" in output
    assert "01_relu: 10 / 15" in output


def test_instructor_details_never_reach_student_fields():
    student_visible = json.dumps(results.results_json(REPORT)) + results.feedback_markdown(REPORT)
    assert "KeyError in the grader's own code" not in student_visible
    assert "pytest said many things" not in student_visible
    log = results.instructor_log(REPORT)
    assert "KeyError in the grader's own code" in log and "pytest said many things" in log
    assert "sandbox: 01_relu: call_timeout" in log


def test_a_failed_grading_is_a_valid_zero_that_says_so():
    failed = GradeReport(student="bob", seed=5, failure="Traceback: the template is gone")
    data = results.results_json(failed)
    assert results.schema_problems(data) == []
    assert data["score"] == 0 and data["tests"] == []
    assert "Grading failed" in data["output"] and "instructor has been told" in data["output"]
    assert "template is gone" not in json.dumps(data) + results.feedback_markdown(failed)
    assert "template is gone" in results.instructor_log(failed)
    assert results.grades_row(failed)["status"].startswith("grading failed")


def test_feedback_lists_failed_checks_with_their_diagnosis_escaped():
    text = results.feedback_markdown(REPORT)
    assert "10.3 / 20" in text
    assert "`relu` returned 0.5 where z \\< 0 \\<script\\>" in text  # Markdown, escaped but for the name
    assert "<script>" not in text
    assert "check 1.1" not in text  # passed checks are not listed


def test_grades_csv_has_one_row_per_student_sorted_with_each_notebook_and_the_total():
    other = GradeReport(student="aaron", seed=1, tests=(outcome("04_bce", "4.1", 2, 2),))
    rows = list(csv.DictReader(io.StringIO(results.grades_csv([REPORT, other]))))
    assert [row["student"] for row in rows] == ["aaron", "alice"]
    assert rows[1] == {"student": "alice", "01_relu": "10", "02_backward": "0.3", "03_mlp": "0", "04_bce": "0",
                       "total": "10.3", "status": "graded"}


def test_schema_problems_finds_what_gradescope_would_reject():
    good = results.results_json(REPORT)
    assert results.schema_problems([]) == ["not a JSON object"]
    assert results.schema_problems({**good, "score": "100"})
    assert results.schema_problems({**good, "score": 99})  # not the sum of the tests
    broken_test = dict(good["tests"][0], score=11)
    assert results.schema_problems({**good, "tests": [broken_test] + good["tests"][1:]})


def test_writing_replaces_a_forged_file_or_symlink_instead_of_writing_through(tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(elsewhere, out / "results.json")
    (out / "feedback.md").write_text("forged: 100/100")
    (out / "feedback.html").write_text("forged: 100/100")
    results.write_report(out, REPORT)
    assert elsewhere.read_text() == "precious"
    assert not (out / "results.json").is_symlink()
    assert json.loads((out / "results.json").read_text()) == results.results_json(REPORT)
    assert "forged" not in (out / "feedback.md").read_text()
    assert "forged" not in (out / "feedback.html").read_text()
    assert "10.3" in (out / "feedback.html").read_text()
    assert sorted(path.name for path in out.iterdir()) == ["feedback.html", "feedback.md", "results.json"]


def test_score_table_has_a_row_per_report_and_marks_failed_grading():
    failed = GradeReport(student="bob", seed=5, failure="boom")
    lines = results.score_table([REPORT, failed]).splitlines()
    assert lines[0].split() == ["student", "01_relu", "02_backward", "03_mlp", "04_bce", "total"]
    assert lines[2].split() == ["alice", "10", "0.3", "0", "0", "10.3"]
    assert lines[3].split()[-1] == "failed"


def test_the_sandboxes_confinement_goes_to_the_instructor_only_top_level_extra_data():
    from dataclasses import replace

    assert "extra_data" not in results.results_json(REPORT)
    level = "no-namespaces: uid+landlock+seccomp+cgroups"
    data = results.results_json(replace(REPORT, confinement=level))
    assert data["extra_data"] == {"confinement": level}
    assert results.schema_problems(data) == []
    assert level not in data["output"] and all(level not in test["output"] for test in data["tests"])
