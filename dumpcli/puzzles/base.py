"""What a puzzle family and a verifier are. A family is also the verifier of its own puzzles.

A generated puzzle is a dict with at least:
  question  the problem text shown to the model (rendered into a prompt by a template)
  answer    what the verifier needs, JSON-serialisable (for knights and knaves: names + roles)
plus the family's own fields (for knights and knaves the DUMP/Logic-RL columns), kept in `meta`.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError


class Knobs(BaseModel):
    """A family's generator knobs, as a recipe's `params:` sets them; a family adds fields with
    their ranges. Strict: a typo is an error, not a default, and `depth: 2.5` or `depth: true`
    is not an integer."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


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
    # the knobs `params:` may set; None: generate()'s own keyword arguments are the knobs
    Knobs: ClassVar[type[Knobs] | None] = None

    def generate(self, difficulty: int, rng: random.Random, **params: Any) -> dict[str, Any]:
        raise NotImplementedError

    def check_params(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """What is wrong with a source's `params:`, as (knob, problem) pairs; the recipe checks
        this when it is loaded, so a typo fails `--dry-run`, not generation."""
        if self.Knobs is None:
            try:
                inspect.signature(self.generate).bind(self.min_difficulty, random.Random(0), **params)
            except TypeError as e:
                return [("", str(e))]
            return []
        try:
            self.Knobs.model_validate(dict(params))
        except ValidationError as e:
            return [_knob_problem(self.Knobs, err) for err in e.errors()]
        return []

    def knobs(self, params: Mapping[str, Any]) -> Any:
        """`params` as this family's Knobs; ValueError naming the knob (for generate())."""
        assert self.Knobs is not None
        try:
            return self.Knobs.model_validate(dict(params))
        except ValidationError as e:
            knob, problem = _knob_problem(self.Knobs, e.errors()[0])
            if problem.startswith("unknown knob"):
                problem = f"unknown knob {knob!r}" + problem[len("unknown knob") :]
                raise ValueError(f"{self.name}: {problem}") from None
            raise ValueError(f"{self.name}: {knob}: {problem}") from None


def _knob_problem(model: type[Knobs], err: Any) -> tuple[str, str]:
    """(knob, problem) of one pydantic error: 'unknown knob (known: depth, width)', or
    'Input should be less than or equal to 4 (got 9)'."""
    knob = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        known = ", ".join(model.model_fields)
        return knob, f"unknown knob (known: {known})" if known else "unknown knob (this family has none)"
    return knob, f"{err['msg']} (got {err['input']!r})"
