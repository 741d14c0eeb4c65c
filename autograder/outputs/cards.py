"""Failures grouped the way a student fixes them: one card per mistake, not one per check.

One mistake fails every check that touches it (a ``backward`` that sums over the batch
fails seven), and seven copies of one diagnosis, each with its own long arrays, hide what
there is to fix. A card is one function's one mistake: its title names the function and
the mistake, then the checks it failed with the points they carry, and one example (the
shortest message of the group: the smallest inputs, expected and got).

The grouping key is a failure's diagnosis (``extra_data.diagnosis`` in results.json, the
harness's ``TestOutcome.diagnosis``) with the function its test is about (the first
function tag: a test of ``backward`` may also be tagged with ``forward``, whose cache it
uses). A failure without a diagnosis groups by that function and the first line of its
message, its numbers and code left out (the same check at another size reads the same).
Two cases are grouped further:

* a missing notebook is one card for the notebook, not one per function;
* a failure without a diagnosis in a test that also exercises a function with a diagnosed
  card joins that card (a wrong ``init_mlp`` fails ``train_mlp`` too): the same mistake,
  seen through another function. The function its message names is preferred.

Everything here is a pure function of results.json's tests, so feedback.md (from the
grade report) and feedback.html (from results.json alone) show the same cards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autograder.grading.model import notebook_order
from autograder.outputs.messages import Message, parse
from autograder.outputs.words import ERROR_LABELS

#: Diagnoses about a whole notebook: one card for the notebook.
NOTEBOOK_LEVEL = frozenset({"NotebookMissing"})

_CODE_SPAN = re.compile(r"`[^`\n]+`")
_CLAUSE_BREAK = re.compile(r"(?<=[^\s.]):\s+|\.\s+")
_NUMBER = re.compile(r"\d+(\.\d+)?(e[+-]?\d+)?")
_KEY_WORDS_IGNORED = frozenset({"not", "the", "and", "its", "for"})


@dataclass(frozen=True)
class FailedCheck:
    """One failed check on a card; ``through``: the function it failed in, when the card's
    mistake is another function's (``train_mlp`` failing on a wrong ``init_mlp``)."""

    number: str
    name: str
    score: float
    max_score: float
    through: str | None = None

    @property
    def points_lost(self) -> float:
        return max(0.0, self.max_score - self.score)


@dataclass(frozen=True)
class Card:
    """One mistake: what it is, the checks it failed, one example message."""

    notebook: str
    function: str  # "" when the card is about the whole notebook
    diagnosis: str | None
    title: str  # plain text, `names` in backticks
    checks: tuple[FailedCheck, ...]
    example: Message
    example_number: str

    @property
    def points_lost(self) -> float:
        return sum(check.points_lost for check in self.checks)

    @property
    def points_at_stake(self) -> float:
        return sum(check.max_score for check in self.checks)


def failure_cards(tests) -> list[Card]:
    """The cards of results.json's ``tests`` (dicts): every failed, shown test on exactly one
    card; cards in notebook order, then in the order of their first check."""
    failed = [test for test in tests if isinstance(test, dict) and test.get("status") != "passed"
              and test.get("visibility") != "hidden"]
    groups: dict[tuple, list[dict]] = {}
    knock_on: list[dict] = []
    for test in failed:
        notebook, functions, key = notebook_of(test), _functions(test), _diagnosis(test)
        if key in NOTEBOOK_LEVEL:
            groups.setdefault((notebook, "", key), []).append(test)
        elif key is not None:
            groups.setdefault((notebook, functions[0] if functions else "", key), []).append(test)
        else:
            knock_on.append(test)
    through: dict[tuple, list[tuple[dict, str]]] = {}
    for key in list(groups):
        target = _same_mistake_elsewhere(key, groups)
        if target is not None:
            through.setdefault(target, []).extend((test, key[1]) for test in groups.pop(key))
    for test in knock_on:
        notebook, functions = notebook_of(test), _functions(test)
        target = _blamed_card(test, notebook, functions, groups)
        if target is not None:
            through.setdefault(target, []).append((test, functions[0] if functions else ""))
        else:
            key = (notebook, functions[0] if functions else "", None, _undiagnosed_key(test))
            groups.setdefault(key, []).append(test)
    cards = [_card(key, members, through.get(key, [])) for key, members in groups.items()]
    order = {number: index for index, number in enumerate(str(test.get("number", "")) for test in failed)}
    notebooks = {stem: index for index, stem in enumerate(notebook_order({card.notebook for card in cards}))}
    return sorted(cards, key=lambda card: (notebooks[card.notebook], order.get(card.checks[0].number, 0)))


def _same_mistake_elsewhere(key: tuple, groups: dict) -> tuple | None:
    """The card of the same diagnosis for another function that every test of ``key``'s
    card also exercises and names in its message ("the first piece that differs is
    `init_mlp`": ``train_mlp``'s check failing with ``init_mlp``'s mistake), unless that
    card's own tests exercise ``key``'s function too (then neither is the other's)."""
    notebook, function, diagnosis = key[:3]
    if not function:
        return None
    for other, members in groups.items():
        if other == key or other[0] != notebook or other[2] != diagnosis or not other[1]:
            continue
        if all(other[1] in _functions(test)[1:] and _names(test, other[1]) for test in groups[key]) and \
                not any(function in _functions(test) for test in members):
            return other
    return None


