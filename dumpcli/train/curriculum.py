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

from dumpcli.io import append_jsonl
from dumpcli.run_folder import CurriculumLine
from dumpcli.schedulers import Feedback, Scheduler
from dumpcli.schedulers.selector import (
    Candidate,
    Improvement,
    ProblemSelector,
    SelectorOptions,
    proposal_scheduler,
)


class Curriculum:
    """Draws a distribution per prompt slot from the scheduler, then a problem uniformly inside it
    (with replacement, as in DUMP). With a problem-level selector, it draws a candidate pool that
    way and the selector chooses the prompts in it. The draw for generation round t uses a generator
    seeded by (seed, t), so a resumed run draws exactly what the uninterrupted run would have."""

    def __init__(
        self,
        scheduler: Scheduler,
        row_distributions: Sequence[str],
        seed: int,
        log_path: Path | None = None,
        candidate_fn: Callable[[int], Candidate] | None = None,
        selector: ProblemSelector | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.selector = selector
        if selector is not None and candidate_fn is None:
            raise ValueError(f"the {selector.name} selector needs candidate_fn (row -> Candidate)")
        if selector is not None and selector.distributions != scheduler.distributions:
            raise ValueError("the selector and its proposal scheduler must see the same distributions")
        self.candidate_fn = candidate_fn
        # draws a selector that learns from the policy's improvement still has to hear about:
        # (chosen candidates, their q) per draw, and which prompts of those draws were trained on
        self._selections: list[tuple[list[Candidate], np.ndarray | None]] = []
        self._kept: list[int] | None = None
        self.seed = seed
        self.log_path = log_path
        self.draws = 0  # generation rounds drawn so far
        rows_by_dist: dict[str, list[int]] = defaultdict(list)
        for row, dist in enumerate(row_distributions):
            rows_by_dist[dist].append(row)
        missing = [d for d in scheduler.distributions if not rows_by_dist.get(d)]
        if missing:
            raise ValueError(f"no training problems for distribution(s): {', '.join(missing)}")
        self.rows = [np.asarray(rows_by_dist[d], dtype=np.int64) for d in scheduler.distributions]
        self._pending: CurriculumLine | None = None
        self._last_probabilities: dict[str, float] = {}
        self._last_shares: dict[str, float] = {}
        self._last_dist_idx = np.zeros(0, dtype=np.int64)

    @property
    def name(self) -> str:
        """The method's name: the selector's if there is one, else the scheduler's."""
        return self.selector.name if self.selector is not None else self.scheduler.name

    @property
    def distributions(self) -> list[str]:
        return self.scheduler.distributions

    @property
    def learns_from_improvement(self) -> bool:
        """Whether the trainer should call `observe_improvement` after each optimizer step."""
        return self.selector is not None and self.selector.learns_from_improvement

    @property
    def pending_selections(self) -> list[tuple[list[Candidate], np.ndarray | None]]:
        """Draws still waiting for `observe_improvement` (shared from rank 0 in distributed runs)."""
        return self._selections

    @pending_selections.setter
    def pending_selections(self, value: list[tuple[list[Candidate], np.ndarray | None]]) -> None:
        self._selections = value

    def draw(self, num_prompts: int, step: int) -> list[int]:
        """Row indices of the next `num_prompts` prompts; remembers what it drew for the log."""
        probs = self.scheduler.probabilities()
        rng = np.random.default_rng([self.seed, self.draws])
        pool_size = self.selector.pool_size(num_prompts) if self.selector is not None else num_prompts
        dist_idx = rng.choice(len(probs), size=pool_size, p=probs)
        rows = [int(self.rows[d][rng.integers(len(self.rows[d]))]) for d in dist_idx]
        if self.selector is not None:
            assert self.candidate_fn is not None
            candidates = [self.candidate_fn(r) for r in rows]
            chosen, q = self.selector.select(candidates, num_prompts, rng)
            if self.selector.learns_from_improvement:
                self._selections.append(([candidates[i] for i in chosen], q))
            rows = [rows[i] for i in chosen]
            dist_idx = dist_idx[chosen]
        self._last_probabilities = {d: float(p) for d, p in zip(self.distributions, probs, strict=True)}
        self._pending = {
            "step": step,
            "draw": self.draws,
            "probabilities": self._last_probabilities,
            "stats": self.scheduler.stats(),
        }
        self._count_drawn(dist_idx)
        if self.selector is not None:
            self._pending["selector"] = self.selector.stats()
        self.draws += 1
        return rows

    def _count_drawn(self, dist_idx: np.ndarray) -> None:
        counts = np.bincount(dist_idx, minlength=len(self.distributions))
        self._last_dist_idx = dist_idx
        self._last_shares = {
            d: int(c) / max(1, len(dist_idx)) for d, c in zip(self.distributions, counts, strict=True)
        }
        if self._pending is not None:
            self._pending["drawn"] = {d: int(c) for d, c in zip(self.distributions, counts, strict=True) if c}

    def take(self, positions: Sequence[int]) -> None:
        """Only these prompts of the latest draw, in this order, are generated (`train.rollouts: skip`
        draws more than it needs): the log line's `drawn`, the shares and a selector's pending
        selection keep just them."""
        chosen = np.asarray(positions, dtype=np.int64)
        self._count_drawn(self._last_dist_idx[chosen])
        if self.selector is not None and self.selector.learns_from_improvement and self._selections:
            candidates, q = self._selections[-1]
            self._selections[-1] = ([candidates[i] for i in chosen], q[chosen] if q is not None else None)

    def last_probabilities(self) -> dict[str, float]:
        """Probabilities of the latest draw (what the metrics report for this step)."""
        return dict(self._last_probabilities)

    def last_shares(self) -> dict[str, float]:
        """Share of the latest draw's prompts from each distribution (drawn / prompts; 0 if none):
        what the probabilities actually gave, after the selector's choice where there is one."""
        return dict(self._last_shares)

    def observe(self, feedback: Sequence[Feedback]) -> dict[str, dict[str, float]]:
        """Update the scheduler (and selector) with one generation round's gathered feedback; returns
        per-distribution means (reward, accuracy, mean |advantage|, completions), writes the log line."""
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
        if self.selector is not None:
            self.selector.update(feedback)
        if self._pending is not None:
            line: CurriculumLine = {
                **self._pending,
                "scheduler": self.name,
                "reward": {d: v["reward"] for d, v in per_dist.items()},
                "accuracy": {d: v["accuracy"] for d, v in per_dist.items()},
                "abs_advantage": {d: v["abs_advantage"] for d, v in per_dist.items()},
            }
            if self.log_path is not None:
                append_jsonl(self.log_path, line)
            self._pending = None
        return per_dist

    def keep(self, prompts: Sequence[int]) -> None:
        """Only these prompts (positions in the concatenated draws since the last improvement
        update) reached the optimizer, in this order (dynamic sampling dropped the others)."""
        self._kept = [int(p) for p in prompts]

    def observe_improvement(self, improvement: Improvement) -> dict[str, float]:
        """After the optimizer step: what it did to the trained prompts' completions, in the order
        they were trained (draw order, or the order given to `keep`); returns the selector's metrics."""
        if self.selector is None or not self._selections:
            return {}
        selections, self._selections = self._selections, []
        kept, self._kept = self._kept, None
        selected = [c for chosen, _ in selections for c in chosen]
        q_parts = [q for _, q in selections]
        q = None if any(p is None for p in q_parts) else np.concatenate(q_parts)  # type: ignore[arg-type]
        if kept is not None:
            selected = [selected[i] for i in kept]
            q = q[kept] if q is not None else None
        prompts = improvement.groups()
        if prompts != len(selected):
            raise ValueError(f"improvements of {prompts} prompts for {len(selected)} selected prompts")
        return self.selector.update_improvement(selected, q, improvement)

    def state_dict(self) -> dict[str, Any]:
        return {
            "draws": self.draws,
            "seed": self.seed,
            "scheduler": self.scheduler.state_dict(),
            "selector": self.selector.state_dict() if self.selector is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.draws = int(state["draws"])
        self.seed = int(state["seed"])
        self.scheduler.load_state_dict(state["scheduler"])
        saved = state.get("selector")
        if (saved is None) != (self.selector is None):
            raise ValueError(
                "the checkpoint's curriculum was saved "
                + (
                    "without a problem selector"
                    if saved is None
                    else f"with selector {saved.get('scheduler')!r}"
                )
                + f", this run uses {self.name!r}"
            )
        if self.selector is not None:
            self.selector.load_state_dict(saved)


def build_curriculum(
    name: str,
    options: dict[str, Any],
    row_distributions: Sequence[str],
    distributions: Sequence[str],
    sizes: Sequence[int],
    seed: int,
    log_path: Path | None = None,
    candidate_fn: Callable[[int], Candidate] | None = None,
    total_steps: int | None = None,
) -> Curriculum:
    """The curriculum of `train.scheduler`: a distribution-level scheduler alone, or a problem-level
    selector on top of its proposal scheduler (uniform over problems by default). `total_steps`
    (generation steps of the run) goes to a scheduler that follows the training clock."""
    from dumpcli.schedulers import registry

    proposal, proposal_options = distribution_level_part(name, options, total_steps)
    scheduler = registry.build(proposal, distributions, seed=seed, sizes=sizes, **proposal_options)
    selector = None
    if registry.is_problem_level(name):
        selector = registry.build_selector(name, distributions, seed=seed, sizes=sizes, **options)
    return Curriculum(scheduler, row_distributions, seed, log_path, candidate_fn, selector)


def distribution_level_part(
    name: str, options: dict[str, Any], total_steps: int | None = None
) -> tuple[str, dict[str, Any]]:
    """(scheduler name, its options) that draws the distributions of method `name`: the method
    itself, or a problem-level selector's proposal; with the run's length as `total_steps` when
    that scheduler follows the training clock and the recipe does not set it."""
    from dumpcli.schedulers import registry

    if registry.is_problem_level(name):
        parsed = registry.get_class(name).Options(**options)
        assert isinstance(parsed, SelectorOptions)
        name, options = proposal_scheduler(parsed.proposal), dict(parsed.proposal_options)
    cls = registry.get_class(name)
    if getattr(cls, "needs_total_steps", False) and "total_steps" not in options and total_steps:
        options = {**options, "total_steps": total_steps}
    return name, options


def generation_steps(
    max_steps: int, gradient_accumulation_steps: int, steps_per_generation: int, num_iterations: int
) -> int:
    """Generation batches (curriculum draws) in a run of `max_steps` optimizer steps: TRL generates
    every steps_per_generation * num_iterations micro-batches, and steps every
    gradient_accumulation_steps micro-batches."""
    micro = max_steps * gradient_accumulation_steps
    return max(1, -(-micro // (steps_per_generation * num_iterations)))


def dataset_candidates(dataset: Any) -> Callable[[int], Candidate]:
    """Row index -> what a selector sees of a problem (its text, source, difficulty)."""

    def candidate(row: int) -> Candidate:
        r = dataset[row]
        text = "\n".join(m["content"] for m in r["prompt"] if m["role"] != "system")
        return Candidate(r["id"], text, r["source"], r["difficulty"], r["distribution"])

    return candidate
