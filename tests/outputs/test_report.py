"""The class report: score distributions, pass rates, named mistakes, problem submissions.

The grading output is built here the way the grade command writes it (Gradescope's
results.json per student, grades.csv next to them), from a catalogue of realistic
hidden tests (four notebooks worth 15/30/35/20 points). ``synthetic_class`` is also
used by the browser test and by ``benchmarks/bench_report.py``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autograder.cli import report as report_command
from autograder.errors import InstructorError
from autograder.outputs import report, svg
from autograder.paths import PROJECT_ROOT

# (notebook, name, points, functions, [(mistake key or None, diagnosis text), ...])
CATALOGUE = [
    ("01_relu", "relu matches max(0, z) elementwise", 2, ["relu"], [
        ("modified-in-place", "`relu` modified its argument z in place: a function must leave its array "
         "arguments as they were; compute new arrays (e.g. np.maximum(z, 0), not z[z < 0] = 0).\n"
         "  with z = [-1.2, 0.37, 2.1] (shape (3,), float64)")]),
    ("01_relu", "relu_grad is 0.0 at z == 0 (PyTorch's convention)", 2, ["relu_grad"], [
        ("relu-grad-at-zero", "`relu_grad(z)` is wrong: its values are wrong (relative error 0.58).\n"
         "  with z = [-1.0, 0.0, 2.0] (shape (3,), float64)\n  expected: [0., 0., 1.] (shape (3,), float64)\n"
         "  got:      [0., 1., 1.] (shape (3,), float64)")]),
    ("01_relu", "relu_grad matches the derivative away from 0", 2, ["relu_grad"], []),
    ("01_relu", "sigmoid is finite and warning-free for abs(z) up to 1e4", 3, ["sigmoid"], [
        ("non-finite", "`sigmoid(z)` is wrong: it contains non-finite values (nan or inf).\n"
         "  with z = [-10000., 0., 10000.] (shape (3,), float64)\n  expected: [0. , 0.5, 1. ] (shape (3,), float64)\n"
         "  got:      [nan, 0.5, 1. ] (shape (3,), float64)")]),
    ("01_relu", "sigmoid_grad matches sigmoid(z) * (1 - sigmoid(z))", 2, ["sigmoid_grad"], []),
    ("01_relu", "numerical_gradient matches the exact gradient of a quadratic", 2, ["numerical_gradient"], [
        ("forward-difference", "`numerical_gradient(f, x)` is wrong: its values are wrong (relative error 3.1e-06).\n"
         "  with x = [0.3, -1.1] (shape (2,), float64)\n  expected: [0.6, -2.2] (shape (2,), float64)\n"
         "  got:      [0.600001, -2.199999] (shape (2,), float64)")]),
    ("01_relu", "numerical_gradient leaves x as it was", 2, ["numerical_gradient"], [
        ("modified-in-place", "`numerical_gradient` modified its argument x in place: a function must leave "
         "its array arguments as they were.\n  with x = [[0.2, -0.4, 1.3], [0.9, 0.1, -2.0]] (shape (2, 3), float64)")]),
    ("02_backward", "forward returns out of shape (N, 1)", 3, ["forward"], [
        ("wrong-shape", "`forward(X, params)[0]` is wrong: wrong shape: expected shape (5, 1), got (5,).\n"
         "  with X = shape (5, 3)\n  expected: [[0.12], [-0.4], ...] (shape (5, 1), float64)\n"
         "  got:      [0.12, -0.4, ...] (shape (5,), float64)")]),
    ("02_backward", "mse_loss is the mean of 0.5 * (out - y) ** 2", 4, ["mse_loss"], [
        ("summed-not-averaged", "`mse_loss(out, y)` is wrong: it is N = 5 times too large: summed over the "
         "batch instead of averaged (divide by N).\n  with out = [[0.1], [0.7], [-0.3], [1.2], [0.4]] (shape (5, 1), float64)\n"
         "  with y = [[0.], [1.], [0.], [1.], [1.]] (shape (5, 1), float64)\n  expected: 0.0885\n  got:      0.4425"),
        ("factor-of-2", "`mse_loss(out, y)` is wrong: it is twice too large (a factor of 2).\n"
         "  expected: 0.0885\n  got:      0.177")]),
    ("02_backward", "backward matches finite differences for W2", 4, ["backward"], [
        ("summed-not-averaged", "`backward` is wrong: for W2, b2: it is N = 5 times too large: summed over the "
         "batch instead of averaged (divide by N). Relative error per parameter: W2 6.7e-01, b2 6.7e-01, W1 0.0e+00, b1 0.0e+00")]),
    ("02_backward", "backward matches finite differences for b2", 3, ["backward"], [
        ("bias-not-summed", "`backward` is wrong: the first wrong gradient in backward order is b2: bias not summed "
         "over the batch: expected shape (1,), got (5, 1); sum the per-sample gradients over axis 0.")]),
    ("02_backward", "backward matches finite differences for W1", 5, ["backward"], [
        ("transposed", "`backward` is wrong: the first wrong gradient in backward order is W1: it is transposed: "
         "expected shape (3, 4), got (4, 3) (and its .T is right). Relative error per parameter: W2 1.2e-16, b2 0.0e+00, "
         "W1 (shape/type), b1 2.2e-16\n  expected: [[0.013, -0.2, ...], ...] (shape (3, 4), float64)\n"
         "  got:      [[0.013, 0.051, ...], ...] (shape (4, 3), float64)"),
        ("relu-grad-at-zero", "`backward` is wrong: the first wrong gradient in backward order is W1: its values are "
         "wrong (relative error 0.31).")]),
    ("02_backward", "backward matches finite differences for b1", 4, ["backward"], [
        ("bias-not-summed", "`backward` is wrong: the first wrong gradient in backward order is b1: bias not summed "
         "over the batch: expected shape (4,), got (5, 4); sum the per-sample gradients over axis 0.")]),
    ("02_backward", "backward uses NumPy only", 3, ["backward"], [
        ("AutogradUsed", "`backward` must use NumPy only, but it used PyTorch (torch.Tensor.backward). "
         "Compute the gradients by hand with NumPy.")]),
    ("02_backward", "autograd_grads matches the reference in float64", 4, ["autograd_grads"], [
        ("float32", "`autograd_grads` is wrong: the first wrong gradient in backward order is W2: it has dtype "
         "float32; use float64 throughout.")]),
    ("03_mlp", "init_mlp is He initialisation, exactly", 4, ["init_mlp"], [
        ("wrong-init-order", "`init_mlp([2, 4, 3, 2, 1], seed=7)['W2']` is wrong: its values are wrong (relative error 1.2).\n"
         "  expected: [[0.41, -0.93, 0.12], ...] (shape (4, 3), float64)\n  got:      [[-0.22, 0.57, 1.3], ...] (shape (4, 3), float64)")]),
    ("03_mlp", "mlp_forward returns probabilities in (0, 1)", 3, ["mlp_forward"], []),
    ("03_mlp", "mlp_backward matches finite differences for every parameter", 8, ["mlp_backward"], [
        ("transposed", "`mlp_backward` is wrong: the first wrong gradient in backward order is W3: it is transposed: "
         "expected shape (3, 2), got (2, 3) (and its .T is right)."),
        ("summed-not-averaged", "`mlp_backward` is wrong: for W4, b4, W3, b3, W2, b2, W1, b1: it is N = 6 times too large: "
         "summed over the batch instead of averaged (divide by N).")]),
    ("03_mlp", "mlp_backward works for any depth ([3, 5, 1])", 4, ["mlp_backward"], [
        ("hard-coded-depth", "`mlp_backward` is wrong: the gradients dict has no entry for W3, b3, W4, b4 "
         "(expected keys ['W2', 'b2', 'W1', 'b1'])"),
        ("StudentException", "`mlp_backward` raised KeyError: 'W3'")]),
    ("03_mlp", "sgd_step returns p - lr * g", 3, ["sgd_step"], []),
    ("03_mlp", "sgd_step leaves its arguments unchanged", 2, ["sgd_step"], [
        ("modified-in-place", "`sgd_step` modified its argument params in place: a function must leave its array "
         "arguments as they were; compute new arrays (p - lr * g, not p -= lr * g).\n  with params = {W1: shape (2, 4), b1: shape (4,)}")]),
    ("03_mlp", "train_mlp follows init, forward, backward, sgd_step", 5, ["train_mlp"], [
        ("CallTimeout", "`train_mlp` did not return within 20 s (an infinite loop, or far too much work?)."),
        ("losses-after-step", "`train_mlp(...)[1]` is wrong: its values are wrong (relative error 0.043).\n"
         "  expected: [0.6931, 0.6702, ...] (shape (50,), float64)\n  got:      [0.6702, 0.6481, ...] (shape (50,), float64)")]),
    ("03_mlp", "to_torch builds an equivalent nn.Sequential", 6, ["to_torch"], [
        ("weight-not-transposed", "`to_torch(params)` is wrong: Linear 1's weight has shape (2, 4), expected (4, 2): "
         "nn.Linear.weight is W.T.")]),
    ("04_bce", "bce_loss is the mean binary cross-entropy", 4, ["bce_loss"], [
        ("summed-not-averaged", "`bce_loss(probs, y)` is wrong: it is N = 4 times too large: summed over the batch "
         "instead of averaged (divide by N).\n  with probs = [[0.9], [0.2], [0.6], [0.7]] (shape (4, 1), float64)\n"
         "  with y = [[1.], [0.], [1.], [1.]] (shape (4, 1), float64)\n  expected: 0.2990\n  got:      1.196")]),
    ("04_bce", "bce_loss clips probabilities to [eps, 1 - eps]", 3, ["bce_loss"], [
        ("non-finite", "`bce_loss(probs, y)` is non-finite (inf).\n  with probs = [[0.], [1.]] (shape (2, 1), float64)\n"
         "  with y = [[1.], [0.]] (shape (2, 1), float64)\n  expected: 27.63\n  got:      inf")]),
    ("04_bce", "bce_dloss_dprob is -y / p + (1 - y) / (1 - p)", 3, ["bce_dloss_dprob"], [
        ("sign-flip", "`bce_dloss_dprob(p, y)` is wrong: it has the opposite sign (a sign flip).\n"
         "  with p = [0.3, 0.8] (shape (2,), float64)\n  with y = [1., 0.] (shape (2,), float64)\n"
         "  expected: [-3.333, 5.] (shape (2,), float64)\n  got:      [3.333, -5.] (shape (2,), float64)")]),
    ("04_bce", "bce_with_logits is finite and exact for abs(z) up to 1e4", 5, ["bce_with_logits"], [
        ("non-finite", "`bce_with_logits(z, y)` is non-finite (inf).\n  with z = [[-10000.], [10000.]] (shape (2, 1), float64)\n"
         "  with y = [[1.], [0.]] (shape (2, 1), float64)\n  expected: 10000.0\n  got:      inf")]),
    ("04_bce", "bce_grad_logits is (sigmoid(z) - y) / N", 5, ["bce_grad_logits"], [
        ("divided-by-n-twice", "`bce_grad_logits(z, y)` is wrong: it is N = 4 times too small: divided by the batch "
         "size N once too often.")]),
]
NOTEBOOK_POINTS = {"01_relu": 15, "02_backward": 30, "03_mlp": 35, "04_bce": 20}

MISSING = "{stem}.ipynb is missing from your submission or could not be read."
DIED = "The process running your notebook died while running `{function}`: killed (out of memory)."


def make_test(number, notebook, name, points, functions, passed=True, diagnosis=None, output=""):
    """One test entry of results.json, as the grade command writes it."""
    test = {
        "name": f"{notebook}: {name}", "number": number, "score": points if passed else 0.0,
        "max_score": points, "status": "passed" if passed else "failed",
        "output": "" if passed else output, "tags": [notebook, *functions], "visibility": "visible",
    }
    if not passed and diagnosis:
        test["extra_data"] = {"diagnosis": diagnosis}
    return test


def make_results(failures=None, seed=1234, seed_in_extra=True, missing=(), died=None):
    """results.json for one submission.

    ``failures``: ``{test index: mistake index}`` into CATALOGUE; ``missing``: notebook
    stems the submission lacks; ``died``: a notebook whose process died.
    """
    failures = failures or {}
    tests, counters = [], {}
    for index, (stem, name, points, functions, mistakes) in enumerate(CATALOGUE):
        counters[stem] = counters.get(stem, 0) + 1
        number = f"{list(NOTEBOOK_POINTS).index(stem) + 1}.{counters[stem]}"
        if stem in missing:
            test = make_test(number, stem, name, points, functions, False, "NotebookMissing", MISSING.format(stem=stem))
        elif stem == died:
            test = make_test(number, stem, name, points, functions, False, "SandboxDied",
                             DIED.format(function=functions[0]))
        elif index in failures:
            key, text = mistakes[failures[index]] if mistakes else (
                None, f"`{functions[0]}` is wrong: its values are wrong (relative error 0.27).")
            test = make_test(number, stem, name, points, functions, False, key, text)
        else:
            test = make_test(number, stem, name, points, functions)
        tests.append(test)
    score = sum(t["score"] for t in tests)
    results = {
        "score": score, "execution_time": 4.2, "stdout_visibility": "hidden",
        "output": f"Autograded score: {score:g} / 100 (seed {seed}). The derivation (10 points) is graded by hand.",
        "tests": tests,
    }
    if seed_in_extra:
        results["extra_data"] = {"seed": seed}
    return results


def synthetic_class(n_students: int, seed: int = 0) -> dict[str, dict]:
    """``{student: results}`` for a plausible class: abilities vary, mistakes cluster."""
    rng = random.Random(seed)
    # some tests are much harder than others: a student passes with probability ability ** hardness
    hardness = [rng.choice((0.2, 0.5, 1.0, 2.0, 4.0)) for _ in CATALOGUE]
    students = {}
    for i in range(n_students):
        ability = rng.betavariate(6, 1.5)
        failures = {}
        for index, (_, _, _, _, mistakes) in enumerate(CATALOGUE):
            if rng.random() > ability ** hardness[index]:
                failures[index] = rng.randrange(len(mistakes)) if mistakes else 0
        roll = rng.random()
        missing = ("04_bce",) if roll < 0.03 else ("03_mlp", "04_bce") if roll < 0.04 else ()
        died = "03_mlp" if 0.04 <= roll < 0.05 else None
        students[f"student{i:04d}"] = make_results(failures, seed=1000 + i, seed_in_extra=i % 2 == 0,
                                                   missing=missing, died=died)
    return students


def write_class(out: Path, students: dict[str, dict]) -> Path:
    """Lay out a batch grading folder: OUT/<student>/results.json and OUT/grades.csv."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for student, results in students.items():
        folder = out / student
        folder.mkdir(exist_ok=True)
        (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
        by_notebook = {stem: 0.0 for stem in NOTEBOOK_POINTS}
        for test in results["tests"]:
            by_notebook[test["tags"][0]] += test["score"]
        rows.append([student, *by_notebook.values(), results["score"]])
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *NOTEBOOK_POINTS, "total"])
        writer.writerows(rows)
    return out


