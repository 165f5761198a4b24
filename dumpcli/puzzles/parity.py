"""Parity: is the count of 1s in a string of bits even or odd?

Difficulty = how many bits (1..64). The answer is one word, `even` or `odd` (anything else, "odd or even" included, is unreadable and
gets no credit), so a guess is right half the time:
on long strings, which a small model cannot learn to count, the reward is a coin flip. Such a
distribution has the largest reward variance (and mean |advantage|) a binary reward can have
while teaching nothing: the known trap for schedulers driven by |advantage| or learnability,
which is why the CPU curriculum benchmark includes it. Short strings (1-2 bits) are learnable.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from dumpcli.puzzles.answer import answer_block, from_json_text
from dumpcli.puzzles.base import Knobs, PuzzleFamily, Verdict, int_knob
from dumpcli.puzzles.sequence_answer import split_items

_PARITY = re.compile(r"(?i:even|odd)")


class Parity(PuzzleFamily):
    name = "parity"
    description = "Say whether a string of bits has an even or odd number of 1s"
    difficulty_knobs = "difficulty = how many bits (1..64)"
    min_difficulty = 1
    max_difficulty = 64
    Knobs = Knobs

    def generate(self, difficulty: int, rng: random.Random, **params: Any) -> dict[str, Any]:
        self.knobs(params)  # none
        n = int_knob("parity", "difficulty (count of bits)", difficulty, 1, 64)
        bits = "".join(rng.choice("01") for _ in range(n))
        question = "Even or odd number of 1s: " + " ".join(bits)
        return {"question": question, "answer": {"bits": bits}, "bits": bits}

    def parse_answer(self, raw: Any) -> dict[str, str]:
        """Canonical `{"bits": "0110..."}`."""
        raw = from_json_text(raw)
        bits = raw.get("bits") if isinstance(raw, Mapping) else raw
        if not isinstance(bits, str) or not bits or len(bits) > 256 or set(bits) - {"0", "1"}:
            raise ValueError("answer: expected {bits: a string of 0s and 1s}")
        return {"bits": bits}

    def reference_text(self, answer: Any) -> str:
        return "odd" if self.parse_answer(answer)["bits"].count("1") % 2 else "even"

    def verify(self, completion: str, answer: Any) -> Verdict:
        if not (isinstance(answer, dict) and "bits" in answer):
            answer = self.parse_answer(answer)
        block = answer_block(completion)
        if block.answer is None:
            return Verdict(block.format_ok, 0.0, False, block.problem)
        given = split_items(block.answer, _PARITY)
        if given is None or len(given) != 1:  # "odd or even", "even odd": hedges, no credit
            return Verdict(block.format_ok, 0.0, False, f"not one of even/odd: {block.answer[:40]!r}")
        if given[0].lower() == self.reference_text(answer):
            return Verdict(block.format_ok, 1.0, True, "correct")
        return Verdict(block.format_ok, 0.0, True, f"expected {self.reference_text(answer)}")
