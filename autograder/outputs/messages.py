"""A failure message as a student reads it: short lines, arrays wrapped, names as code.

The hidden tests write a failure as a sentence and indented detail lines
(``"  with X = [[...], [...]]"``, ``"  expected: ..."``, ``"  got:      ..."``), each array
on one line however wide. This module turns that into Markdown for results.json (Gradescope
renders a test's ``output_format: "md"``) and feedback.md: the sentence escaped so that only
the `names` in backticks become code, the details in an indented code block with every
array wrapped at its rows. It reads that Markdown back (:func:`parse`, which takes the
plain form too) for feedback.html, which renders it with :func:`inline_html` and needs
no Markdown library: the two subsets of Markdown used here are a code span and a code
block, and everything else is escaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

#: Characters per line of a detail (label and value) in a code block.
WIDTH = 78
#: At most this many lines per value: the rest is elided (values are short already).
MAX_VALUE_LINES = 16

_CODE_SPAN = re.compile(r"(`[^`\n]+`)")
# "with z = ...": one input of the failing call.
_INPUT = re.compile(r"^with\s+(.+?)\s+=\s+(.*)$")
# "expected: ...", "got:      ...", "first call:  ...": a labelled value.
_LABELLED = re.compile(r"^([A-Za-z][A-Za-z ]{0,30}?):\s+(.*)$")
# What Markdown could read as formatting, HTML or an entity, anywhere in a line (an
# underscore inside a word, as in fan_in or 01_relu.ipynb, is no emphasis in CommonMark)...
_SPECIAL = re.compile(r"([\\*<>\[\]&~|`]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
# ...and at the start of a line only: a heading, quote, list item, rule or setext underline.
_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


@dataclass(frozen=True)
class Detail:
    """One detail line: an input of the failing call (``is_input``) or a labelled value.
    ``value`` may hold several lines (a wrapped array)."""

    label: str
    value: str
    is_input: bool = False

    @property
    def head(self) -> str:
        """What stands before the value: ``"with X ="`` or ``"expected:"``."""
        return f"with {self.label} =" if self.is_input else f"{self.label}:"


@dataclass(frozen=True)
class Message:
    """A failure message: its sentence (plain text, `names` in backticks) and details."""

    sentence: str
    details: tuple[Detail, ...] = ()

    @property
    def inputs(self) -> tuple[Detail, ...]:
        return tuple(detail for detail in self.details if detail.is_input)

    @property
    def values(self) -> tuple[Detail, ...]:
        return tuple(detail for detail in self.details if not detail.is_input)


def parse(text: str) -> Message:
    """Read a message in the hidden tests' plain form or in this module's Markdown.

    Unindented lines are the sentence (Markdown escapes undone); an indented line that
    reads ``with NAME = VALUE`` or ``LABEL: VALUE`` starts a detail; a line indented
    further than that continues its value (a wrapped array); any other indented line
    belongs to the sentence.
    """
    sentence: list[str] = []
    details: list[list] = []  # [label, value lines, is_input, indent, value column]
    for line in str(text).splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        if details and indent > details[-1][3] and not (_INPUT.match(stripped) or _LABELLED.match(stripped)):
            column = details[-1][4]
            details[-1][1].append(line[column:] if line[:column].isspace() else stripped)
            continue
        if indent == 0:
            sentence.append(unescape(line))
            continue
        found = _INPUT.match(stripped)
        is_input = found is not None
        found = found or _LABELLED.match(stripped)
        if found is None:
            sentence.append(unescape(stripped))
            continue
        column = indent + stripped.index(found.group(2)) if found.group(2) else len(line)
        details.append([found.group(1), [found.group(2)], is_input, indent, column])
    return Message("\n".join(sentence).strip(),
                   tuple(Detail(label, "\n".join(lines), is_input) for label, lines, is_input, _, _ in details))


def markdown(message: Message | str, width: int = WIDTH) -> str:
    """The message as Markdown: the sentence's lines as paragraphs, escaped outside its
    code spans, then the details as an indented code block, each value wrapped to ``width``."""
    if isinstance(message, str):
        message = parse(message)
    parts = [inline_markdown(line) for line in message.sentence.splitlines() if line.strip()]
    if message.details:
        parts.append("\n".join("    " + line for line in detail_lines(message.details, width)))
    return "\n\n".join(parts)


def detail_lines(details, width: int = WIDTH) -> list[str]:
    """The details as aligned lines (``with X = ...``, ``expected: ...``, ``got:      ...``),
    every value wrapped so no line is longer than ``width``."""
    heads = [detail.head for detail in details]
    pad = max((len(head) for head, detail in zip(heads, details) if not detail.is_input), default=0)
    lines = []
    for head, detail in zip(heads, details):
        head = head if detail.is_input else head.ljust(pad)
        column = len(head) + 1
        wrapped = wrap_value(detail.value, max(20, width - column))
        lines.append(f"{head} {wrapped[0]}")
        lines += [" " * column + line for line in wrapped[1:]]
    return lines


def wrap_value(value: str, width: int = WIDTH) -> list[str]:
    """``value`` (an array as NumPy prints it on one line) as lines of at most ``width``
    characters: broken between rows first (``"], ["``), then between entries, then anywhere.
    Continuation lines are indented to stand under the first row's entries."""
    lines: list[str] = []
    for piece in value.split("\n"):
        lines += _wrap_one(piece, width)
    if len(lines) > MAX_VALUE_LINES:
        half = MAX_VALUE_LINES // 2
        lines = lines[:half] + ["..."] + lines[-half + 1:]
    return lines