# --- tests ------------------------------------------------------------------------------

def charts_in(html: str) -> list[ET.Element]:
    """Every inline <svg> of a page, parsed as XML (so each must be well-formed)."""
    return [ET.fromstring(markup) for markup in re.findall(r"<svg\b.*?</svg>", html, re.S)]


def texts(chart: ET.Element, css_class: str | None = None) -> list[str]:
    return [t.text for t in chart.iter("text") if css_class is None or t.get("class") == css_class]


def bars_of(chart: ET.Element) -> list[dict]:
    """Each bin's tooltip, students and drawn bar (x, y, width, height), left to right."""
    bars = []
    for group in chart.iter("g"):
        if group.get("class") == "bin":
            tooltip = group.find("title").text
            bar = next(r for r in group.iter("rect") if r.get("class") == "bin-bar")
            bars.append({"tooltip": tooltip, "students": int(re.search(r": (\d+) students?$", tooltip).group(1)),
                         **{key: float(bar.get(key)) for key in ("x", "y", "width", "height")}})
    return bars


def in_bin(score: float, low: float, high: float, top: bool) -> bool:
    """The bins' rule, stated again: low <= score < high, and the top bin holds its upper end too."""
    return low <= score < high or (top and low <= score <= high)


def check_chart(chart: ET.Element, name: str, maximum: float, scores: list[float]) -> None:
    """One histogram shows ``scores`` (out of ``maximum``) truthfully and readably."""
    assert chart.get("role") == "img"
    label = chart.get("aria-label")
    assert label.startswith(f"Histogram of {name} scores out of {maximum:g}: ")
    assert label.endswith(f", {len(scores)} students") and chart.find("title").text == label
    assert texts(chart, "name") == [name]
    assert f"points (of {maximum:g})" in texts(chart)
    # a bar per bin, holding the students whose score lies in that bin, drawn in proportion
    bars = bars_of(chart)
    assert sum(bar["students"] for bar in bars) == len(scores)
    holds = []  # holds[i](score): is the score in bar i?
    for i, bar in enumerate(bars):
        low, high = re.match(r"([\d.]+)(?:-([\d.]+))? points", bar["tooltip"]).groups()
        low, high, top = float(low), float(high if high is not None else low), i == len(bars) - 1
        holds.append(lambda score, low=low, high=high, top=top: in_bin(score, low, high, top))
        assert bar["students"] == sum(holds[i](s) for s in scores), bar["tooltip"]
    assert float(re.match(r"(?:[\d.]+-)?([\d.]+) points", bars[-1]["tooltip"]).group(1)) == maximum
    if "-" not in bars[-1]["tooltip"]:  # a bar of its own for full marks says so
        assert bars[-1]["tooltip"].startswith(f"{maximum:g} points (full marks): ")
    tallest = max(bars, key=lambda bar: bar["students"])
    assert tallest["height"] > 100
    for bar in bars:
        assert bar["height"] == pytest.approx(tallest["height"] * bar["students"] / tallest["students"], abs=0.11)
    # the students above every non-empty bar (where they fit), in order
    assert [int(t) for t in texts(chart, "count")] in ([bar["students"] for bar in bars if bar["students"]], [])
    # the count axis: whole numbers from 0, evenly spaced, reaching the tallest bar, which it measures
    labels = [t for t in chart.iter("text") if t.get("class") == "y-tick"]
    ticks = [int(t.text) for t in labels]
    assert ticks[0] == 0 and ticks[-1] >= tallest["students"] and 2 <= len(ticks) <= 6
    assert len({b - a for a, b in zip(ticks, ticks[1:])}) == 1
    y_zero, y_top = float(labels[0].get("y")), float(labels[-1].get("y"))
    assert tallest["height"] == pytest.approx((y_zero - y_top) * tallest["students"] / ticks[-1], abs=0.2)
    # the points axis: a few round bin edges from 0, ending with the maximum
    ticks = [float(t) for t in texts(chart, "x-tick")]
    assert ticks[0] == 0 and ticks[-1] == maximum and ticks == sorted(ticks) and len(set(ticks)) == len(ticks)
    assert (2 if maximum else 1) <= len(ticks) <= 12
    # mean and median drawn over the bar of their bin, and named in the legend
    for name, value in (("mean", statistics.fmean(scores)), ("median", statistics.median(scores))):
        [line] = [line for line in chart.iter("line") if line.get("class") == name]
        bar = next(bar for i, bar in enumerate(bars) if holds[i](value))
        assert bar["x"] - 1.5 <= float(line.get("x1")) <= bar["x"] + bar["width"] + 1.5, name
        assert f"{name} {value:.1f}" in texts(chart)
    # nothing that runs or fetches
    for element in chart.iter():
        assert element.tag.split("}")[-1] not in {"script", "image", "foreignObject", "a", "use", "style"}
        assert not any(key.endswith("href") or key.startswith("on") for key in element.attrib), element.attrib


