"""prime-rl's difficulty pools, per distribution: weight each by the pool of its latest success rate.

    s_d    = d's latest group-mean success (below); unseen until d is first drawn
    pool_d = hard    if s_d <= hard_threshold                  (default 0.25, weight 0.2)
             normal  if hard_threshold < s_d <= easy_threshold (default 0.75, weight 1.0)
             easy    if s_d > easy_threshold                   (weight 0.2)
    w_d    = weight of pool_d, or unseen_weight (1.0) before d has a score
    p_d    = w_d / sum_j w_j                                   (uniform if every w_d is 0)

Latest group-mean, at distribution level: the mean success over d's completions in the latest
generation step (update) in which d was drawn. GRPO groups all have num_generations completions,
so this is also the mean of the group means of d's prompts in that step. It replaces the previous
score (no averaging over steps), as prime-rl's per-task score does; a distribution keeps its score,
and its pool, until it is drawn again.

Success rather than reward: prime-rl's thresholds are on a verifier reward in [0, 1] (typically 1
for a correct answer), i.e. a pass rate. Our rewards have a scheme-dependent scale (`dump`: [-3, 3],
format credit included), on which 0.25 / 0.75 mean nothing; `Feedback.success` (0/1, the answer is
right) is the pass rate those thresholds were written for.

Source: prime-rl (github.com/PrimeIntellect-ai/prime-rl), `DifficultyPoolSampler` in
src/prime_rl/orchestrator/curriculum/samplers/pool.py and its default pools in
`default_difficulty_pools()` (packages/prime-rl-configs/.../orchestrator.py, 2026-08): each pool's
threshold is its inclusive maximum reward, the last pool is the catch-all, unseen tasks weigh 1.0.
prime-rl weights problems; here the same rule weights distributions. Where prime-rl raises when
every weight is 0, we fall back to uniform: a run should not stop because every distribution landed
in a zero-weight pool. Fully deterministic: no randomness is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from dumpcli.schedulers._common import base_state, check_state, feedback_arrays, group_sums
from dumpcli.schedulers.base import Feedback, Options, Scheduler

UNSEEN, HARD, NORMAL, EASY = 0, 1, 2, 3  # pool codes in the stats
POOL_NAMES = ("unseen", "hard", "normal", "easy")


class PoolsOptions(Options):
    hard_threshold: float = Field(0.25, ge=0, le=1, description="success <= this: hard pool")
    easy_threshold: float = Field(0.75, ge=0, le=1, description="success > this: easy pool (else normal)")
    hard_weight: float = Field(0.2, ge=0, allow_inf_nan=False, description="weight of the hard pool")
    normal_weight: float = Field(1.0, ge=0, allow_inf_nan=False, description="weight of the normal pool")
    easy_weight: float = Field(0.2, ge=0, allow_inf_nan=False, description="weight of the easy pool")
    unseen_weight: float = Field(1.0, ge=0, allow_inf_nan=False, description="weight before the first score")

    @field_validator("easy_threshold")
    @classmethod
    def _above_hard(cls, v: float, info: ValidationInfo) -> float:
        hard = info.data.get("hard_threshold")  # absent if hard_threshold itself failed validation
        if hard is not None and v <= hard:
            raise PydanticCustomError(
                "too_small", "must be > hard_threshold ({hard}), got {v}", {"hard": hard, "v": v}
            )
        return v

    @field_validator("unseen_weight")
    @classmethod
    def _some_weight(cls, v: float, info: ValidationInfo) -> float:
        others = [info.data.get(f"{pool}_weight") for pool in ("hard", "normal", "easy")]
        if v == 0 and all(w == 0 for w in others):  # a None (failed itself) keeps it quiet
            raise PydanticCustomError(
                "all_zero",
                "at least one of hard_weight, normal_weight, easy_weight, unseen_weight must be positive",
            )
        return v


def classify(score: np.ndarray, seen: np.ndarray, o: PoolsOptions) -> np.ndarray:
    """Pool code (UNSEEN, HARD, NORMAL, EASY) of each latest success rate; `seen` False: unseen."""
    pool = np.where(score <= o.hard_threshold, HARD, np.where(score <= o.easy_threshold, NORMAL, EASY))
    return np.where(seen, pool, UNSEEN)


def pool_weights(codes: np.ndarray, o: PoolsOptions) -> np.ndarray:
    return np.array([o.unseen_weight, o.hard_weight, o.normal_weight, o.easy_weight])[codes]


class Pools(Scheduler):
    name: ClassVar[str] = "pools"
    Options: ClassVar[type[PoolsOptions]] = PoolsOptions
    options: PoolsOptions

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        self.step = 0  # generation steps seen (update() calls)
        self.n = np.zeros(self.k, dtype=np.int64)  # completions seen per distribution
        self.score = np.zeros(self.k)  # latest group-mean success (meaningful where last_step >= 0)
        self.last_step = np.full(self.k, -1, dtype=np.int64)  # step that set the score; -1: unseen

    def pools(self) -> np.ndarray:
        """Pool code per distribution (UNSEEN, HARD, NORMAL, EASY)."""
        return classify(self.score, self.last_step >= 0, self.options)

    def weights(self) -> np.ndarray:
        return pool_weights(self.pools(), self.options)

    def probabilities(self) -> np.ndarray:
        w = self.weights()
        total = w.sum()
        return w / total if total > 0 else np.full(self.k, 1.0 / self.k)

    def update(self, feedback: Sequence[Feedback]) -> None:
        idx, success = feedback_arrays(self, feedback, "success", unit=("success",))
        counts, sums = group_sums(idx, success, self.k)
        drawn = counts > 0
        self.score[drawn] = sums[drawn] / counts[drawn]
        self.last_step[drawn] = self.step
        self.n += counts
        self.step += 1

    def stats(self) -> dict[str, dict[str, float]]:
        pool, weight = self.pools(), self.weights()
        return {
            d: {
                "n": float(self.n[i]),
                "success": float(self.score[i]),
                "last_step": float(self.last_step[i]),
                "pool": float(pool[i]),
                "weight": float(weight[i]),
            }
            for i, d in enumerate(self.distributions)
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            **base_state(self),
            "step": self.step,
            "n": self.n.tolist(),
            "score": self.score.tolist(),
            "last_step": self.last_step.tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        step = int(state["step"])
        n = np.asarray(state["n"], dtype=np.int64)
        score = np.asarray(state["score"], dtype=np.float64)
        last = np.asarray(state["last_step"], dtype=np.int64)
        if any(a.shape != (self.k,) for a in (n, score, last)):
            raise ValueError(f"state 'n', 'score' and 'last_step' must each have {self.k} values")
        if not (np.isfinite(score).all() and ((score >= 0) & (score <= 1)).all()):
            raise ValueError("state 'score' must hold success rates in [0, 1]")
        if step < 0 or (last < -1).any() or (last >= step).any() or (n < 0).any():
            raise ValueError(f"state step {step}, 'last_step' and 'n' are inconsistent")
        self.step, self.n, self.score, self.last_step = step, n, score, last
