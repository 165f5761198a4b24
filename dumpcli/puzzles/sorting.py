"""Sorting: put a list of numbers in ascending order.

Difficulty = how many numbers (2..32). A tiny CPU model learns to sort two or three numbers from a
short SFT warm start and fails on long lists, and each rung is the same skill as the one below
with one more item, so what RL teaches on short lists can carry over to longer ones.

Numbers are drawn uniformly from 0..`max_value` (default 9), repeats allowed; a `max_value` of 9
keeps every number one token for word-level tokenizers. Partial credit is positional (see
`sequence_answer`): the fraction of positions holding the right number.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from dumpcli.puzzles.answer import from_json_text
from dumpcli.puzzles.base import Knobs, PuzzleFamily, Verdict, int_knob
from dumpcli.puzzles.sequence_answer import judge_sequence

_INTEGER = re.compile(r"[+-]?\d{1,12}")


class SortingKnobs(Knobs):
    max_value: int = Field(9, ge=1, le=10**9, description="largest number")


class Sorting(PuzzleFamily):
    name = "sorting"
    description = "Sort a list of numbers in ascending order"
    difficulty_knobs = "difficulty = how many numbers (2..32); params: max_value (largest number, default 9)"
    min_difficulty = 2
    max_difficulty = 32
    Knobs = SortingKnobs

    def generate(self, difficulty: int, rng: random.Random, **params: Any) -> dict[str, Any]:
        max_value = self.knobs(params).max_value
        n = int_knob("sorting", "difficulty (count of numbers)", difficulty, 2, 32)
        items = [rng.randint(0, max_value) for _ in range(n)]
        question = "Sort in ascending order: " + " ".join(map(str, items))
        return {"question": question, "answer": {"items": items}, "items": items}

    def parse_answer(self, raw: Any) -> dict[str, Any]:
        """Canonical `{"items": [int, ...]}` (the unsorted input list)."""
        raw = from_json_text(raw)
        items = raw.get("items") if isinstance(raw, Mapping) else raw
        if hasattr(items, "tolist"):
            items = items.tolist()
        if not isinstance(items, (list, tuple)) or not 1 <= len(items) <= 256:
            raise ValueError("answer: expected {items: [1..256 integers]}")
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in items):
            raise ValueError("answer: items must be integers")
        return {"items": [int(x) for x in items]}

    def reference_text(self, answer: Any) -> str:
        return " ".join(str(x) for x in sorted(self.parse_answer(answer)["items"]))

    def verify(self, completion: str, answer: Any) -> Verdict:
        if not (isinstance(answer, dict) and "items" in answer):
            answer = self.parse_answer(answer)
        reference = [str(x) for x in sorted(answer["items"])]
        return judge_sequence(completion, reference, _INTEGER)
