"""What a verifier credits (issue 21, items 9-11): what a person reading the answer would accept
as the committed, correct answer, and nothing else. Each case is one answer block scored against
one reference; the README's "What a verifier credits" states the rule with these examples."""

from __future__ import annotations

import pytest

from dumpcli.puzzles.registry import get_verifier

KK = {"names": ["Zoey", "Liam"], "solution": [True, False]}  # Zoey is a knight, Liam is a knave


def score(verifier: str, block: str, answer) -> float:
    return get_verifier(verifier).verify(f"<think>x</think><answer>{block}</answer>", answer).answer_score


# ---------------------------------------------------------------- no credit (items 9 and 10)

KK_NO_CREDIT = [
    ("negation: not the case", "It is not the case that Liam is a knight. Zoey is a knight."),
    ("negation: not the case, right role", "It is not the case that Zoey is a knight. Liam is a knave."),
    ("negation: it is false that", "Zoey is a knight. It is false that Liam is a knave."),
    ("negation: not true that", "It is not true that Zoey is a knight, Liam is a knave."),
    ("cannot determine", "I cannot determine whether Zoey is a knight. Liam is a knave."),
    ("can't be determined", "Zoey is a knight; whether Liam is a knave can't be determined."),
    ("maybe", "Maybe Zoey is a knight and Liam is a knave."),
    ("perhaps", "Perhaps: Zoey is a knight, Liam is a knave."),
    ("if ... then", "If Zoey is a knight then Liam is a knave."),
    ("a question", "Zoey is a knight? Liam is a knave?"),
    ("second claim in Cyrillic letters", "Zoey is a knight. Liam is a knave. Zoey is a kn\u0430ve."),
    ("second claim in Greek letters", "Zoey is a knight. Liam is a knave. Zoey is a \u03ban\u03b1v\u03b5."),
    ("second claim with hyphens", "Zoey is a knight. Liam is a knave. Zoey is a k-n-a-v-e."),
    ("second claim with spaces", "Zoey is a knight. Liam is a knave. Zoey is a k n a v e."),
    ("second claim with dots", "Zoey is a knight. Liam is a knave. Zoey is a kn.ave."),
    ("second claim as HTML entities", "Zoey is a knight. Liam is a knave. Zoey is a &#107;nave."),
    ("second claim as a named entity", "Zoey is a knight. Liam is a knave. Zoey is a kn&aacute;ve."),
]


@pytest.mark.parametrize("block", [c[1] for c in KK_NO_CREDIT], ids=[c[0] for c in KK_NO_CREDIT])
def test_knights_knaves_gives_no_credit_to_an_uncommitted_answer(block):
    assert score("knights_knaves", block, KK) == 0.0


MATH_NO_CREDIT = [
    ("unless", r"\boxed{2} \text{ unless it is } 3"),
    ("a false equation", "3 = 2"),
    ("a false equation in a box", r"\boxed{3 = 2}"),
    ("a question mark", "2?"),
    ("approximately, LaTeX", r"x \approx 2"),
    ("approximately, Unicode", "x ≈ 2"),
    ("approximately, words", "approximately 2"),
    ("about", "about 2"),
    ("probably", "probably 2"),
    ("perhaps", r"perhaps \boxed{2}"),
    ("a second number after the box", r"\boxed{2}, but 3 also works"),
    ("two boxes", r"\boxed{2} \boxed{3}"),
    ("not sure", r"\boxed{2} (not sure)"),
    ("a chain of equations", "x = 1 + 1 = 0 + 2 = 2 - 0 = 2"),  # each side is a check: at most 4
]


@pytest.mark.parametrize("block", [c[1] for c in MATH_NO_CREDIT], ids=[c[0] for c in MATH_NO_CREDIT])
def test_math_gives_no_credit_to_a_hedge_or_a_false_equation(block):
    assert score("math", block, "2") == 0.0


# ---------------------------------------------------------------- credit (item 11, and what stays)

