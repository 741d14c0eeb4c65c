"""A student's feedback page: one results.json in, one self-contained feedback.html out.

The page shows the score of each notebook as a bar, then one card per mistake
(``autograder.outputs.cards``: the function and the mistake, the checks it failed with
their points, one example with its small inputs, expected and got), every visible test
with its status, the seed the hidden tests drew their inputs from, and the note that the
derivation is graded by hand. Messages are rendered (``autograder.outputs.messages``):
a `name` in backticks is code, arrays are wrapped to short lines. It is built only from what results.json already tells the student: test
names and the diagnoses written for them. It never shows hidden-test source, tracebacks
or anything the student's code printed. Every string read from results.json is escaped,
since diagnoses quote values a student's code produced.

:func:`render_feedback` is a pure function (results dict -> HTML text);
:func:`write_feedback_html` is the file edge the grade command calls. The helpers that
read Gradescope's schema (:func:`notebook_of`, :func:`seed_of`, :func:`diagnosis_of`,
:func:`notebook_scores`) are shared with the class report.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

from autograder.grading.model import notebook_order, notebook_totals
from autograder.outputs.cards import Card, failure_cards, notebook_of
from autograder.outputs.messages import detail_lines, inline_html
from autograder.outputs.words import ERROR_LABELS, FEEDBACK_HTML, HAND_GRADED_NOTE
from autograder.outputs.words import format_points as points

#: A diagnosis longer than this is cut (a student's exception message can be long).
MAX_OUTPUT_CHARS = 4000

_SEED_IN_TEXT = re.compile(r"\bseed\b\D{0,5}?(\d+)", re.IGNORECASE)


# --- reading Gradescope's results.json ----------------------------------------------


def diagnosis_of(test: dict) -> str | None:
    """The short key of a failed test's named mistake (``extra_data.diagnosis``), if any."""
    extra = test.get("extra_data")
    if isinstance(extra, dict) and extra.get("diagnosis"):
        return str(extra["diagnosis"])
    return None


def seed_of(results: dict) -> int | None:
    """The seed of the hidden tests: ``extra_data.seed``, else the "seed N" in ``output``."""
    extra = results.get("extra_data")
    if isinstance(extra, dict) and extra.get("seed") is not None:
        try:
            return int(extra["seed"])
        except (TypeError, ValueError):
            pass
    match = _SEED_IN_TEXT.search(str(results.get("output", "")))
    return int(match.group(1)) if match else None


def notebook_scores(results: dict) -> dict[str, tuple[float, float]]:
    """``{stem: (score, max_score)}`` summed over the tests, in notebook order."""
    return notebook_totals((notebook_of(test), _number(test.get("score")), _number(test.get("max_score")))
                           for test in results.get("tests", []))


def total_score(results: dict) -> tuple[float, float]:
    """(score, max_score) of the whole submission; ``score`` as the grader reported it."""
    tests = results.get("tests", [])
    most = sum(_number(t.get("max_score")) for t in tests)
    got = results.get("score")
    got = _number(got) if got is not None else sum(_number(t.get("score")) for t in tests)
    return got, most


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def mistake_label(key: str) -> str:
    """A reader's name for a diagnosis key: "summed-not-averaged" -> "summed not averaged"."""
    if key in ERROR_LABELS:
        return f"{ERROR_LABELS[key]} ({key})"
    return key.replace("-", " ").replace("_", " ")


# --- rendering ------------------------------------------------------------------------

#: Shared by the class report. Colours pass WCAG AA on white; status is never colour alone.
BASE_CSS = """
:root { --ok: #1a7f37; --bad: #b42318; --muted: #57606a; --line: #d0d7de; --bar: #0969da; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       max-width: 62rem; margin: 0 auto; padding: 1.5rem; background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; } h2 { font-size: 1.25rem; margin: 2rem 0 .5rem;
     border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .4rem; }
.muted { color: var(--muted); } code, pre { font: 13px/1.45 ui-monospace, Menlo, Consolas, monospace; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { position: sticky; top: 0; background: #f6f8fa; z-index: 1; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.bar { background: #eaeef2; border-radius: 4px; height: .9rem; min-width: 6rem; overflow: hidden; }
.bar > span { display: block; height: 100%; background: var(--bar); }
.pass { color: var(--ok); font-weight: 600; white-space: nowrap; }
.fail { color: var(--bad); font-weight: 600; white-space: nowrap; }
.tag { display: inline-block; padding: 0 .45rem; border-radius: 1rem; font-size: .8rem;
       background: #fff1e5; color: #8a4600; border: 1px solid #f5c08a; white-space: nowrap; }
.note { background: #ddf4ff; border-left: 4px solid var(--bar); padding: .5rem .75rem; margin: 1rem 0; }
details > summary { cursor: pointer; }
@media print { thead th { position: static; } details { display: block; } }
"""

