"""A failure message as Markdown and back: names as code, everything else escaped, short lines."""

from __future__ import annotations

from autograder.outputs import messages

PLAIN = ("`f(z)` is wrong: it has the opposite sign (a sign flip).\n  with z = [1., 2.] (shape (2,), float64)"
         "\n  with p = {W1: shape (2, 4)}\n  expected: [1., 2.]\n  got:      [-1., -2.]")


def test_the_hidden_tests_plain_form_is_read_as_sentence_inputs_and_values():
    message = messages.parse(PLAIN)
    assert message.sentence == "`f(z)` is wrong: it has the opposite sign (a sign flip)."
    assert [(d.label, d.value) for d in message.inputs] == [("z", "[1., 2.] (shape (2,), float64)"),
                                                             ("p", "{W1: shape (2, 4)}")]
    assert [(d.label, d.value) for d in message.values] == [("expected", "[1., 2.]"), ("got", "[-1., -2.]")]


def test_markdown_reads_back_as_the_same_message():
    wide = "[[" + "], [".join(", ".join(f"{v:.4f}" for v in range(row, row + 5)) for row in range(6)) + "]]"
    text = "`g` * 2 is <i>wrong</i> for x_1 [see] & # more\n  with X = " + wide + " (shape (6, 5), float64)" \
           "\n  expected: 1.5\n  got:      3"
    markdown = messages.markdown(text)
    assert "`g` \\* 2 is \\<i\\>wrong\\</i\\> for x_1 \\[see\\] \\& # more" in markdown
    back, original = messages.parse(markdown), messages.parse(text)
    assert back.sentence == original.sentence
    assert [d.label for d in back.details] == ["X", "expected", "got"]
    assert back.details[0].value.replace("\n", " ").split() == original.details[0].value.split()
    assert all(len(line) <= 4 + messages.WIDTH for line in markdown.splitlines() if line.startswith("    "))


def test_a_line_start_that_markdown_would_read_as_structure_is_escaped():
    assert messages.inline_markdown("# not a heading") == "\\# not a heading"
    assert messages.inline_markdown("- not a list") == "\\- not a list"
    assert messages.inline_markdown("1. not a list") == "1\\. not a list"
    assert messages.unescape(messages.inline_markdown("1. a `x_1 * 2` b_c")) == "1. a `x_1 * 2` b_c"


def test_html_shows_names_as_code_and_escapes_everything_else():
    assert messages.inline_html("`relu` got <script>alert(1)</script> & `a<b`") == \
        "<code>relu</code> got &lt;script&gt;alert(1)&lt;/script&gt; &amp; <code>a&lt;b</code>"


def test_wide_arrays_wrap_at_rows_then_entries_and_never_pass_the_width():
    matrix = "[[" + "], [".join(", ".join(["-1.2345e+00"] * 4) for _ in range(5)) + "]] (shape (5, 4), float64)"
    lines = messages.wrap_value(matrix, 60)
    assert lines[0] == "[[-1.2345e+00, -1.2345e+00, -1.2345e+00, -1.2345e+00],"
    assert lines[1] == " [-1.2345e+00, -1.2345e+00, -1.2345e+00, -1.2345e+00],"
    assert lines[-2].endswith("]]") and lines[-1].strip() == "(shape (5, 4), float64)"  # no room left on the row
    assert all(len(line) <= 60 for line in lines)
    row = "[" + ", ".join(["0.1234"] * 30) + "]"
    assert all(len(line) <= 40 for line in messages.wrap_value(row, 40))
    assert "".join(messages.wrap_value("x" * 100, 30)).replace(" ", "") == "x" * 100  # cut, nothing lost
    assert len(messages.wrap_value("[" + "], [".join(["1"] * 500) + "]", 10)) <= messages.MAX_VALUE_LINES + 1
