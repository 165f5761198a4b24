"""The sequence families a tiny CPU model can learn (sorting, reversal, addition) and the noisy
one it cannot (parity): determinism, the difficulty ladder, answers checked by an independent
solver written here, positional partial credit, and no credit for hedges or padding."""

from __future__ import annotations

import random
import re

import orjson
import pytest

from dumpcli.puzzles.registry import get_family
from dumpcli.puzzles.rewards import score
from dumpcli.puzzles.sequence_answer import positional_credit

FAMILIES = ("sorting", "reversal", "addition", "parity")


def wrap(text: str) -> str:
    return f"<think> </think> <answer> {text} </answer>"


def numbers_in(question: str) -> list[str]:
    """The tokens after the question's colon (the family's input as the model sees it)."""
    return question.split(":", 1)[1].split()


def independent_answer(family: str, question: str) -> str:
    """The right answer computed from the question text alone, without the family's code."""
    items = numbers_in(question)
    if family == "sorting":
        return " ".join(str(x) for x in sorted(int(i) for i in items))
    if family == "reversal":
        return " ".join(items[::-1])
    if family == "addition":
        left, right = " ".join(items).split(" + ")
        return " ".join(str(int(left.replace(" ", "")) + int(right.replace(" ", ""))))
    if family == "parity":
        return "odd" if items.count("1") % 2 else "even"
    raise AssertionError(family)


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_puzzles(family: str) -> None:
    f = get_family(family)
    d = f.min_difficulty + 2
    first = [f.generate(d, random.Random(7)) for _ in range(3)]
    again = [f.generate(d, random.Random(7)) for _ in range(3)]
    assert orjson.dumps(first) == orjson.dumps(again)
    assert orjson.dumps(f.generate(d, random.Random(8))) != orjson.dumps(first[0])


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_answer_matches_an_independent_solver_and_scores_full(family: str) -> None:
    f = get_family(family)
    rng = random.Random(0)
    for d in range(f.min_difficulty, min(f.max_difficulty, 12) + 1):
        for _ in range(20):
            puzzle = f.generate(d, rng)
            expected = independent_answer(family, puzzle["question"])
            answer = f.parse_answer(orjson.dumps(puzzle["answer"]).decode())  # as the dataset stores it
            assert f.reference_text(answer) == expected
            verdict = f.verify(wrap(expected), answer)
            assert verdict == (True, 1.0, True, "correct")
            assert score(verdict, "dump") == 3.0 and score(verdict, "partial") == 1.0


