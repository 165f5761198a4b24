"""Addition: the sum of two numbers, written digit by digit.

Difficulty = digits per operand (1..12). The numbers are written with a space between digits
("4 7 + 5 8"), and so is the answer ("1 0 5"): a word-level tokenizer then sees ten digit tokens
instead of one token per number, and the task is the same algorithm at every length. One-digit
sums are a lookup table a tiny model memorises; each extra digit adds a carry to propagate, so a
small model masters the short rungs and not the long ones.

The answer may also be the sum as one number ("1049", "1,049") or the puzzle's own sum stated as
an equation ("343 + 706 = 1049"; an equation whose left side is not the puzzle's sum gets no
credit). Partial credit is positional on the digits of the sum (see `sequence_answer`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from dumpcli.puzzles.answer import from_json_text
from dumpcli.puzzles.base import Knobs, PuzzleFamily, Verdict, int_knob
from dumpcli.puzzles.sequence_answer import answer_body, items_of, judge_sequence

_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+|\d+")  # "1049", "1,049"
_SUM = re.compile(r"(\d+)\+(\d+)")  # the left side of "343 + 706 = 1049", spaces removed


def digits(text: str, a: int, b: int) -> list[str] | None:
    """The digits of an answer to a + b: "1 0 4 9", "1049", "1,049", "343 + 706 = 1049"; None
    when unreadable or when an equation's left side is not a + b."""
    body = answer_body(text)
    if body is None:
        return None
    if "=" in body:
        left, right = body.split("=", 1)
        found = _SUM.fullmatch(left.replace(" ", ""))
        if found is None or sorted(map(int, found.groups())) != sorted((a, b)) or "=" in right:
            return None
        body = right.strip()
    if _NUMBER.fullmatch(body):
        return list(body.replace(",", ""))
    return items_of(body, _DIGIT)


def spaced(number: int) -> str:
    return " ".join(str(number))


class Addition(PuzzleFamily):
    name = "addition"
    description = "Add two numbers, written digit by digit"
    difficulty_knobs = "difficulty = digits per number (1..12)"
    min_difficulty = 1
    max_difficulty = 12
    Knobs = Knobs

    def generate(self, difficulty: int, rng: random.Random, **params: Any) -> dict[str, Any]:
        self.knobs(params)  # none
        digits = int_knob("addition", "difficulty (digits per number)", difficulty, 1, 12)
        low = 0 if digits == 1 else 10 ** (digits - 1)
        a, b = rng.randint(low, 10**digits - 1), rng.randint(low, 10**digits - 1)
        question = f"Add: {spaced(a)} + {spaced(b)}"
        return {"question": question, "answer": {"a": a, "b": b}, "a": a, "b": b}

    def parse_answer(self, raw: Any) -> dict[str, int]:
        """Canonical `{"a": int, "b": int}` (non-negative)."""
        raw = from_json_text(raw)
        if not isinstance(raw, Mapping):
            raise ValueError(f"answer: expected {{a, b}}, got {type(raw).__name__}")
        a, b = raw.get("a"), raw.get("b")
        for name, v in (("a", a), ("b", b)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 10**40:
                raise ValueError(f"answer: {name} must be a non-negative integer below 10^40")
        return {"a": int(a), "b": int(b)}  # type: ignore[arg-type]

    def reference_text(self, answer: Any) -> str:
        answer = self.parse_answer(answer)
        return spaced(answer["a"] + answer["b"])

    def verify(self, completion: str, answer: Any) -> Verdict:
        if not (isinstance(answer, dict) and "a" in answer and "b" in answer):
            answer = self.parse_answer(answer)
        a, b = answer["a"], answer["b"]
        return judge_sequence(completion, list(str(a + b)), _DIGIT, lambda text: digits(text, a, b))