def index_of(name_part):
    return next(i for i, entry in enumerate(CATALOGUE) if name_part in entry[1])


def class_of(students: dict[str, dict], tmp_path: Path) -> Path:
    return write_class(tmp_path / "out", students)


def small_class():
    """Four students whose figures are easy to check by hand."""
    mse, w1, train = index_of("mse_loss"), index_of("for W1"), index_of("train_mlp")
    return {
        "ada": make_results(),                                  # 100
        "bob": make_results({mse: 0, w1: 0}),                   # 91: summed-not-averaged, transposed
        "cy": make_results({mse: 0, train: 0}),                 # 91: summed-not-averaged, timed out
        "dee": make_results(missing=("04_bce",), died="03_mlp"),  # 45: missing 04_bce, crashed in 03_mlp
    }


def test_score_distributions(tmp_path):
    summary = report.summarize(report.load_class(class_of(small_class(), tmp_path)))
    by_name = {d.name: d for d in summary.distributions}
    assert list(by_name) == ["01_relu", "02_backward", "03_mlp", "04_bce", "total"]
    assert sorted(by_name["total"].scores) == [45, 91, 91, 100]
    assert by_name["total"].max_points == 100 and by_name["03_mlp"].max_points == 35
    stats = by_name["02_backward"].stats()
    assert stats["mean"] == (30 + 21 + 26 + 30) / 4 and stats["median"] == 28 and stats["full_marks"] == 0.5
    # 15 points in whole-point bins plus one for full marks; the total in bins of 5
    assert by_name["01_relu"].bins()[-1] == (15, 15, 4)
    total_bins = by_name["total"].bins()
    assert len(total_bins) == 21 and total_bins[9][2] == 1 and total_bins[18][2] == 2 and total_bins[20][2] == 1


