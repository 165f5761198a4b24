"""`dump train`: prepared data -> starting policy -> CurriculumGRPOTrainer -> checkpoints.

Writes the run folder described in dumpcli/run_folder.py: `checkpoint-<step>/` (model, optimizer,
TRL state, curriculum state, completeness marker), `curriculum.jsonl` (one line per generation
round), `eval.jsonl` (every `train.eval_every` steps), `train_log.jsonl` (TRL's logged metrics)
and `run.json` (what was run, one entry per start or resume). `--resume` continues from the newest
intact checkpoint with the same recipe (dumpcli/train/resume.py).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from dumpcli import __version__
from dumpcli.errors import DiskFull, DumpError, Interrupted, RecipeChanged, RunFolderError
from dumpcli.io import append_jsonl, own_folder, refuse_symlinks, write_json
from dumpcli.recipe import Recipe, RecipeError, missing_extras
from dumpcli.run_folder import (
    RunFolder,
    RunSegment,
    TrainLogLine,
    adopt_legacy,
    append_eval,
    checkpoint_dirs,
    checkpoint_step,
    describe_skipped,
    disk_full_message,
    foreign_files,
    is_disk_full,
    links_in_run,
    newest_intact_checkpoint,
    read_evals,
    read_run_info,
    start_verdict,
    truncate_logs,
)
from dumpcli.tables import keep_headers_whole
from dumpcli.train.config import GRPO_DEFAULTS, grpo_config_kwargs, max_steps, train_seed
from dumpcli.train.trackers import report_eval


class _StopOnInterrupt(TrainerCallback):
    """First Ctrl-C (SIGINT) or SIGTERM (what cluster schedulers send before they kill a job, at
    preemption or a time limit): finish the current step, save a checkpoint, stop; the run exits
    with 128 + the signal (130, 143). A second one: stop now. Under several processes the ranks
    agree at each step's end whether any of them was signalled, so they all save that same step."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, console: Console) -> None:
        self.console = console
        self.signal: int | None = None  # the first signal this process received
        self.stopped = False  # this run stopped for a signal (here or on another rank)
        self.trainer: Any = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGTERM)

    def install(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.signal = signum
            again = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            self.console.print(
                f"\n[yellow]{signal.Signals(signum).name}: saving a checkpoint after this step "
                f"({again} again to abort)"
            )

        for sig in self.SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, handler)

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            if previous is not None:
                signal.signal(sig, previous)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        asked = self.requested
        if self.trainer is not None and self.trainer.accelerator.num_processes > 1:
            asked = self.trainer._any_rank(asked)
        if asked:
            self.stopped = True
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
            line: TrainLogLine = {"step": state.global_step, "time": time.time(), **logs}  # type: ignore[typeddict-item]
            append_jsonl(self.path, line)


