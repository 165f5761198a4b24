"""Uniform, with the dead weight moved to where learning is measured.

Uniform is hard to beat on a mixture (BENCHMARKS.md, bench v2): every method that moves a large
share of the batch on a noisy signal loses what it stops replaying, and signals that like mixed
rewards (|advantage|, p(1 - p)) send the batch to a coin flip. This method departs from uniform
only by what the logs show to be free, and only towards what the logs show to be learning.

Per distribution d, over its groups (one group = one prompt's completions) of the last `horizon`
generation rounds (d with fewer than `min_groups` groups there is unknown: w_d = 1, s_d = 0):

    mixed_d = share of its groups whose rewards are not all equal (0 < group success < 1)
    w_d     = floor + (1 - floor) * min(1, mixed_d / informative)            (its weight, in [floor, 1])
    s_d     = max(b_d, 0) * max(0, 1 - z^2 SE_d^2 / b_d^2)                     (measured progress)
    F       = sum_d (1 - w_d) / k,   S = sum_d s_d,   c = scale / horizon
    p_d     = (w_d + (1 - w_d) * c / (S + c)) / k  +  F * s_d / (S + c)

b_d and SE_d are the least-squares slope of d's group success over the rounds and its standard
error, as in `progress` (dumpcli/schedulers/progress.py). So:

- A group whose rewards are all equal has zero GRPO advantage: it adds no gradient, only compute
  (DAPO's dynamic sampling, Yu et al. 2025; GRESO, Li et al. 2025, skip such prompts). A
  distribution that yields few mixed groups (mastered or out of reach) keeps `floor` of its uniform
  share, as replay and so that it is seen again if it starts to move; the rest, F, is freed.
- The freed mass goes to distributions whose success is *rising*, in proportion to the measured
  progress s_d (learning progress: Matiisen et al. 2017, TSCL; Portelas et al. 2020, ALP-GMM):
  the slope shrunk towards 0 by the positive-part James-Stein factor, 0 for a slope within z
  standard errors of 0 and continuous above, so a coin flip's window of lucky groups rarely claims
  anything (the smooth shrinkage of `progress` let 2-SE excursions claim a quarter of F in
  simulation). `scale` is the gain over the horizon at which measured progress claims half of F;
  what progress does not claim stays with the distributions it came from. With no progress
  measured the mixture is uniform.
- Every other distribution keeps exactly its uniform share 1/k, whatever its signal: a coin flip
  (mixed groups, slope ~0) is never *raised* above uniform except by a slope that passes the noise
  correction, and a slowly learnable distribution whose progress is below what a window can tell
  from noise is never starved (`progress` and the curator under-trained sort/8 on bench v2).
- Forgetting shows as groups becoming mixed again (w_d back to 1), not as a claim on F: only a
  positive slope claims it. Fully deterministic: no random numbers are drawn.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from dumpcli.schedulers.base import MAX_WINDOW, Options
from dumpcli.schedulers.progress import Progress


class FrontierOptions(Options):
    horizon: int = Field(50, ge=2, description="generation rounds the statistics look back over")
    window: int = Field(
        512, ge=3, le=MAX_WINDOW, description="groups kept per distribution (the most recent)"
    )
    z: float = Field(2.0, ge=0, description="standard errors within which a slope counts as 0")
    min_groups: int = Field(4, ge=3, description="groups a distribution needs before it is judged")
    floor: float = Field(
        0.25, ge=0, le=1, description="share of its uniform share a distribution without mixed groups keeps"
    )
    informative: float = Field(
        0.5, gt=0, le=1, description="share of mixed groups at which a distribution keeps its whole uniform share"
    )
    scale: float = Field(
        0.1, gt=0, description="success gain over the horizon at which progress claims half of the freed mass"
    )


class Frontier(Progress):
    name: ClassVar[str] = "frontier"
    Options: ClassVar[type[FrontierOptions]] = FrontierOptions  # type: ignore[assignment]
    options: FrontierOptions  # type: ignore[assignment]

    # -- the rule ---------------------------------------------------------------------------
    def mixed_shares(self) -> tuple[np.ndarray, np.ndarray]:
        """(mixed_d, judged_d): the share of d's recent groups with unequal rewards, and whether
        d has `min_groups` groups in the horizon (mixed_d is 0 where it has not)."""
        mixed = np.zeros(self.k)
        judged = np.zeros(self.k, dtype=bool)
        since = self.rounds - self.options.horizon
        for d in np.flatnonzero(self.times.count() >= self.options.min_groups).tolist():
            _, m = self.recent_groups(d, since)
            if len(m) >= self.options.min_groups:
                mixed[d] = float(np.mean((m > 0.0) & (m < 1.0)))
                judged[d] = True
        return mixed, judged

    def weights(self, mixed: np.ndarray, judged: np.ndarray) -> np.ndarray:
        """w_d = floor + (1 - floor) * min(1, mixed_d / informative); 1 where d is not judged."""
        o = self.options
        w = o.floor + (1.0 - o.floor) * np.minimum(1.0, mixed / o.informative)
        return np.where(judged, w, 1.0)

    def scores(self, slopes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """s_d = max(b_d, 0) * max(0, 1 - z^2 SE_d^2 / b_d^2); 0 where d has no slope."""
        b, se, known = slopes if slopes is not None else self.slopes()
        s = np.zeros(self.k)
        rising = known & (b > 0.0)
        noise = (self.options.z * se[rising]) ** 2
        s[rising] = b[rising] * np.maximum(0.0, 1.0 - noise / b[rising] ** 2)
        return s

    def mixture(self, w: np.ndarray, s: np.ndarray) -> np.ndarray:
        """p_d = (w_d + (1 - w_d) c / (S + c)) / k + F s_d / (S + c)."""
        c = self.options.scale / self.options.horizon
        freed = float((1.0 - w).sum()) / self.k
        total = float(s.sum())
        p = (w + (1.0 - w) * c / (total + c)) / self.k + freed * s / (total + c)
        return p / p.sum()

    def probabilities(self) -> np.ndarray:
        return self.mixture(self.weights(*self.mixed_shares()), self.scores())

    # -- logs -------------------------------------------------------------------------------
    def stats(self) -> dict[str, dict[str, float]]:
        """`progress`'s statistics (with this rule's score), plus `mixed` and `weight`."""
        stats = super().stats()
        mixed, judged = self.mixed_shares()
        w = self.weights(mixed, judged)
        for i, d in enumerate(self.distributions):
            stats[d].update(mixed=float(mixed[i]), weight=float(w[i]))
        return stats