FEEDBACK_CSS = BASE_CSS + """
.score { font-size: 2.4rem; font-weight: 700; line-height: 1.1; }
.notebooks td:first-child { width: 9rem; } .notebooks td.barcell { width: 60%; }
.card { border: 1px solid var(--line); border-left: 4px solid var(--bad); border-radius: 4px;
        padding: .6rem .8rem; margin: .8rem 0; }
.card h3 { margin: .1rem 0 .4rem; } .card h4 { font-size: .95rem; margin: .7rem 0 .2rem; }
.card p { margin: .3rem 0; overflow-wrap: anywhere; }
.card ul { margin: .2rem 0; padding-left: 1.2rem; } .card li { overflow-wrap: anywhere; }
.card :target { background: #fff8c5; }
code { background: #f6f8fa; border-radius: 3px; padding: 0 .2rem; }
.card h3 code { font-size: .92em; } pre code { padding: 0; background: none; }
pre.details { background: #f6f8fa; padding: .5rem .6rem; margin: .3rem 0; overflow-x: auto; white-space: pre; }
.tests td:nth-child(1) { width: 3.5rem; } .tests td:nth-child(3) { width: 5.5rem; }
.tests td:last-child { width: 4.5rem; }
.failure-summary { white-space: pre-wrap; border-left: 4px solid var(--bad); padding: .5rem .75rem; }
"""


