"""GRPO config resolution: what `train.grpo` becomes as `trl.GRPOConfig` arguments.

Shared by `dump train`, `--dry-run` and `dump compare`, so the three agree on the step budget,
the seed and the save schedule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dumpcli.grpo import GRPO_DEFAULTS  # with the recipe's check of train.grpo
from dumpcli.recipe import Recipe

__all__ = ["GRPO_DEFAULTS", "grpo_config_kwargs", "max_steps", "train_seed"]


def train_seed(recipe: Recipe) -> int:
    return recipe.train.seed if recipe.train.seed is not None else recipe.seed


def max_steps(recipe: Recipe) -> int:
    """The run's length in optimizer steps (`train.grpo.max_steps`, or our default)."""
    return int({**GRPO_DEFAULTS, **recipe.train.grpo}["max_steps"])


def grpo_config_kwargs(recipe: Recipe, output_dir: Path, *, cpu: bool | None = None) -> dict[str, Any]:
    """GRPOConfig arguments: our defaults, then `train.grpo`. `cpu` (default: no CUDA here) adds
    the CPU settings; `cpu=False` gives what a GPU launch would use (for --dry-run on a laptop)."""
    import torch

    kwargs = {**GRPO_DEFAULTS, **recipe.train.grpo}
    if cpu is None:
        cpu = not torch.cuda.is_available()
    kwargs.setdefault("use_cpu", cpu)
    if cpu:
        kwargs.setdefault("bf16", False)
    kwargs["output_dir"] = str(output_dir)
    kwargs["seed"] = train_seed(recipe)
    if recipe.train.reward.weights() != [1.0]:  # the scheme and user functions (TRL sums them)
        kwargs["reward_weights"] = recipe.train.reward.weights()
    save_steps = recipe.train.save_steps or kwargs["max_steps"]
    kwargs.setdefault("save_strategy", "steps")
    kwargs.setdefault("save_steps", save_steps)
    return kwargs
