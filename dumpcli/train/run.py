"""`dump train`: prepared data -> starting policy -> CurriculumGRPOTrainer -> checkpoints.

Writes into OUTPUT: `checkpoint-<step>/` (model, optimizer, TRL state, curriculum state),
`curriculum.jsonl` (one line per generation step), `eval.jsonl` (every `train.eval_every`
steps), `train_log.jsonl` (TRL's logged metrics) and `run.json` (what was run).
"""

from __future__ import annotations

import importlib.util
import re
import signal
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from dumpcli import __version__
from dumpcli.errors import DumpError, Interrupted
from dumpcli.io import append_jsonl, last_by, own_folder, read_jsonl, refuse_symlinks, write_json
from dumpcli.recipe import Recipe, RecipeError

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# the files a run appends to or rewrites in its folder (never through a symbolic link)
RUN_FILES = ("curriculum.jsonl", "train_log.jsonl", "eval.jsonl", "run.json", "manifest.json")

# Defaults that make sense on any machine; anything in `train.grpo` wins.
GRPO_DEFAULTS: dict[str, Any] = {
    "num_generations": 8,
    "per_device_train_batch_size": 16,
    "learning_rate": 1e-6,
    "max_steps": 200,
    "max_completion_length": 256,
    "temperature": 1.0,
    "beta": 0.0,
    "logging_steps": 1,
    "report_to": "none",
    "disable_tqdm": True,
    "log_completions": False,
    "dataloader_num_workers": 0,
    "save_only_model": False,
}


def train_seed(recipe: Recipe) -> int:
    return recipe.train.seed if recipe.train.seed is not None else recipe.seed


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
    save_steps = recipe.train.save_steps or kwargs["max_steps"]
    kwargs.setdefault("save_strategy", "steps")
    kwargs.setdefault("save_steps", save_steps)
    return kwargs


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = [(int(m.group(1)), p) for p in output_dir.glob("checkpoint-*") if (m := CHECKPOINT.match(p.name))]
    found = [(s, p) for s, p in found if (p / "trainer_state.json").exists()]
    return max(found)[1] if found else None


def list_checkpoints(output_dir: Path) -> list[Path]:
    found = [(int(m.group(1)), p) for p in output_dir.glob("checkpoint-*") if (m := CHECKPOINT.match(p.name))]
    return [p for _, p in sorted(found) if (p / "trainer_state.json").exists()]


