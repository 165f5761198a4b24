"""prime-rl's difficulty pools per problem, as prime-rl applies them: a problem-level selector.

    s_x    = the mean success of x's group the latest time x was trained on (unseen before)
    w_x    = weight of x's pool: hard if s_x <= hard_threshold, normal if <= easy_threshold,
             easy above (defaults 0.25 / 0.75, weights 0.2 / 1.0 / 0.2), unseen_weight (1.0) before
    q_x    = w_x / sum over the pool of w      (uniform over the pool if every weight is 0)

The curriculum draws a candidate pool of `pool_factor` * n problems from the proposal (uniform over
problems by default) and this selector draws the n prompts from it with replacement by q, so a
problem's chance of being trained on is proportional to its pool weight, as in prime-rl's
`DifficultyPoolSampler`. s_x is the last_success of the shared `ProblemHistory` (history.py).
The distribution-level variant is `pools` (same options and rule, see pools.py for the sources and
why success, not reward).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from dumpcli.schedulers._common import base_state, check_state, feedback_arrays
from dumpcli.schedulers.base import Feedback
from dumpcli.schedulers.history import ProblemHistory
from dumpcli.schedulers.pools import PoolsOptions, classify, pool_weights
from dumpcli.schedulers.selector import Candidate, ProblemSelector, SelectorOptions, check_select_args


class ProblemPoolsOptions(SelectorOptions, PoolsOptions):
    pool_factor: int = Field(4, ge=1, description="candidates = pool_factor * prompts needed")


class ProblemPools(ProblemSelector):
    name: ClassVar[str] = "problem_pools"
    Options: ClassVar[type[ProblemPoolsOptions]] = ProblemPoolsOptions
    options: ProblemPoolsOptions

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        self.history = ProblemHistory()  # last_success: the latest group-mean success
        self.n = np.zeros(self.k, dtype=np.int64)
        self._last = {"pool": [0.0] * self.k, "selected": [0.0] * self.k, "weight_sum": [0.0] * self.k}

    def pool_size(self, n: int) -> int:
        return self.options.pool_factor * n

    def weights(self, problem_ids: Sequence[str]) -> np.ndarray:
        """The weight of each problem's pool (`pools`' rule on its latest group-mean success)."""
        view = self.history.get(problem_ids)
        return pool_weights(classify(view.last_success, view.seen, self.options), self.options)

    def weight(self, problem_id: str) -> float:
        return float(self.weights([problem_id])[0])

    def select(
        self, candidates: Sequence[Candidate], n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        check_select_args(candidates, n)
        w = self.weights([c.problem_id for c in candidates])
        q = w / w.sum() if w.sum() > 0 else np.full(len(candidates), 1.0 / len(candidates))
        chosen = rng.choice(len(candidates), size=n, p=q).astype(np.int64)
        dist = self.dist_index(candidates)
        self._last = {
            "pool": np.bincount(dist, minlength=self.k).astype(float).tolist(),
            "selected": np.bincount(dist[chosen], minlength=self.k).astype(float).tolist(),
            "weight_sum": np.bincount(dist, weights=w, minlength=self.k).tolist(),
        }
        return chosen, q[chosen]

    def update(self, feedback: Sequence[Feedback]) -> None:
        idx, success = feedback_arrays(self, feedback, "success", unit=("success",))
        self.n += np.bincount(idx, minlength=self.k)
        self.history.update([f.problem_id for f in feedback], success)

    def stats(self) -> dict[str, dict[str, float]]:
        last = self._last
        return {
            d: {
                "n": float(self.n[i]),
                "pool": last["pool"][i],
                "selected": last["selected"][i],
                "mean_weight": last["weight_sum"][i] / last["pool"][i] if last["pool"][i] else 0.0,
            }
            for i, d in enumerate(self.distributions)
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            **base_state(self),
            "history": self.history.state_dict(),
            "n": self.n.tolist(),
            "last": dict(self._last),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        if "history" in state:
            self.history.load_state_dict(state["history"])
        else:  # saved before the shared history: the latest group-mean success per problem id
            ids, score = state["problem_ids"], state["score"]
            if len(ids) != len(score) or not all(0.0 <= float(s) <= 1.0 for s in score):
                raise ValueError("state 'score' must hold one success rate in [0, 1] per problem id")
            self.history.load_legacy(ids, last_success=score)
        n = np.asarray(state["n"], dtype=np.int64)
        if n.shape != (self.k,):
            raise ValueError(f"state 'n' must have {self.k} counts, got {n.shape}")
        self.n = n
        self._last = {**self._last, **state["last"]}
