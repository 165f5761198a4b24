"""Easy-to-hard schedules of the training clock: E2H Reasoner's classic, balanced, cosine, gaussian.

Distribution i = 0 .. K-1 is the i-th one in the order the scheduler receives them, which is
easy to hard (the manifest's order: natural sort of difficulty, then source order; the same order
`sequential` walks through). t = generation steps so far (update() calls), T = `total_steps`,
x = min(t / T, 1): past T the schedule stays where it ended.

    classic   p_i = 1 if i == min(floor(t K / T), K - 1) else 0        (one stage at a time)
    balanced  p_i = 1 / K                                              (plain GRPO on the mixture)
    cosine    a   = (1 + cos(pi x)) / 2,   S = K (K + 1) / 2
              p_i = a (K - i) / S + (1 - a) (i + 1) / S                (easy-heavy -> hard-heavy)
    gaussian  mu  = x^mu_exp (K - 1)
              q_i = exp(-(i - mu)^2 / (2 sigma^2)) / sum_j exp(-(j - mu)^2 / (2 sigma^2))
              p_i = m + (1 - K m) q_i,   m = `min_prob` (default 2 / (K (K + 1)))

Source: Parashar et al., "Curriculum Reinforcement Learning from Easy to Hard Tasks Improves LLM
Reasoning" (E2H Reasoner, arXiv 2506.06632, ICLR 2026), its scheduling section. The formulas and
defaults above are those of the authors' code, github.com/divelab/E2H-Reasoning: `TaskSampler`'s
`_step_schedule`, `_balanced_schedule`, `_cosine_schedule`, `_gaussian_schedule` in src/trainer.py,
defaults in config/algorithm/grpo.yaml (`curriculum_schedule: cosine`, `mu_exp: 0.5`,
`sigma: 0.5`, `min_prob: true` = 2 / (K (K + 1))). The paper's full text could not be read here, so
its equation numbers are not cited. The authors' cosine also floors every p_i at 2 / (K (K + 1))
and renormalises; that floor never binds (p_i >= min(K - i, i + 1) / S >= 1 / S), so it is left out.
`sigma` is in units of levels (distance between neighbouring distributions); `mu_exp` < 1 moves
the centre faster at the start.

T counts generation steps (one draw + one update each), not optimizer steps: with TRL's defaults
(steps_per_generation = gradient_accumulation_steps, num_iterations = 1) they are the same as
`train.grpo.max_steps`. `needs_total_steps` tells the trainer to pass the run's generation steps as
`total_steps` unless the recipe sets it. The feedback is ignored (responses are only counted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from dumpcli.schedulers._common import base_state, check_state, feedback_arrays
from dumpcli.schedulers.base import Feedback, Options, Scheduler, softmax

Kind = Literal["classic", "balanced", "cosine", "gaussian"]


class ScheduleOptions(Options):
    schedule: Kind = Field("cosine", description="classic, balanced, cosine or gaussian (E2H Reasoner)")
    total_steps: int | None = Field(
        None,
        gt=0,
        description="T: generation steps the schedule spans (default: the run's, from the trainer)",
    )
    mu_exp: float = Field(0.5, gt=0, description="gaussian: the centre is (t/T)^mu_exp (K - 1)")
    sigma: float = Field(0.5, gt=0, description="gaussian: width, in levels")
    min_prob: float | None = Field(
        None, ge=0, le=1, description="gaussian: floor per distribution (default 2 / (K (K + 1)); 0: none)"
    )


def schedule_probabilities(
    kind: Kind,
    t: int,
    total: int,
    k: int,
    *,
    mu_exp: float = 0.5,
    sigma: float = 0.5,
    min_prob: float | None = None,
) -> np.ndarray:
    """p over K levels (easy to hard) at generation step t of `total` (the formulas above)."""
    x = min(t / total, 1.0)
    i = np.arange(k, dtype=np.float64)
    if kind == "classic":
        p = np.zeros(k)
        p[min(min(t, total) * k // total, k - 1)] = 1.0  # integer floor: exact at the stage edges
        return p
    if kind == "balanced":
        return np.full(k, 1.0 / k)
    if kind == "cosine":
        a = 0.5 * (1.0 + math.cos(math.pi * x))
        return (a * (k - i) + (1.0 - a) * (i + 1.0)) / (k * (k + 1) / 2.0)
    if kind == "gaussian":
        floor = 2.0 / (k * (k + 1)) if min_prob is None else min_prob
        mu = x**mu_exp * (k - 1)
        q = softmax(-((i - mu) ** 2) / (2.0 * sigma**2), 1.0)  # shifted: no 0 / 0 for a tiny sigma
        return floor + (1.0 - k * floor) * q
    raise ValueError(f"unknown schedule {kind!r}")


class Schedule(Scheduler):
    name: ClassVar[str] = "schedule"
    Options: ClassVar[type[ScheduleOptions]] = ScheduleOptions
    options: ScheduleOptions
    needs_total_steps: ClassVar[bool] = True

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        o = self.options
        if o.total_steps is None:
            raise ValueError(
                "total_steps: the schedule scheduler needs T, the number of generation steps the "
                "schedule spans (`dump train` sets it to the run's; set train.scheduler.total_steps)"
            )
        if o.min_prob is not None and self.k * o.min_prob > 1:
            raise ValueError(
                f"min_prob: {self.k} distributions x min_prob {o.min_prob} exceeds 1 "
                f"(at most {1 / self.k:.4g} here)"
            )
        self.total_steps: int = o.total_steps
        self.step = 0  # generation steps seen (update() calls)
        self.n = np.zeros(self.k, dtype=np.int64)

    def at(self, t: int) -> np.ndarray:
        """The probabilities at generation step t (the schedule is a function of t alone)."""
        o = self.options
        return schedule_probabilities(
            o.schedule, t, self.total_steps, self.k, mu_exp=o.mu_exp, sigma=o.sigma, min_prob=o.min_prob
        )

    def probabilities(self) -> np.ndarray:
        return self.at(self.step)

    def update(self, feedback: Sequence[Feedback]) -> None:
        (idx,) = feedback_arrays(self, feedback)
        self.n += np.bincount(idx, minlength=self.k)
        self.step += 1

    def stats(self) -> dict[str, dict[str, float]]:
        progress = min(self.step / self.total_steps, 1.0)
        return {
            d: {"n": float(self.n[i]), "step": float(self.step), "progress": progress, "level": float(i)}
            for i, d in enumerate(self.distributions)
        }

    def state_dict(self) -> dict[str, Any]:
        return {**base_state(self), "step": self.step, "n": self.n.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        step = int(state["step"])
        n = np.asarray(state["n"], dtype=np.int64)
        if step < 0:
            raise ValueError(f"state step must be >= 0, got {step}")
        if n.shape != (self.k,):
            raise ValueError(f"state 'n' must have {self.k} counts, got {n.shape}")
        self.step, self.n = step, n
