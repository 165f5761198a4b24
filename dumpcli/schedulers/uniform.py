"""Baselines that ignore the feedback: `uniform` (every distribution equally, the DUMP paper's
baseline) and `proportional` (by train-set size, i.e. what shuffling the concatenated data gives).

They still count the responses they are fed (`n` in the stats and the state), so a run's
curriculum.jsonl shows how many responses each distribution actually received.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from dumpcli.schedulers._common import base_state, check_state, feedback_arrays
from dumpcli.schedulers.base import Feedback, Options, Scheduler


class _Static(Scheduler):
    """Fixed probabilities; counts responses per distribution."""

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        self.n = np.zeros(self.k, dtype=np.int64)
        self._p = self._fixed()

    def _fixed(self) -> np.ndarray:
        raise NotImplementedError

    def probabilities(self) -> np.ndarray:
        return self._p.copy()

    def update(self, feedback: Sequence[Feedback]) -> None:
        (idx,) = feedback_arrays(self, feedback)
        self.n += np.bincount(idx, minlength=self.k)

    def stats(self) -> dict[str, dict[str, float]]:
        return {d: {"n": float(self.n[i])} for i, d in enumerate(self.distributions)}

    def state_dict(self) -> dict[str, Any]:
        return {**base_state(self), "n": self.n.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        n = np.asarray(state["n"], dtype=np.int64)
        if n.shape != (self.k,):
            raise ValueError(f"state 'n' must have {self.k} counts, got {n.shape}")
        self.n = n


class Uniform(_Static):
    name: ClassVar[str] = "uniform"
    Options: ClassVar[type[Options]] = Options

    def _fixed(self) -> np.ndarray:
        return np.full(self.k, 1.0 / self.k)


class Proportional(_Static):
    """p_d = train_count_d / sum of train counts (`sizes`, from the manifest)."""

    name: ClassVar[str] = "proportional"
    Options: ClassVar[type[Options]] = Options

    def __init__(
        self, distributions: Sequence[str], *, sizes: Sequence[int] | None = None, **kwargs: Any
    ) -> None:
        if sizes is None:
            raise ValueError("the proportional scheduler needs `sizes` (train examples per distribution)")
        super().__init__(distributions, sizes=sizes, **kwargs)

    def _fixed(self) -> np.ndarray:
        sizes = self.sizes
        if sizes.shape != (self.k,):
            raise ValueError(f"proportional: got {len(sizes)} sizes for {self.k} distributions")
        if not np.isfinite(sizes).all() or (sizes < 0).any() or sizes.sum() <= 0:
            raise ValueError(
                f"proportional: sizes must be non-negative with a positive total, got {sizes.tolist()}"
            )
        return sizes / sizes.sum()
