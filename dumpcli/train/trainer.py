"""CurriculumGRPOTrainer: TRL's GRPOTrainer with the prompts of each generation batch chosen
by a curriculum, and the scheduler fed with every completion's advantage after scoring.

Two hooks, nothing else changed (see DESIGN.md, "GRPO integration"):
- `_prepare_inputs`: when a new generation batch is due, replace what the dataloader read
  with prompts drawn from the scheduler's *current* probabilities. The dataloader reads
  ahead by one batch, so a custom Sampler would always lag one step behind the statistics.
- `_generate_and_score_completions`: after TRL computes advantages, gather advantages,
  rewards, successes and distributions from all ranks and update the curriculum (training only);
  with `train.filter` (dynamic sampling), generate more rounds until the batch is full of groups
  that pass the filter (dumpcli/train/filters.py).
The trainer does not know which curriculum method runs: it calls the `Curriculum`, and measures the
policy's improvement after each step only when the curriculum asks for it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import broadcast_object_list, gather_object
from transformers import TrainerCallback
from trl import GRPOTrainer

from dumpcli.errors import DiskFull, DumpError
from dumpcli.io import atomic_path, refuse_symlinks
from dumpcli.puzzles.rewards import RewardFunction, score
from dumpcli.recipe import BudgetSpec, FilterSpec
from dumpcli.run_folder import (
    COMPLETE,
    CURRICULUM_STATE,
    clear_complete,
    disk_full_message,
    is_disk_full_while_saving,
    links_in_run,
    mark_complete,
)
from dumpcli.schedulers import Feedback
from dumpcli.schedulers.selector import Improvement
from dumpcli.train.compute import ComputeCounter, budget_reached
from dumpcli.train.curriculum import Curriculum
from dumpcli.train.filters import keep_groups, merge_groups

ROW = "dump_row"  # extra key of the generation output: each completion's row in the generation batch


@dataclass(frozen=True)
class Draw:
    """What one rank drew for one generation round, as a `draw_observers` callable sees it."""

    draw: int  # the round's index
    process_index: int
    probabilities: dict[str, float]
    drawn_rows: list[int]  # the global draw (the same on every rank)
    local_rows: list[int]  # this rank's slice of it, each prompt num_generations times


class CurriculumGRPOTrainer(GRPOTrainer):
    def __init__(
        self,
        *args: Any,
        curriculum: Curriculum,
        reward_function: RewardFunction,
        user_rewards: Sequence[Callable[..., Any]] = (),
        group_filter: FilterSpec | None = None,
        budget: BudgetSpec | None = None,
        draw_observers: Sequence[Callable[[Draw], None]] = (),
        **kwargs: Any,
    ):
        # the scheme's reward first, then the user's functions (TRL sums them with reward_weights)
        super().__init__(*args, reward_funcs=[reward_function, *user_rewards], **kwargs)
        self.curriculum = curriculum
        self.reward_function = reward_function
        self.group_filter = group_filter if group_filter is not None and group_filter.active else None
        if self.group_filter is not None:
            local = self.args.per_device_train_batch_size * self.args.steps_per_generation
            if local % self.num_generations:
                raise DumpError(
                    f"train.filter: each process generates {local} completions a step, which is not a "
                    f"whole number of groups of num_generations={self.num_generations}; make "
                    "per_device_train_batch_size * steps_per_generation a multiple of num_generations"
                )
        self.last_per_distribution: dict[str, dict[str, float]] = {}
        self._pending_improvement: dict[str, Any] | None = None
        self._capture_rows: torch.Tensor | None = None
        # wall time of the curriculum's own work (draw, scheduler update, improvement measure),
        # logged per step as curriculum/seconds: its share of the step is the curriculum's overhead
        self._curriculum_seconds = 0.0
        self.compute = ComputeCounter()  # completions, tokens, seconds spent (train_log's compute/*)
        self.budget = budget if budget is not None and budget.active else None
        self.budget_reached = False
        self._rewards_per_func: torch.Tensor | None = None  # the last scoring's, all ranks
        self.add_callback(_CurriculumStepEnd(self))
        self.draw_observers = list(draw_observers)  # diagnostics and tests: what each rank drew

    # -- drawing -----------------------------------------------------------------------
    def _prepare_inputs(self, generation_batch: Any) -> dict[str, torch.Tensor | Any]:
        if self.model.training:
            generate_every = self.args.steps_per_generation * self.num_iterations
            if self._step % generate_every == 0 or self._buffered_inputs is None:
                generation_batch = self._draw_generation_batch(len(generation_batch))
        return super()._prepare_inputs(generation_batch)

    def _draw_generation_batch(self, local_size: int) -> list[dict[str, Any]]:
        """The global batch is [p0]*G + [p1]*G + ...; this rank takes its contiguous slice,
        exactly as TRL's RepeatSampler lays prompts out across ranks."""
        world = self.accelerator.num_processes
        global_size = local_size * world
        num_prompts = global_size // self.num_generations
        started = time.perf_counter()
        rows = self.curriculum.draw(num_prompts, step=self.state.global_step)
        self._curriculum_seconds += time.perf_counter() - started
        if world > 1:
            # a selector's scores are float computations that could differ in the last bit across
            # machines; rank 0's draw is the one everybody trains on and learns from
            shared = [rows, self.curriculum.pending_selections]
            broadcast_object_list(shared, from_process=0)
            rows, self.curriculum.pending_selections = shared
        start = self.accelerator.process_index * local_size
        slots = [rows[i // self.num_generations] for i in range(start, start + local_size)]
        if self.draw_observers:
            drawn = Draw(
                self.curriculum.draws - 1,
                self.accelerator.process_index,
                self.curriculum.last_probabilities(),
                list(rows),
                list(slots),
            )
            for observe in self.draw_observers:
                observe(drawn)
        rows_by_index = {r: self.train_dataset[r] for r in set(slots)}  # each prompt read once, not G times
        return [dict(rows_by_index[r]) for r in slots]

    # -- feedback ----------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, torch.Tensor | Any]:
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        output, rewards, successes = self._generate_round(inputs)
        if self.group_filter is not None:
            output = self._fill_with_kept_groups(inputs, output, rewards, successes)
        # each completion's position in the generation batch survives TRL's shuffle and split
        output[ROW] = torch.arange(output["prompt_ids"].shape[0], device=self.accelerator.device)
        if self.curriculum.learns_from_improvement:
            self._keep_for_improvement(output)
        return output

    def _generate_round(
        self, inputs: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[float], list[float]]:
        """TRL's generation and scoring of one batch, then the curriculum's feedback from it.
        Returns the output and this rank's per-completion rewards and successes."""
        output = super()._generate_and_score_completions(inputs)
        verdicts = self.reward_function.last_verdicts
        if len(verdicts) != len(inputs):
            raise RuntimeError(f"reward function scored {len(verdicts)} completions, expected {len(inputs)}")
        if len(self.reward_funcs) == 1:
            rewards = [score(v, self.reward_function.scheme) for v in verdicts]
        else:  # the weighted sum GRPO trains on (TRL's nansum: a None counts 0), this rank's slice
            assert self._rewards_per_func is not None
            weights = self.reward_weights.to(self._rewards_per_func.device)
            total = (self._rewards_per_func * weights).nansum(dim=1)
            start = self.accelerator.process_index * len(inputs)
            rewards = total[start : start + len(inputs)].tolist()
        successes = [float(v.format_ok and v.answer_score >= 1.0) for v in verdicts]
        device = self.accelerator.device
        local = torch.tensor(list(zip(rewards, successes, strict=True)), dtype=torch.float32, device=device)
        advantages = output["advantages"].detach().to(torch.float32).reshape(-1, 1)
        tokens = output["completion_mask"].sum(1).to(torch.float32).reshape(-1, 1)
        gathered = self.accelerator.gather(torch.cat([local, advantages, tokens], dim=1)).cpu().tolist()
        self.compute.add_generation(len(gathered), sum(row[3] for row in gathered))
        names = gather_object([(x["distribution"], x["id"]) for x in inputs])
        feedback = [
            Feedback(distribution=d, problem_id=pid, reward=r, advantage=a, success=s)
            for (d, pid), (r, s, a, _) in zip(names, gathered, strict=True)
        ]
        started = time.perf_counter()
        per_dist = self.curriculum.observe(feedback)
        self._curriculum_seconds += time.perf_counter() - started
        self.last_per_distribution = per_dist
        metrics = self._metrics["train"]
        for dist, p in self.curriculum.last_probabilities().items():
            metrics[f"curriculum/p/{dist}"].append(p)
        for dist, share in self.curriculum.last_shares().items():
            metrics[f"curriculum/share/{dist}"].append(share)
        for dist, values in per_dist.items():
            metrics[f"reward/{dist}"].append(values["reward"])
            metrics[f"accuracy/{dist}"].append(values["accuracy"])
            metrics[f"count/{dist}"].append(values["completions"])
        return output, rewards, successes

    def _calculate_rewards(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """TRL's per-function rewards (gathered over ranks), kept for the curriculum's feedback."""
        self._rewards_per_func = super()._calculate_rewards(*args, **kwargs)
        return self._rewards_per_func

    def _fill_with_kept_groups(
        self,
        inputs: list[dict[str, Any]],
        output: dict[str, Any],
        rewards: list[float],
        successes: list[float],
    ) -> dict[str, Any]:
        """Dynamic sampling: generate more rounds until this rank has a full batch of groups that
        pass `train.filter` (or `max_rounds` is reached; then the earliest dropped groups fill it).
        Every rank runs the same number of rounds (the generation gathers across ranks)."""
        spec = self.group_filter
        assert spec is not None
        g = self.num_generations
        need = len(inputs) // g
        rounds = [output]
        kept: list[tuple[int, int]] = []
        dropped: list[tuple[int, int]] = []

        def judge(round_index: int, r: list[float], s: list[float]) -> None:
            decisions = keep_groups(r, s, g, zero_variance=spec.zero_variance, band=spec.band)
            for group, ok in enumerate(decisions):
                (kept if ok else dropped).append((round_index, group))

        judge(0, rewards, successes)
        while len(rounds) < spec.max_rounds and self._any_rank(len(kept) < need):
            more = self._draw_generation_batch(len(inputs))
            out, r, s = self._generate_round(more)
            judge(len(rounds), r, s)
            rounds.append(out)
        filled = dropped[: max(0, need - len(kept))]
        chosen = sorted(kept[:need] + filled)
        merged = merge_groups(rounds, chosen, g, self.processing_class.pad_token_id)
        merged["num_items_in_batch"] = self.accelerator.gather(merged["completion_mask"].sum()).sum()
        if self.curriculum.learns_from_improvement:
            world_prompts = need * self.accelerator.num_processes
            mine = [r * world_prompts + self.accelerator.process_index * need + grp for r, grp in chosen]
            self.curriculum.keep(gather_object(mine))
        metrics = self._metrics["train"]
        metrics["filter/rounds"].append(float(len(rounds)))
        metrics["filter/dropped_groups"].append(float(len(dropped)))
        metrics["filter/filled_with_dropped"].append(float(len(filled)))
        return merged

    def _any_rank(self, flag: bool) -> bool:
        return bool(self.accelerator.gather(torch.tensor([flag], device=self.accelerator.device)).any())

    # -- policy improvement (selectors that learn from it) -------------------------------
    def _sequence_logps(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-token log-probs of the batch's completions under the current policy [B, T]."""
        input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
        attention_mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
        with torch.no_grad():
            logps, _, _ = self._get_per_token_logps_and_entropies(
                self.model,
                input_ids,
                attention_mask,
                batch["completion_ids"].size(1),
                batch_size=self.args.per_device_train_batch_size,
            )
        return logps

    def _keep_for_improvement(self, output: dict[str, Any]) -> None:
        """Remember this generation batch to measure, after the update, how much training on each
        selected problem improved the policy. pi_old on it is TRL's `old_per_token_logps` when TRL
        computes them; otherwise the loss's own forward pass computes exactly pi_old (no update
        happens before the last micro-batch of the generation batch) and `_capture_old_logps`
        keeps it, which saves a forward pass of the policy."""
        keep = {k: output[k] for k in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask")}
        keep["advantages"] = output["advantages"].detach()
        old = output.get("old_per_token_logps")
        keep["old_logps"] = old.detach() if old is not None else None
        keep["captured"] = []
        self._pending_improvement = keep

    def compute_loss(self, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        pending = self._pending_improvement
        if pending is not None and pending["old_logps"] is None and model.training:
            self._capture_rows = inputs[ROW]
        try:
            return super().compute_loss(model, inputs, *args, **kwargs)
        finally:
            self._capture_rows = None

    def _get_per_token_logps_and_entropies(self, *args: Any, **kwargs: Any) -> Any:
        result = super()._get_per_token_logps_and_entropies(*args, **kwargs)
        rows, self._capture_rows = getattr(self, "_capture_rows", None), None
        if rows is not None and self._pending_improvement is not None:  # the loss's policy forward
            self._pending_improvement["captured"].append((rows, result[0].detach()))
        return result

    def _old_logps(self, batch: dict[str, Any]) -> torch.Tensor:
        if batch["old_logps"] is not None:
            return batch["old_logps"]
        old = torch.zeros(
            batch["completion_ids"].shape, dtype=torch.float32, device=batch["completion_ids"].device
        )
        seen = torch.zeros(old.shape[0], dtype=torch.bool, device=old.device)
        for rows, logps in batch["captured"]:
            old[rows] = logps.to(old.dtype)
            seen[rows] = True
        if not bool(seen.all()):
            raise RuntimeError(
                f"the loss saw {int(seen.sum())} of {len(seen)} completions of the generation batch: "
                "cannot measure the policy improvement for the curriculum"
            )
        return old

    def measure_improvement(self) -> None:
        """After the optimizer step(s) on the kept batch: each completion's mean token log-ratio
        log pi_new - log pi_old and its advantage, gathered over ranks, for the curriculum."""
        batch, self._pending_improvement = self._pending_improvement, None
        if batch is None:
            return
        started = time.perf_counter()
        new = self._sequence_logps(batch)
        mask = batch["completion_mask"].to(torch.float32)
        # per-sequence mean log-ratio, then gather: groups may straddle ranks
        log_ratio = ((new - self._old_logps(batch)) * mask).sum(1) / mask.sum(1).clamp(min=1)
        local = torch.stack(
            [log_ratio.to(torch.float32), batch["advantages"].to(torch.float32), mask.sum(1)], dim=1
        )
        both = self.accelerator.gather(local).cpu().double()
        self.compute.add_forward(int(both[:, 2].sum()))
        improvement = Improvement(both[:, 0], both[:, 1], self.num_generations)
        metrics = self.curriculum.observe_improvement(improvement)
        self._curriculum_seconds += time.perf_counter() - started
        for key, value in metrics.items():
            self._metrics["train"][key].append(value)

    # -- compute ---------------------------------------------------------------------------
    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """Every training log line carries the cumulative compute (`compute/*`, exact, not averaged)."""
        if self.model.training:
            logs = {**logs, **self.compute.as_log()}
        super().log(logs, *args, **kwargs)

    def check_budget(self) -> bool:
        """True once `train.budget` is spent (then the step ends the run)."""
        if self.budget is not None and budget_reached(
            self.compute.state_dict(), self.budget.completions, self.budget.tokens
        ):
            self.budget_reached = True
        return self.budget_reached

    # -- checkpoints -------------------------------------------------------------------
    model_card_base: dict[str, Any] | None = None  # model.model_identity of the recipe's model

    def create_model_card(self, model_name: str | None = None, *args: Any, **kwargs: Any) -> None:
        """TRL's card, written only where nothing is at OUTPUT/README.md and naming the real base
        model (dumpcli/train/model_card.py)."""
        if not self.is_world_process_zero():
            return
        from dumpcli.train.model_card import write_model_card

        output_dir = Path(self.args.output_dir)

        def render(folder: Path) -> None:  # TRL's own card, into a temporary folder
            self.args.output_dir = str(folder)
            try:
                super(CurriculumGRPOTrainer, self).create_model_card(model_name, *args, **kwargs)
            finally:
                self.args.output_dir = str(output_dir)

        final = output_dir / f"checkpoint-{self.state.max_steps}"
        write_model_card(output_dir, render, self.model_card_base or {}, final)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """Disk full: the incomplete folder is removed and DiskFull says what is kept and the space
        needed (anything else propagates as it is)."""
        folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        try:
            self._save_checkpoint_marked(model, trial)
        except Exception as e:
            if not self.args.should_save or not is_disk_full_while_saving(e, folder):
                raise
            removed = None
            if folder.is_dir() and not (folder / COMPLETE).exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed = folder
            raise DiskFull(
                disk_full_message(
                    folder.parent, f"saving {folder.name}", e, removed, needed=self._state_bytes()
                )
            ) from e

    def _state_bytes(self) -> int:
        """Bytes of the weights and the optimizer's tensors: about what a checkpoint holds."""
        total = sum(p.numel() * p.element_size() for p in self.model.parameters())
        if self.optimizer is not None:
            for state in self.optimizer.state.values():
                total += sum(t.numel() * t.element_size() for t in state.values() if torch.is_tensor(t))
        return total

    def _save_checkpoint_marked(self, model: Any, trial: Any) -> None:
        """The curriculum state first, then TRL's files, then (once every rank has written its rng
        state) the marker that makes the checkpoint count: a save cut short anywhere leaves a
        folder that resume and `dump eval --run` pass over."""
        run_dir = Path(self._get_output_dir(trial=trial))
        folder = run_dir / f"checkpoint-{self.state.global_step}"
        if self.args.should_save:
            if folder.is_dir():  # saved again after a resume: nothing in it may be a link out
                refuse_symlinks(run_dir, links_in_run(run_dir))
            folder.mkdir(parents=True, exist_ok=True)
            clear_complete(folder)  # an earlier save of this step (before a resume) no longer counts
            with atomic_path(folder / CURRICULUM_STATE) as tmp:
                torch.save({**self.curriculum.state_dict(), "compute": self.compute.state_dict()}, tmp)
        # transformers deletes old checkpoints (save_total_limit) at the end of its save: here that
        # waits until the new one is marked complete, so a save cut short keeps the last good one.
        limit, self.args.save_total_limit = self.args.save_total_limit, None
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            mark_complete(folder, self.state.global_step)
            self._rotate_checkpoints_now(run_dir)

    def _rotate_checkpoints_now(self, run_dir: Path) -> None:
        """transformers' own rotation (keeps the newest and the best), as its save would do it."""
        try:
            from transformers.trainer_utils import rotate_checkpoints
        except ImportError:  # transformers 4.x: a Trainer method reading args.save_total_limit
            self._rotate_checkpoints(use_mtime=True, output_dir=str(run_dir))
            return
        rotate_checkpoints(
            output_dir=str(run_dir),
            save_total_limit=self.args.save_total_limit,
            best_model_checkpoint=self.state.best_model_checkpoint,
            use_mtime=True,
        )


def load_curriculum_state(checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    return torch.load(Path(checkpoint) / CURRICULUM_STATE, weights_only=True)


class _CurriculumStepEnd(TrainerCallback):
    """After the optimizer step, before logging and any checkpoint save: the selector's improvement
    update once the generation batch is spent, then the step's curriculum time into the logs, and
    the end of the run (with a final checkpoint) once `train.budget` is spent."""

    def __init__(self, trainer: CurriculumGRPOTrainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer.compute.start()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        t = self.trainer
        if (
            t.curriculum.learns_from_improvement
            and t._step % (t.args.steps_per_generation * t.num_iterations) == 0
        ):
            t.measure_improvement()
        t._metrics["train"]["curriculum/seconds"].append(t._curriculum_seconds)
        t._curriculum_seconds = 0.0
        if t.check_budget():
            control.should_save = True
            control.should_training_stop = True