def test_pass_rate_of_every_test(tmp_path):
    summary = report.summarize(report.load_class(class_of(small_class(), tmp_path)))
    assert len(summary.tests) == len(CATALOGUE)
    assert [t.number for t in summary.tests[:8]] == ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "2.1"]
    mse = next(t for t in summary.tests if "mse_loss" in t.name)
    assert (mse.passed, mse.failed, mse.pass_rate) == (2, 2, 0.5)
    assert mse.diagnoses == {"summed-not-averaged": 2}
    bce = next(t for t in summary.tests if "bce_grad_logits" in t.name)
    assert bce.pass_rate == 0.75  # the missing notebook counts as a failure


def test_mistakes_counted_with_their_students(tmp_path):
    summary = report.summarize(report.load_class(class_of(small_class(), tmp_path)))
    mistakes = {m.key: m for m in summary.mistakes}
    assert summary.mistakes[0].key == "summed-not-averaged"
    assert mistakes["summed-not-averaged"].students == ["bob", "cy"]
    assert mistakes["transposed"].students == ["bob"] and mistakes["transposed"].failures == 1
    assert "it is transposed" in mistakes["transposed"].example
    # timeouts, crashes and missing notebooks are problems, not mistakes in the maths
    assert not {"CallTimeout", "SandboxDied", "NotebookMissing"} & set(mistakes)


