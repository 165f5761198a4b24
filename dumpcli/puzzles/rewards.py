"""Reward schemes over verifier verdicts, and the TRL reward function that applies them.

- `dump`: exactly DUMP / Logic-RL. Format +1 if the tags are right, else -1; answer +2 if fully
  right, -1.5 if an answer was read but is wrong, -2 if none could be read or the format failed.
  Range -3..+3 (a correct, well-formed completion gets 3.0).
- `binary`: 1.0 if the format is right and the answer fully right, else 0.0.
- `partial`: the verifier's answer score (for knights and knaves the fraction of people right; 0
  for a hedged answer) when the format is right, else 0.0.

Reward functions of the user's code (`train.reward.functions`, by import path) are TRL reward
callables next to the scheme's; TRL sums them with `train.reward`'s weights (`user_functions`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import orjson

from dumpcli.puzzles.answer import completion_text
from dumpcli.puzzles.base import Verdict
from dumpcli.puzzles.registry import get_verifier

SCHEMES = ("dump", "binary", "partial")
RANGES = {"dump": (-3.0, 3.0), "binary": (0.0, 1.0), "partial": (0.0, 1.0)}


def score(verdict: Verdict, scheme: str) -> float:
    """The reward of one verdict under a scheme."""
    if scheme == "dump":
        if not verdict.format_ok:
            return -1.0 - 2.0
        if not verdict.parsed:
            return 1.0 - 2.0
        return 1.0 + (2.0 if verdict.answer_score >= 1.0 else -1.5)
    if scheme == "binary":
        return 1.0 if verdict.format_ok and verdict.parsed and verdict.answer_score >= 1.0 else 0.0
    if scheme == "partial":
        return float(verdict.answer_score) if verdict.format_ok else 0.0
    raise ValueError(f"unknown reward scheme {scheme!r} (available: {', '.join(SCHEMES)})")


@functools.lru_cache(maxsize=8192)
def decode_answer(verifier: str, answer: str) -> Any:
    """A dataset's `answer` column (JSON text of the canonical answer) -> the canonical answer.
    Cached: the same answer arrives `num_generations` times per step."""
    try:
        value = orjson.loads(answer)
    except orjson.JSONDecodeError:
        value = answer  # a plain-text answer from a file source
    return get_verifier(verifier).parse_answer(value)


class RewardFunction:
    """A TRL reward function: `reward_funcs=[RewardFunction("dump")]`.

    TRL calls it with the batch's prompts and completions and every other dataset column as a
    keyword list; this one reads `answer` (JSON text) and `verifier` (registry name). The verdicts
    of the last call stay in `last_verdicts` for per-distribution accuracy.
    """

    def __init__(self, scheme: str = "dump", prefix: str = "") -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"unknown reward scheme {scheme!r} (available: {', '.join(SCHEMES)})")
        self.scheme = scheme
        self.prefix = prefix  # e.g. "<think>" when the chat template already opens the thinking
        self.__name__ = f"{scheme}_reward"
        self.last_verdicts: list[Verdict] = []

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        answer: Sequence[Any],
        verifier: Sequence[str],
        **kwargs: Any,
    ) -> list[float]:
        verdicts = []
        for completion, raw, name in zip(completions, answer, verifier, strict=True):
            canonical = (
                decode_answer(name, raw) if isinstance(raw, str) else get_verifier(name).parse_answer(raw)
            )
            verdicts.append(get_verifier(name).verify(self.prefix + completion_text(completion), canonical))
        self.last_verdicts = verdicts
        return [score(v, self.scheme) for v in verdicts]


def user_functions(specs: Sequence[Any]) -> list[Any]:
    """The callables of `train.reward.functions`, imported and checked (dumpcli/plugins.py)."""
    from dumpcli.plugins import check_reward_function

    return [check_reward_function(spec.function) for spec in specs]
