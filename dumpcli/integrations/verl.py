"""dumpcli's curricula inside verl: a sampler for verl's dataloader that draws each step's prompts
from a dumpcli distribution-level scheduler and learns from verl's batch after the step.

Distributions are the values of a dataset column (`data_source` by default): verl's per-source
mixture with an adaptive scheduler (`ucb`, `sec`, `learnability`, `exp3`, `thompson`, ...) instead of
a shuffle. Each step the sampler draws `train_batch_size` prompts by the scheduler's current
probabilities (a distribution per prompt, then a problem uniformly inside it, as `dump train` does);
after the step it reads, from verl's batch (a `DataProto`), each completion's `data_source`, its
sequence reward (`token_level_scores` summed over the response), its GRPO advantage (`advantages`
averaged over `response_mask`) and its success (`acc` where the reward function reports it, else
reward >= `success_threshold`), and updates the scheduler.

The feedback path depends on verl's version:
- verl 0.5 - 0.7: `data.sampler.class_path` loads `CurriculumSampler`, an `AbstractCurriculumSampler`,
  and `RayPPOTrainer.fit` calls its `update(batch)` after every step.
- verl 0.8 - 0.9: the class_path and the `update(batch)` hook are gone (verl PR #6302). `install()`
  puts `CurriculumRayPPOTrainer` (the trainer with `_update_actor` feeding the sampler first) and a
  `create_rl_sampler` that returns `CurriculumSampler` into the module of verl's legacy task runner
  (`trainer.use_v1=false`); run it in verl's Ray workers with Ray's `worker_process_setup_hook`.
Its state (scheduler statistics, draw counter, position in the epoch) is in verl's checkpoints: the
`StatefulDataLoader` saves a stateful sampler's `state_dict()` in `global_step_N/data.pt`, and a
resumed run draws what the uninterrupted run would have drawn.

Configuration, a block `data.dumpcli` in verl's config (see `VerlCurriculumConfig`): the scheduler
with its options, or a dumpcli recipe whose `train.scheduler` and seed are used.
Problem-level selectors (`curator`, `pools`, ...) are refused: verl's batch does not say which
dataset row each completion came from (its `uid` is a fresh random id per prompt and step).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dumpcli.schedulers import Feedback
from dumpcli.train.curriculum import build_curriculum

VERL_VERSIONS = ">=0.5,<0.10"  # the versions this module is written and tested against (0.9.1 here)
CONFIG_KEY = "dumpcli"  # data.dumpcli

try:  # verl 0.5 - 0.7: the trainer calls update(batch) on an AbstractCurriculumSampler
    from verl.experimental.dataset.sampler import AbstractCurriculumSampler as _SamplerBase

    NATIVE_UPDATE_HOOK = True
except ImportError:  # verl 0.8+ or no verl: a torch Sampler, fed by CurriculumRayPPOTrainer
    from torch.utils.data import Sampler as _SamplerBase  # type: ignore[assignment]

    NATIVE_UPDATE_HOOK = False


class VerlCurriculumConfig(BaseModel):
    """`data.dumpcli`: `scheduler` ({name, options...}) or `recipe` (a dumpcli recipe file: its
    `train.scheduler` and training seed); `seed` overrides the recipe's. `distribution_key`: the
    dataset column that names each problem's distribution. `log`: a curriculum.jsonl to append
    one line per step to (probabilities, statistics, draws, per-distribution reward)."""

    model_config = ConfigDict(extra="forbid")
    scheduler: dict[str, Any] | None = None
    recipe: str | None = None
    seed: int | None = None
    distribution_key: str = "data_source"
    success_key: str = "acc"
    success_threshold: float = 1.0
    total_steps: int | None = Field(None, ge=1)  # for schedulers that follow the training clock
    log: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> VerlCurriculumConfig:
        if (self.scheduler is None) == (self.recipe is None):
            raise ValueError("give either `scheduler` ({name: ucb, ...}) or `recipe` (a dumpcli recipe file)")
        if self.scheduler is not None and not isinstance(self.scheduler.get("name"), str):
            raise ValueError("`scheduler` needs a `name` (a dumpcli scheduler, e.g. ucb)")
        return self

    def scheduler_and_seed(self) -> tuple[str, dict[str, Any], int]:
        if self.recipe is not None:
            from dumpcli.recipe import load_recipe
            from dumpcli.train.config import train_seed

            recipe = load_recipe(self.recipe, check_files=False)
            spec = recipe.train.scheduler
            seed = train_seed(recipe) if self.seed is None else self.seed
            return spec.name, spec.options(), seed
        assert self.scheduler is not None
        options = {k: v for k, v in self.scheduler.items() if k != "name"}
        return self.scheduler["name"], options, 0 if self.seed is None else self.seed


def _plain(config: Any) -> Any:
    """An OmegaConf node (verl's config) as plain Python containers; anything else as is."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:
        return config
    if isinstance(config, DictConfig | ListConfig):
        return OmegaConf.to_container(config, resolve=True)
    return config


def read_config(data_config: Any) -> VerlCurriculumConfig:
    """`data.dumpcli` of verl's data config, checked; a ValueError names the bad key."""
    data = _plain(data_config) or {}
    block = data.get(CONFIG_KEY) if isinstance(data, Mapping) else None
    if block is None:
        raise ValueError(
            f"data.{CONFIG_KEY} is missing: add e.g. +data.{CONFIG_KEY}.scheduler.name=ucb "
            f"(or +data.{CONFIG_KEY}.recipe=path/to/recipe.yaml) to verl's config"
        )
    try:
        return VerlCurriculumConfig.model_validate(block)
    except ValidationError as e:
        problems = "; ".join(
            f"data.{CONFIG_KEY}{'.' if err['loc'] else ''}{'.'.join(map(str, err['loc']))}: {err['msg']}"
            for err in e.errors()
        )
        raise ValueError(problems) from None


def row_distributions(dataset: Any, key: str) -> list[str]:
    """Each dataset row's distribution: the column `key` of verl's RLHFDataset (`dataframe`, a HF
    dataset) or of any dataset with that attribute; else read row by row."""
    frame = getattr(dataset, "dataframe", None)
    if frame is not None and key in getattr(frame, "column_names", ()):
        return [str(v) for v in frame[key]]
    values = []
    for i in range(len(dataset)):
        row = dataset[i]
        if key not in row:
            raise ValueError(f"data.{CONFIG_KEY}.distribution_key: row {i} of the dataset has no {key!r}")
        values.append(str(row[key]))
    return values


def _column(batch: Any, key: str) -> Any:
    tensors = batch.batch
    return tensors[key] if key in tensors.keys() else None


def feedback_from_batch(
    batch: Any,
    *,
    distribution_key: str = "data_source",
    success_key: str = "acc",
    success_threshold: float = 1.0,
) -> list[Feedback]:
    """One `Feedback` per completion of verl's batch after the step (a DataProto: tensors in
    `batch.batch`, per-row arrays in `batch.non_tensor_batch`).

    reward = sum_t token_level_scores[t] (the reward function's score, before any KL penalty);
    advantage = sum_t advantages[t] * mask[t] / sum_t mask[t] (GRPO's is the same on every token);
    success = `success_key` (e.g. verl's `acc`) where the batch has it, else reward >= threshold."""
    import torch

    extra = batch.non_tensor_batch
    if distribution_key not in extra:
        raise ValueError(f"verl's batch has no {distribution_key!r} (non-tensor keys: {sorted(extra)})")
    scores = _column(batch, "token_level_scores")
    if scores is None:
        scores = _column(batch, "token_level_rewards")
    if scores is None:
        raise ValueError(
            "verl's batch has neither token_level_scores nor token_level_rewards: call after scoring"
        )
    advantages = _column(batch, "advantages")
    if advantages is None:
        raise ValueError("verl's batch has no advantages: call after compute_advantage")
    mask = _column(batch, "response_mask")
    if mask is None:
        mask = torch.ones_like(advantages)
    mask = mask.to(torch.float32)
    rewards = scores.to(torch.float32).sum(-1).tolist()
    advs = ((advantages.to(torch.float32) * mask).sum(-1) / mask.sum(-1).clamp(min=1)).tolist()
    if success_key in extra:
        successes = [float(x) for x in np.asarray(extra[success_key], dtype=np.float64)]
    else:
        successes = [float(r >= success_threshold) for r in rewards]
    ids = extra.get("uid")
    ids = ids if ids is not None else extra.get("index", range(len(rewards)))
    return [
        Feedback(distribution=str(d), problem_id=str(i), reward=r, advantage=a, success=s)
        for d, i, r, a, s in zip(extra[distribution_key], ids, rewards, advs, successes, strict=True)
    ]


class CurriculumSampler(_SamplerBase):  # type: ignore[misc,valid-type]
    """Row indices for verl's train dataloader, `train_batch_size` at a time by the curriculum.

    verl builds it as `CurriculumSampler(data_source=dataset, data_config=config.data)`. An epoch has
    len(dataset) // batch_size batches (what a shuffle would give with drop_last), so verl's step
    count is unchanged. Prompts are drawn with replacement, one batch at a time, when the
    dataloader asks for the batch's first index: with `dataloader_num_workers=0` that is at the
    start of the step, after the previous step's `update`."""

    def __init__(self, data_source: Sized, data_config: Any) -> None:
        self.config = read_config(data_config)
        data = _plain(data_config)
        workers = data.get("dataloader_num_workers", 8) if isinstance(data, Mapping) else 0
        if workers:
            raise ValueError(
                f"data.dataloader_num_workers={workers}: the curriculum needs 0 (workers read batches "
                "ahead, drawn with probabilities that the following steps' feedback has not updated)"
            )
        batch_size = (
            (data.get("gen_batch_size") or data.get("train_batch_size"))
            if isinstance(data, Mapping)
            else None
        )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"data.train_batch_size must be a positive integer, not {batch_size!r}")
        self.batch_size = batch_size
        name, options, seed = self.config.scheduler_and_seed()
        from dumpcli.schedulers import registry

        try:
            if registry.is_problem_level(name):
                raise ValueError(
                    f"{name} is a problem-level selector: verl's batch does not say which dataset row each "
                    "completion came from; use a distribution-level scheduler "
                    f"({', '.join(n for n in registry.names() if not registry.is_problem_level(n))})"
                )
        except KeyError as e:
            raise ValueError(f"data.{CONFIG_KEY}.scheduler: {e.args[0]}") from None
        rows = row_distributions(data_source, self.config.distribution_key)
        counts = Counter(rows)
        distributions = list(counts)  # first appearance order
        self.curriculum = build_curriculum(
            name,
            options,
            rows,
            distributions,
            [counts[d] for d in distributions],
            seed=seed,
            log_path=Path(self.config.log) if self.config.log else None,
            total_steps=self.config.total_steps,
        )
        self.num_batches = len(rows) // batch_size
        if self.num_batches < 1:
            raise ValueError(
                f"the dataset has {len(rows)} rows, fewer than data.train_batch_size={batch_size}"
            )
        self.steps = 0  # feedback received (verl steps)
        self._position = 0  # indices handed out in this epoch
        self._batch: list[int] = []  # the current batch's indices not handed out yet

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def __iter__(self) -> Iterator[int]:
        while self._position < len(self):
            if not self._batch:
                self._batch = self.curriculum.draw(self.batch_size, step=self.steps)
            self._position += 1
            yield self._batch.pop(0)
        self._position = 0

    def update(self, batch: Any) -> dict[str, dict[str, float]]:
        """Feed one step's scored batch to the scheduler; returns per-distribution means (reward,
        accuracy, mean |advantage|, completions)."""
        feedback = feedback_from_batch(
            batch,
            distribution_key=self.config.distribution_key,
            success_key=self.config.success_key,
            success_threshold=self.config.success_threshold,
        )
        self.steps += 1
        return self.curriculum.observe(feedback)

    def state_dict(self) -> dict[str, Any]:
        return {
            "curriculum": self.curriculum.state_dict(),
            "steps": self.steps,
            "position": self._position,
            "batch": list(self._batch),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.curriculum.load_state_dict(state["curriculum"])
        self.steps = int(state["steps"])
        self._position = int(state["position"])
        self._batch = [int(i) for i in state["batch"]]


def feed_sampler(sampler: Any, batch: Any) -> None:
    """The trainer side of verl 0.8+: give the step's batch to a curriculum sampler, if that is
    what the dataloader has (verl 0.5 - 0.7 call `update` themselves)."""
    if isinstance(sampler, CurriculumSampler) and not NATIVE_UPDATE_HOOK:
        sampler.update(batch)


def curriculum_trainer_class() -> type:
    """verl's RayPPOTrainer with `_update_actor(batch)` feeding the curriculum sampler first: the
    batch there has rewards and advantages, and the next step's prompts are not drawn yet."""
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    class CurriculumRayPPOTrainer(RayPPOTrainer):  # type: ignore[misc,valid-type]
        def _update_actor(self, batch: Any) -> Any:
            feed_sampler(self.train_dataloader.sampler, batch)
            return super()._update_actor(batch)

    return CurriculumRayPPOTrainer


def create_rl_sampler(data_config: Any, dataset: Any, _default: Any = None) -> Any:
    """verl's `create_rl_sampler` with `data.dumpcli` set: the curriculum sampler; without it,
    verl's own sampler."""
    data = _plain(data_config)
    if isinstance(data, Mapping) and data.get(CONFIG_KEY) is not None:
        return CurriculumSampler(dataset, data_config)
    if _default is None:
        from verl.trainer.ppo.utils import create_rl_sampler as _default
    return _default(data_config, dataset)


def install(modules: Sequence[str] = ("verl.trainer.main_ppo_v0", "verl.trainer.main_ppo")) -> list[str]:
    """verl 0.8+: make verl's legacy task runner build `CurriculumRayPPOTrainer` and, when
    `data.dumpcli` is set, `CurriculumSampler`. Call it in every Ray worker process, e.g.
    `+ray_kwargs.ray_init.runtime_env.worker_process_setup_hook=dumpcli.integrations.verl.install`.
    Returns the modules it changed; on verl 0.5 - 0.7 (which load the sampler from
    `data.sampler.class_path` and call `update` themselves) it changes nothing."""
    import importlib

    if NATIVE_UPDATE_HOOK:
        return []
    trainer_class = curriculum_trainer_class()
    changed = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if not hasattr(module, "RayPPOTrainer") or not hasattr(module, "create_rl_sampler"):
            continue
        default = module.create_rl_sampler
        if getattr(default, "_dumpcli", False):
            changed.append(name)
            continue

        def sampler(data_config: Any, dataset: Any, _default: Any = default) -> Any:
            return create_rl_sampler(data_config, dataset, _default)

        sampler._dumpcli = True  # type: ignore[attr-defined]
        module.create_rl_sampler = sampler
        module.RayPPOTrainer = trainer_class
        changed.append(name)
    return changed


__all__ = [
    "CONFIG_KEY",
    "VERL_VERSIONS",
    "CurriculumSampler",
    "VerlCurriculumConfig",
    "create_rl_sampler",
    "curriculum_trainer_class",
    "feed_sampler",
    "feedback_from_batch",
    "install",
]
