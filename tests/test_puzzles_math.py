"""The `math` verifier (math-verify): a table of equivalent and non-equivalent answers, GSM8K and
MATH references, hedges, hostile inputs, and calls from a thread."""

from __future__ import annotations

import threading

import pytest
from conftest import wrap

from dumpcli.puzzles import math_answer
from dumpcli.puzzles.math_answer import MathAnswer, last_boxed
from dumpcli.puzzles.registry import get_verifier

MATH = MathAnswer()


EQUIVALENT = [
    ("\\frac{1}{2}", "0.5"),
    ("0.5", "\\frac{1}{2}"),
    ("3/4", "\\boxed{\\frac34}"),
    ("\\frac34", "$\\frac{3}{4}$"),
    ("2", "x=2"),
    ("x=2", "2"),
    ("50\\%", "50"),
    ("50", "50\\%"),
    ("0.5", "50\\%"),
    ("42", "42.0"),
    ("1000", "1,000"),
    ("72", "\\$72"),
    ("10", "10 \\text{ cm}"),
    ("\\{1,2\\}", "\\{2,1\\}"),
    ("(1,2]", "(1, 2]"),
    ("\\sqrt{2}/2", "\\frac{\\sqrt2}{2}"),
    ("(x+1)^2", "x^2+2x+1"),
    ("\\dfrac{1}{2}", "1/2"),
    ("-3", "- 3"),
    ("2", "The answer is $2$."),
]
NOT_EQUIVALENT = [
    ("3", "4"),
    ("1/2", "2"),
    ("3", "-3"),
    ("12", "123"),  # contains the reference
    ("5", "15"),
    ("(1,2]", "[1,2]"),
    ("[1,2]", "(1,2)"),
    ("\\pi", "3.14"),
    ("\\{1,2\\}", "\\{1,3\\}"),
    ("x=2", "x=3"),
    ("42", "forty"),
]


@pytest.mark.parametrize(("reference", "given"), EQUIVALENT)
def test_equivalent_answers_score_1(reference, given):
    verdict = MATH.verify(wrap(given), MATH.parse_answer(reference))
    assert verdict == (True, 1.0, True, "correct")


@pytest.mark.parametrize(("reference", "given"), NOT_EQUIVALENT)
def test_different_answers_score_0(reference, given):
    verdict = MATH.verify(wrap(given), MATH.parse_answer(reference))
    assert verdict.answer_score == 0.0 and verdict.format_ok


@pytest.mark.parametrize(
    "given", ["2 or 3", "3 or 2", "either 2 or 3", "x = 2 \\text{ or } x = 3", "maybe 2"]
)
def test_hedges_score_0(given):
    verdict = MATH.verify(wrap(given), "2")
    assert verdict.answer_score == 0.0 and verdict.detail.startswith("hedged")


def test_references_gsm8k_math_and_numbers():
    assert MATH.parse_answer("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 1,072") == "1072"
    assert MATH.parse_answer("So the sum is $\\boxed{\\frac{1}{2}}$.") == "\\frac{1}{2}"
    assert MATH.parse_answer("\\boxed{\\{1, \\{2\\}\\}}") == "\\{1, \\{2\\}\\}"
    assert MATH.parse_answer(12) == "12" and MATH.parse_answer(2.5) == "2.5" and MATH.parse_answer(3.0) == "3"
    assert MATH.parse_answer('"7"') == "7"
    for bad in (None, True, "", "  ", "#### ", [1], "\\boxed{1", "9" * 3000):
        with pytest.raises(ValueError):
            MATH.parse_answer(bad)
    assert last_boxed("no box") is None
    assert MATH.verify(wrap("1072"), MATH.parse_answer("... #### 1,072")).answer_score == 1.0
    ref = "1072"
    assert MATH.verify(wrap(MATH.reference_text(ref)), ref).answer_score == 1.0


def test_registered_and_format_rule():
    assert get_verifier("math").name == "math"
    assert MATH.verify("42", "42")[:3] == (False, 0.0, False)  # no answer block
    assert MATH.verify(wrap("a") + wrap("42"), "42")[:3] == (False, 1.0, True)  # last block, bad format
    assert MATH.verify(wrap("no math here at all"), "42").answer_score == 0.0


def test_hostile_answers_are_bounded(monkeypatch):
    """Huge inputs are cut off before parsing; a slow comparison is killed after the deadline,
    and the verifier goes on working in a fresh worker."""
    assert MATH.verify(wrap("9" * 5000), "9").detail.startswith("answer longer than")
    assert MATH.verify(wrap("(" * 900 + "1" + ")" * 90), "1").answer_score == 0.0
    monkeypatch.setattr(math_answer, "CHECK_DEADLINE", 0.5)  # math-verify's own limit in the worker is 3 s
    verdict = MATH.verify(wrap("1"), "10^{10^{10}}")
    assert verdict.answer_score == 0.0 and verdict.detail.startswith("check took over")
    assert MATH.verify(wrap("7"), "7").answer_score == 1.0


def test_works_off_the_main_thread():
    """math-verify alone raises there (signal.alarm); the worker process makes it work."""
    results = []
    thread = threading.Thread(target=lambda: results.append(MATH.verify(wrap("\\frac{6}{8}"), "0.75")))
    thread.start()
    thread.join()
    assert results == [(True, 1.0, True, "correct")]
