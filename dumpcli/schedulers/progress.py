"""Noise-corrected absolute learning progress: sample where the success rate is *changing*.

Per distribution d, its groups (one group = one prompt's completions) of the last `horizon`
generation rounds are points (t_g, m_g): the round t_g that drew it and its mean success m_g (at
most `window` groups are kept per distribution). Over them,

    b_d   = sum (t - t_mean)(m - m_mean) / S_tt,    S_tt = sum (t - t_mean)^2    (least-squares slope)
    SE_d  = sqrt( sum (m - m_mean - b_d (t - t_mean))^2 / (n_d - 2) / S_tt )     (its standard error)
    s_d   = |b_d| * b_d^2 / (b_d^2 + z^2 SE_d^2)                               (noise-corrected |LP|)
    p     = (1 - epsilon) * s / sum(s) + epsilon / k        (uniform when every s_d is 0)

A distribution with fewer than `min_groups` groups, or all of them from one round, has no slope
yet: it takes the largest score of the others (1 when none has one), so it is tried early and the
start is uniform.

Why this signal. GRPO's |advantage| (DUMP's UCB) and p(1 - p) (learnability) are largest for a
coin flip, whose reward no policy can improve: they send the batch to noise. The learning-progress
family (Matiisen et al. 2017, "Teacher-Student Curriculum Learning", the slope of each task's score
over a window; Graves et al. 2017; Portelas et al. 2020, absolute LP) rewards change instead: a
coin flip, a mastered distribution and one out of reach all have slope ~0, the frontier has a
positive one, and forgetting a mastered distribution gives a negative one (hence |b|: replay).
What we add is the noise correction: |b| is shrunk by b^2 / (b^2 + z^2 SE^2), the share of the
slope's square that is not sampling noise, so a slope at z standard errors keeps half its weight,
one at 3z nine tenths, and a coin flip's noise (|b| ~ SE) a tenth of an already small value (with
z = 2). A smooth shrinkage rather than a threshold: with a threshold, whichever distribution's
noise crossed it took the whole batch (seen on bench-cpu, BENCHMARKS.md). The slope is per round
over a fixed span of rounds, so a distribution drawn more often gets a more precise slope, not a
shorter one. Fully deterministic: no random numbers are drawn.
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


class ProgressOptions(Options):
    horizon: int = Field(50, ge=2, description="generation rounds the slope looks back over")
    window: int = Field(
        512, ge=3, le=MAX_WINDOW, description="groups kept per distribution (the most recent)"
    )
    z: float = Field(2.0, ge=0, description="standard errors subtracted from |slope| (noise correction)")
    epsilon: float = Field(0.2, ge=0, le=1, description="probability mass spread uniformly")
    min_groups: int = Field(4, ge=3, description="groups a distribution needs before it has a slope")


class Progress(Scheduler):
    name: ClassVar[str] = "progress"
    Options: ClassVar[type[ProgressOptions]] = ProgressOptions
    options: ProgressOptions

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        if self.options.min_groups > self.options.window:
            raise ValueError(f"min_groups {self.options.min_groups} exceeds window {self.options.window}")
        self.rounds = 0  # generation rounds seen: the clock t of every group
        self.times = SlidingWindows(self.k, self.options.window)  # t_g, pushed in step with ...
        self.means = SlidingWindows(self.k, self.options.window)  # ... m_g (same layout)

    # -- the rule ---------------------------------------------------------------------------
    def slopes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(b, SE, known) per distribution; b and SE are 0 where `known` is False."""
        b = np.zeros(self.k)
        se = np.zeros(self.k)
        known = np.zeros(self.k, dtype=bool)
        counts = self.times.count()
        since = self.rounds - self.options.horizon  # groups of rounds > since are in the horizon
        for d in np.flatnonzero(counts >= self.options.min_groups).tolist():
            t, m = self.recent_groups(d, since)
            if len(t) < self.options.min_groups:
                continue
            dt = t - t.mean()
            s_tt = float(dt @ dt)
            if s_tt <= 0.0:  # every group from one round: no slope yet
                continue
            slope = float(dt @ (m - m.mean())) / s_tt
            resid = m - m.mean() - slope * dt
            b[d] = slope
            se[d] = float(np.sqrt(max(float(resid @ resid), 0.0) / (len(t) - 2) / s_tt))
            known[d] = True
        return b, se, known

    def recent_groups(self, d: int, since: float) -> tuple[np.ndarray, np.ndarray]:
        """(t_g, m_g) of distribution d's kept groups from rounds after `since`."""
        t = np.asarray(self.times.window(d))
        m = np.asarray(self.means.window(d))
        recent = t > since
        return t[recent], m[recent]

    def scores(self, slopes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """s per distribution, from `slopes()` (computed here unless the caller has them)."""
        b, se, known = slopes if slopes is not None else self.slopes()
        noise = (self.options.z * se) ** 2
        s = np.zeros(self.k)
        signal = known & (b != 0.0)
        s[signal] = np.abs(b[signal]) * b[signal] ** 2 / (b[signal] ** 2 + noise[signal])
        optimistic = float(s[known].max()) if known.any() else 1.0
        s[~known] = optimistic if optimistic > 0 else 1.0
        return s

    def probabilities(self) -> np.ndarray:
        return proportional_with_floor(self.scores(), self.options.epsilon)

    # -- feedback ---------------------------------------------------------------------------
    def update(self, feedback: Sequence[Feedback]) -> None:
        """One generation round: each run of consecutive completions of one problem is a group."""
        idx, success = feedback_arrays(self, feedback, "success", unit=("success",))
        self.rounds += 1
        n = len(idx)
        if n == 0:
            return
        problems = [f.problem_id for f in feedback]
        starts = [0] + [i for i in range(1, n) if idx[i] != idx[i - 1] or problems[i] != problems[i - 1]]
        bounds = np.asarray([*starts, n])
        sums = np.add.reduceat(success, bounds[:-1])
        group_means = sums / np.diff(bounds)
        group_dists = idx[bounds[:-1]]
        self.times.push(group_dists, np.full(len(group_dists), float(self.rounds)))
        self.means.push(group_dists, group_means)

    # -- logs and state -----------------------------------------------------------------------
    def stats(self) -> dict[str, dict[str, float]]:
        b, se, known = self.slopes()
        s = self.scores((b, se, known))
        counts = self.times.count()
        success = self.means.mean(empty=float("nan"))
        return {
            d: {
                "groups": float(counts[i]),
                "success": float(success[i]) if counts[i] else -1.0,
                "slope": float(b[i]),
                "se": float(se[i]),
                "known": float(known[i]),
                "score": float(s[i]),
            }
            for i, d in enumerate(self.distributions)
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            **base_state(self),
            "rounds": self.rounds,
            "times": self.times.state_dict(self.distributions),
            "means": self.means.state_dict(self.distributions),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state, structural=("window",))
        self.times.load_state_dict(state["times"], self.index)
        self.means.load_state_dict(state["means"], self.index)
        if not np.array_equal(self.times.total, self.means.total):
            raise ValueError("state 'times' and 'means' hold different numbers of groups")
        self.rounds = int(state["rounds"])
