"""Failures grouped into one card per mistake: what is grouped, what is not, the example."""

from __future__ import annotations

from autograder.outputs.cards import failure_cards


def outcome(number, tags, output, diagnosis=None, max_score=1.0, score=0.0, visibility="visible"):
    entry = {"name": f"{tags[0]}: check {number}", "number": number, "score": score, "max_score": max_score,
             "status": "passed" if score == max_score else "failed", "output": output, "tags": tags,
             "visibility": visibility}
    if diagnosis:
        entry["extra_data"] = {"diagnosis": diagnosis}
    return entry


SUMMED = ("`backward(...)['{key}']` is wrong: it is N = {n} times too large: summed over the batch instead of "
          "averaged (divide by N).")
DETAILS = "\n  with X = {x} (shape (3, 2), float64)\n  expected: [1.]\n  got:      [3.]"


def test_one_mistake_failing_seven_checks_is_one_card_with_one_example():
    tests = [outcome(f"2.{i}", ["02_backward", "backward", "forward"] if i % 2 else ["02_backward", "backward"],
                  SUMMED.format(key=key, n=i + 2) + (DETAILS.format(x="[[1., 2.]] " * (8 - i)) if i > 2 else ""),
                  "summed-not-averaged", max_score=i)
             for i, key in zip(range(1, 8), ["W1", "b1", "W2", "b2", "W1", "b1", "W2"])]
    tests.append(outcome("2.9", ["02_backward", "forward"], "`forward` is fine", score=1.0))  # passed
    cards = failure_cards(tests)
    assert len(cards) == 1
    card = cards[0]
    assert card.title == "`backward`: summed over the batch instead of averaged (divide by N)"
    assert [check.number for check in card.checks] == [f"2.{i}" for i in range(1, 8)]
    assert card.points_lost == sum(range(1, 8)) == card.points_at_stake
    # the example has inputs, expected and got, and is the shortest of those
    assert card.example_number == "2.7" and card.example.inputs and card.example.values


def test_different_mistakes_and_functions_are_different_cards_in_notebook_order():
    cards = failure_cards([
        outcome("4.1", ["04_bce", "bce_loss"], "`bce_loss(probs, y)` is non-finite (nan).", "non-finite"),
        outcome("2.1", ["02_backward", "backward"], SUMMED.format(key="W1", n=4), "summed-not-averaged"),
        outcome("2.2", ["02_backward", "backward"], "`backward` is wrong: it has the opposite sign (a sign flip).",
             "sign-flip"),
        outcome("2.3", ["02_backward", "mse_loss"], "`mse_loss(out, y)` is wrong: it is N = 4 times too large: "
             "summed over the batch instead of averaged (divide by N).", "summed-not-averaged"),
    ])
    assert [card.title for card in cards] == [
        "`backward`: summed over the batch instead of averaged (divide by N)",
        "`backward`: it has the opposite sign (a sign flip)",
        "`mse_loss`: summed over the batch instead of averaged (divide by N)",
        "`bce_loss`: non-finite (nan)",
    ]


def test_a_check_failing_through_another_functions_mistake_joins_its_card():
    cards = failure_cards([
        outcome("3.1", ["03_mlp", "init_mlp"], "`init_mlp([2, 3], seed=1)` is wrong: the weights are scaled with "
             "fan_out instead of fan_in: He initialisation draws Wl with sqrt(2 / fan_in).", "he-fan-out"),
        outcome("3.9", ["03_mlp", "train_mlp", "init_mlp", "sgd_step"], "`train_mlp(...)`: losses[0] differs from the "
             "reference. The first loss is already wrong: it is the loss of init_mlp(layer_sizes, seed)."),
        outcome("3.5", ["03_mlp", "sgd_step"], "`sgd_step` raised KeyError: 'W3'", "StudentException"),
    ])
    assert [card.title for card in cards] == [
        "`init_mlp`: the weights are scaled with fan_out instead of fan_in",
        "`sgd_step`: the code raised an exception",
    ]
    assert [(check.number, check.through) for check in cards[0].checks] == [("3.1", None), ("3.9", "train_mlp")]


def test_failures_without_a_diagnosis_group_by_function_and_first_line_without_numbers():
    cards = failure_cards([
        outcome("1.1", ["01_relu", "relu"], "`relu(z)` returned 3 values for 4 inputs."),
        outcome("1.2", ["01_relu", "relu"], "`relu(z)` returned 5 values for 7 inputs.\n  with z = [1., 2.]"),
        outcome("1.3", ["01_relu", "relu"], "`relu(z)` is wrong: its values are wrong (relative error 0.3)."),
    ])
    assert [card.title for card in cards] == ["`relu`: `relu(z)` returned 3 values for 4 inputs",
                                              "`relu`: its values are wrong (relative error 0.3)"]
    assert [check.number for check in cards[0].checks] == ["1.1", "1.2"]


def test_a_missing_notebook_is_one_card_and_hidden_checks_are_on_none():
    cards = failure_cards([outcome(f"3.{i}", ["03_mlp", function], "03_mlp.ipynb is missing from your submission.",
                                "NotebookMissing")
                           for i, function in enumerate(["init_mlp", "mlp_forward", "sgd_step"], 1)]
                          + [outcome("4.1", ["04_bce", "bce_loss"], "wrong", "sign-flip", visibility="hidden")])
    assert len(cards) == 1
    assert cards[0].title == "03_mlp.ipynb: notebook missing" and len(cards[0].checks) == 3


def test_a_check_diagnosed_with_the_mistake_of_a_function_it_names_joins_that_card():
    cards = failure_cards([
        outcome("3.1", ["03_mlp", "init_mlp"], "`init_mlp(...)` is wrong: the weights are scaled with fan_out "
                "instead of fan_in.", "he-fan-out"),
        outcome("3.9", ["03_mlp", "train_mlp", "init_mlp"], "`train_mlp(...)`: losses[0] differs.\n  replaying the "
                "reference training step by step, the first piece that differs is `init_mlp`: the weights are "
                "scaled with fan_out instead of fan_in.", "he-fan-out"),
        outcome("2.1", ["02_backward", "forward"], "`forward` is wrong: it is transposed.", "transposed"),
        outcome("2.2", ["02_backward", "backward", "forward"], "`backward` is wrong: it is transposed.", "transposed"),
    ])
    # backward's own transposed gradient is its own mistake: its message does not blame forward
    assert [card.title for card in cards] == ["`forward`: it is transposed", "`backward`: it is transposed",
                                              "`init_mlp`: the weights are scaled with fan_out instead of fan_in"]
    assert [(check.number, check.through) for check in cards[2].checks] == [("3.1", None), ("3.9", "train_mlp")]