def test_problem_submissions(tmp_path):
    out = class_of(small_class(), tmp_path)
    (out / "eve").mkdir()
    (out / "eve" / "results.json").write_text("{not json")
    with open(out / "grades.csv", "a") as handle:
        handle.write("fay,0,0,0,0,0\n")  # listed, but no results.json was written
    summary = report.summarize(report.load_class(out))
    problems = {(p.student, p.kind): p.detail for p in summary.problems}
    assert problems[("dee", "missing notebooks")] == "04_bce"
    assert problems[("dee", "crashed")].startswith("The process running your notebook died while running `init_mlp`")
    assert problems[("dee", "crashed")].endswith("(and 4 more)")  # 6 functions: one line per student, not one per test
    assert problems[("cy", "timed out")].startswith("`train_mlp` did not return within 20 s")
    assert problems[("eve", "no results")] == "results.json could not be read (JSONDecodeError)"
    assert problems[("fay", "no results")] == "no results.json was written"
    assert len(problems) == 5


def test_report_files(tmp_path):
    out = class_of(small_class(), tmp_path)
    (out / "bob" / "feedback.html").write_text("<p>feedback</p>")
    written = report.write_class_report(out)
    assert written == out / "report.html"
    html = written.read_text(encoding="utf-8")
    # a histogram per notebook and one of the total, each showing the students' own scores
    students = small_class()
    charts = charts_in(html)
    assert [texts(c, "name")[0] for c in charts] == [*NOTEBOOK_POINTS, "total"]
    for chart, (name, maximum) in zip(charts, [*NOTEBOOK_POINTS.items(), ("total", 100)]):
        scores = [sum(t["score"] for t in r["tests"] if name == "total" or t["tags"][0] == name)
                  for r in students.values()]
        check_chart(chart, name, maximum, scores)
        assert texts(chart, "count"), "a class this small has room for every bar's number"
    assert charts[-1].get("aria-label") == "Histogram of total scores out of 100: mean 81.8, median 91, 4 students"
    assert "<img" not in html
    assert "summed not averaged" in html and "bob</a>, cy" in html and 'href="bob/feedback.html"' in html
    assert "http://" not in html and "https://" not in html and "<script" not in html and "<link" not in html

    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text(encoding="utf-8"))))
    assert {r["section"] for r in rows} == {"score", "histogram", "test", "mistake", "problem"}
    get = {(r["section"], r["name"], r["statistic"]): r for r in rows}
    assert get[("score", "total", "mean")]["value"] == "81.75"
    assert get[("score", "03_mlp", "lowest")]["value"] == "0"
    assert get[("histogram", "total", "90-95")]["value"] == "2"
    assert get[("histogram", "01_relu", "15")]["value"] == "4"
    mse = next(r for r in rows if r["section"] == "test" and "mse_loss" in r["name"] and r["statistic"] == "pass_rate")
    assert (mse["value"], mse["detail"]) == ("0.5", "2.2")
    assert get[("mistake", "summed-not-averaged", "students")]["detail"] == "bob;cy"
    assert get[("problem", "cy", "timed out")]["value"] == "1"


