"""Learnability sampling: prefer distributions the model solves about half of the time.

    s_d = success rate over d's last `window` responses   (0.5 if d was never sampled)
    L_d = s_d * (1 - s_d)
    p   = (1 - epsilon) * L / sum(L) + epsilon / k          (uniform if every L_d is 0)

Why: with binary rewards a GRPO group only carries gradient when it mixes successes and failures,
and its expected |advantage| grows with s(1 - s). An unseen distribution gets the prior s = 0.5,
i.e. the maximal learnability 0.25, so it is tried early (and the start is uniform). The epsilon
floor keeps solved (s = 1) and hopeless (s = 0) distributions sampled now and then, otherwise their
estimates could never change again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from dumpcli.schedulers._common import (
    SlidingWindows,
    base_state,
    check_state,
    feedback_arrays,
    proportional_with_floor,
)
from dumpcli.schedulers.base import MAX_WINDOW, Feedback, Options, Scheduler


class LearnabilityOptions(Options):
    window: int = Field(
        128, gt=0, le=MAX_WINDOW, description="recent responses per distribution in the success rate"
    )
    epsilon: float = Field(0.05, ge=0, le=1, description="probability mass spread uniformly")


class Learnability(Scheduler):
    name: ClassVar[str] = "learnability"
    Options: ClassVar[type[LearnabilityOptions]] = LearnabilityOptions
    options: LearnabilityOptions

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        self.windows = SlidingWindows(self.k, self.options.window)

    def _parts(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.windows.mean(empty=0.5)
        return s, s * (1.0 - s)

    def probabilities(self) -> np.ndarray:
        return proportional_with_floor(self._parts()[1], self.options.epsilon)

    def update(self, feedback: Sequence[Feedback]) -> None:
        idx, success = feedback_arrays(self, feedback, "success", unit=("success",))
        self.windows.push(idx, success)

    def stats(self) -> dict[str, dict[str, float]]:
        s, learn = self._parts()
        count = self.windows.count()
        return {
            d: {
                "n": float(self.windows.total[i]),
                "success": float(s[i]),
                "window": float(count[i]),
                "learnability": float(learn[i]),
            }
            for i, d in enumerate(self.distributions)
        }

    def state_dict(self) -> dict[str, Any]:
        return {**base_state(self), "windows": self.windows.state_dict(self.distributions)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state, structural=("window",))
        self.windows.load_state_dict(state["windows"], self.index)