class _StopOnInterrupt(TrainerCallback):
    """First Ctrl-C: finish the current step, save a checkpoint, stop. Second: stop now."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.requested = False
        self._previous: Any = None

    def install(self) -> None:
        self._previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: Any) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            self.console.print(
                "\n[yellow]interrupt: saving a checkpoint after this step (Ctrl-C again to abort)"
            )

        signal.signal(signal.SIGINT, handler)

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.requested:
            control.should_save = True
            control.should_training_stop = True
        elif state.global_step >= state.max_steps:
            control.should_save = True  # always leave a final checkpoint


class _LogToFile(TrainerCallback):
    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any
    ) -> None:
        if logs and state.is_world_process_zero:
            append_jsonl(self.path, {"step": state.global_step, "time": time.time(), **logs})


class _PeriodicEval(TrainerCallback):
    """Evaluate on the test split at step 0 (the starting policy, before any update) and every
    `every` steps, append to eval.jsonl. Without step 0 a curve cannot show that training made
    the model worse than where it started.

    Every rank takes part, each generating for its share of the test problems, inside TRL's
    `unwrap_model_for_generation` (under ZeRO-3 it gathers the sharded weights; under FSDP v1 the
    full parameters are summoned as TRL does for its own generation). One rank generating alone
    would wait forever for the others at the first collective of a sharded forward pass. The
    main process writes the line."""

    def __init__(self, recipe: Recipe, every: int, path: Path, console: Console) -> None:
        self.recipe, self.every, self.path, self.console = recipe, every, path, console
        self.trainer: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 0:  # a fresh run (a resumed one already has its step 0)
            self._evaluate(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.every and state.global_step % self.every == 0:
            self._evaluate(state)

    def _evaluate(self, state: Any) -> None:
        if not self.every:
            return
        from trl.models import unwrap_model_for_generation

        from dumpcli.evaluate import evaluate_during_training

        t = self.trainer
        accelerator = t.accelerator
        with (
            unwrap_model_for_generation(
                t.model_wrapped, accelerator, gather_deepspeed3_params=t.args.ds3_gather_for_generation
            ) as model,
            _full_fsdp_params(t.model_wrapped, accelerator),
        ):
            result = evaluate_during_training(
                self.recipe,
                model,
                t.processing_class,
                rank=accelerator.process_index,
                world=accelerator.num_processes,
            )
        if state.is_world_process_zero:
            append_jsonl(self.path, {"step": state.global_step, **result})


def _full_fsdp_params(model: Any, accelerator: Any) -> Any:
    """FSDP v1 keeps only a shard of each weight outside forward: summon the full ones for
    generation (what TRL does around its own `generate`); FSDP v2 and everything else: no-op."""
    import contextlib

    plugin = getattr(accelerator.state, "fsdp_plugin", None)
    if plugin is None or getattr(plugin, "fsdp_version", 1) != 1:
        return contextlib.nullcontext()
    from torch.distributed.fsdp import FullyShardedDataParallel

    return FullyShardedDataParallel.summon_full_params(model, recurse=False)


def train(recipe: Recipe, *, resume: bool = False, dry_run: bool = False, console: Console) -> Path:
    """Run (or resume) GRPO with the recipe's curriculum; returns the output directory.

    The run folder has one owner: a second `dump train` / `dump prepare` on it stops at once, and
    a log or run.json that is a symbolic link stops the run before any work (see io.own_folder)."""
    if dry_run:
        from dumpcli.train.dry_run import dry_run as do_dry_run

        do_dry_run(recipe, console=console)
        return recipe.output_path

    if recipe.train.grpo.get("use_vllm") and importlib.util.find_spec("vllm") is None:
        raise DumpError(
            "train.grpo.use_vllm: true needs vLLM, which is not installed: pip install 'dumpcli[vllm]'"
            " (GPU machines), or --set train.grpo.use_vllm=false"
        )
    with own_folder(recipe.output_path, "dump train"):
        checkpoints = [p.name for p in recipe.output_path.glob("checkpoint-*")]
        refuse_symlinks(recipe.output_path, [*RUN_FILES, *checkpoints])
        return _train(recipe, resume=resume, console=console)


def _train(recipe: Recipe, *, resume: bool, console: Console) -> Path:
    from trl import GRPOConfig

    from dumpcli.data.prepare import ensure_prepared, load_split, split_column
    from dumpcli.puzzles.rewards import RewardFunction
    from dumpcli.train.curriculum import build_curriculum, dataset_candidates, generation_steps, truncate_log
    from dumpcli.train.model import load_pretrained, lora_config
    from dumpcli.train.progress import RichProgress
    from dumpcli.train.trainer import CurriculumGRPOTrainer, load_curriculum_state
    from dumpcli.train.warmup import prepare_policy

    out = recipe.output_path
    checkpoint = latest_checkpoint(out) if resume else None
    if resume and checkpoint is None:
        console.print(f"[yellow]--resume: no checkpoint in {out}; starting from the beginning")
    if not resume and latest_checkpoint(out) is not None:
        raise DumpError(
            f"{out} already has checkpoints: pass --resume to continue, or --set output_dir=NEW_DIR"
        )

    import torch
    from accelerate import PartialState

    # form the process group now (on CPU accelerate would only do it inside GRPOConfig), so the
    # ranks can wait for each other while one prepares the data
    state = PartialState(cpu=not torch.cuda.is_available())
    main_process = state.is_main_process
    with state.main_process_first():  # one rank prepares data, the others then read it
        manifest = ensure_prepared(recipe, console)
    train_ds, test_ds = load_split(recipe, "train"), load_split(recipe, "test")
    distributions = [d["name"] for d in manifest["distributions"] if d["train"] > 0]
    sizes = [d["train"] for d in manifest["distributions"] if d["train"] > 0]
    if not distributions:
        raise DumpError("the prepared train split is empty: nothing to train on")

    out.mkdir(parents=True, exist_ok=True)
    policy_dir = prepare_policy(recipe, train_ds, test_ds, console)  # all ranks take part
    start_dir = checkpoint if checkpoint is not None else policy_dir
    model, tokenizer = load_pretrained(start_dir, recipe)

    config = GRPOConfig(**grpo_config_kwargs(recipe, out))
    sched = recipe.train.scheduler
    log_path = out / "curriculum.jsonl"
    try:
        curriculum = build_curriculum(
            sched.name,
            sched.options(),
            split_column(train_ds, "distribution"),
            distributions,
            sizes,
            seed=train_seed(recipe),
            log_path=log_path if main_process else None,
            candidate_fn=dataset_candidates(train_ds),
            total_steps=generation_steps(
                config.max_steps,
                config.gradient_accumulation_steps,
                config.steps_per_generation,
                config.num_iterations,
            ),
        )
    except ValueError as e:  # options that do not fit the prepared distributions (weights' globs, ...)
        raise RecipeError(f"{recipe._source_file}: train.scheduler: {e}") from None
    if checkpoint is not None:
        curriculum.load_state_dict(load_curriculum_state(checkpoint))
        if main_process:
            truncate_log(log_path, before_draw=curriculum.draws)
        console.print(f"resuming from {checkpoint} (step {checkpoint.name.split('-')[-1]})")
    elif main_process:
        for name in ("curriculum.jsonl", "eval.jsonl", "train_log.jsonl"):
            (out / name).unlink(missing_ok=True)

    if main_process:
        write_json(
            out / "run.json",
            {
                "tool_version": __version__,
                "recipe": recipe.model_dump(mode="json"),
                "recipe_hash": recipe.recipe_hash(),
                "scheduler": sched.name,
                "seed": train_seed(recipe),
                "distributions": distributions,
                "data": _data_used(recipe, manifest),
                "policy_start": str(policy_dir),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )

    progress = RichProgress(console, f"GRPO {sched.name}")
    interrupt = _StopOnInterrupt(console)
    periodic_eval = _PeriodicEval(recipe, recipe.train.eval_every, out / "eval.jsonl", console)
    trainer = CurriculumGRPOTrainer(
        model=model,
        args=config,
        train_dataset=train_ds,
        processing_class=tokenizer,
        curriculum=curriculum,
        reward_function=RewardFunction(recipe.train.reward.scheme),
        group_filter=recipe.train.filter,
        peft_config=lora_config(recipe) if checkpoint is None else None,
        callbacks=[progress, interrupt, _LogToFile(out / "train_log.jsonl"), periodic_eval],
    )
    periodic_eval.trainer = trainer
    trainer.remove_callback(PrinterCallback)  # the Rich bar replaces raw log dicts
    interrupt.install()
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        interrupt.uninstall()
    if interrupt.requested:
        console.print(f"[yellow]stopped at step {trainer.state.global_step}; continue with --resume")
        raise Interrupted(f"interrupted at step {trainer.state.global_step}; checkpoint saved in {out}")
    _print_summary(curriculum, trainer, console)
    if main_process and recipe.train.eval_every:
        from dumpcli.evaluate import start_verdict

        verdict, below = start_verdict(last_by(read_jsonl(out / "eval.jsonl"), "step"))
        console.print(f"[bold red]{verdict}" if below else verdict)
    return out


def _data_used(recipe: Recipe, manifest: dict[str, Any]) -> dict[str, Any]:
    """Which prepared data a run trained on (it lives in the data cache, not in the run folder)."""
    return {
        "data_hash": manifest.get("data_hash"),
        "data_dir": manifest.get("data_dir"),
        "created": manifest.get("created"),
        "splits": manifest.get("splits"),
    }


def _print_summary(curriculum: Any, trainer: Any, console: Console) -> None:
    table = Table(title=f"curriculum after {trainer.state.global_step} steps ({curriculum.name})")
    table.add_column("distribution")
    table.add_column("p", justify="right")
    table.add_column("train reward (last)", justify="right")
    table.add_column("train acc (last)", justify="right")
    probs = curriculum.scheduler.probabilities()
    last = trainer.last_per_distribution
    for dist, p in zip(curriculum.distributions, probs, strict=True):
        stats = last.get(dist, {})
        table.add_row(
            dist,
            f"{p:.3f}",
            f"{stats['reward']:+.2f}" if "reward" in stats else "-",
            f"{stats['accuracy']:.2f}" if "accuracy" in stats else "-",
        )
    console.print(table)