def test_student_names_and_diagnoses_are_escaped(tmp_path):
    mse = index_of("mse_loss")
    evil = make_results({mse: 0})
    evil["tests"][mse]["output"] = "<script>alert(1)</script>"
    evil["tests"][mse]["extra_data"]["diagnosis"] = "<img src=x onerror=alert(2)>"
    out = class_of({"<b>mallory&amp;": evil}, tmp_path)
    (out / "<b>mallory&amp;" / "feedback.html").write_text("")
    html = report.write_class_report(out).read_text()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>mallory" not in html
    assert "&lt;b&gt;mallory&amp;amp;" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="%3Cb%3Emallory%26amp%3B/feedback.html"' in html


def test_notebook_names_are_escaped_in_the_charts(tmp_path):
    evil = '<script>alert("x")</script>&nb'
    results = make_results()
    for test in results["tests"]:
        if test["tags"][0] == "01_relu":
            test["tags"][0] = evil
    (tmp_path / "results.json").write_text(json.dumps(results))
    html = report.write_class_report(tmp_path).read_text()
    assert "<script" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;nb" in html
    [chart] = [c for c in charts_in(html) if texts(c, "name") == [evil]]
    assert chart.get("aria-label").startswith(f"Histogram of {evil} scores")


@pytest.mark.parametrize("maximum, scores", [
    (35, [0, 13.5, 14, 33, 34, 34.5, 35, 35, 35]),   # bins of 2, the last one 34-35 (no bin of its own)
    (15, [15] * 7),                                   # everyone in the full-marks bin
    (100, [rank % 101 for rank in range(0, 5000, 7)]),  # hundreds of students, bins of 5
    (2.5, [0, 1, 2.5]),                              # a fractional maximum
    (0, [0, 0]),                                     # a notebook worth nothing
])
def test_histogram_shows_every_score_in_its_bin(maximum, scores):
    name = "total" if maximum == 100 else "03_mlp"
    chart = ET.fromstring(svg.histogram_svg(report.Distribution(name, maximum, tuple(scores))))
    check_chart(chart, name, maximum, scores)
    assert chart.get("width") == str(svg.CHART_SIZE["wide" if name == "total" else "narrow"][0])