def render_feedback(results: dict, student: str | None = None) -> str:
    """The feedback page for one graded submission, as a self-contained HTML document.

    ``results``: a parsed Gradescope results.json (``score``, ``output``, ``tests[]`` with
    ``name``, ``number``, ``score``, ``max_score``, ``status``, ``output``, ``tags``,
    ``visibility``, optional ``extra_data.diagnosis``; optional top-level
    ``extra_data.seed``). ``student``: a label for the title, if known.
    Tests whose visibility is ``"hidden"`` count in the scores but are not listed.
    """
    tests = [t for t in results.get("tests", []) if isinstance(t, dict)]
    shown = [t for t in tests if t.get("visibility") != "hidden"]
    failed = [t for t in shown if t.get("status") != "passed"]
    got, most = total_score(results)
    seed = seed_of(results)
    title = "Feedback" + (f": {student}" if student else "")

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{FEEDBACK_CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1>",
        '<p class="muted">Backpropagation assignment, autograded by the hidden tests.</p></header>',
        f'<p><span class="score" id="total-score">{points(got)} / {points(most)}</span> '
        f"autograded points &middot; {len(shown) - len(failed)} of {len(shown)} checks passed</p>",
        f'<p class="note">{escape(HAND_GRADED_NOTE)}</p>',
        _notebook_table(results),
    ]
    if not tests:
        # The grader itself failed (results.json then holds no tests): its summary, written
        # by the grader and never by the student's code, says so.
        summary = str(results.get("output") or "No checks ran.")[:MAX_OUTPUT_CHARS]
        parts.append(f'<h2>No checks ran</h2><p class="failure-summary">{escape(summary)}</p>')
    elif failed:
        cards = failure_cards(shown)
        lost = sum(card.points_lost for card in cards)
        parts.append("<h2>What to fix</h2>")
        parts.append(f"<p>{len(cards)} {'mistake' if len(cards) == 1 else 'mistakes'} cost {points(lost)} points. "
                     "Each is shown once: the checks it failed, then one example with its inputs, "
                     "what was expected and what your code returned.</p>")
        parts.extend(_card(number, card) for number, card in enumerate(cards, 1))
    elif any(t.get("status") != "passed" for t in tests):
        # Every failure is in a test the instructor hid (``grade --visibility hidden``).
        parts.append("<h2>What to fix</h2><p>Some checks failed; their details are not shown.</p>")
    else:
        parts.append("<h2>What to fix</h2><p class=\"pass\">Nothing: every check passed.</p>")
    parts.append("<h2>Every check</h2>")
    parts.append(_test_table(shown))
    hidden = len(tests) - len(shown)
    if hidden:
        what = "check counts in your score but is" if hidden == 1 else "checks count in your score but are"
        parts.append(f'<p class="muted">{hidden} further {what} not shown.</p>')
    parts.append("<h2>Reproducing this grade</h2>")
    if seed is not None:
        parts.append(f'<p>The hidden tests drew their random inputs from seed <code id="seed">{seed}</code>. '
                     "Grading the same notebooks again with this seed gives the same inputs and the "
                     "same grade; quote it if you ask about a result.</p>")
    else:
        parts.append("<p>The seed of this run was not recorded.</p>")
    seconds = results.get("execution_time")
    if isinstance(seconds, (int, float)):
        parts.append(f'<p class="muted">Grading took {seconds:.1f} s.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _bar(fraction: float, label: str) -> str:
    width = max(0.0, min(1.0, fraction)) * 100
    return (f'<div class="bar" role="img" aria-label="{escape(label)}">'
            f'<span style="width:{width:.1f}%"></span></div>')


def _notebook_table(results: dict) -> str:
    rows = []
    for stem, (got, most) in notebook_scores(results).items():
        fraction = got / most if most else 0.0
        rows.append(
            f"<tr><td><a href=\"#nb-{escape(stem)}\">{escape(stem)}</a></td>"
            f'<td class="barcell">{_bar(fraction, f"{stem}: {points(got)} of {points(most)} points")}</td>'
            f'<td class="num">{points(got)} / {points(most)}</td></tr>'
        )
    return ('<table class="notebooks"><thead><tr><th>Notebook</th><th>Score</th>'
            '<th class="num">Points</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _anchor(test: dict) -> str:
    number = re.sub(r"[^0-9A-Za-z.]", "", str(test.get("number", "")))
    return f"test-{number}" if number else ""


def _test_points(test: dict) -> str:
    return f'{points(_number(test.get("score")))} / {points(_number(test.get("max_score")))}'


def _card(number: int, card: Card) -> str:
    """One mistake: its title, the checks it failed (each with an anchor the overview links
    to), one example message rendered: the sentence with its `names` as code, the details
    wrapped to short lines."""
    out = [f'<section class="card" id="card-{number}">',
           f"<h3>{number}. {inline_html(card.title)} "
           f'<span class="muted">(&minus;{points(card.points_lost)} points)</span></h3>']
    if card.diagnosis:
        kind = "What went wrong" if card.diagnosis in ERROR_LABELS else "Named mistake"
        out.append(f'<p class="muted">{escape(card.notebook)} &middot; {kind}: '
                   f'<span class="tag">{escape(mistake_label(card.diagnosis))}</span></p>')
    else:
        out.append(f'<p class="muted">{escape(card.notebook)}</p>')
    count = len(card.checks)
    out.append(f"<p>It failed {count} {'check' if count == 1 else 'checks'}, "
               f"{points(card.points_lost)} of {points(card.points_at_stake)} points:</p><ul>")
    for check in card.checks:
        anchor = _anchor({"number": check.number})
        attribute = f' id="{anchor}"' if anchor else ""
        via = (f" (in <code>{escape(check.through)}</code>, which calls <code>{escape(card.function)}</code>)"
               if check.through else "")
        out.append(f"<li{attribute}>{escape(check.number)} "
                   f"{escape(_without_prefix(check.name, card.notebook))}{via} "
                   f'<span class="muted">({points(check.score)} / {points(check.max_score)})</span></li>')
    out.append("</ul>")
    out.append(f"<h4>Example: check {escape(card.example_number)}</h4>")
    sentence = card.example.sentence
    if len(sentence) > MAX_OUTPUT_CHARS:
        sentence = sentence[:MAX_OUTPUT_CHARS] + " [...]"
    out += [f"<p>{inline_html(line)}</p>" for line in sentence.splitlines() if line.strip()]
    if card.example.details:
        text = "\n".join(detail_lines(card.example.details))
        if len(text) > MAX_OUTPUT_CHARS:
            text = text[:MAX_OUTPUT_CHARS] + " [...]"
        out.append(f'<pre class="details"><code>{escape(text)}</code></pre>')
    out.append("</section>")
    return "\n".join(out)


def _without_prefix(name: str, stem: str) -> str:
    """"02_backward: forward ..." under the heading 02_backward reads "forward ..."."""
    return name[len(stem) + 1:].strip() if name.startswith(f"{stem}:") else name


def _test_table(tests: list[dict]) -> str:
    by_notebook: dict[str, list[dict]] = {}
    for test in tests:
        by_notebook.setdefault(notebook_of(test), []).append(test)
    blocks = []
    for stem in notebook_order(by_notebook):
        rows = []
        for test in by_notebook[stem]:
            passed = test.get("status") == "passed"
            status = ('<span class="pass">&#10003; passed</span>' if passed
                      else f'<a class="fail" href="#{_anchor(test)}">&#10007; failed</a>')
            rows.append(
                f"<tr><td>{escape(str(test.get('number', '')))}</td>"
                f"<td>{escape(_without_prefix(str(test.get('name', '')), stem))}</td><td>{status}</td>"
                f'<td class="num">{_test_points(test)}</td></tr>'
            )
        blocks.append(
            f'<h3 id="nb-{escape(stem)}">{escape(stem)}</h3><table class="tests"><thead><tr><th>#</th>'
            '<th>Check</th><th>Status</th><th class="num">Points</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>"
        )
    return "\n".join(blocks)


def write_feedback_html(results_path) -> Path:
    """Write ``feedback.html`` next to ``results_path`` (a Gradescope results.json).

    The page is self-contained (inline CSS, no scripts, no external assets) and readable
    offline. The student label in its title is the name of the folder holding
    results.json. Returns the path written. Called per student by the grade command.
    """
    results_path = Path(results_path)
    results = json.loads(results_path.read_text(encoding="utf-8"))
    target = results_path.with_name(FEEDBACK_HTML)
    student = results_path.resolve().parent.name or None
    target.write_text(render_feedback(results, student=student), encoding="utf-8")
    return target
