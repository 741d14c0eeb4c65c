"""The student's feedback page: what it shows, what it never shows, and that it is safe."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from test_report import CATALOGUE, index_of, make_results

from autograder.outputs.feedback import render_feedback, seed_of, write_feedback_html


class TextOf(HTMLParser):
    """The text a reader sees, with the content of <style> left out."""

    def __init__(self):
        super().__init__()
        self.chunks, self.in_style = [], False

    def handle_starttag(self, tag, attrs):
        self.in_style = tag == "style"

    def handle_endtag(self, tag):
        self.in_style = False

    def handle_data(self, data):
        if not self.in_style:
            self.chunks.append(data)


def visible_text(html: str) -> str:
    parser = TextOf()
    parser.feed(html)
    return " ".join(" ".join(parser.chunks).split())


def test_scores_per_notebook_and_total():
    # fails mse_loss (4 points) and backward W1 (5 points), and 04_bce is missing (20 points)
    results = make_results({index_of("mse_loss"): 0, index_of("for W1"): 0}, missing=("04_bce",))
    html = render_feedback(results)
    text = visible_text(html)
    assert "71 / 100 autograded points" in text
    assert "01_relu 15 / 15" in text and "02_backward 21 / 30" in text
    assert "03_mlp 35 / 35" in text and "04_bce 0 / 20" in text
    bars = re.findall(r'aria-label="([^"]+)"><span style="width:([\d.]+)%"', html)
    assert ("02_backward: 21 of 30 points", "70.0") in bars
    assert ("04_bce: 0 of 20 points", "0.0") in bars


def test_every_test_listed_with_its_status():
    results = make_results({index_of("sgd_step returns"): 0})
    html = render_feedback(results)
    # under each notebook's heading, one row per test: number, name, status, points
    rows = [visible_text(row) for row in re.findall(r"<tr><td>\d\.\d+</td>.*?</tr>", html)]
    assert len(rows) == len(CATALOGUE)
    for row, (stem, name, points, _, _) in zip(rows, CATALOGUE):
        assert name in row and row.endswith(f"/ {points}")
    assert rows[index_of("sgd_step returns")] == "3.5 sgd_step returns p - lr * g ✗ failed 0 / 3"
    assert rows[0] == "1.1 relu matches max(0, z) elementwise ✓ passed 2 / 2"
    text = visible_text(html)
    assert "27 of 28 checks passed" in text and text.count("✓ passed") == 27
    assert "3.5 sgd_step returns p - lr * g (0 / 3)" in text  # the failure, on its card


def test_failure_shows_named_mistake_inputs_expected_and_got():
    results = make_results({index_of("mse_loss"): 0})
    html = render_feedback(results)
    text = visible_text(html)
    assert "<h3>1. <code>mse_loss</code>: summed over the batch instead of averaged (divide by N) " in html
    assert "(−4 points)" in text and "It failed 1 check, 4 of 4 points" in text
    assert "Named mistake: summed not averaged" in text
    assert "it is N = 5 times too large: summed over the batch instead of averaged" in text
    assert "with out = [[0.1], [0.7], [-0.3], [1.2], [0.4]] (shape (5, 1), float64)" in text
    assert "expected: 0.0885 got: 0.4425" in text
    assert "<code>mse_loss(out, y)</code> is wrong" in html  # a name in backticks is code, not `...`
    # the failed row of the overview links to its diagnosis
    assert 'href="#test-2.2"' in html and 'id="test-2.2"' in html


def test_submission_problem_is_named_as_such():
    results = make_results(missing=("03_mlp",))
    text = visible_text(render_feedback(results))
    assert "What went wrong: notebook missing (NotebookMissing)" in text
    assert "03_mlp.ipynb is missing from your submission" in text


def test_seed_from_extra_data_or_from_the_summary_text():
    assert seed_of(make_results(seed=98765, seed_in_extra=True)) == 98765
    assert seed_of(make_results(seed=4242, seed_in_extra=False)) == 4242
    assert seed_of({"output": "Graded with --seed=77 in 3 s"}) == 77
    assert seed_of({"output": "no number here"}) is None
    assert "seed 4242" in visible_text(render_feedback(make_results(seed=4242, seed_in_extra=False)))
    assert "seed of this run was not recorded" in visible_text(render_feedback({"tests": []}))


def test_hand_graded_derivation_is_mentioned():
    text = visible_text(render_feedback(make_results()))
    assert "derivation in 04_bce (10 points) is graded by hand" in text
    assert "Nothing: every check passed." in text


def test_student_controlled_text_is_escaped():
    results = make_results({index_of("mse_loss"): 0})
    test = results["tests"][index_of("mse_loss")]
    test["output"] = ("`mse_loss` raised ValueError: </p><script>alert(1)</script><img src=x onerror=alert(2)>"
                      "\n  with y = <b>bold</b>\n  got:      \"><svg onload=alert(3)>")
    test["extra_data"]["diagnosis"] = "<i>key</i>"
    test["name"] = "02_backward: <u>name</u>"
    html = render_feedback(results, student="<script>x</script>")
    assert "<script" not in html and "<img" not in html and "<svg" not in html
    assert "<b>" not in html and "<i>" not in html and "<u>" not in html
    text = visible_text(html)
    assert "<script>alert(1)</script>" in text and '"><svg onload=alert(3)>' in text


def test_self_contained_and_nothing_beyond_the_diagnoses():
    results = make_results({index_of("for W1"): 0})
    # things results.json might carry that a student must never see
    results["stdout"] = "PRINTED-BY-STUDENT"
    results["extra_data"]["log"] = "def test_secret(): HIDDEN-TEST-SOURCE"
    results["tests"][0]["extra_data"] = {"traceback": "HIDDEN-TRACEBACK"}
    results["output"] += " PRINTED-IN-SUMMARY"
    html = render_feedback(results)
    for marker in ("PRINTED-BY-STUDENT", "HIDDEN-TEST-SOURCE", "HIDDEN-TRACEBACK", "PRINTED-IN-SUMMARY"):
        assert marker not in html
    assert not re.search(r"<(script|link|iframe|img)\b", html)
    assert "http://" not in html and "https://" not in html and "url(" not in html


def test_hidden_tests_count_but_are_not_listed():
    results = make_results({index_of("to_torch"): 0})
    results["tests"][index_of("to_torch")]["visibility"] = "hidden"
    text = visible_text(render_feedback(results))
    assert "to_torch builds" not in text and "weight has shape" not in text
    assert "1 further check counts in your score but is not shown" in text
    assert "94 / 100" in text
    assert "Some checks failed; their details are not shown." in text and "every check passed" not in text


def test_long_diagnosis_is_cut():
    results = make_results({index_of("mse_loss"): 0})
    results["tests"][index_of("mse_loss")]["output"] = "x" * 50_000
    html = render_feedback(results)
    assert "x" * 4000 in html and "x" * 4001 not in html and "[...]" in html


def test_write_feedback_html_next_to_results(tmp_path):
    folder = tmp_path / "ada"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(make_results({0: 0})))
    written = write_feedback_html(folder / "results.json")
    assert written == folder / "feedback.html"
    text = visible_text(written.read_text(encoding="utf-8"))
    assert text.startswith("Feedback: ada Feedback: ada")  # <title>, then the heading
    assert "98 / 100" in text


def test_grading_failure_is_not_shown_as_a_perfect_score():
    results = {"score": 0.0, "execution_time": 1.0, "stdout_visibility": "hidden", "tests": [],
               "output": "Grading failed: the grader itself ran into a problem, so this score of 0 is not a grade."
                         "\n\nGrading seed: 5."}
    text = visible_text(render_feedback(results))
    assert "No checks ran" in text and "Grading failed: the grader itself ran into a problem" in text
    assert "every check passed" not in text
    assert "seed 5" in text


def test_reads_what_the_grade_command_writes():
    """The page is built from the real writer's results.json, so the two cannot drift apart."""
    from autograder.grading.model import GradeReport, TestOutcome
    from autograder.outputs.results import results_json

    tests = (
        TestOutcome("02_backward: mse_loss is the mean of 0.5 * (out - y) ** 2", "2.1", 0.0, 4.0, "failed",
                    "`mse_loss(out, y)` is wrong: it is N = 5 times too large: summed over the batch instead of "
                    "averaged (divide by N).\n  with out = [[0.1], [0.7]] (shape (2, 1), float64)\n"
                    "  expected: 0.0885\n  got:      0.4425", ("02_backward", "mse_loss"), "t::a",
                    diagnosis="summed-not-averaged"),
        TestOutcome("02_backward: forward returns out of shape (N, 1)", "2.2", 3.0, 3.0, "passed", "",
                    ("02_backward", "forward"), "t::b"),
        TestOutcome("03_mlp: train_mlp follows init, forward, backward, sgd_step", "3.1", 0.0, 5.0, "failed",
                    "`train_mlp` did not return within 20 s (an infinite loop, or far too much work?).",
                    ("03_mlp", "train_mlp"), "t::c", diagnosis="CallTimeout"),
    )
    results = json.loads(json.dumps(results_json(GradeReport("ada", 31337, tests, 2.5))))
    assert seed_of(results) == 31337
    text = visible_text(render_feedback(results))
    assert "3 / 12 autograded points" in text and "02_backward 3 / 7" in text and "03_mlp 0 / 5" in text
    assert "Named mistake: summed not averaged" in text and "expected: 0.0885 got: 0.4425" in text
    assert "What went wrong: timed out (CallTimeout)" in text
    assert "seed 31337" in text