@pytest.mark.parametrize(
    ("family", "size"),
    [("sorting", len), ("reversal", len), ("parity", len), ("addition", lambda items: (len(items) - 1) // 2)],
)
def test_difficulty_is_the_ladder_of_input_sizes(family: str, size) -> None:
    """Each rung is the same task with one more item (addition: one more digit per number)."""
    f = get_family(family)
    for d in (f.min_difficulty, f.min_difficulty + 1, f.min_difficulty + 5):
        puzzle = f.generate(d, random.Random(d))
        assert size(numbers_in(puzzle["question"])) == d
    with pytest.raises(ValueError, match="must be in"):
        f.generate(f.max_difficulty + 1, random.Random(0))
    with pytest.raises(ValueError, match="unknown knob 'depth'"):
        f.generate(f.min_difficulty, random.Random(0), depth=3)


def test_knobs() -> None:
    assert max(get_family("sorting").generate(30, random.Random(0), max_value=3)["items"]) <= 3
    letters = get_family("reversal").generate(30, random.Random(0), alphabet=2)["letters"]
    assert set(letters) <= {"a", "b"}
    a, b = (get_family("addition").generate(3, random.Random(0))[k] for k in "ab")
    assert 100 <= a <= 999 and 100 <= b <= 999  # no leading zeros: 3 digits each


def test_positional_credit_hand_values() -> None:
    assert positional_credit([1, 2, 3], [1, 2, 3]) == 1.0
    assert positional_credit([1, 3, 2], [1, 2, 3]) == pytest.approx(1 / 3)
    assert positional_credit([1, 2], [1, 2, 3]) == pytest.approx(2 / 3)  # a missing item costs
    assert positional_credit([1, 2, 3, 3, 3], [1, 2, 3]) == pytest.approx(3 / 5)  # padding costs
    assert positional_credit([], [1]) == 0.0


SORT = {"items": [3, 1, 2]}


@pytest.mark.parametrize(
    ("text", "credit"),
    [
        ("1 2 3", 1.0),
        ("1, 2, 3", 1.0),
        ("[1, 2, 3]", 1.0),
        ("1 3 2", 1 / 3),
        ("1 2", 2 / 3),
        ("1 2 3 3", 3 / 4),
    ],
)
def test_sorting_partial_credit(text: str, credit: float) -> None:
    verdict = get_family("sorting").verify(wrap(text), SORT)
    assert verdict.parsed and verdict.answer_score == pytest.approx(credit)
    assert score(verdict, "partial") == pytest.approx(credit)
    assert score(verdict, "binary") == (1.0 if credit == 1.0 else 0.0)
    assert score(verdict, "dump") == (3.0 if credit == 1.0 else -0.5)


@pytest.mark.parametrize(
    "text",
    [
        "1 2 3 or 1 3 2",  # a hedge between two answers
        "1 2 3 / 1 3 2",
        "maybe 1 2 3",
        "1 2 3. I think",
        "1 2 three",
        "1 2 3 1 2 3 1 2 3 1 2 3 x",
        "",
        "1 2 \u200bor 3",  # a hedge hidden behind a zero-width space
    ],
)
def test_sorting_hedges_and_noise_get_no_credit(text: str) -> None:
    verdict = get_family("sorting").verify(wrap(text), SORT)
    assert verdict.answer_score == 0.0 and score(verdict, "partial") == 0.0
    assert score(verdict, "dump") in (-1.0, -3.0)


def test_zero_width_characters_inside_items_are_ignored() -> None:
    assert get_family("sorting").verify(wrap("1 \u200b2 3"), SORT).answer_score == 1.0


def test_reversal_addition_parity_verdicts() -> None:
    rev = get_family("reversal")
    assert rev.verify(wrap("c b a"), {"letters": "abc"}).answer_score == 1.0
    assert rev.verify(wrap("C B A"), {"letters": "abc"}).answer_score == 1.0  # case does not matter
    assert rev.verify(wrap("a b c"), {"letters": "abc"}).answer_score == pytest.approx(1 / 3)
    assert rev.verify(wrap("c b a or a b c"), {"letters": "abc"}).answer_score == 0.0
    add = get_family("addition")
    assert add.verify(wrap("1 0 5"), {"a": 47, "b": 58}).answer_score == 1.0
    assert add.verify(wrap("1 0 4"), {"a": 47, "b": 58}).answer_score == pytest.approx(2 / 3)
    assert add.verify(wrap("105"), {"a": 47, "b": 58}).answer_score == 1.0  # the sum as one number (issue 21)
    assert add.verify(wrap("104"), {"a": 47, "b": 58}).answer_score == pytest.approx(2 / 3)
    par = get_family("parity")
    assert par.verify(wrap("odd"), {"bits": "0111"}).answer_score == 1.0
    assert par.verify(wrap("even"), {"bits": "0111"}).answer_score == 0.0
    for hedge in ("odd or even", "even odd", "odd even"):
        assert par.verify(wrap(hedge), {"bits": "0111"}).answer_score == 0.0


@pytest.mark.parametrize("family", FAMILIES)
def test_hostile_answers_are_bounded(family: str) -> None:
    """Long or odd answer blocks are rejected by a linear scan: no exception, no credit."""
    f = get_family(family)
    answer = f.generate(f.min_difficulty, random.Random(0))["answer"]
    for text in ("1 " * 10_000, "<" * 100_000, "[" * 5000 + "]" * 5000, "9" * 5000, "\u200b" * 10_000):
        verdict = f.verify(wrap(text), answer)
        assert verdict.answer_score == 0.0


@pytest.mark.parametrize(
    "bad", ['{"items": "123"}', '{"items": []}', '{"letters": "ab1"}', '{"a": -1, "b": 2}']
)
def test_unusable_reference_answers_are_refused(bad: str) -> None:
    family = {"items": "sorting", "letters": "reversal", "a": "addition"}[re.findall(r'"(\w+)"', bad)[0]]
    with pytest.raises(ValueError, match="answer"):
        get_family(family).parse_answer(bad)
