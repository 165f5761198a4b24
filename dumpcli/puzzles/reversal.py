"""Reversal: write a sequence of letters backwards.

Difficulty = how many letters (2..32), drawn uniformly from the first `alphabet` letters of a..z
(default 10), repeats allowed. Every letter is its own token for a word-level tokenizer, so the
skill is the same at every length, one more position to copy each rung: a tiny CPU model copies
short sequences after a short SFT warm start, and long ones are out of its reach.

Partial credit is positional (see `sequence_answer`).
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from dumpcli.puzzles.answer import from_json_text
from dumpcli.puzzles.base import Knobs, PuzzleFamily, Verdict, int_knob
from dumpcli.puzzles.sequence_answer import judge_sequence

_LETTER = re.compile(r"[A-Za-z]")


class ReversalKnobs(Knobs):
    alphabet: int = Field(10, ge=2, le=26, description="letters used")


class Reversal(PuzzleFamily):
    name = "reversal"
    description = "Write a sequence of letters in reverse order"
    difficulty_knobs = (
        "difficulty = how many letters (2..32); params: alphabet (letters used, 2..26, default 10)"
    )
    min_difficulty = 2
    max_difficulty = 32
    Knobs = ReversalKnobs

    def generate(self, difficulty: int, rng: random.Random, **params: Any) -> dict[str, Any]:
        alphabet = string.ascii_lowercase[: self.knobs(params).alphabet]
        n = int_knob("reversal", "difficulty (count of letters)", difficulty, 2, 32)
        letters = "".join(rng.choice(alphabet) for _ in range(n))
        question = "Reverse: " + " ".join(letters)
        return {"question": question, "answer": {"letters": letters}, "letters": letters}

    def parse_answer(self, raw: Any) -> dict[str, str]:
        """Canonical `{"letters": "abc..."}` (the sequence as given, not reversed)."""
        raw = from_json_text(raw)
        letters = raw.get("letters") if isinstance(raw, Mapping) else raw
        if not isinstance(letters, str) or not 1 <= len(letters) <= 256 or not letters.isascii():
            raise ValueError("answer: expected {letters: 1..256 ASCII letters}")
        if not letters.isalpha():
            raise ValueError("answer: letters must be a..z")
        return {"letters": letters}

    def reference_text(self, answer: Any) -> str:
        return " ".join(reversed(self.parse_answer(answer)["letters"]))

    def verify(self, completion: str, answer: Any) -> Verdict:
        if not (isinstance(answer, dict) and "letters" in answer):
            answer = self.parse_answer(answer)
        return judge_sequence(completion, list(reversed(answer["letters"])), _LETTER)
