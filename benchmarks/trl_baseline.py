"""Plain TRL `GRPOTrainer` on exactly what `dump train` would use (prepared data, warm-started
policy, GRPOConfig, reward function), and a per-step wall clock, for benchmarks/vs_trl.py and
benchmarks/gpu_check.py. The only difference left is the curriculum: TRL's sampler shuffles the
rows, dumpcli draws them through its scheduler and trainer hooks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from dumpcli.recipe import Recipe


class StepClock(TrainerCallback):
    """Wall-clock seconds of each optimizer step, from the end of the previous step (or the start
    of training) to the end of this one: generation, scoring, loss, update and callbacks."""

    def __init__(self) -> None:
        self.ends: dict[int, float] = {}
        self.lengths: dict[int, float] = {}  # mean completion length of each step (TRL's log)
        self._begin = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._begin = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.ends[state.global_step] = time.perf_counter()

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        if logs and "completions/mean_length" in logs:
            self.lengths[state.global_step] = float(logs["completions/mean_length"])

    def kept_steps(self, skip: int = 0, leave_out: set[int] | None = None) -> list[int]:
        return [s for s in sorted(self.ends) if s > skip and s not in (leave_out or set())]

    def step_seconds(self, skip: int = 0, leave_out: set[int] | None = None) -> list[float]:
        """Per-step seconds after the first `skip` steps, leaving out the steps in `leave_out`
        (e.g. those with a periodic evaluation, which runs at their end; a checkpoint is saved after
        the callbacks' step end, so a save lands in the next step)."""
        return [self.ends[s] - self.ends.get(s - 1, self._begin) for s in self.kept_steps(skip, leave_out)]

    def mean_lengths(self, skip: int = 0, leave_out: set[int] | None = None) -> list[float]:
        """TRL's mean completion length of the same steps (what the step generated)."""
        return [self.lengths[s] for s in self.kept_steps(skip, leave_out)]


def train_plain_trl(recipe: Recipe, out: Path, callbacks: list[TrainerCallback], console: Console) -> Any:
    """TRL's GRPOTrainer, no curriculum, on the recipe's prepared train split from the same warm
    start, with the GRPOConfig `dump train` builds (same seed, batch, lengths, lr, precision) and
    `model.lora` if set. Returns the trainer."""
    from trl import GRPOConfig, GRPOTrainer

    from dumpcli.data.ensure import ensure_prepared
    from dumpcli.data.prepared import load_split
    from dumpcli.model import load_pretrained, lora_config
    from dumpcli.puzzles.rewards import RewardFunction
    from dumpcli.train.config import grpo_config_kwargs
    from dumpcli.train.warmup import prepare_policy

    ensure_prepared(recipe, console)
    train_ds, test_ds = load_split(recipe, "train"), load_split(recipe, "test")
    policy_dir = prepare_policy(recipe, train_ds, test_ds, console)
    model, tokenizer = load_pretrained(policy_dir, recipe)
    config = GRPOConfig(**{**grpo_config_kwargs(recipe, out), "save_strategy": "no"})
    trainer = GRPOTrainer(
        model=model,
        args=config,
        train_dataset=train_ds,
        processing_class=tokenizer,
        reward_funcs=[RewardFunction(recipe.train.reward.scheme)],
        peft_config=lora_config(recipe),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # dump train prints no raw log dicts either
    trainer.train()
    return trainer