CREDIT = [
    ("knights_knaves", "Zoey: knight\nLiam: knave", KK, 1.0),
    ("knights_knaves", "Zoey: Knight, Liam: Knave", KK, 1.0),
    ("knights_knaves", "Zoey's role: knight. Liam's role: knave.", KK, 1.0),
    ("knights_knaves", '{"Zoey": "knight", "Liam": "knave"}', KK, 1.0),
    ("knights_knaves", "(1) Zoey is a knight\n(2) Liam is a knave", KK, 1.0),
    ("knights_knaves", "Zoey is a knight and Liam is a knave. So Zoey is a knight.", KK, 1.0),
    ("knights_knaves", "Zoey is a kn\u0456ght, Liam is a kn\u0430ve.", KK, 1.0),  # Cyrillic a
    ("knights_knaves", "Zoey is a knight &amp; Liam is a knave.", KK, 1.0),
    ("knights_knaves", "It is the case that Zoey is a knight and Liam is a knave.", KK, 1.0),
    ("sorting", "1; 2; 3", {"items": [3, 1, 2]}, 1.0),
    ("sorting", "The answer is 1, 2, 3", {"items": [3, 1, 2]}, 1.0),
    ("sorting", "The answer is: [1, 2, 3].", {"items": [3, 1, 2]}, 1.0),
    ("reversal", "c; b; a", {"letters": "abc"}, 1.0),
    ("addition", "1,049", {"a": 343, "b": 706}, 1.0),
    ("addition", "343 + 706 = 1049", {"a": 343, "b": 706}, 1.0),
    ("addition", "1049", {"a": 343, "b": 706}, 1.0),
    ("addition", "1 0 4 9", {"a": 343, "b": 706}, 1.0),
    ("parity", "even.", {"bits": "11"}, 1.0),
    ("parity", "The parity is even.", {"bits": "11"}, 1.0),
    ("parity", "The answer is odd", {"bits": "10"}, 1.0),
    ("countdown", "(1 + 2) x 3", {"numbers": [1, 2, 3], "target": 9}, 1.0),
    ("countdown", "(1 + 2) X 3 = 9", {"numbers": [1, 2, 3], "target": 9}, 1.0),
    ("exact", "4.2e1", "42", 1.0),
    ("exact", "4.2E+1", "42", 1.0),
    ("exact", "42", "4.2e1", 1.0),
    ("math", "2", "2", 1.0),
    ("math", "x = 2", "2", 1.0),
    ("math", r"\boxed{2}", "2", 1.0),
    ("math", "1 + 1 = 2", "2", 1.0),
    ("math", "x = 1 + 1 = 2", "2", 1.0),
    ("math", r"The answer is \boxed{2}.", "2", 1.0),
    ("math", r"x \leq 2", r"x \leq 2", 1.0),
    ("math", "y = 2x + 1", "y = 2x + 1", 1.0),
]


@pytest.mark.parametrize(
    ("verifier", "block", "answer", "expected"), CREDIT, ids=[f"{c[0]}: {c[1]}" for c in CREDIT]
)
def test_a_committed_correct_answer_gets_credit(verifier, block, answer, expected):
    assert score(verifier, block, answer) == expected


# ---------------------------------------------------------------- and still no credit

STILL_WRONG = [
    ("addition", "343 + 705 = 1049", {"a": 343, "b": 706}),  # a false equation
    ("addition", "1049 or 1050", {"a": 343, "b": 706}),
    ("addition", "1,0,4,9?", {"a": 343, "b": 706}),
    ("parity", "The parity is even or odd.", {"bits": "11"}),
    ("parity", "not even", {"bits": "10"}),
    ("parity", "maybe even", {"bits": "11"}),
    ("sorting", "The answer is 1, 2, 3 or 1, 3, 2", {"items": [3, 1, 2]}),
    ("sorting", "The answer is maybe 1, 2, 3", {"items": [3, 1, 2]}),
    ("countdown", "(1 + 2) x 3 = 10", {"numbers": [1, 2, 3], "target": 9}),
    ("countdown", "x", {"numbers": [1, 2, 3], "target": 9}),
    ("exact", "4.2e1?", "42"),
    ("exact", "4.2e1", "41"),
    ("exact", "1e999999", "42"),
]


@pytest.mark.parametrize(
    ("verifier", "block", "answer"), STILL_WRONG, ids=[f"{c[0]}: {c[1]}" for c in STILL_WRONG]
)
def test_a_hedge_or_a_wrong_answer_still_gets_nothing(verifier, block, answer):
    assert score(verifier, block, answer) < 1.0
