"""Exp3.S on absolute learning progress (Graves et al. 2017, "Automated Curriculum Learning for
Neural Networks"), adapted to batched GRPO updates.

Policy: p = (1 - eps) * softmax(w) + eps / k.

Per update (the batch was drawn from p as it was before the update):

1. Learning progress. m_d = mean `signal` (success, or reward) of d's responses in this update;
   nu_d = |m_d - m_d(previous update that sampled d)|. The first time d is sampled it has no
   previous mean: m_d only becomes the baseline and d gets no reward.
2. Rescaling to [-1, 1] as in the paper: with lo, hi the 20th and 80th percentiles of the recent
   unscaled rewards (the last `history` nu values, this update's included),
   r = -1 if nu < lo, +1 if nu > hi, else 2 (nu - lo) / (hi - lo) - 1 (0 when hi == lo).
   The paper keeps a reservoir sample of all past rewards; a sliding history is simpler, adapts to
   the non-stationary scale of progress, and needs no random numbers.
3. Importance weighting. The paper draws one task per step: r~_i = (r * [i drawn] + beta) / p_i.
   A batch holds many draws; averaging the per-draw estimates gives r~_d = r_d * f_d / p_d + beta / p_d,
   with f_d = d's share of the batch's responses (= its share of prompts, since every prompt has the
   same number of completions). E[f_d] = p_d, so r~_d stays an unbiased estimate of r_d.
4. Exp3.S weights: w_i <- log((1 - alpha) e^(w_i + eta r~_i) + alpha / (k - 1) sum_{j != i} e^(w_j + eta r~_j)).
   Weights are shifted so that max(w) = 0 (softmax is shift-invariant) and floored at -1000 (e^-1000
   is already 0 in float64) so the state stays finite.

`eta` is per update, not per draw: one update here averages a whole batch, so the paper's tiny
per-sample step (about 1e-3) would barely move the weights in a few hundred steps. Defaults are ours.
Fully deterministic: no randomness is drawn.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from dumpcli.schedulers._common import MAGNITUDE_CAP, base_state, check_state, feedback_arrays, group_sums
from dumpcli.schedulers.base import MAX_WINDOW, Feedback, Options, Scheduler, softmax

_W_FLOOR = -1000.0
_QUANTILES = (0.2, 0.8)


class Exp3Options(Options):
    eta: float = Field(0.1, gt=0, description="step size of the weights, per update")
    eps: float = Field(
        0.05, gt=0, le=1, description="probability mass spread uniformly (keeps 1 / p_d bounded)"
    )
    beta: float = Field(0.0, ge=0, description="Exp3.S optimism: beta / p_d added to every arm's reward")
    alpha: float = Field(1e-3, ge=0, le=1, description="Exp3.S weight sharing (tracks a changing best arm)")
    history: int = Field(
        1000, gt=1, le=MAX_WINDOW, description="recent learning-progress values used for the rescaling"
    )
    signal: Literal["success", "reward"] = Field("success", description="quantity whose progress is rewarded")


class Exp3(Scheduler):
    name: ClassVar[str] = "exp3"
    Options: ClassVar[type[Exp3Options]] = Exp3Options
    options: Exp3Options

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        k = self.k
        self.w = np.zeros(k, dtype=np.float64)
        self.prev_mean = np.zeros(k, dtype=np.float64)  # baseline m_d; meaningful where seen
        self.seen = np.zeros(k, dtype=bool)
        self.n = np.zeros(k, dtype=np.int64)
        self.last_progress = np.zeros(k, dtype=np.float64)  # nu_d of the last update that rewarded d
        self.last_reward = np.zeros(k, dtype=np.float64)  # rescaled r_d of that update
        self.hist: deque[float] = deque(maxlen=self.options.history)

    def probabilities(self) -> np.ndarray:
        eps = self.options.eps
        return (1.0 - eps) * softmax(self.w, 1.0) + eps / self.k

    def _rescale(self, nu: np.ndarray) -> np.ndarray:
        lo, hi = np.quantile(np.fromiter(self.hist, np.float64, len(self.hist)), _QUANTILES)
        mid = np.clip(2.0 * ((nu - lo) / (hi - lo)) - 1.0, -1.0, 1.0) if hi > lo else np.zeros_like(nu)
        return np.where(nu < lo, -1.0, np.where(nu > hi, 1.0, mid))

    def update(self, feedback: Sequence[Feedback]) -> None:
        o = self.options
        p = self.probabilities()  # the policy this batch was drawn from
        unit = ("success",) if o.signal == "success" else ()
        idx, sig = feedback_arrays(self, feedback, o.signal, unit=unit)
        if not len(idx):
            return
        counts, sums = group_sums(idx, np.clip(sig, -MAGNITUDE_CAP, MAGNITUDE_CAP), self.k)
        hit = counts > 0
        mean_now = np.zeros(self.k)
        mean_now[hit] = sums[hit] / counts[hit]
        rewarded = hit & self.seen
        r_tilde = o.beta / p
        if rewarded.any():
            nu = np.abs(mean_now[rewarded] - self.prev_mean[rewarded])
            self.hist.extend(nu.tolist())  # distribution order: deterministic
            r = self._rescale(nu)
            share = counts[rewarded] / counts.sum()
            r_tilde[rewarded] += r * share / p[rewarded]
            self.last_progress[rewarded] = nu
            self.last_reward[rewarded] = r
        if self.k > 1:  # Exp3.S step, every update (with no reward it only shares weight)
            u = self.w + o.eta * r_tilde
            top = u.max()
            e = np.exp(u - top)
            mixed = (1.0 - o.alpha) * e + o.alpha * (e.sum() - e) / (self.k - 1)
            with np.errstate(divide="ignore"):
                w = top + np.log(mixed)
            w -= w.max()
            self.w = np.maximum(w, _W_FLOOR)
        self.prev_mean[hit] = mean_now[hit]
        self.seen |= hit
        self.n += counts

    def stats(self) -> dict[str, dict[str, float]]:
        return {
            d: {
                "w": float(self.w[i]),
                "n": float(self.n[i]),
                "mean": float(self.prev_mean[i]),
                "progress": float(self.last_progress[i]),
                "reward": float(self.last_reward[i]),
            }
            for i, d in enumerate(self.distributions)
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            **base_state(self),
            "w": self.w.tolist(),
            "prev_mean": self.prev_mean.tolist(),
            "seen": self.seen.tolist(),
            "n": self.n.tolist(),
            "last_progress": self.last_progress.tolist(),
            "last_reward": self.last_reward.tolist(),
            "history": list(self.hist),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        arrays = {}
        for key, dtype in (
            ("w", np.float64),
            ("prev_mean", np.float64),
            ("seen", bool),
            ("n", np.int64),
            ("last_progress", np.float64),
            ("last_reward", np.float64),
        ):
            arr = np.asarray(state[key], dtype=dtype)
            if arr.shape != (self.k,):
                raise ValueError(f"state {key!r} must have {self.k} values, got shape {arr.shape}")
            arrays[key] = arr
        for key, arr in arrays.items():
            setattr(self, key, arr)
        self.hist = deque((float(x) for x in state["history"]), maxlen=self.options.history)