class _PeriodicEval(TrainerCallback):
    """Evaluate on the test split at step 0 (the starting policy, before any update) and every
    `every` steps, append to eval.jsonl. Without step 0 a curve cannot show that training made
    the model worse than where it started.

    Every rank takes part, each generating for its share of the test problems, inside TRL's
    `unwrap_model_for_generation` (under ZeRO-3 it gathers the sharded weights; under FSDP v1 the
    full parameters are summoned as TRL does for its own generation). One rank generating alone
    would wait forever for the others at the first collective of a sharded forward pass. The
    main process writes the line."""

    def __init__(
        self, recipe: Recipe, every: int, out: Path, console: Console, start: dict[str, Any] | None = None
    ) -> None:
        self.recipe, self.every, self.out, self.console = recipe, every, out, console
        self.start = start  # step 0 already evaluated by the caller (same policy, same eval spec)
        self.trainer: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step != 0:  # a resumed run already has its step 0
            return
        if self.start is not None and self.every:
            if state.is_world_process_zero:
                append_eval(self.out, 0, self.start)
            report_eval(self.trainer, state, self.start)
            return
        self._evaluate(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # the step that spends train.budget ends the run: it gets its evaluation too
        if self.every and (state.global_step % self.every == 0 or self.trainer.check_budget()):
            self._evaluate(state)

    def _evaluate(self, state: Any) -> None:
        if not self.every:
            return
        from trl.models import unwrap_model_for_generation

        from dumpcli.evaluate import evaluate_during_training

        t = self.trainer
        accelerator = t.accelerator
        with (
            t.compute.paused(),
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
            append_eval(self.out, state.global_step, result)
        report_eval(t, state, result)  # the tracker of train.grpo.report_to, if any


def _full_fsdp_params(model: Any, accelerator: Any) -> Any:
    """FSDP v1 keeps only a shard of each weight outside forward: summon the full ones for
    generation (what TRL does around its own `generate`); FSDP v2 and everything else: no-op."""
    import contextlib

    plugin = getattr(accelerator.state, "fsdp_plugin", None)
    if plugin is None or getattr(plugin, "fsdp_version", 1) != 1:
        return contextlib.nullcontext()
    from torch.distributed.fsdp import FullyShardedDataParallel

    return FullyShardedDataParallel.summon_full_params(model, recurse=False)


def train(
    recipe: Recipe,
    *,
    resume: bool = False,
    console: Console,
    callbacks: Sequence[TrainerCallback] = (),
    draw_observers: Sequence[Callable[[Any], None]] = (),
    start_eval: dict[str, Any] | None = None,
) -> Path:
    """Run (or resume) GRPO with the recipe's curriculum; returns the output directory.
    `callbacks` (extra TrainerCallbacks) and `draw_observers` (called with each rank's
    `trainer.Draw`) are for tools and tests that watch a run. `start_eval` ({"key", "result"}:
    `dump compare` evaluates the shared start once) is written as step 0 instead of evaluating
    again, when its key (evaluate.start_eval_key: policy, eval settings, scheme) is this run's.

    The run folder has one owner: a second `dump train` / `dump prepare` on it stops at once, and
    a log or run.json that is a symbolic link stops the run before any work (see io.own_folder)."""
    missing = missing_extras(recipe)
    if missing:
        raise DumpError("; ".join(missing))
    with own_folder(recipe.output_path, "dump train"):
        refuse_symlinks(recipe.output_path, links_in_run(recipe.output_path))
        try:
            return _train(
                recipe,
                resume=resume,
                console=console,
                callbacks=callbacks,
                draw_observers=draw_observers,
                start_eval=start_eval,
            )
        except OSError as e:  # a write outside a checkpoint save (logs, run.json, a resume's rewrite)
            if not is_disk_full(e):
                raise
            doing = f"writing {e.filename}" if e.filename else "writing to the run folder"
            raise DiskFull(disk_full_message(recipe.output_path, doing, e)) from e


def _train(
    recipe: Recipe,
    *,
    resume: bool,
    console: Console,
    callbacks: Sequence[TrainerCallback],
    draw_observers: Sequence[Callable[[Any], None]],
    start_eval: dict[str, Any] | None,
) -> Path:
    out = recipe.output_path
    folder = RunFolder(out)
    # everything a resume checks comes before anything is prepared, loaded or rewritten
    checkpoint, skipped, run_info = _resume_point(recipe, out, console) if resume else (None, [], None)
    if not resume and checkpoint_dirs(out):
        raise DumpError(
            f"{out} already has checkpoints: pass --resume to continue, or --set output_dir=NEW_DIR"
        )
    foreign = foreign_files(out) if checkpoint is None else []
    if foreign:  # a new run would replace them
        raise RunFolderError(
            f"{out} holds files that no dumpcli run wrote (there is no run.json of a `dump train` "
            f"beside them): {', '.join(foreign)}\n"
            "  a new run would replace them: move them out of the folder, or give this run "
            "another folder: --set output_dir=NEW_DIR"
        )
    if checkpoint is not None and (checkpoint_step(checkpoint) or 0) >= max_steps(recipe):
        # transformers would train one more step past max_steps (at lr 0.0) and log it
        console.print(
            f"{out} is finished: {checkpoint.name} is its last step (train.grpo.max_steps "
            f"{max_steps(recipe)}); to train on, --resume with a larger train.grpo.max_steps"
        )
        return out
    spec = recipe.train.budget
    if checkpoint is not None and spec.active:
        from dumpcli.train.compute import budget_reached, checkpoint_compute

        spent = checkpoint_compute(checkpoint)
        if budget_reached(spent, spec.completions, spec.tokens):
            console.print(
                f"{out} is finished: {checkpoint.name} spent its train.budget "
                f"({int(spent.get('completions', 0))} completions, {int(spent.get('tokens', 0))} tokens); "
                "to train on, --resume with a larger train.budget"
            )
            return out

    import torch
    from accelerate import PartialState
    from trl import GRPOConfig

    from dumpcli.data.ensure import ensure_prepared
    from dumpcli.data.prepared import load_split, split_column
    from dumpcli.model import load_pretrained, lora_config, model_identity
    from dumpcli.puzzles.rewards import RewardFunction, user_functions
    from dumpcli.train.curriculum import build_curriculum, dataset_candidates, generation_steps
    from dumpcli.train.progress import RichProgress
    from dumpcli.train.resume import ReplanLearningRate
    from dumpcli.train.trainer import CurriculumGRPOTrainer, load_curriculum_state
    from dumpcli.train.warmup import data_fingerprint, prepare_policy

    # form the process group now (on CPU accelerate would only do it inside GRPOConfig), so the
    # ranks can wait for each other while one prepares the data
    state = PartialState(cpu=not torch.cuda.is_available())
    main_process = state.is_main_process
    with state.main_process_first():  # one rank prepares data, the others then read it
        manifest = ensure_prepared(recipe, console)
    train_ds, test_ds = load_split(recipe, "train"), load_split(recipe, "test")
    fingerprint = data_fingerprint(train_ds, test_ds)
    recorded = ((run_info or {}).get("data") or {}).get("fingerprint")
    if checkpoint is not None and recorded and recorded != fingerprint:
        raise RecipeChanged(
            f"--resume: the prepared problems differ from those {out} trained on (data fingerprint "
            f"{recorded} -> {fingerprint}): an input file or a puzzle generator changed. Restore them "
            "to resume, or train a new run with --set output_dir=NEW_DIR"
        )
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
    try:
        curriculum = build_curriculum(
            sched.name,
            sched.options(),
            split_column(train_ds, "distribution"),
            distributions,
            sizes,
            seed=train_seed(recipe),
            log_path=folder.curriculum_log if main_process else None,
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
    from_step = 0
    saved_state: dict[str, Any] = {}
    if checkpoint is not None:
        saved_state = load_curriculum_state(checkpoint)
        curriculum.load_state_dict(saved_state)
        from_step = checkpoint_step(checkpoint) or 0
        if main_process:
            adopted = adopt_legacy(out)  # before run.json gets `runs` below
            if adopted:
                console.print(
                    "--resume: checkpoints of a run started by an earlier dumpcli, checked by their "
                    f"headers and marked complete: {', '.join(p.name for p in adopted)}"
                )
            truncate_logs(out, from_step, curriculum.draws)
        console.print(f"resuming from {checkpoint} (step {from_step})")
    elif main_process:
        for path in folder.logs:
            path.unlink(missing_ok=True)

    if main_process:
        segment: RunSegment = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "from_step": from_step,
            "max_steps": config.max_steps,
            "checkpoint": checkpoint.name if checkpoint is not None else None,
            "skipped": describe_skipped(skipped),
            "tool_version": __version__,
        }
        earlier = _earlier_segments(run_info) if checkpoint is not None else []
        write_json(
            folder.run_info,
            {
                "tool_version": __version__,
                "recipe": recipe.model_dump(mode="json"),
                "recipe_hash": recipe.recipe_hash(),
                "scheduler": sched.name,
                "seed": train_seed(recipe),
                "distributions": distributions,
                "data": {**_data_used(recipe, manifest), "fingerprint": fingerprint},
                "policy_start": str(policy_dir),
                "started": (run_info or {}).get("started", segment["started"])
                if checkpoint is not None
                else segment["started"],
                "runs": [*earlier, segment],
            },
        )

    progress = RichProgress(console, f"GRPO {sched.name}")
    interrupt = _StopOnInterrupt(console)
    from dumpcli.evaluate import start_eval_key

    known_start = None
    if start_eval is not None and start_eval.get("key") == start_eval_key(recipe, policy_dir):
        known_start = start_eval["result"]
    periodic_eval = _PeriodicEval(recipe, recipe.train.eval_every, out, console, known_start)
    trainer = CurriculumGRPOTrainer(
        model=model,
        args=config,
        train_dataset=train_ds,
        processing_class=tokenizer,
        curriculum=curriculum,
        reward_function=RewardFunction(recipe.train.reward.scheme),
        user_rewards=user_functions(recipe.train.reward.functions),
        group_filter=recipe.train.filter,
        budget=recipe.train.budget,
        rollouts=recipe.train.rollouts,
        draw_observers=draw_observers,
        peft_config=lora_config(recipe) if checkpoint is None else None,
        callbacks=[
            progress,
            interrupt,
            _LogToFile(folder.train_log),
            periodic_eval,
            ReplanLearningRate(),
            *callbacks,
        ],
    )
    periodic_eval.trainer = interrupt.trainer = trainer
    trainer.compute.load_state_dict(saved_state.get("compute"))
    if checkpoint is not None:
        trainer.load_rollouts_state(saved_state.get("rollouts"))
    trainer.model_card_base = model_identity(recipe.model, recipe.base_dir)
    trainer.remove_callback(PrinterCallback)  # the Rich bar replaces raw log dicts
    interrupt.install()
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        interrupt.uninstall()
    if interrupt.stopped:
        console.print(f"[yellow]stopped at step {trainer.state.global_step}; continue with --resume")
        raise Interrupted(
            f"interrupted at step {trainer.state.global_step}; checkpoint saved in {out}",
            exit_code=interrupt.exit_code,
        )
    if trainer.budget_reached:
        c = trainer.compute
        console.print(
            f"train.budget spent at step {trainer.state.global_step}: {c.completions} completions, "
            f"{c.tokens} completion tokens"
        )
    _print_summary(curriculum, trainer, console)
    if main_process and recipe.train.eval_every:
        verdict, below = start_verdict(read_evals(out))
        console.print(f"[bold red]{verdict}" if below else verdict)
    return out


def _resume_point(
    recipe: Recipe, out: Path, console: Console
) -> tuple[Path | None, list[tuple[Path, list[str]]], dict[str, Any] | None]:
    """(checkpoint to resume from, newer damaged ones passed over, run.json) for `--resume`.

    Reads only: the checkpoints are validated (newest intact one wins, each one passed over is
    named with its problems) and the recipe is checked against run.json before any log is cut."""
    from dumpcli.train.resume import check_unchanged, describe_changes

    checkpoint, skipped = newest_intact_checkpoint(out)
    for line in describe_skipped(skipped):
        console.print(f"[yellow]--resume: passing over {escape(line)}", highlight=False)
    if checkpoint is None:
        if skipped:
            raise DumpError(
                f"--resume: no intact checkpoint in {out} (see above); move the damaged ones away to "
                "start over in this folder, or train a new run with --set output_dir=NEW_DIR"
            )
        console.print(f"[yellow]--resume: no checkpoint in {out}; starting from the beginning")
        return None, [], None
    if skipped:
        console.print(f"[yellow]--resume: falling back to {checkpoint.name}, the newest intact checkpoint")
    run_info = read_run_info(out)
    step = checkpoint_step(checkpoint) or 0
    if run_info is None:
        console.print(
            f"[yellow]--resume: no readable run.json in {out}: the recipe cannot be checked against the run's"
        )
        return checkpoint, skipped, None
    changes = check_unchanged(recipe, run_info, out, step)
    if changes:
        console.print(f"--resume with {escape(describe_changes(changes))}", highlight=False)
    if any(path == "train.grpo.max_steps" for path, _, _ in changes):
        console.print(
            f"--resume: the learning-rate schedule is re-planned for {max_steps(recipe)} steps: "
            f"step {step + 1} on gets the lr a run of {max_steps(recipe)} steps has there"
        )
    return checkpoint, skipped, run_info


def _earlier_segments(run_info: dict[str, Any] | None) -> list[RunSegment]:
    """run.json's `runs`; for a run.json written before `runs` existed, its one start."""
    if run_info is None:
        return []
    if "runs" in run_info:
        return list(run_info["runs"])
    grpo = (run_info.get("recipe") or {}).get("train", {}).get("grpo", {})
    return [
        {
            "started": run_info.get("started", "?"),
            "from_step": 0,
            "max_steps": int(grpo.get("max_steps", GRPO_DEFAULTS["max_steps"])),
            "checkpoint": None,
            "skipped": [],
            "tool_version": run_info.get("tool_version", "?"),
        }
    ]


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
    console.print(keep_headers_whole(table, console))
