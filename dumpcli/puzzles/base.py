"""What a puzzle family and a verifier are. A family is also the verifier of its own puzzles.

A generated puzzle is a dict with at least:
  question  the problem text shown to the model (rendered into a prompt by a template)
  answer    what the verifier needs, JSON-serialisable (for knights and knaves: names + roles)
plus the family's own fields (for knights and knaves the DUMP/Logic-RL columns), kept in `meta`.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, NamedTuple

import numpy as np


def check_knobs(family: str, params: dict[str, Any], known: tuple[str, ...]) -> None:
    """A generator's `params` must all be knobs it knows (a typo is an error, not a default)."""
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{family}: unknown knob {unknown[0]!r} (known: {', '.join(known)})")


def int_knob(family: str, what: str, value: Any, low: int, high: int) -> int:
    """An integer knob (or difficulty) checked against its range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{family}: {what} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{family}: {what} must be in {low}..{high}, got {value}")
    return int(value)


class Verdict(NamedTuple):
    """A verifier's judgement of one completion.

    format_ok     the completion follows <think>..</think><answer>..</answer> (Logic-RL's rule)
    answer_score  in [0, 1]; 1.0 = fully right; partial credit where the family defines it
    parsed        an answer could be read (DUMP gives -1.5 to a parsed wrong answer, -2 otherwise)
    detail        short human-readable reason ("correct", "hedged: Zoey", "no <answer> block", ...)
    """

    format_ok: bool
    answer_score: float
    parsed: bool
    detail: str


class Verifier:
    """Scores completions against reference answers. Must never execute model output and must
    run in bounded time on any input (cap lengths; no backtracking-prone regexes)."""

    name: ClassVar[str]

    def parse_answer(self, raw: Any) -> Any:
        """Canonicalise a reference answer from an input record; raise ValueError if unusable."""
        return raw

    def verify(self, completion: str, answer: Any) -> Verdict:
        raise NotImplementedError

    def reference_text(self, answer: Any) -> str:
        """The canonical answer written as a model should write it inside <answer>...</answer>
        (the SFT warm-start target; verify() must give it full credit)."""
        return answer if isinstance(answer, str) else str(answer)


class PuzzleFamily(Verifier):
    """A generator of puzzles with unique, known answers, graded by an integer difficulty."""

    description: ClassVar[str]
    difficulty_knobs: ClassVar[str]  # e.g. "difficulty = number of people (2..16)"
    min_difficulty: ClassVar[int] = 1
    max_difficulty: ClassVar[int] = 100

    def generate(self, difficulty: int, rng: random.Random, **params: Any) -> dict[str, Any]:
        raise NotImplementedError
