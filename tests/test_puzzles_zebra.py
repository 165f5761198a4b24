"""Zebra puzzles: uniqueness by brute force over every grid, determinism, verifier."""

from __future__ import annotations

import itertools
import random

import orjson
import pytest

from dumpcli.puzzles.zebra import LEVELS, Zebra

ZEBRA = Zebra()


def holds(constraint: list, where: dict[tuple[str, str], int]) -> bool:
    """One clue on one candidate grid; `where[(attribute, value)]` = house (0-based)."""
    kind, first, second = constraint
    x = where[tuple(first)]
    if kind == "at":
        return x == second - 1
    if kind == "not_at":
        return x != second - 1
    y = where[tuple(second)]
    return {
        "same": x == y,
        "not_same": x != y,
        "left": x + 1 == y,
        "before": x < y,
        "next": abs(x - y) == 1,
        "gap": abs(x - y) == 2,
    }[kind]


def all_solutions(record: dict) -> list[list[list[str]]]:
    """Every grid satisfying the record's constraints, found independently of the SAT encoding."""
    labels = record["attributes"]
    n = record["houses"]
    values = [sorted({house[a] for house in record["solution"]}) for a in range(len(labels))]
    found = []
    for perms in itertools.product(*(itertools.permutations(v) for v in values)):
        where = {(labels[a], perms[a][h]): h for a in range(len(labels)) for h in range(n)}
        if all(holds(c, where) for c in record["constraints"]):
            found.append([[perms[a][h] for a in range(len(labels))] for h in range(n)])
    return found


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4])
def test_every_puzzle_has_exactly_one_solution(difficulty: int) -> None:
    rng = random.Random(difficulty)
    for _ in range(4 if difficulty < 4 else 2):
        record = ZEBRA.generate(difficulty, rng)
        assert (record["houses"], len(record["attributes"])) == LEVELS[difficulty]
        assert all_solutions(record) == [record["solution"]]
        assert len(record["clues"]) == len(record["constraints"])


def test_clue_sets_are_minimal() -> None:
    record = ZEBRA.generate(3, random.Random(5))
    for i in range(len(record["constraints"])):
        fewer = dict(record, constraints=record["constraints"][:i] + record["constraints"][i + 1 :])
        assert len(all_solutions(fewer)) > 1


def test_determinism_and_knobs() -> None:
    a = ZEBRA.generate(5, random.Random(3))
    b = ZEBRA.generate(5, random.Random(3))
    assert orjson.dumps(a) == orjson.dumps(b)
    big = ZEBRA.generate(1, random.Random(0), houses=3, attributes=4)
    assert big["houses"] == 3 and len(big["attributes"]) == 4
    with pytest.raises(ValueError, match="unknown knob 'size'"):
        ZEBRA.generate(1, random.Random(0), size=3)
    with pytest.raises(ValueError, match="difficulty"):
        ZEBRA.generate(0, random.Random(0))
    with pytest.raises(ValueError, match="houses"):
        ZEBRA.generate(1, random.Random(0), houses=9)


def test_largest_level_generates() -> None:
    record = ZEBRA.generate(max(LEVELS), random.Random(0))
    assert record["houses"] == 6 and len(record["attributes"]) == 6
    assert ZEBRA.verify(
        f"<think></think><answer>{ZEBRA.reference_text(record['answer'])}</answer>", record["answer"]
    )[:3] == (True, 1.0, True)


ANSWER = {"attributes": ["Name", "Pet", "Drink"], "houses": [["Alice", "cat", "tea"], ["Bob", "dog", "milk"]]}


@pytest.mark.parametrize(
    "text",
    [
        "House 1: Alice, cat, tea\nHouse 2: Bob, dog, milk",
        "house 1 - alice / CAT / Tea; House 2 - Bob / dog / milk",
        "| House | Name | Pet | Drink |\n|---|---|---|---|\n| 1 | Alice | cat | tea |\n| 2 | Bob | dog | milk |",
        "1. Alice, cat, tea\n2. Bob, dog, milk",
    ],
)
def test_verifier_reads_common_layouts(text: str) -> None:
    assert ZEBRA.verify(f"<think>x</think><answer>{text}</answer>", ANSWER) == (True, 1.0, True, "correct")


def test_verifier_scores_cells_and_refuses_hedges() -> None:
    swapped = ZEBRA.verify(
        "<think></think><answer>House 1: Alice, dog, tea\nHouse 2: Bob, cat, milk</answer>", ANSWER
    )
    assert swapped.parsed and swapped.answer_score == pytest.approx(4 / 6)
    hedged = ZEBRA.verify(
        "<think></think><answer>House 1: Alice, cat or dog, tea\nHouse 2: Bob, dog, milk</answer>", ANSWER
    )
    assert hedged.answer_score == 0.0 and "hedged" in hedged.detail
    incomplete = ZEBRA.verify("<think></think><answer>House 1: Alice, cat, tea</answer>", ANSWER)
    assert not incomplete.parsed and incomplete.answer_score == pytest.approx(3 / 6)
    assert (
        ZEBRA.verify("<think></think><answer>House 3: Alice</answer>", ANSWER).detail == "there is no house 3"
    )


def test_parse_answer_validates() -> None:
    assert ZEBRA.parse_answer(orjson.dumps(ANSWER).decode()) == ANSWER
    with pytest.raises(ValueError, match="distinct"):
        ZEBRA.parse_answer({"attributes": ["A"], "houses": [["x"], ["x"]]})
    with pytest.raises(ValueError, match="one value per attribute"):
        ZEBRA.parse_answer({"attributes": ["A", "B"], "houses": [["x", "y"], ["z"]]})
    with pytest.raises(ValueError, match="invalid JSON"):
        ZEBRA.parse_answer("{")
