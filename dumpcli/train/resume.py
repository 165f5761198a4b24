"""What `dump train --resume` continues: the newest intact checkpoint, and only a recipe that still
describes the same run.

A resume must give the run the user would have had without the interruption. So it refuses any
recipe change that alters what is trained or how (data, seeds, model, warm start, scheduler and its
options, reward, filter, GRPO settings), and allows only what does not: the run's length
(`train.grpo.max_steps`, not below the checkpoint's step), how often it saves, logs and evaluates,
and the eval settings. When `max_steps` changes, the learning-rate schedule is re-planned for the
new length (see `ReplanLearningRate`); so is a curriculum schedule that spans the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from dumpcli.errors import RecipeChanged
from dumpcli.recipe import Recipe
from dumpcli.run_folder import RUN_INFO
from dumpcli.train.config import GRPO_DEFAULTS, max_steps

# YAML paths (and everything under them) a resume may change
ALLOWED = (
    "name",
    "output_dir",
    "eval",
    "compare",
    "train.eval_every",
    "train.save_steps",
    "train.grpo.max_steps",
    "train.budget",
    "train.grpo.save_steps",
    "train.grpo.save_total_limit",
    "train.grpo.logging_steps",
    "train.grpo.report_to",
    "train.grpo.log_completions",
)
_UNSET = "(not set)"


def normalised(dump: dict[str, Any]) -> dict[str, Any]:
    """A recipe dump with every default filled in (an older run.json may lack newer fields), the
    GRPO settings on top of our defaults and the scheduler's options parsed by the scheduler, so
    that writing a default out is not a change."""
    try:
        dump = Recipe.model_validate(dump).model_dump(mode="json")
    except ValueError:
        return dump
    train = dump.get("train", {})
    train["grpo"] = {**GRPO_DEFAULTS, **train.get("grpo", {})}
    sched = dict(train.get("scheduler", {}))
    try:
        from dumpcli.schedulers import registry

        name = sched.pop("name")
        train["scheduler"] = {
            "name": name,
            **registry.get_class(name).Options(**sched).model_dump(mode="json"),
        }
    except (KeyError, ValueError, TypeError):
        pass
    return dump


def recipe_changes(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(YAML path, old, new) of every leaf that differs; lists of mappings compare item by item."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            where = f"{path}.{key}" if path else str(key)
            out += recipe_changes(old.get(key, _UNSET), new.get(key, _UNSET), where)
        return out
    if (
        isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
        and any(isinstance(x, dict) for x in old + new)
    ):
        return [
            c
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for c in recipe_changes(a, b, f"{path}.{i}")
        ]
    return [] if old == new else [(path, old, new)]


def _allowed(path: str) -> bool:
    return any(path == a or path.startswith(a + ".") for a in ALLOWED)


def check_unchanged(
    recipe: Recipe, run_info: dict[str, Any], out: Path, step: int
) -> list[tuple[str, Any, Any]]:
    """Raise RecipeChanged (exit 2) when the recipe differs from the one run.json recorded in a way
    that alters the run, or cuts `max_steps` below the checkpoint's `step`. Returns the allowed
    changes (for the console)."""
    old, new = normalised(run_info.get("recipe", {})), normalised(recipe.model_dump(mode="json"))
    changes = recipe_changes(old, new)
    refused = [c for c in changes if not _allowed(c[0])]
    if max_steps(recipe) < step:  # a run cannot end before the step it resumes from
        refused += [c for c in changes if c[0] == "train.grpo.max_steps"]
    recorded = (run_info.get("data") or {}).get("data_hash")
    if (
        recorded
        and recorded != recipe.data_hash()
        and not any(c[0].split(".")[0] in ("data", "seed") for c in refused)
    ):
        refused.append(("data (hash of seed + data)", recorded, recipe.data_hash()))
    if refused:
        lines = [
            f"{p}: {_short(a)} -> {_short(b)}"
            + (f" (below the checkpoint's step {step})" if p == "train.grpo.max_steps" else "")
            for p, a, b in refused
        ]
        raise RecipeChanged(
            f"--resume: the recipe changed since {out} started ({out / RUN_INFO} records its recipe):\n  "
            + "\n  ".join(lines)
            + "\nThese change what the run trains on or how, and a resume would mix two runs. Undo "
            "them to resume, or train a new run with --set output_dir=NEW_DIR. (A resume may change "
            "train.grpo.max_steps, train.eval_every, train.save_steps and eval.*)"
        )
    return changes


def _short(value: Any) -> str:
    text = value if isinstance(value, str) and value == _UNSET else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_changes(changes: Iterable[tuple[str, Any, Any]]) -> str:
    return ", ".join(f"{p}: {_short(a)} -> {_short(b)}" for p, a, b in changes)


class ReplanLearningRate(TrainerCallback):
    """On resume, give the first resumed step the lr of this run's schedule.

    transformers rebuilds the lr schedule for the current `max_steps` but restores the optimizer's
    lr from the checkpoint, i.e. the *saved* schedule's next value (0.0 after a linear decay that
    ended there): an extended run then trained one step at 0.0 and went on at the new schedule's
    value. Setting the lr from the rebuilt schedule makes every step s, resumed or not, get
    schedule(s; max_steps): the lr a run launched with this `max_steps` has at step s."""

    def on_train_begin(
        self, args: Any, state: Any, control: Any, optimizer: Any = None, lr_scheduler: Any = None, **kw: Any
    ) -> None:
        from torch.optim.lr_scheduler import LambdaLR

        scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate may wrap it
        if state.global_step == 0 or optimizer is None or not isinstance(scheduler, LambdaLR):
            return
        lrs = [
            base * fn(scheduler.last_epoch)
            for base, fn in zip(scheduler.base_lrs, scheduler.lr_lambdas, strict=True)
        ]
        for group, lr in zip(optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        scheduler._last_lr = lrs
