"""DUMP's scheduler (arXiv 2504.09710): UCB over the mean |advantage| of each distribution.

    score_d = mean(|A| over the last `window` responses of d)
              + exploration * sqrt(2 ln(N + 1) / (n_d + 1))
    p       = softmax(score / temperature)

n_d counts every response of d ever seen (not only the window); N = sum_d n_d.

Never-sampled distribution: its window is empty and we take its mean |A| as 0, so its score is the
bare bonus exploration * sqrt(2 ln(N + 1) / 1), the largest bonus any distribution can get. The
paper's text (as summarised in our reference notes) only fixes "uniform at the start"; mean-of-empty
= 0 gives exactly that (N = 0 -> every score is 0) and lets the bonus alone pull unseen distributions
in, without inventing an optimistic prior |A| that has no natural scale. Why |advantage|: for GRPO
the expected |A| of a distribution measures the gradient signal it still gives (0 once every group
is all-correct or all-wrong). |A| above 1e100 is capped so that sums stay finite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from dumpcli.schedulers._common import MAGNITUDE_CAP, SlidingWindows, base_state, check_state, feedback_arrays
from dumpcli.schedulers.base import MAX_WINDOW, Feedback, Options, Scheduler, softmax


class UCBOptions(Options):
    window: int = Field(
        300, gt=0, le=MAX_WINDOW, description="responses per distribution in the |advantage| window"
    )
    exploration: float = Field(1.0, ge=0, description="weight of the UCB exploration bonus")
    temperature: float = Field(0.1, gt=0, description="softmax temperature over the scores")


class UCB(Scheduler):
    name: ClassVar[str] = "ucb"
    Options: ClassVar[type[UCBOptions]] = UCBOptions
    options: UCBOptions

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        self.windows = SlidingWindows(self.k, self.options.window)

    # The window's all-time count is n_d: every response goes through the window.
    @property
    def n(self) -> np.ndarray:
        return self.windows.total

    def _parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean |A| in window, exploration bonus, score) per distribution."""
        mean = self.windows.mean(empty=0.0)
        total = float(self.n.sum())
        bonus = self.options.exploration * np.sqrt(2.0 * np.log(total + 1.0) / (self.n + 1.0))
        return mean, bonus, mean + bonus

    def probabilities(self) -> np.ndarray:
        return softmax(self._parts()[2], self.options.temperature)

    def update(self, feedback: Sequence[Feedback]) -> None:
        idx, adv = feedback_arrays(self, feedback, "advantage")
        self.windows.push(idx, np.minimum(np.abs(adv), MAGNITUDE_CAP))

    def stats(self) -> dict[str, dict[str, float]]:
        mean, bonus, score = self._parts()
        count = self.windows.count()
        return {
            d: {
                "n": float(self.n[i]),
                "mean_abs_adv": float(mean[i]),
                "window": float(count[i]),
                "bonus": float(bonus[i]),
                "score": float(score[i]),
            }
            for i, d in enumerate(self.distributions)
        }

    def state_dict(self) -> dict[str, Any]:
        return {**base_state(self), "windows": self.windows.state_dict(self.distributions)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state, structural=("window",))
        self.windows.load_state_dict(state["windows"], self.index)
