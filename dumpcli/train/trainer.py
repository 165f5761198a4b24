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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from accelerate.utils import broadcast_object_list, gather_object
from transformers import TrainerCallback
from trl import GRPOTrainer

from dumpcli.errors import DiskFull, DumpError, RecipeError
from dumpcli.io import atomic_path, refuse_symlinks
from dumpcli.puzzles.rewards import RewardFunction, score
from dumpcli.recipe import BudgetSpec, FilterSpec, RolloutsSpec
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
from dumpcli.schedulers.history import ProblemHistory
from dumpcli.schedulers.selector import Improvement
from dumpcli.train import rollouts as rules
from dumpcli.train.compute import ComputeCounter, budget_reached
from dumpcli.train.curriculum import Curriculum
from dumpcli.train.filters import keep_groups, merge_groups, merge_rows

SKIP_STREAM = 7  # GRESO's skip draws: their own random stream per curriculum draw
ROW = "dump_row"  # extra key of the generation output: each completion's row in the generation batch


@dataclass(frozen=True)
class Draw:
    """What one rank drew for one generation round, as a `draw_observers` callable sees it."""

    draw: int  # the round's index
    process_index: int
    probabilities: dict[str, float]
    drawn_rows: list[int]  # the global draw (the same on every rank)
    local_rows: list[int]  # this rank's slice of it, each prompt num_generations times


class _Screened(NamedTuple):
    """One prompt a screen generated: its round, place in the round, dataset row, whether it
    qualified, and its position in the concatenated draws (what a selector's `keep` takes)."""

    round: int
    index: int
    row: int
    qualified: bool
    position: int


class _Round(NamedTuple):
    """One generation round as `_generate_round` leaves it: TRL's output, this rank's rewards (the
    scheme's, for the curriculum), successes and rewards as TRL normalises them, and the gathered
    (distribution, id) and [reward, success, advantage, tokens] of every rank."""

    output: dict[str, Any]
    rewards: list[float]
    successes: list[float]
    train_rewards: torch.Tensor
    names: list[tuple[str, str]]
    gathered: list[list[float]]


@dataclass
class _StepRollouts:
    """What one generation step spent (its `rollouts/*` log)."""

    completions_before: int
    rounds: int = 0
    spent: list[int] = field(default_factory=list)  # completions of each prompt generated
    skipped: int = 0
    filled: int = 0
    screened: int = 0
    screened_out: int = 0
    known: int = 0
    seconds: float = 0.0  # in train.rollouts' own work
    groups: int = 0
    all_right: int = 0
    all_wrong: int = 0

    def note_groups(self, successes: Sequence[float], sizes: Sequence[int]) -> None:
        start = 0
        for n in sizes:
            s = sum(successes[start : start + n])
            self.groups += 1
            self.all_right += int(s >= n)
            self.all_wrong += int(s <= 0)
            start += n


