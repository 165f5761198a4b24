"""ExactMatch: normalised comparison of the last answer block with a free-text reference."""

from __future__ import annotations

import pytest
from conftest import wrap

from dumpcli.puzzles.exact import ExactMatch, normalise
from dumpcli.puzzles.registry import get_verifier

EXACT = ExactMatch()


@pytest.mark.parametrize(
    "given,reference",
    [
        ("Paris", "paris"),
        ("  The   Eiffel\nTower. ", "the eiffel tower"),
        ("$\\boxed{42}$", 42),
        ("1,000", "1000"),
        ("0.5", "1/2"),
        ("2.50", 2.5),
        ('"yes"', "yes"),
    ],
)
def test_equal_after_normalising(given: str, reference: object) -> None:
    assert EXACT.verify(wrap(given), EXACT.parse_answer(reference)) == (True, 1.0, True, "correct")


def test_different_answers_and_missing_blocks() -> None:
    assert EXACT.verify(wrap("41"), "42")[:3] == (True, 0.0, True)
    assert EXACT.verify("42", "42")[:3] == (False, 0.0, False)
    assert EXACT.verify(wrap("a") + wrap("42"), "42")[:3] == (False, 1.0, True)  # last block, bad format


def test_parse_answer() -> None:
    assert EXACT.parse_answer(3) == "3"
    assert EXACT.parse_answer(3.0) == "3"
    assert EXACT.parse_answer('"Paris"') == "Paris"  # the JSON text of the dataset column
    for bad in (None, True, [1], "  ", float("nan")):
        with pytest.raises(ValueError):
            EXACT.parse_answer(bad)
    assert get_verifier("exact").reference_text("Paris") == "Paris"
    assert normalise("\\boxed{\\text{Yes}}") == "yes"
