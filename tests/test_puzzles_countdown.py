"""Countdown: generated puzzles are solvable, the verifier evaluates with `ast` only (never eval)."""

from __future__ import annotations

import builtins
import random
from fractions import Fraction

import orjson
import pytest
from conftest import wrap

from dumpcli.puzzles.countdown import Countdown, evaluate, expression_of, solve

CD = Countdown()


@pytest.fixture
def no_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any use of eval or exec in the verifier fail loudly (ast.parse itself needs compile)."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval/exec must not be used")

    for name in ("eval", "exec"):
        monkeypatch.setattr(builtins, name, forbidden)


@pytest.mark.parametrize("n", [2, 3, 4, 6, 8])
def test_generated_solution_reaches_the_target_with_all_numbers(n: int, no_eval: None) -> None:
    rng = random.Random(n)
    for _ in range(10):
        record = CD.generate(n, rng)
        assert len(record["numbers"]) == n
        value, used = evaluate(record["solution"])
        assert value == record["target"] and sorted(used) == sorted(record["numbers"])
        assert CD.verify(wrap(record["solution"]), record["answer"]) == (True, 1.0, True, "correct")


def test_determinism_and_knobs() -> None:
    assert orjson.dumps(CD.generate(4, random.Random(1))) == orjson.dumps(CD.generate(4, random.Random(1)))
    record = CD.generate(3, random.Random(0), max_number=9, max_target=50)
    assert max(record["numbers"]) <= 9 and record["target"] <= 50
    with pytest.raises(ValueError, match="unknown knob 'ops'"):
        CD.generate(3, random.Random(0), ops="+")
    with pytest.raises(ValueError, match="count of numbers"):
        CD.generate(9, random.Random(0))


ANSWER = {"numbers": [2, 3, 4], "target": 20}


@pytest.mark.parametrize(
    "text", ["(2 + 3) * 4", "4 * (3 + 2) = 20", "20 = (2+3)*4", "(2 + 3) × 4", " ( 2 + 3 ) * 4 . "]
)
def test_right_answers(text: str, no_eval: None) -> None:
    assert CD.verify(wrap(text), ANSWER) == (True, 1.0, True, "correct")


@pytest.mark.parametrize(
    "text,detail",
    [
        ("2 * 3 * 4", "equals 24, not 20"),
        ("(2 + 3) * 4 + 0", "uses [0, 2, 3, 4]"),
        ("(2 + 2) * 5", "uses [2, 2, 5]"),
        ("5 * 4", "uses [4, 5]"),
    ],
)
def test_wrong_numbers_or_value(text: str, detail: str, no_eval: None) -> None:
    verdict = CD.verify(wrap(text), ANSWER)
    assert verdict.answer_score == 0.0 and verdict.parsed and detail in verdict.detail


@pytest.mark.parametrize(
    "text,numbers,target,detail",
    [
        ("(1+2)*3 = 10", [1, 2, 3], 9, "claims 10 but equals 9"),  # scored 1.0: the claim was ignored
        ("10 = (1+2)*3", [1, 2, 3], 9, "claims 10 but equals 9"),
        ("(2 + 3) * 4 = 21", [2, 3, 4], 20, "claims 21 but equals 20"),
        ("(2 + 3) * 4 = 4 * 4", [2, 3, 4], 20, "claims 4 * 4 but equals 20"),
        ("2 * 3 * 4 = 20", [2, 3, 4], 20, "claims 20 but equals 24"),
    ],
)
def test_a_false_claimed_value_gets_nothing(text: str, numbers: list, target: int, detail: str) -> None:
    from dumpcli.puzzles.rewards import score

    verdict = CD.verify(wrap(text), {"numbers": numbers, "target": target})
    assert verdict.answer_score == 0.0 and verdict.parsed, verdict
    assert verdict.detail == detail
    assert score(verdict, "dump") == -0.5  # a wrong answer, not the +3.0 of a right one


def test_a_true_claim_and_full_width_or_invisible_characters_are_fine() -> None:
    for text in (
        "(2 + 3) * 4 = 20",
        "(2 + 3) * 4 = 5 * 4",
        "20 = (2 + 3) * 4",
        "（２＋３）×４ ＝ ２０",
        "(2 +\u200b 3) * 4",
    ):
        assert CD.verify(wrap(text), ANSWER) == (True, 1.0, True, "correct"), text


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('echo hacked')",
        "(2 + 3) * 4 if True else 0",
        "2 ** 3 + 4",
        "-(2 - 3) * 4",
        "abs(2) + 3 * 4",
        "x + 3",
        "(lambda: 20)()",
        "[2, 3, 4]",
        "2.0 * 3 + 4",
        "(2 + 3) * 4 = 20 = 20",
        "4 / (3 - 3) + 2",
        "(" * 300 + "2" + ")" * 300,
        "(" * 240 + "2" + ")" * 240,
        "2 + " * 200 + "2",
    ],
)
def test_anything_but_integers_and_four_operators_is_refused(text: str, no_eval: None) -> None:
    verdict = CD.verify(wrap(text), ANSWER)
    assert verdict.answer_score == 0.0 and not verdict.parsed


def test_exact_fraction_arithmetic() -> None:
    value, used = evaluate("(1 / 3) * 3 + 0")
    assert value == Fraction(1) and used == [1, 3, 3, 0]
    assert CD.verify(wrap("8 / (3 - 8 / 3)"), {"numbers": [8, 3, 8, 3], "target": 24}).answer_score == 1.0


def test_expression_extraction() -> None:
    assert expression_of("(1 + 2) * 3 = 9") == "(1 + 2) * 3"
    assert expression_of("9 = (1 + 2) * 3") == "(1 + 2) * 3"


def test_parse_answer_and_reference() -> None:
    assert CD.parse_answer('{"nums": [2, 3, 4], "target": 20}') == ANSWER  # TinyZero's field name
    text = CD.reference_text(ANSWER)  # solved by search when no solution is recorded
    assert CD.verify(wrap(text), ANSWER).answer_score == 1.0
    assert solve([2, 3], 100) is None
    with pytest.raises(ValueError, match="target"):
        CD.parse_answer({"numbers": [1, 2]})
    with pytest.raises(ValueError, match="integers"):
        CD.parse_answer({"numbers": [1.5], "target": 2})
