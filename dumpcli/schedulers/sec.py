"""Self-Evolving Curriculum (Chen et al. 2025, arXiv 2505.14970): a non-stationary bandit over
distributions whose reward is the batch's mean |advantage|, learnt with TD(0).

For every distribution d that has responses in an update (and only those):

    r_d = mean |A| of d's responses in this update
    Q_d <- alpha * r_d + (1 - alpha) * Q_d

and p = softmax(Q / tau). Q starts at `initial_q` (0), so the start is uniform. Compared with
DUMP's UCB this keeps an exponential average of per-step rewards instead of a window of responses,
and explores only through the softmax temperature. Defaults alpha = 0.5 and tau = 1.0 are our
choices; we could not check the paper's own values from the sources available here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from dumpcli.schedulers._common import MAGNITUDE_CAP, base_state, check_state, feedback_arrays, group_sums
from dumpcli.schedulers.base import Feedback, Options, Scheduler, softmax


class SECOptions(Options):
    alpha: float = Field(0.5, gt=0, le=1, description="TD(0) learning rate of Q")
    tau: float = Field(1.0, gt=0, description="softmax temperature over Q")
    initial_q: float = Field(0.0, allow_inf_nan=False, description="Q of a distribution before any update")


class SEC(Scheduler):
    name: ClassVar[str] = "sec"
    Options: ClassVar[type[SECOptions]] = SECOptions
    options: SECOptions

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        self.q = np.full(self.k, self.options.initial_q, dtype=np.float64)
        self.n = np.zeros(self.k, dtype=np.int64)  # responses seen
        self.updates = np.zeros(self.k, dtype=np.int64)  # updates in which d was sampled
        self.last_reward = np.zeros(self.k, dtype=np.float64)  # r_d of the last update that sampled d

    def probabilities(self) -> np.ndarray:
        return softmax(self.q, self.options.tau)

    def update(self, feedback: Sequence[Feedback]) -> None:
        idx, adv = feedback_arrays(self, feedback, "advantage")
        counts, sums = group_sums(idx, np.minimum(np.abs(adv), MAGNITUDE_CAP), self.k)
        hit = counts > 0
        r = sums[hit] / counts[hit]
        a = self.options.alpha
        self.q[hit] = a * r + (1.0 - a) * self.q[hit]
        self.last_reward[hit] = r
        self.n += counts
        self.updates += hit

    def stats(self) -> dict[str, dict[str, float]]:
        return {
            d: {
                "q": float(self.q[i]),
                "n": float(self.n[i]),
                "updates": float(self.updates[i]),
                "last_mean_abs_adv": float(self.last_reward[i]),
            }
            for i, d in enumerate(self.distributions)
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            **base_state(self),
            "q": self.q.tolist(),
            "n": self.n.tolist(),
            "updates": self.updates.tolist(),
            "last_reward": self.last_reward.tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        arrays = {}
        for key, dtype in (
            ("q", np.float64),
            ("n", np.int64),
            ("updates", np.int64),
            ("last_reward", np.float64),
        ):
            arr = np.asarray(state[key], dtype=dtype)
            if arr.shape != (self.k,):
                raise ValueError(f"state {key!r} must have {self.k} values, got shape {arr.shape}")
            arrays[key] = arr
        self.q, self.n, self.updates, self.last_reward = (
            arrays["q"],
            arrays["n"],
            arrays["updates"],
            arrays["last_reward"],
        )
