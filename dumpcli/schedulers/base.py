"""The scheduler interface (see DESIGN.md, "Scheduler interface").

A scheduler sees the list of distributions (ordered easy to hard), returns sampling
probabilities over them, and learns from per-completion feedback after each generation
step. It must be deterministic given its seed and the feedback, so every rank of a
distributed run computes the same probabilities from the same gathered feedback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class Feedback:
    """One scored completion: its distribution, problem, reward, GRPO advantage, success (0/1)."""

    distribution: str
    problem_id: str
    reward: float
    advantage: float
    success: float


class Options(BaseModel):
    """A scheduler's recipe options (`train.scheduler.*`); subclasses add fields."""

    model_config = ConfigDict(extra="forbid")


class Scheduler:
    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = Options
    # True when the probabilities follow the training clock (the `schedule` scheduler): such a
    # scheduler takes the run's length in generation steps as its `total_steps` option
    needs_total_steps: ClassVar[bool] = False

    def __init__(
        self,
        distributions: Sequence[str],
        *,
        seed: int = 0,
        sizes: Sequence[int] | None = None,
        **options: Any,
    ) -> None:
        if not distributions:
            raise ValueError("a scheduler needs at least one distribution")
        self.distributions = list(distributions)
        self.index = {d: i for i, d in enumerate(self.distributions)}
        self.seed = seed
        self.sizes = np.asarray(
            sizes if sizes is not None else [1] * len(self.distributions), dtype=np.float64
        )
        self.options = self.Options(**options)

    @property
    def k(self) -> int:
        return len(self.distributions)

    def probabilities(self) -> np.ndarray:
        raise NotImplementedError

    def update(self, feedback: Sequence[Feedback]) -> None:
        raise NotImplementedError

    def stats(self) -> dict[str, dict[str, float]]:
        """Per-distribution statistics logged next to the probabilities (enough to recompute them)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError


def softmax(x: np.ndarray, temperature: float) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.float64) / temperature
    if not np.isfinite(z).all():  # extreme scores (inf after dividing by a small temperature): no NaN
        z = np.clip(np.nan_to_num(z, nan=-1e300, posinf=1e300, neginf=-1e300), -1e300, 1e300)
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()