def _blamed_card(test: dict, notebook: str, functions: list[str], groups: dict) -> tuple | None:
    """The diagnosed card of another function this undiagnosed failure's test exercises,
    the one its message names first if any."""
    candidates = [key for key in groups if key[0] == notebook and key[1] in functions[1:]]
    if not candidates:
        return None
    text = str(test.get("output", ""))
    named = [key for key in candidates if _names(test, key[1])]
    named.sort(key=lambda key: text.find(key[1]))
    return (named or candidates)[0]


def _names(test: dict, function: str) -> bool:
    """Whether the test's message names ``function`` (as a word: not ``mlp_forward`` for ``forward``)."""
    return re.search(rf"(?<![\w.]){re.escape(function)}(?!\w)", str(test.get("output", ""))) is not None


def _card(key: tuple, members: list[dict], knock_ons: list[tuple[dict, str]]) -> Card:
    notebook, function, diagnosis = key[0], key[1], key[2]
    # The example: one with inputs, expected and got if any has them, the shortest of those.
    parsed = [(parse(str(test.get("output") or "This check failed.")), test) for test in members]
    example, example_test = min(parsed, key=lambda pair: (not (pair[0].inputs and pair[0].values),
                                                          len(str(pair[1].get("output", ""))), _number_key(pair[1])))
    checks = [_check(test) for test in members] + [_check(test, via) for test, via in knock_ons]
    checks.sort(key=lambda check: _number_key({"number": check.number}))
    return Card(notebook, function, diagnosis, card_title(notebook, function, diagnosis, example.sentence),
                tuple(checks), example, str(example_test.get("number", "")))


def card_title(notebook: str, function: str, diagnosis: str | None, sentence: str) -> str:
    """"`backward`: summed over the batch instead of averaged (divide by N)": the function,
    then the clause of the example's first line that names the mistake."""
    subject = f"`{function}`" if function else f"{notebook}.ipynb"
    if diagnosis in ERROR_LABELS:
        return f"{subject}: {ERROR_LABELS[diagnosis]}"
    # The first line's clauses first; the rest of the sentence where the first names nothing.
    clauses = [clause.strip().rstrip(".") for line in sentence.splitlines() for clause in _clauses(line)
               if clause.strip()]
    if diagnosis is not None:
        words = [word for word in re.split(r"[-_\s]+", diagnosis.lower())
                 if len(word) >= 3 and word not in _KEY_WORDS_IGNORED]
        scored = [(sum(word in clause.lower() for word in words), -index, clause)
                  for index, clause in enumerate(clauses)]
        best = max(scored, default=(0, 0, ""))
        clause = best[2] if best[0] > 0 else diagnosis.replace("-", " ").replace("_", " ")
    else:
        clause = next((c for c in clauses if not _only_subject(c)), clauses[0] if clauses else "failed")
    return f"{subject}: {_without_subject(clause)}"


def _clauses(line: str) -> list[str]:
    """``line`` cut at ": " and ". ", never inside a `code span`."""
    spans = [(m.start(), m.end()) for m in _CODE_SPAN.finditer(line)]
    pieces, start = [], 0
    for found in _CLAUSE_BREAK.finditer(line):
        if any(a <= found.start() < b for a, b in spans):
            continue
        pieces.append(line[start:found.start()])
        start = found.end()
    pieces.append(line[start:])
    return pieces


def _only_subject(clause: str) -> bool:
    """A clause that says only which call failed: "`f(x)`", "`f(x)` is wrong"."""
    rest = _CODE_SPAN.sub("", clause).strip().lower()
    return rest in ("", "is wrong", "are wrong", "failed")


def _without_subject(clause: str) -> str:
    """"`bce_loss(p, y)` is non-finite (nan)" -> "non-finite (nan)": the card names the function."""
    found = re.match(r"^`[^`\n]+`\s+(is|are|has|returned)\s+(.*)$", clause)
    if found and found.group(1) in ("is", "are"):
        return found.group(2)
    return clause


def _undiagnosed_key(test: dict) -> str:
    """The first line of the message with its code and numbers left out."""
    message = parse(str(test.get("output") or ""))
    first = message.sentence.splitlines()[0] if message.sentence else ""
    return _NUMBER.sub("#", _CODE_SPAN.sub("`…`", first))


def _check(test: dict, through: str | None = None) -> FailedCheck:
    return FailedCheck(str(test.get("number", "")), str(test.get("name", "")), _float(test.get("score")),
                       _float(test.get("max_score")), through)


def notebook_of(test: dict) -> str:
    """The notebook stem a results.json test belongs to: its first tag, else the prefix
    of its name (feedback and the class report read it from here too)."""
    tags = test.get("tags") or []
    if tags and isinstance(tags[0], str) and tags[0]:
        return tags[0]
    name = str(test.get("name", ""))
    return name.split(":", 1)[0].strip() if ":" in name else "other"


def _functions(test: dict) -> list[str]:
    return [str(tag) for tag in (test.get("tags") or [])[1:] if isinstance(tag, str) and tag]


def _diagnosis(test: dict) -> str | None:
    extra = test.get("extra_data")
    if isinstance(extra, dict) and extra.get("diagnosis"):
        return str(extra["diagnosis"])
    return None


def _number_key(test: dict) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in str(test.get("number", "")).split("."))


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
