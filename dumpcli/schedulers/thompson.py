"""MoPPS (Model Predictive Prompt Selection, arXiv 2507.04632; thu-rllab/MoPPS): Thompson sampling
of prompts whose predicted success rate is near a target, from a Beta posterior per problem.

Each problem x keeps Beta(alpha_x, beta_x), starting at the prior (alpha_0, beta_0). After a step
in which x got k completions with s successes (streaming update, no extra rollouts):

    alpha_x <- decay * alpha_x + (1 - decay) * alpha_0 + s
    beta_x  <- decay * beta_x  + (1 - decay) * beta_0  + (k - s)

(`decay` = 1 keeps every observation; below 1 it forgets towards the prior, for a policy that moves.)
The counts live in the shared `ProblemHistory` (history.py) with the same decay, as
alpha_x = alpha_0 + S_x and beta_x = beta_0 + F_x, where S_x <- decay * S_x + s: the same posterior,
since alpha_t - alpha_0 = decay * (alpha_{t-1} - alpha_0) + s is exactly the update above
(likewise for beta), and both start at S = F = 0.
Selection: the curriculum draws a candidate pool of ceil(n / top_k_ratio) problems from the proposal
(uniform over problems by default); for each distinct candidate sample gamma_x ~ Beta(alpha_x, beta_x)
and keep the n whose gamma_x is nearest the target success rate, i.e. the smallest
(gamma_x - target)^2. With target 0.5 that favours the prompts whose groups are most likely to
have mixed outcomes, i.e. a non-zero GRPO advantage. Defaults are the reference code's:
prior (1, 1), decay 1.0, target 0.5, top_k_ratio 0.6.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from dumpcli.schedulers._common import base_state, check_state, feedback_arrays
from dumpcli.schedulers.base import Feedback
from dumpcli.schedulers.history import ProblemHistory
from dumpcli.schedulers.selector import Candidate, ProblemSelector, SelectorOptions, check_select_args


class ThompsonOptions(SelectorOptions):
    target: float = Field(0.5, gt=0, lt=1, description="success rate the selected prompts should have")
    top_k_ratio: float = Field(0.6, gt=0, le=1, description="prompts kept / candidates drawn")
    alpha_prior: float = Field(1.0, gt=0, description="Beta prior alpha_0 (pseudo-successes)")
    beta_prior: float = Field(1.0, gt=0, description="Beta prior beta_0 (pseudo-failures)")
    decay: float = Field(1.0, ge=0, le=1, description="weight of the past posterior in each update")


class Thompson(ProblemSelector):
    name: ClassVar[str] = "thompson"
    Options: ClassVar[type[ThompsonOptions]] = ThompsonOptions
    options: ThompsonOptions

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        self.history = ProblemHistory(decay=self.options.decay)
        self.steps = 0
        self.n = np.zeros(self.k, dtype=np.int64)  # completions fed back per distribution
        self._last: dict[str, list[float]] = self._empty_last()

    def _empty_last(self) -> dict[str, list[float]]:
        z = [0.0] * self.k
        return {"pool": z, "selected": z, "gamma_sum": z, "mean_sum": z}

    def pool_size(self, n: int) -> int:
        return max(n, math.ceil(n / self.options.top_k_ratio - 1e-9))

    def posteriors(self, problem_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(alpha, beta) of each problem: the prior plus its discounted successes and failures."""
        view = self.history.get(problem_ids)
        return self.options.alpha_prior + view.successes, self.options.beta_prior + view.failures

    def posterior(self, problem_id: str) -> tuple[float, float]:
        a, b = self.posteriors([problem_id])
        return float(a[0]), float(b[0])

    def select(
        self, candidates: Sequence[Candidate], n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, None]:
        """The n distinct candidates whose sampled gamma is nearest the target (ties: pool order);
        if the pool has fewer than n distinct problems, the ranking repeats."""
        check_select_args(candidates, n)
        first: dict[str, int] = {}
        for i, c in enumerate(candidates):
            first.setdefault(c.problem_id, i)
        positions = np.fromiter(first.values(), dtype=np.int64, count=len(first))
        a, b = self.posteriors(list(first))
        gamma = rng.beta(a, b)
        order = np.argsort((gamma - self.options.target) ** 2, kind="stable")
        ranked = positions[order]
        chosen = ranked[np.arange(n) % len(ranked)]
        dist = self.dist_index(candidates)
        chosen_rank = order[np.arange(n) % len(order)]
        means = a / (a + b)
        self._last = {
            "pool": np.bincount(dist, minlength=self.k).astype(float).tolist(),
            "selected": np.bincount(dist[chosen], minlength=self.k).astype(float).tolist(),
            "gamma_sum": np.bincount(dist[chosen], weights=gamma[chosen_rank], minlength=self.k).tolist(),
            "mean_sum": np.bincount(dist[chosen], weights=means[chosen_rank], minlength=self.k).tolist(),
        }
        self.steps += 1
        return chosen, None

    def update(self, feedback: Sequence[Feedback]) -> None:
        idx, success = feedback_arrays(self, feedback, "success", unit=("success",))
        self.n += np.bincount(idx, minlength=self.k)
        self.history.update([f.problem_id for f in feedback], success)

    def stats(self) -> dict[str, dict[str, float]]:
        last = self._last
        out = {}
        for i, d in enumerate(self.distributions):
            sel = last["selected"][i]
            out[d] = {
                "n": float(self.n[i]),
                "pool": last["pool"][i],
                "selected": sel,
                "mean_gamma": last["gamma_sum"][i] / sel if sel else 0.0,
                "mean_posterior": last["mean_sum"][i] / sel if sel else 0.0,
            }
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            **base_state(self),
            "history": self.history.state_dict(),
            "steps": self.steps,
            "n": self.n.tolist(),
            "last": dict(self._last),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state, structural=("alpha_prior", "beta_prior"))
        o = self.options
        if "history" in state:
            self.history.load_state_dict(state["history"])
        else:  # saved before the shared history: Beta(alpha, beta) per problem id
            ids, alpha, beta = state["problem_ids"], state["alpha"], state["beta"]
            if not len(ids) == len(alpha) == len(beta):
                raise ValueError(f"state has {len(ids)} problems, {len(alpha)} alphas and {len(beta)} betas")
            self.history.load_legacy(
                ids,
                successes=np.maximum(np.asarray(alpha, dtype=np.float64) - o.alpha_prior, 0.0),
                failures=np.maximum(np.asarray(beta, dtype=np.float64) - o.beta_prior, 0.0),
            )
        self.history.decay = o.decay  # a resumed run may change the decay on purpose, as before
        self.steps = int(state["steps"])
        n = np.asarray(state["n"], dtype=np.int64)
        if n.shape != (self.k,):
            raise ValueError(f"state 'n' must have {self.k} counts, got {n.shape}")
        self.n = n
        self._last = {**self._empty_last(), **state["last"]}