_ROW_BREAK = re.compile(r"(?:(?<=\])|(?<=\.\.\.)),\s*(?=\[|\.\.\.)")
_SHAPE_SUFFIX = re.compile(r"^(.*\S)(\s\(shape .*\))$")


def _wrap_one(value: str, width: int) -> list[str]:
    if len(value) <= width:
        return [value]
    suffix = ""
    if (found := _SHAPE_SUFFIX.match(value)):
        value, suffix = found.group(1), found.group(2)
    depth = len(value) - len(value.lstrip("["))
    indent = " " * max(0, min(depth - 1, 8))
    rows = _ROW_BREAK.split(value)
    rows = [row + ("," if index < len(rows) - 1 else "") for index, row in enumerate(rows)]
    # Short rows (a column vector) share lines; a matrix's rows stand one under the other.
    pack = max(len(row) for row in rows) <= width // 3
    lines: list[str] = []
    for row in rows:
        if lines and pack and len(lines[-1]) + 1 + len(row) <= width:
            lines[-1] += " " + row
            continue
        text = (indent if lines else "") + row
        lines += [text] if len(text) <= width else _wrap_entries(text, width, indent + " ")
    if suffix:
        if len(lines[-1]) + len(suffix) <= width:
            lines[-1] += suffix
        else:
            lines.append(indent + suffix.strip())
    return lines


def _split_at_top_commas(text: str) -> list[str]:
    """``text`` cut after each comma that is not nested deeper than the shallowest one
    (``{W1: shape (4, 6), b1: ...}`` is cut between entries, not inside a shape)."""
    depth, depths, commas = 0, [], []
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == ",":
            commas.append(index)
            depths.append(depth)
    if not commas:
        return [text]
    shallowest = min(depths)
    pieces, start = [], 0
    for index, depth in zip(commas, depths):
        if depth == shallowest:
            pieces.append(text[start:index + 1].strip())
            start = index + 1
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if piece]


def _wrap_entries(text: str, width: int, indent: str) -> list[str]:
    """A too-long row broken after its commas, and any too-long entry cut into pieces."""
    lines, current = [], ""
    for entry in _split_at_top_commas(text):
        candidate = f"{current} {entry}" if current else entry
        if len(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = indent + entry
        while len(current) > width:
            lines.append(current[:width])
            current = indent + current[width:]
    if current:
        lines.append(current)
    return lines


def inline_markdown(text: str) -> str:
    """One line of text as Markdown that renders as the same text, with its `code spans`
    kept: everything Markdown could read as emphasis, a link, HTML or an entity is
    escaped, and so is a line start that would make a heading, a list or a quote."""
    parts = _CODE_SPAN.split(text)
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(part)
        else:
            out.append(_SPECIAL.sub(r"\\\1", part))
    line = "".join(out)
    return _LINE_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}" if not m.group(2)[0].isdigit()
                           else f"{m.group(1)}{m.group(2)[:-1]}\\{m.group(2)[-1]}", line)


def unescape(text: str) -> str:
    """Undo :func:`inline_markdown`'s escapes (code spans are left as they are)."""
    parts = _CODE_SPAN.split(text)
    return "".join(part if index % 2 else _ESCAPED.sub(r"\1", part) for index, part in enumerate(parts))


def inline_html(text: str) -> str:
    """Plain text as HTML: `names` in backticks as ``<code>``, every other character escaped."""
    parts = _CODE_SPAN.split(text)
    return "".join(f"<code>{escape(part[1:-1])}</code>" if index % 2 else escape(part)
                   for index, part in enumerate(parts))


def plain_text(text: str, width: int = WIDTH) -> str:
    """A message (Markdown or plain) as plain text: the sentence unescaped, the details
    indented below it and wrapped (the class report's example diagnosis)."""
    message = parse(text)
    return "\n".join([message.sentence] + ["  " + line for line in detail_lines(message.details, width)]).strip()


def first_line(text: str) -> str:
    """The first line of a message's sentence, as plain text."""
    sentence = parse(text).sentence
    return sentence.splitlines()[0] if sentence else ""
