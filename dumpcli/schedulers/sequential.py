"""Hand-made easy-to-hard curriculum: train on one distribution (stage) at a time, in the given order.

All mass goes to the current stage, except `mix`, spread uniformly over the stages already
mastered (replay against forgetting; nothing is mixed in at stage 0). After each update the
scheduler advances while the current stage's success rate over its last `window` responses is
>= `threshold` with at least `min_samples` responses in the window. It may advance several stages
in one update if later stages already qualify. The last stage is never left.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from dumpcli.schedulers._common import SlidingWindows, base_state, check_state, feedback_arrays
from dumpcli.schedulers.base import MAX_WINDOW, Feedback, Options, Scheduler


class SequentialOptions(Options):
    window: int = Field(
        64, gt=0, le=MAX_WINDOW, description="recent responses of the current stage that decide advancing"
    )
    threshold: float = Field(0.8, gt=0, le=1, description="success rate needed to advance")
    min_samples: int = Field(64, gt=0, description="responses needed in the window before advancing")
    mix: float = Field(0.0, ge=0, lt=1, description="probability spread over the mastered stages")

    @field_validator("min_samples")
    @classmethod
    def _min_samples_fit(cls, v: int, info: ValidationInfo) -> int:
        window = info.data.get("window")  # absent if window itself failed validation
        if window is not None and v > window:
            raise PydanticCustomError(
                "too_large", "must be <= window ({window}), got {v}", {"window": window, "v": v}
            )
        return v


class Sequential(Scheduler):
    name: ClassVar[str] = "sequential"
    Options: ClassVar[type[SequentialOptions]] = SequentialOptions
    options: SequentialOptions

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        self.windows = SlidingWindows(self.k, self.options.window)
        self.stage = 0

    def probabilities(self) -> np.ndarray:
        p = np.zeros(self.k)
        if self.stage == 0 or self.options.mix == 0.0:
            p[self.stage] = 1.0
        else:
            p[: self.stage] = self.options.mix / self.stage
            p[self.stage] = 1.0 - self.options.mix
        return p

    def _advance(self) -> None:
        count = self.windows.count()
        success = self.windows.mean(empty=0.0)
        while (
            self.stage < self.k - 1
            and count[self.stage] >= self.options.min_samples
            and success[self.stage] >= self.options.threshold
        ):
            self.stage += 1

    def update(self, feedback: Sequence[Feedback]) -> None:
        idx, success = feedback_arrays(self, feedback, "success", unit=("success",))
        self.windows.push(idx, success)
        self._advance()

    def stats(self) -> dict[str, dict[str, float]]:
        success = self.windows.mean(empty=0.0)
        count = self.windows.count()
        return {
            d: {
                "n": float(self.windows.total[i]),
                "success": float(success[i]),
                "window": float(count[i]),
                "stage": float(self.stage),
                "current": float(i == self.stage),
                "mastered": float(i < self.stage),
            }
            for i, d in enumerate(self.distributions)
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            **base_state(self),
            "stage": self.stage,
            "windows": self.windows.state_dict(self.distributions),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state, structural=("window",))
        stage = int(state["stage"])
        if not 0 <= stage < self.k:
            raise ValueError(f"state stage {stage} is outside 0..{self.k - 1}")
        self.windows.load_state_dict(state["windows"], self.index)
        self.stage = stage