def test_single_submission_folder(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(make_results({index_of("mse_loss"): 0})))
    report.write_class_report(tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert any(r["section"] == "score" and r["name"] == "total" and r["statistic"] == "mean"
               and r["value"] == "96" for r in rows)


def test_report_command(tmp_path, capsys):
    out = class_of(small_class(), tmp_path)
    parser = argparse.ArgumentParser()
    report_command.add_arguments(parser)
    assert report_command.run(parser.parse_args([str(out)])) == 0
    assert "report.html" in capsys.readouterr().out
    assert (out / "report.html").is_file() and (out / "report.csv").is_file()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InstructorError, match="no results.json"):
        report_command.run(parser.parse_args([str(tmp_path / "empty")]))
    with pytest.raises(InstructorError, match="is not a folder"):
        report_command.run(parser.parse_args([str(tmp_path / "nowhere")]))


def test_writing_the_report_loads_neither_matplotlib_nor_numpy(tmp_path):
    out = class_of(synthetic_class(30), tmp_path)
    code = ("import sys; from autograder.outputs.report import write_class_report; "
            f"write_class_report({str(out)!r}); "
            "print(sorted(m for m in ('matplotlib', 'torch', 'numpy', 'PIL') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, check=True)
    assert done.stdout.strip() == "[]"
    assert len(charts_in((out / "report.html").read_text())) == 5


def test_importing_the_command_loads_neither_matplotlib_nor_torch():
    code = ("import sys, autograder.cli.report, autograder.outputs.feedback; "
            "print(sorted(m for m in ('matplotlib', 'torch', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_class_of_1000_renders_quickly_and_stays_small(tmp_path):
    out = class_of(synthetic_class(1000), tmp_path)
    started = time.perf_counter()
    html_path = report.write_class_report(out)
    seconds = time.perf_counter() - started
    size = html_path.stat().st_size
    assert seconds < 15, f"report of 1,000 students took {seconds:.1f} s"
    assert size < 2_500_000, f"report.html is {size / 1e6:.1f} MB"
    html = html_path.read_text()
    # long lists are folded: the mistakes beyond the top ones and every student list
    assert html.count("<details>") >= report.TOP_MISTAKES
    assert re.search(r"<summary>All 1000 submissions", html)


def test_a_failed_grading_is_a_problem_not_a_zero(tmp_path):
    students = small_class()
    students["gus"] = {"score": 0.0, "execution_time": 0.5, "stdout_visibility": "hidden", "tests": [],
                       "output": "Grading failed: the grader itself ran into a problem.\n\nGrading seed: 9."}
    summary = report.summarize(report.load_class(class_of(students, tmp_path)))
    assert sorted(summary.distributions[-1].scores) == [45, 91, 91, 100]
    assert ("gus", "grading failed", "Grading failed: the grader itself ran into a problem.") in \
        {(p.student, p.kind, p.detail) for p in summary.problems}


def test_report_through_the_command_line(tmp_path, monkeypatch, capsys):
    from autograder import cli

    # only this verb: the test must not depend on the other commands' modules
    monkeypatch.setattr(cli, "COMMANDS", {"report": cli.COMMANDS["report"]})
    out = class_of(small_class(), tmp_path)
    assert cli.main(["report", str(out)]) == 0
    assert (out / "report.html").is_file() and (out / "report.csv").is_file()
    assert cli.main(["report", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nowhere'} is not a folder of grading results"


def test_markdown_outputs_read_as_the_student_reads_them(tmp_path):
    from autograder.outputs.messages import markdown

    mse = index_of("mse_loss")
    results = make_results({mse: 0}, missing=("04_bce",))
    results["tests"][mse]["output"] = markdown(results["tests"][mse]["output"].replace("is wrong", "* 2 is wrong"))
    for test in results["tests"]:
        if test["tags"][0] == "04_bce":
            test["output"] = markdown(test["output"])
    summary = report.summarize(report.load_class(class_of({"ann": results}, tmp_path)))
    [mistake] = [m for m in summary.mistakes if m.key == "summed-not-averaged"]
    assert mistake.example.startswith("`mse_loss(out, y)` * 2 is wrong") and "\\" not in mistake.example
    assert "  with out = [[0.1], [0.7], [-0.3], [1.2], [0.4]] (shape (5, 1), float64)" in mistake.example
    assert [p.detail for p in summary.problems] == ["04_bce"]


def test_the_report_says_which_sandbox_the_class_was_graded_in(tmp_path):
    students = small_class()
    for results in students.values():
        results["extra_data"] = {"confinement": "no-namespaces: uid+landlock+seccomp+cgroups"}
    summary = report.summarize(report.load_class(class_of(students, tmp_path)))
    assert summary.confinement == ("no-namespaces: uid+landlock+seccomp+cgroups",)
    page = report.render_html(summary)
    assert "Sandbox confinement: no-namespaces: uid+landlock+seccomp+cgroups</b> (not full" in page
    for results in students.values():
        results["extra_data"] = {"confinement": "full"}
    full = report.render_html(report.summarize(report.load_class(class_of(students, tmp_path / "again"))))
    assert "Sandbox confinement: full." in full
