"""`dump train RECIPE --dry-run`: everything a run would use, resolved and printed, no weights loaded.

Meant for checking a GPU recipe on a laptop: the data it would train on, the full GRPOConfig
TRL would get, the scheduler, whether the model is available locally, and the step budget.
"""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dumpcli.recipe import Recipe


def planned_data(recipe: Recipe) -> dict[str, Any]:
    """Prepared counts if prepared, else what `dump prepare` would produce (generator counts, matched files)."""
    from dumpcli.data.prepare import is_prepared, load_manifest

    if is_prepared(recipe):
        manifest = load_manifest(recipe)
        return {
            "prepared": True,
            "distributions": [(d["name"], d["train"], d["test"]) for d in manifest["distributions"]],
            "files": [i["path"] for i in manifest.get("inputs", [])],
        }
    dists: list[tuple[str, int | None, int | None]] = []
    files: list[str] = []
    for src in recipe.data.sources:
        if src.is_generator:
            for d in src.difficulties or []:
                name = "/".join(src.name if f == "source" else str(d) for f in recipe.data.distribution)
                dists.append((name, src.train_per_difficulty, src.test_per_difficulty))
        else:
            for pattern in (src.files or []) + (src.test_files or []):
                files.extend(sorted(glob.glob(str(recipe.resolve(pattern)), recursive=True)))
            dists.append((f"{src.name}/* (known after prepare)", None, None))
    return {"prepared": False, "distributions": dists, "files": files}


def resolved_config(recipe: Recipe) -> Any:
    from trl import GRPOConfig

    from dumpcli.train.run import grpo_config_kwargs

    return GRPOConfig(**grpo_config_kwargs(recipe, recipe.output_path))


def dry_run(recipe: Recipe, console: Console) -> dict[str, Any]:
    from dumpcli.schedulers import registry as schedulers
    from dumpcli.train.model import describe_model_source

    data = planned_data(recipe)
    config = resolved_config(recipe)
    model = describe_model_source(recipe.model, recipe.base_dir)
    sched = recipe.train.scheduler
    names = [d[0] for d in data["distributions"]] or ["-"]
    sizes = [d[1] or 1 for d in data["distributions"]] or [1]
    scheduler = schedulers.build(sched.name, names, seed=recipe.seed, sizes=sizes, **sched.options())
    prompts_per_step = config.generation_batch_size // config.num_generations
    train_total = sum(d[1] or 0 for d in data["distributions"])
    steps_per_epoch = (train_total / prompts_per_step) if train_total else None

    summary = Table(title=f"dry run: {recipe.name}", show_header=False)
    summary.add_column("what", style="bold")
    summary.add_column("value")
    summary.add_row("recipe", str(recipe._source_file))
    summary.add_row("output_dir", str(recipe.output_path))
    summary.add_row(
        "data", "prepared" if data["prepared"] else "not prepared yet (counts = what prepare makes)"
    )
    summary.add_row("input files", str(len(data["files"])))
    summary.add_row("distributions", str(len(data["distributions"])))
    summary.add_row("model", f"{recipe.model.name_or_path} ({model['kind']}; {model['detail']})")
    summary.add_row("model available locally", "yes" if model["available"] else "no")
    summary.add_row("trust_remote_code", str(recipe.model.trust_remote_code))
    summary.add_row("LoRA", str(recipe.model.lora.model_dump()) if recipe.model.lora else "no")
    summary.add_row("warm start", f"{recipe.warmup.steps} SFT steps" if recipe.warmup.steps else "none")
    summary.add_row("scheduler", f"{sched.name} {scheduler.options.model_dump()}")
    summary.add_row("reward scheme", recipe.train.reward.scheme)
    summary.add_row("prompts per step", f"{prompts_per_step} x {config.num_generations} generations")
    summary.add_row("steps", str(config.max_steps))
    summary.add_row(
        "steps per epoch", f"{steps_per_epoch:.1f}" if steps_per_epoch else "unknown until prepared"
    )
    console.print(summary)

    dist_table = Table(title="distributions")
    for col in ("distribution", "train", "test"):
        dist_table.add_column(col, justify="left" if col == "distribution" else "right")
    for name, n_train, n_test in data["distributions"]:
        dist_table.add_row(
            name, "?" if n_train is None else str(n_train), "?" if n_test is None else str(n_test)
        )
    console.print(dist_table)

    defaults = {f.name: f.default for f in dataclasses.fields(type(config))}
    changed = {k: v for k, v in config.to_dict().items() if k in defaults and defaults[k] != v}
    grpo_table = Table(title="GRPOConfig (fields that differ from TRL's defaults)")
    grpo_table.add_column("field")
    grpo_table.add_column("value")
    for key in sorted(changed):
        grpo_table.add_row(key, repr(changed[key]))
    console.print(grpo_table)
    return {
        "data": data,
        "grpo": config.to_dict(),
        "model": model,
        "scheduler": sched.name,
        "prompts_per_step": prompts_per_step,
        "steps_per_epoch": steps_per_epoch,
        "output_dir": str(Path(recipe.output_path)),
    }
