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

import json
import os
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather_object
from trl import GRPOTrainer

from dumpcli.io import append_jsonl
from dumpcli.puzzles.rewards import RewardFunction, score
from dumpcli.schedulers import Feedback
from dumpcli.train.curriculum import Curriculum

CURRICULUM_STATE = "curriculum_state.json"


class CurriculumGRPOTrainer(GRPOTrainer):
    def __init__(self, *args: Any, curriculum: Curriculum, reward_function: RewardFunction, **kwargs: Any):
        super().__init__(*args, reward_funcs=[reward_function], **kwargs)
        self.curriculum = curriculum
        self.reward_function = reward_function
        self.last_per_distribution: dict[str, dict[str, float]] = {}
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
        rows = self.curriculum.draw(num_prompts, step=self.state.global_step)
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
        return [self.train_dataset[r] for r in slots]

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
        per_dist = self.curriculum.observe(feedback)
        self.last_per_distribution = per_dist
        metrics = self._metrics["train"]
        for dist, p in self.curriculum.last_probabilities().items():
            metrics[f"curriculum/p/{dist}"].append(p)
        for dist, values in per_dist.items():
            metrics[f"reward/{dist}"].append(values["reward"])
            metrics[f"accuracy/{dist}"].append(values["accuracy"])
            metrics[f"count/{dist}"].append(values["completions"])
        return output

    # -- checkpoints -------------------------------------------------------------------
    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
            with open(os.path.join(folder, CURRICULUM_STATE), "w") as f:
                json.dump(self.curriculum.state_dict(), f)
