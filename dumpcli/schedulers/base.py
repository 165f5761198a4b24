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


# a per-distribution window is a row of this many floats, allocated when first fed (800 KB at most)
MAX_WINDOW = 100_000


class Options(BaseModel):
    """A scheduler's recipe options (`train.scheduler.*`); subclasses add fields. Strict, so
    `window: true` or `window: 1e12` is refused at recipe load instead of training with 1 or
    failing to allocate; NaN and infinities are refused too."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Method:
    """What every curriculum method (scheduler or problem selector) has: its distributions, their
    index, its seed, its sizes (train problems per distribution) and its checked options."""

    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = Options

    def __init__(
        self,
        distributions: Sequence[str],
        *,
        seed: int = 0,
        sizes: Sequence[int] | None = None,
        **options: Any,
    ) -> None:
        if not distributions:
            raise ValueError(f"{type(self).__name__} needs at least one distribution")
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


class Scheduler(Method):
    # True when the probabilities follow the training clock (the `schedule` scheduler): such a
    # scheduler takes the run's length in generation steps as its `total_steps` option
    needs_total_steps: ClassVar[bool] = False

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
