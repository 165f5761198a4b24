"""What a run has spent, counted where it is spent: the unit in which curricula are compared.

Per optimiser step the trainer logs, cumulatively from step 0 (`train_log.jsonl`, keys `compute/*`):
- `completions`: completions generated, every generation round included (`train.filter` rounds too);
- `tokens`: completion tokens generated in them;
- `forward_tokens`: completion tokens pushed through extra forward passes of the policy that a
  curriculum asks for (the curator's pi_new pass);
- `seconds`: wall-clock seconds of training, periodic evaluation excluded.
The counters are saved in every checkpoint (with the curriculum state), so a resumed run goes on
counting from where its checkpoint was, and `train.budget` stops a run once one of them is reached.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

KEYS = ("completions", "tokens", "forward_tokens", "seconds")


class ComputeCounter:
    def __init__(self) -> None:
        self.completions = 0
        self.tokens = 0
        self.forward_tokens = 0
        self._seconds_before = 0.0  # from earlier segments of the run (a resume)
        self._started: float | None = None
        self._paused = 0.0

    def start(self) -> None:
        """The clock of this segment starts (training begins or resumes)."""
        self._started = time.perf_counter()
        self._paused = 0.0

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside does not count (periodic evaluation)."""
        begun = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - begun

    @property
    def seconds(self) -> float:
        if self._started is None:
            return self._seconds_before
        return self._seconds_before + time.perf_counter() - self._started - self._paused

    def add_generation(self, completions: int, tokens: int) -> None:
        self.completions += int(completions)
        self.tokens += int(tokens)

    def add_forward(self, tokens: int) -> None:
        self.forward_tokens += int(tokens)

    def as_log(self) -> dict[str, float]:
        return {f"compute/{k}": float(getattr(self, k)) for k in KEYS}

    def state_dict(self) -> dict[str, Any]:
        return {
            "completions": self.completions,
            "tokens": self.tokens,
            "forward_tokens": self.forward_tokens,
            "seconds": self.seconds,
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """A checkpoint's counters; one saved before counters existed (None) starts them at 0."""
        state = state or {}
        self.completions = int(state.get("completions", 0))
        self.tokens = int(state.get("tokens", 0))
        self.forward_tokens = int(state.get("forward_tokens", 0))
        self._seconds_before = float(state.get("seconds", 0.0))
        self._started = None


def budget_reached(spent: dict[str, Any], completions: int | None, tokens: int | None) -> bool:
    """Has a run that spent `spent` (a ComputeCounter.state_dict(), live or from a checkpoint)
    reached its `train.budget` (either limit)?"""
    return (completions is not None and int(spent.get("completions", 0)) >= completions) or (
        tokens is not None and int(spent.get("tokens", 0)) >= tokens
    )


def checkpoint_compute(checkpoint: Path) -> dict[str, Any]:
    """The counters saved in a checkpoint ({} for one saved before they existed)."""
    import torch

    from dumpcli.run_folder import CURRICULUM_STATE

    state = torch.load(checkpoint / CURRICULUM_STATE, weights_only=True)
    return dict(state.get("compute") or {})
