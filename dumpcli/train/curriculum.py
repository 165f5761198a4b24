"""The sampler side of the curriculum: draw prompts by the scheduler's probabilities, feed
scored completions back, log one line per generation step to curriculum.jsonl.

Kept free of TRL so it can be tested (and reasoned about) on its own. Every rank builds the
same `Curriculum` and sees the same gathered feedback, so every rank draws the same prompts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from dumpcli.io import append_jsonl
from dumpcli.schedulers import Feedback, Scheduler


class Curriculum:
    """Draws a distribution per prompt slot from the scheduler, then a problem uniformly inside it
    (with replacement, as in DUMP). The draw for generation step t uses a generator seeded by
    (seed, t), so a resumed run draws exactly what the uninterrupted run would have."""

    def __init__(
        self,
        scheduler: Scheduler,
        row_distributions: Sequence[str],
        seed: int,
        log_path: Path | None = None,
        candidate_fn: Callable[[int], Any] | None = None,
    ) -> None:
        self.scheduler = scheduler
        # problem-level schedulers (the curator) choose inside a candidate pool drawn by distribution
        self.problem_level = bool(getattr(scheduler, "problem_level", False))
        if self.problem_level and candidate_fn is None:
            raise ValueError(f"the {scheduler.name} scheduler needs candidate_fn (row -> Candidate)")
        self.candidate_fn = candidate_fn
        self.selection: tuple[list[Any], list[float]] | None = None
        self.seed = seed
        self.log_path = log_path
        self.draws = 0  # generation steps drawn so far
        rows_by_dist: dict[str, list[int]] = defaultdict(list)
        for row, dist in enumerate(row_distributions):
            rows_by_dist[dist].append(row)
        missing = [d for d in scheduler.distributions if not rows_by_dist.get(d)]
        if missing:
            raise ValueError(f"no training problems for distribution(s): {', '.join(missing)}")
        self.rows = [np.asarray(rows_by_dist[d], dtype=np.int64) for d in scheduler.distributions]
        self._pending: dict[str, Any] | None = None
        self._last_probabilities: dict[str, float] = {}

    @property
    def distributions(self) -> list[str]:
        return self.scheduler.distributions

    def draw(self, num_prompts: int, step: int) -> list[int]:
        """Row indices of the next `num_prompts` prompts; remembers what it drew for the log."""
        probs = self.scheduler.probabilities()
        rng = np.random.default_rng([self.seed, self.draws])
        pool_size = num_prompts * (self.scheduler.options.pool_factor if self.problem_level else 1)
        dist_idx = rng.choice(len(probs), size=pool_size, p=probs)
        rows = [int(self.rows[d][rng.integers(len(self.rows[d]))]) for d in dist_idx]
        if self.problem_level:
            assert self.candidate_fn is not None
            candidates = [self.candidate_fn(r) for r in rows]
            chosen, q = self.scheduler.select(candidates, num_prompts, rng)
            self.selection = ([candidates[i] for i in chosen], [float(x) for x in q])
            rows = [rows[i] for i in chosen]
            dist_idx = dist_idx[chosen]
        counts = np.bincount(dist_idx, minlength=len(probs))
        self._last_probabilities = {d: float(p) for d, p in zip(self.distributions, probs, strict=True)}
        self._pending = {
            "step": step,
            "draw": self.draws,
            "probabilities": self._last_probabilities,
            "stats": self.scheduler.stats(),
            "drawn": {d: int(c) for d, c in zip(self.distributions, counts, strict=True) if c},
        }
        self.draws += 1
        return rows

    def last_probabilities(self) -> dict[str, float]:
        """Probabilities of the latest draw (what the metrics report for this step)."""
        return dict(self._last_probabilities)

    def observe(self, feedback: Sequence[Feedback]) -> dict[str, dict[str, float]]:
        """Update the scheduler with one generation step's gathered feedback; returns per-distribution
        means (reward, accuracy, mean |advantage|, completions) and writes the log line."""
        per_dist: dict[str, dict[str, float]] = {}
        groups: dict[str, list[Feedback]] = defaultdict(list)
        for fb in feedback:
            groups[fb.distribution].append(fb)
        for dist, items in groups.items():
            per_dist[dist] = {
                "reward": float(np.mean([f.reward for f in items])),
                "accuracy": float(np.mean([f.success for f in items])),
                "abs_advantage": float(np.mean([abs(f.advantage) for f in items])),
                "completions": float(len(items)),
            }
        self.scheduler.update(feedback)
        if self._pending is not None:
            line = {
                **self._pending,
                "scheduler": self.scheduler.name,
                "reward": {d: v["reward"] for d, v in per_dist.items()},
                "accuracy": {d: v["accuracy"] for d, v in per_dist.items()},
                "abs_advantage": {d: v["abs_advantage"] for d, v in per_dist.items()},
            }
            if self.log_path is not None:
                append_jsonl(self.log_path, line)
            self._pending = None
        return per_dist

    def observe_improvement(self, improvements: Sequence[float]) -> dict[str, float]:
        """Problem-level schedulers: the policy improvement u of each prompt of the latest draw,
        measured after the optimizer step; returns the scheduler's metrics."""
        if self.selection is None:
            return {}
        selected, q = self.selection
        if len(improvements) != len(selected):
            raise ValueError(f"{len(improvements)} improvements for {len(selected)} selected prompts")
        self.selection = None
        return self.scheduler.update_improvement(selected, q, list(improvements))

    def state_dict(self) -> dict[str, Any]:
        return {"draws": self.draws, "seed": self.seed, "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.draws = int(state["draws"])
        self.seed = int(state["seed"])
        self.scheduler.load_state_dict(state["scheduler"])


def truncate_log(path: Path, before_draw: int) -> None:
    """Drop log lines from draws at or after `before_draw` (resuming from a checkpoint)."""
    if not path.exists():
        return
    kept = []
    for raw in path.read_bytes().splitlines():
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # a line cut by kill -9
        if line.get("draw", 0) < before_draw:
            kept.append(raw)
    path.write_bytes(b"".join(k + b"\n" for k in kept))
