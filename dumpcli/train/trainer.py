"""CurriculumGRPOTrainer: TRL's GRPOTrainer with the prompts of each generation batch chosen
by a curriculum, and the scheduler fed with every completion's advantage after scoring.

Two hooks, nothing else changed (see DESIGN.md, "GRPO integration"):
- `_prepare_inputs`: when a new generation batch is due, replace what the dataloader read
  with prompts drawn from the scheduler's *current* probabilities. The dataloader reads
  ahead by one batch, so a custom Sampler would always lag one step behind the statistics.
- `_generate_and_score_completions`: after TRL computes advantages, gather advantages,
  rewards, successes and distributions from all ranks and update the scheduler (training only).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import broadcast_object_list, gather_object
from transformers import TrainerCallback
from trl import GRPOTrainer

from dumpcli.io import append_jsonl
from dumpcli.puzzles.rewards import RewardFunction, score
from dumpcli.schedulers import Feedback
from dumpcli.train.curriculum import Curriculum

CURRICULUM_STATE = "curriculum_state.pt"  # torch.save: the curator's state holds tensors


class CurriculumGRPOTrainer(GRPOTrainer):
    def __init__(self, *args: Any, curriculum: Curriculum, reward_function: RewardFunction, **kwargs: Any):
        super().__init__(*args, reward_funcs=[reward_function], **kwargs)
        self.curriculum = curriculum
        self.reward_function = reward_function
        self.last_per_distribution: dict[str, dict[str, float]] = {}
        self._pending_improvement: dict[str, torch.Tensor] | None = None
        # wall time of the curriculum's own work (draw, scheduler update, curator re-scoring),
        # logged per step as curriculum/seconds: its share of the step is the scheduler overhead
        self._curriculum_seconds = 0.0
        self.add_callback(_CurriculumStepEnd(self))
        # DUMP_RANK_LOG=1: every rank logs its draws to OUTPUT/ranks/ (used by the multi-process test)
        self.rank_log_dir = Path(self.args.output_dir) / "ranks" if os.environ.get("DUMP_RANK_LOG") else None
        if self.rank_log_dir is not None:
            self.rank_log_dir.mkdir(parents=True, exist_ok=True)

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
        if self.curriculum.problem_level and world > 1:
            # the curator's scores are float computations that could differ in the last bit across
            # machines; rank 0's choice is the one everybody trains on and learns from
            shared = [rows, self.curriculum.selection]
            broadcast_object_list(shared, from_process=0)
            rows, self.curriculum.selection = shared
        start = self.accelerator.process_index * local_size
        slots = [rows[i // self.num_generations] for i in range(start, start + local_size)]
        if self.rank_log_dir is not None:  # diagnostics: what each rank drew and kept
            append_jsonl(
                self.rank_log_dir / f"rank{self.accelerator.process_index}.jsonl",
                {
                    "draw": self.curriculum.draws - 1,
                    "probabilities": self.curriculum.last_probabilities(),
                    "drawn_rows": rows,
                    "local_rows": slots,
                },
            )
        rows_by_index = {r: self.train_dataset[r] for r in set(slots)}  # each prompt read once, not G times
        return [dict(rows_by_index[r]) for r in slots]

    # -- feedback ----------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, torch.Tensor | Any]:
        output = super()._generate_and_score_completions(inputs)
        if not self.model.training:
            return output
        verdicts = self.reward_function.last_verdicts
        if len(verdicts) != len(inputs):
            raise RuntimeError(f"reward function scored {len(verdicts)} completions, expected {len(inputs)}")
        device = self.accelerator.device
        local = torch.tensor(
            [
                [score(v, self.reward_function.scheme), float(v.format_ok and v.answer_score >= 1.0)]
                for v in verdicts
            ],
            dtype=torch.float32,
            device=device,
        )
        advantages = output["advantages"].detach().to(torch.float32).reshape(-1, 1)
        gathered = self.accelerator.gather(torch.cat([local, advantages], dim=1)).cpu().tolist()
        names = gather_object([(x["distribution"], x["id"]) for x in inputs])
        feedback = [
            Feedback(distribution=d, problem_id=pid, reward=r, advantage=a, success=s)
            for (d, pid), (r, s, a) in zip(names, gathered, strict=True)
        ]
        if self.curriculum.problem_level:
            self._keep_for_improvement(output)
        started = time.perf_counter()
        per_dist = self.curriculum.observe(feedback)
        self._curriculum_seconds += time.perf_counter() - started
        self.last_per_distribution = per_dist
        metrics = self._metrics["train"]
        for dist, p in self.curriculum.last_probabilities().items():
            metrics[f"curriculum/p/{dist}"].append(p)
        for dist, values in per_dist.items():
            metrics[f"reward/{dist}"].append(values["reward"])
            metrics[f"accuracy/{dist}"].append(values["accuracy"])
            metrics[f"count/{dist}"].append(values["completions"])
        return output

    # -- policy improvement (problem-level curriculum) -----------------------------------
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
        """Remember this generation batch (and pi_old on it) to measure, after the update, how much
        training on each selected problem improved the policy."""
        started = time.perf_counter()
        keep = {k: output[k] for k in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask")}
        keep["advantages"] = output["advantages"].detach()
        old = output.get("old_per_token_logps")
        keep["old_logps"] = old.detach() if old is not None else self._sequence_logps(keep)
        self._pending_improvement = keep
        self._curriculum_seconds += time.perf_counter() - started

    def measure_improvement(self) -> None:
        """After the optimizer step(s) on the kept batch: u_x = mean over x's group of
        clip(pi_new / pi_old) * A, gathered over ranks, fed to the curator (same on every rank)."""
        from dumpcli.schedulers.curator import policy_improvement

        batch, self._pending_improvement = self._pending_improvement, None
        if batch is None:
            return
        started = time.perf_counter()
        new = self._sequence_logps(batch)
        mask = batch["completion_mask"].to(torch.float32)
        # per-sequence mean log-ratio, then gather: groups may straddle ranks
        log_ratio = ((new - batch["old_logps"]) * mask).sum(1) / mask.sum(1).clamp(min=1)
        local = torch.stack([log_ratio.to(torch.float32), batch["advantages"].to(torch.float32)], dim=1)
        both = self.accelerator.gather(local).cpu().double()
        ones = torch.ones(both.shape[0], 1, dtype=torch.float64)
        clip = self.curriculum.scheduler.options.ratio_clip
        u = policy_improvement(
            torch.zeros_like(ones), both[:, :1], ones, both[:, 1], self.num_generations, clip=clip
        )
        metrics = self.curriculum.observe_improvement(u.tolist())
        self._curriculum_seconds += time.perf_counter() - started
        for key, value in metrics.items():
            self._metrics["train"][key].append(value)

    # -- checkpoints -------------------------------------------------------------------
    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
            torch.save(self.curriculum.state_dict(), os.path.join(folder, CURRICULUM_STATE))


def load_curriculum_state(checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    return torch.load(Path(checkpoint) / CURRICULUM_STATE, weights_only=True)


class _CurriculumStepEnd(TrainerCallback):
    """After the optimizer step, before logging and any checkpoint save: the curator's bandit
    update once the generation batch is spent, then the step's curriculum time into the logs."""

    def __init__(self, trainer: CurriculumGRPOTrainer) -> None:
        self.trainer = trainer

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        t = self.trainer
        if t.curriculum.problem_level and t._step % (t.args.steps_per_generation * t.num_iterations) == 0:
            t.measure_improvement()
        t._metrics["train"]["curriculum/seconds"].append(t._curriculum_seconds)
        t._curriculum_seconds = 0.0