class CurriculumGRPOTrainer(GRPOTrainer):
    def __init__(
        self,
        *args: Any,
        curriculum: Curriculum,
        reward_function: RewardFunction,
        user_rewards: Sequence[Callable[..., Any]] = (),
        group_filter: FilterSpec | None = None,
        budget: BudgetSpec | None = None,
        rollouts: RolloutsSpec | None = None,
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
        self._init_rollouts(rollouts)

    # -- drawing -----------------------------------------------------------------------
    def _prepare_inputs(self, generation_batch: Any) -> dict[str, torch.Tensor | Any]:
        if self.model.training:
            generate_every = self.args.steps_per_generation * self.num_iterations
            if self._step % generate_every == 0 or self._buffered_inputs is None:
                self._rollout_step = _StepRollouts(completions_before=self.compute.completions)
                if self.rollouts is None or self.rollouts.method != "screen":  # screen draws its rounds
                    generation_batch = self._draw_generation_batch(len(generation_batch))
        return super()._prepare_inputs(generation_batch)

    def _draw_generation_batch(self, local_size: int) -> list[dict[str, Any]]:
        """The global batch is [p0]*n0 + [p1]*n1 + ... (n = num_generations, or each prompt's share of
        `train.rollouts: budget`); this rank takes its contiguous slice, exactly as TRL's RepeatSampler
        lays prompts out across ranks."""
        world = self.accelerator.num_processes
        num_prompts = local_size * world // self.num_generations
        rows = self._draw_prompts(num_prompts)
        sizes = [self.num_generations] * len(rows)
        if self.rollouts is not None and self.rollouts.method == "budget":
            sizes = self._budget_sizes(rows, local_size * world)
        if world > 1:  # every rank trains on rank 0's allocation
            shared = [sizes]
            broadcast_object_list(shared, from_process=0)
            sizes = shared[0]
        self._batch_sizes = list(sizes)
        return self._layout(rows, sizes, local_size)

    def _draw_prompts(self, num_prompts: int) -> list[int]:
        """`num_prompts` rows drawn by the curriculum (through `train.rollouts: skip` when it is on),
        rank 0's draw on every rank."""
        started = time.perf_counter()
        if self.rollouts is not None and self.rollouts.method == "skip":
            rows = self._draw_skipping(num_prompts)
        else:
            rows = self.curriculum.draw(num_prompts, step=self.state.global_step)
        self._curriculum_seconds += time.perf_counter() - started
        if self.accelerator.num_processes > 1:
            # a selector's scores are float computations that could differ in the last bit across
            # machines; rank 0's draw is the one everybody trains on and learns from
            shared = [rows, self.curriculum.pending_selections]
            broadcast_object_list(shared, from_process=0)
            rows, self.curriculum.pending_selections = shared
        return rows

    def _layout(self, rows: Sequence[int], sizes: Sequence[int], local_size: int) -> list[dict[str, Any]]:
        """This rank's contiguous slice of the completions [rows[0]] * sizes[0] + [rows[1]] * sizes[1] + ..."""
        slots_all = [r for r, n in zip(rows, sizes, strict=True) for _ in range(n)]
        start = self.accelerator.process_index * local_size
        slots = slots_all[start : start + local_size]
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

    # -- rollouts per prompt (train.rollouts) ---------------------------------------------
    def _init_rollouts(self, spec: RolloutsSpec | None) -> None:
        self.rollouts = spec if spec is not None and spec.active else None
        self.history: ProblemHistory | None = None
        self.skip_state: rules.SkipState | None = None
        self._qualified_share = 1.0  # screen: share of screened prompts that qualified last step
        self._batch_sizes: list[int] | None = None  # completions per prompt of the drawn batch (global)
        self._rollout_step = _StepRollouts(completions_before=0)
        self._id_column: Any = None
        if self.rollouts is None:
            return
        spec = self.rollouts
        where = f"train.rollouts (method {spec.method})"
        if spec.method in ("screen", "budget"):
            if self.group_filter is not None:
                raise RecipeError(
                    f"{where}: already decides which groups are generated; unset train.filter "
                    "(train.filter composes with method skip)"
                )
            if getattr(self, "multi_objective_aggregation", "sum_then_normalize") != "sum_then_normalize":
                raise RecipeError(
                    f"{where}: groups of their own sizes need train.grpo.multi_objective_aggregation "
                    "'sum_then_normalize'"
                )
        if spec.method == "screen" and not 1 <= spec.k_screen < self.num_generations:
            raise RecipeError(
                f"train.rollouts.k_screen: {spec.k_screen} must be below num_generations "
                f"({self.num_generations}): the screen is the first part of each group"
            )
        local = self.args.per_device_train_batch_size * self.args.steps_per_generation
        if spec.method == "screen" and local % spec.k_screen:
            raise RecipeError(
                f"train.rollouts.k_screen: each process generates {local} completions a step, not a "
                f"whole number of screens of {spec.k_screen}"
            )
        if spec.method == "budget" and spec.min_per_prompt > self.num_generations:
            raise RecipeError(
                f"train.rollouts.min_per_prompt: {spec.min_per_prompt} is above num_generations "
                f"({self.num_generations}), the average a prompt gets"
            )
        if spec.method in ("skip", "budget"):
            self.history = ProblemHistory()
        if spec.method == "skip":
            self.skip_state = rules.SkipState(spec.p_easy, spec.p_hard)
        self._id_column = self.train_dataset.select_columns(["id"])

    def _problem_ids(self, rows: Sequence[int]) -> list[str]:
        return list(self._id_column[list(rows)]["id"])

    def _draw_skipping(self, num_prompts: int) -> list[int]:
        """GRESO: draw pool_factor x the prompts, skip each by its history (dumpcli/train/rollouts.py),
        keep the first `num_prompts` not skipped (the earliest skipped fill in if too few remain)."""
        spec, state, history = self.rollouts, self.skip_state, self.history
        assert spec is not None and state is not None and history is not None
        pool = num_prompts * spec.pool_factor
        rows = self.curriculum.draw(pool, step=self.state.global_step)
        with self._bookkeeping():
            view = history.get(self._problem_ids(rows))
            if bool(view.seen.any()):
                state.adapting = True
            rng = np.random.default_rng([self.curriculum.seed, self.curriculum.draws - 1, SKIP_STREAM])
            skip = rules.skip_decisions(
                view.streak_all, view.streak_none, state.p_easy, state.p_hard, rng.random((pool, 2))
            )
            positions, filled = rules.fill_in_order((~skip).tolist(), num_prompts)
            self.curriculum.take(positions)
        examined = pool if filled else positions[-1] + 1
        self._rollout_step.skipped += int(skip.sum()) - filled if filled else examined - num_prompts
        self._rollout_step.filled += filled
        return [rows[i] for i in positions]

    def _budget_sizes(self, rows: Sequence[int], total: int) -> list[int]:
        """Knapsack RL: the step's `total` completions shared by the drawn prompts' predicted success."""
        spec, history = self.rollouts, self.history
        assert spec is not None and history is not None
        with self._bookkeeping():
            view = history.get(self._problem_ids(rows))
            known = view.completions >= spec.min_history
            p_hat = rules.estimated_rate(view.last_success, view.last_size, view.recent_rate)
            sizes = rules.knapsack_allocation(
                p_hat,
                known,
                total,
                self.num_generations,
                spec.min_per_prompt,
                spec.max_per_prompt,
                spec.alpha,
            )
        self._rollout_step.known += int(known.sum())
        return [int(n) for n in sizes]

    def _screened_batch(self, local_size: int) -> dict[str, Any]:
        """SPEED-RL: screen prompts with k_screen completions each until this rank has its prompts
        that qualify (or max_rounds), then the rest of each chosen prompt's group; the screen's
        completions are part of the group. Each rank screens and completes its own share of every
        draw, and every rank runs the same rounds (generation gathers across ranks)."""
        spec = self.rollouts
        assert spec is not None
        g, k = self.num_generations, spec.k_screen
        world, rank = self.accelerator.num_processes, self.accelerator.process_index
        need = local_size // g
        outputs: list[dict[str, Any]] = []
        train_rewards: list[torch.Tensor] = []
        screened: list[_Screened] = []
        drawn_before = 0  # prompts of the earlier screening draws (positions for a selector's `keep`)
        qualified_all = screened_all = 0
        first_prompt = len(self._rollout_step.spent)  # the screened prompts' entries, in draw order
        while len(outputs) < spec.max_rounds:
            missing = need - sum(1 for s in screened if s.qualified)
            most = int(
                self.accelerator.gather(torch.tensor([max(0, missing)], device=self.accelerator.device)).max()
            )
            if most == 0:
                break
            share = qualified_all / screened_all if screened_all else self._qualified_share
            n = rules.screen_round_size(most, share, local_size // k)
            rows = self._draw_prompts(n * world)
            mine = rows[rank * n : (rank + 1) * n]
            by_row = {r: self.train_dataset[r] for r in set(mine)}
            screen = self._generate_round(
                [dict(by_row[r]) for r in mine for _ in range(k)], [k] * (n * world)
            )
            ok = rules.qualifies(np.asarray(screen.successes).reshape(n, k).mean(axis=1), spec.band)
            for j, r in enumerate(mine):
                screened.append(_Screened(len(outputs), j, r, bool(ok[j]), drawn_before + rank * n + j))
            outputs.append(screen.output)
            train_rewards.append(screen.train_rewards)
            drawn_before += n * world
            screened_all += n * world
            qualified_all += int(
                self.accelerator.gather(torch.tensor([int(ok.sum())], device=self.accelerator.device)).sum()
            )
        self._qualified_share = qualified_all / max(1, screened_all)
        positions, filled = rules.fill_in_order([s.qualified for s in screened], need)
        chosen = [screened[i] for i in positions]
        by_row = {s.row: self.train_dataset[s.row] for s in chosen}
        rest = g - k
        continuation = self._generate_round(
            [dict(by_row[s.row]) for s in chosen for _ in range(rest)], [rest] * (need * world), feed=False
        )
        outputs.append(continuation.output)
        train_rewards.append(continuation.train_rewards)
        last = len(outputs) - 1
        picked = [
            pair
            for i, s in enumerate(chosen)
            for pair in [(s.round, s.index * k + t) for t in range(k)]
            + [(last, i * rest + t) for t in range(rest)]
        ]
        with self._bookkeeping():
            merged = merge_rows(outputs, picked, self.processing_class.pad_token_id)
            merged["num_items_in_batch"] = self.accelerator.gather(merged["completion_mask"].sum()).sum()
            rewards = torch.stack([train_rewards[r][row] for r, row in picked]).to(self.accelerator.device)
            everyone = self.accelerator.gather(rewards.to(torch.float32)).cpu()
            merged["advantages"] = self._advantages(everyone, [g] * (need * world), len(picked))
        # the continuation's feedback carries the advantages of the whole groups it completes
        rest_advantages = merged["advantages"].view(need, g)[:, k:].reshape(-1).to(torch.float32)
        everyone = self.accelerator.gather(rest_advantages).cpu().tolist()
        self._feed(
            continuation.names,
            [[r, s, a, tok] for (r, s, _, tok), a in zip(continuation.gathered, everyone, strict=True)],
        )
        kept = gather_object([s.position for s in chosen])  # draw positions, in the batch's order
        if self.curriculum.learns_from_improvement:
            self.curriculum.keep(kept)
        step = self._rollout_step
        for position in kept:
            step.spent[first_prompt + position] += rest
        step.screened += screened_all
        step.screened_out += screened_all - qualified_all
        step.filled += int(
            self.accelerator.gather(torch.tensor([filled], device=self.accelerator.device)).sum()
        )
        return merged

    def _log_rollouts(self, output: dict[str, Any], sizes: Sequence[int]) -> None:
        """The step's rollout log (train_log's rollouts/*), and GRESO's adaptation of p_easy / p_hard."""
        with self._bookkeeping():
            self._log_rollout_metrics(output, sizes)
        self._metrics["train"]["rollouts/seconds"].append(self._rollout_step.seconds)

    def _log_rollout_metrics(self, output: dict[str, Any], sizes: Sequence[int]) -> None:
        step, metrics = self._rollout_step, self._metrics["train"]
        advantages = self.accelerator.gather(output["advantages"].detach().to(torch.float32)).cpu()
        index = rules.group_index(sizes)
        moving = torch.zeros(len(sizes)).index_add_(0, index, (advantages.abs() > 0).to(torch.float32))
        metrics["rollouts/informative_groups"].append(float((moving > 0).to(torch.float32).mean()))
        metrics["rollouts/informative"].append(float((moving > 0).sum()))
        metrics["rollouts/completions"].append(float(self.compute.completions - step.completions_before))
        metrics["rollouts/prompts"].append(float(len(step.spent or sizes)))
        metrics["rollouts/rounds"].append(float(step.rounds))
        for key, value in rules.quantiles(step.spent or list(sizes)).items():
            metrics[f"rollouts/completions_per_prompt/{key}"].append(value)
        spec = self.rollouts
        if spec is None:
            return
        if spec.method == "skip":
            assert self.skip_state is not None
            metrics["rollouts/skipped"].append(float(step.skipped))
            metrics["rollouts/filled"].append(float(step.filled))
            groups = max(1, step.groups)
            self.skip_state.adapt(step.all_right / groups, step.all_wrong / groups, spec)
            metrics["rollouts/p_easy"].append(self.skip_state.p_easy)
            metrics["rollouts/p_hard"].append(self.skip_state.p_hard)
        elif spec.method == "screen":
            metrics["rollouts/screened"].append(float(step.screened))
            metrics["rollouts/screened_out"].append(float(step.screened_out))
            metrics["rollouts/filled"].append(float(step.filled))
        elif spec.method == "budget":
            metrics["rollouts/known"].append(float(step.known) / max(1, len(sizes)))

    @contextmanager
    def _bookkeeping(self) -> Iterator[None]:
        """Time spent in train.rollouts' own work and the step log (rollouts/seconds): its cost."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._rollout_step.seconds += time.perf_counter() - started

    def rollouts_state(self) -> dict[str, Any] | None:
        """What `train.rollouts` carries from step to step (saved in every checkpoint)."""
        if self.rollouts is None:
            return None
        state: dict[str, Any] = {"method": self.rollouts.method, "qualified_share": self._qualified_share}
        if self.history is not None:
            state["history"] = self.history.state_dict()
        if self.skip_state is not None:
            s = self.skip_state
            state["skip"] = {"p_easy": s.p_easy, "p_hard": s.p_hard, "adapting": s.adapting}
        return state

    def load_rollouts_state(self, state: dict[str, Any] | None) -> None:
        if self.rollouts is None:
            return
        if state is None or state.get("method") != self.rollouts.method:
            saved = None if state is None else state.get("method")
            raise RecipeError(
                f"--resume: the checkpoint was trained with train.rollouts method {saved or 'none'!r}, "
                f"this recipe has {self.rollouts.method!r}"
            )
        self._qualified_share = float(state["qualified_share"])
        if self.history is not None:
            self.history.load_state_dict(state["history"])
        if self.skip_state is not None:
            s = state["skip"]
            self.skip_state = rules.SkipState(float(s["p_easy"]), float(s["p_hard"]), bool(s["adapting"]))

    # -- feedback ----------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, torch.Tensor | Any]:
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        if self.rollouts is not None and self.rollouts.method == "screen":
            output = self._screened_batch(len(inputs))
            sizes = [self.num_generations] * (
                len(inputs) * self.accelerator.num_processes // self.num_generations
            )
        else:
            sizes = list(self._batch_sizes or [])
            own = sizes if any(n != self.num_generations for n in sizes) else None
            first = self._generate_round(inputs, own)
            output = first.output
            if self.group_filter is not None:
                output = self._fill_with_kept_groups(inputs, output, first.rewards, first.successes)
        self._log_rollouts(output, sizes)
        # each completion's position in the generation batch survives TRL's shuffle and split
        output[ROW] = torch.arange(output["prompt_ids"].shape[0], device=self.accelerator.device)
        if self.curriculum.learns_from_improvement:
            self._keep_for_improvement(output, sizes)
        return output

    def _generate_round(
        self, inputs: list[dict[str, Any]], sizes: Sequence[int] | None = None, feed: bool = True
    ) -> _Round:
        """TRL's generation and scoring of one batch, then the curriculum's feedback from it (unless
        `feed` is False). `sizes`: the global batch's groups, when they are not TRL's num_generations
        each (TRL then sees every completion alone and the advantages are computed here, group by
        group)."""
        with self._trl_group_size(1 if sizes is not None else None):
            output = super()._generate_and_score_completions(inputs)
        verdicts = self.reward_function.last_verdicts
        if len(verdicts) != len(inputs):
            raise RuntimeError(f"reward function scored {len(verdicts)} completions, expected {len(inputs)}")
        everyone = self._train_rewards()
        start = self.accelerator.process_index * len(inputs)
        if len(self.reward_funcs) == 1:
            rewards = [score(v, self.reward_function.scheme) for v in verdicts]
        else:  # the weighted sum GRPO trains on (TRL's nansum: a None counts 0), this rank's slice
            rewards = torch.nan_to_num(everyone[start : start + len(inputs)], nan=0.0).tolist()
        successes = [float(v.format_ok and v.answer_score >= 1.0) for v in verdicts]
        if sizes is not None:
            with self._bookkeeping():
                output["advantages"] = self._advantages(everyone, sizes, len(inputs))
        device = self.accelerator.device
        local = torch.tensor(list(zip(rewards, successes, strict=True)), dtype=torch.float32, device=device)
        advantages = output["advantages"].detach().to(torch.float32).reshape(-1, 1)
        tokens = output["completion_mask"].sum(1).to(torch.float32).reshape(-1, 1)
        gathered = self.accelerator.gather(torch.cat([local, advantages, tokens], dim=1)).cpu().tolist()
        self.compute.add_generation(len(gathered), sum(row[3] for row in gathered))
        names = gather_object([(x["distribution"], x["id"]) for x in inputs])
        all_sizes = (
            list(sizes)
            if sizes is not None
            else [self.num_generations] * (len(gathered) // self.num_generations)
        )
        with self._bookkeeping():
            self._rollout_step.note_groups([row[1] for row in gathered], all_sizes)
            if feed:  # new prompts (a screen's continuation adds to prompts already counted)
                self._rollout_step.spent.extend(all_sizes)
            if sizes is not None:  # TRL's share of zero-std groups counted each completion as a group
                zero = self._metrics["train"]["frac_reward_zero_std"]
                if zero:
                    zero.pop()
                zero.append(rules.zero_variance_groups(everyone.tolist(), all_sizes) / max(1, len(all_sizes)))
            if self.history is not None:
                self.history.update([pid for _, pid in names], [row[1] for row in gathered])
        self._rollout_step.rounds += 1
        if feed:
            self._feed(names, gathered)
        return _Round(output, rewards, successes, everyone[start : start + len(inputs)], names, gathered)

    def _feed(self, names: Sequence[tuple[str, str]], gathered: Sequence[Sequence[float]]) -> None:
        """The curriculum's feedback from gathered (distribution, id) and [reward, success, advantage, tokens]."""
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

    @contextmanager
    def _trl_group_size(self, size: int | None) -> Iterator[None]:
        """TRL normalises rewards in groups of `num_generations` rows; for groups of other sizes it
        sees each completion alone (size 1) and `_advantages` replaces what it computed."""
        saved = self.num_generations
        if size is not None:
            self.num_generations = size
        try:
            yield
        finally:
            self.num_generations = saved

    def _train_rewards(self) -> torch.Tensor:
        """Every rank's rewards of the last scoring as TRL normalises them (weighted sum over the
        reward functions, NaN where every function returned None), on the CPU."""
        assert self._rewards_per_func is not None
        per_func = self._rewards_per_func
        total = (per_func * self.reward_weights.to(per_func.device)).nansum(dim=1)
        total[torch.isnan(per_func).all(dim=1)] = torch.nan
        return total.to(torch.float32).cpu()

    def _advantages(self, everyone: torch.Tensor, sizes: Sequence[int], local_count: int) -> torch.Tensor:
        """This rank's advantages when every rank's rewards `everyone` are groups of `sizes` (every
        rank holds `local_count` completions; a group may straddle ranks)."""
        advantages = rules.group_advantages(everyone, sizes, self.scale_rewards)
        start = self.accelerator.process_index * local_count
        return advantages[start : start + local_count].to(self.accelerator.device)

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
            extra = self._generate_round(more)
            judge(len(rounds), extra.rewards, extra.successes)
            rounds.append(extra.output)
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

    def _keep_for_improvement(self, output: dict[str, Any], sizes: Sequence[int]) -> None:
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
        keep["sizes"] = (
            tuple(sizes) if any(n != self.num_generations for n in sizes) else self.num_generations
        )
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
        improvement = Improvement(both[:, 0], both[:, 1], batch["sizes"])
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
                torch.save(
                    {
                        **self.curriculum.state_dict(),
                        "compute": self.compute.state_dict(),
                        "rollouts": self.rollouts_state(),
                    },
                    tmp,
                )
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
