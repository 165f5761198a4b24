"""dumpcli's curricula inside verl (dumpcli/integrations/verl.py).

The first tests use verl's published interface with plain stand-ins (a batch with `batch` tensors
and `non_tensor_batch` arrays, a dataset with a `dataframe`), so they run where verl is not
installed. The last ones run against the real verl package (skipped without it): its RLHFDataset,
collate_fn, StatefulDataLoader, DataProto, GRPO advantage and RayPPOTrainer."""

from __future__ import annotations

from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch

from dumpcli.integrations.verl import CurriculumSampler, feedback_from_batch, read_config

SOURCES = ["gsm8k"] * 6 + ["math"] * 4 + ["aime"] * 2  # rows 0-5, 6-9, 10-11


class FakeRLHFDataset:
    """What verl's RLHFDataset exposes to a sampler: len() and its rows in `dataframe`."""

    def __init__(self, sources=SOURCES):
        self.dataframe = datasets.Dataset.from_dict({"data_source": list(sources)})

    def __len__(self) -> int:
        return len(self.dataframe)


def data_config(**dumpcli):
    block = {"scheduler": {"name": "ucb"}, "seed": 0, **dumpcli}
    return {"train_batch_size": 4, "dataloader_num_workers": 0, "dumpcli": block}


def fake_batch(sources, scores, advantages, mask, acc=None):
    """A verl DataProto as the trainer has it after compute_advantage (attribute names of verl)."""
    extra = {
        "data_source": np.array(sources, dtype=object),
        "uid": np.array([f"u{i // 2}" for i in range(len(sources))], dtype=object),
    }
    if acc is not None:
        extra["acc"] = np.array(acc)
    tensors = {
        "token_level_scores": torch.tensor(scores, dtype=torch.float32),
        "advantages": torch.tensor(advantages, dtype=torch.float32),
        "response_mask": torch.tensor(mask, dtype=torch.int64),
    }
    return SimpleNamespace(batch=tensors, non_tensor_batch=extra, meta_info={})


def test_feedback_reads_reward_advantage_and_success_per_completion():
    batch = fake_batch(
        ["math", "math", "aime", "aime"],
        scores=[[0, 0, 1.0], [0, 0.5, 0], [0, 0, 0], [0, 0, 0]],
        # GRPO advantages are the same on every response token; padding (mask 0) is ignored
        advantages=[[0.7, 0.7, 0.7], [-0.7, -0.7, 9.0], [0, 0, 0], [0.25, 5.0, 5.0]],
        mask=[[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 0, 0]],
    )
    fb = feedback_from_batch(batch)
    assert [f.distribution for f in fb] == ["math", "math", "aime", "aime"]
    assert [f.reward for f in fb] == [1.0, 0.5, 0.0, 0.0]
    assert [f.advantage for f in fb] == pytest.approx([0.7, -0.7, 0.0, 0.25])
    assert [f.success for f in fb] == [1.0, 0.0, 0.0, 0.0]  # reward >= 1.0
    assert [f.problem_id for f in fb] == ["u0", "u0", "u1", "u1"]
    # a reward function that reports `acc` decides success
    with_acc = fake_batch(["math"] * 2, [[0.2], [1.0]], [[1.0], [-1.0]], [[1], [1]], acc=[True, False])
    assert [f.success for f in feedback_from_batch(with_acc)] == [1.0, 0.0]


def test_feedback_before_the_advantages_is_refused():
    batch = fake_batch(["math"], [[1.0]], [[0.0]], [[1]])
    del batch.batch["advantages"]
    with pytest.raises(ValueError, match="advantages"):
        feedback_from_batch(batch)


def test_sampler_draws_batches_by_the_schedule_and_learns_from_the_batch():
    sampler = CurriculumSampler(
        FakeRLHFDataset(), data_config(scheduler={"name": "weights", "weights": {"math": 1, "*": 0}})
    )
    assert len(sampler) == 12  # 3 batches of 4 per epoch
    rows = list(sampler)
    assert len(rows) == 12 and all(6 <= r <= 9 for r in rows)  # only math has weight
    assert sampler.curriculum.draws == 3  # one draw per batch
    assert list(sampler) and sampler.curriculum.draws == 6  # the next epoch


def test_sampler_update_feeds_every_completion_to_the_scheduler():
    sampler = CurriculumSampler(FakeRLHFDataset(), data_config())
    it = iter(sampler)
    first = [next(it) for _ in range(4)]
    assert sampler.curriculum.draws == 1 and len(first) == 4
    batch = fake_batch(
        ["gsm8k", "gsm8k", "aime", "aime", "aime", "aime"],
        scores=[[1.0], [0.0], [1.0], [0.0], [0.0], [0.0]],
        advantages=[[0.5], [-0.5], [1.5], [-0.5], [-0.5], [-0.5]],
        mask=[[1]] * 6,
    )
    per_dist = sampler.update(batch)
    assert per_dist["aime"] == {"reward": 0.25, "accuracy": 0.25, "abs_advantage": 0.75, "completions": 4.0}
    stats = sampler.curriculum.scheduler.stats()
    assert stats["gsm8k"]["n"] == 2 and stats["aime"]["n"] == 4 and stats["math"]["n"] == 0
    next(it)  # the next batch is drawn after the feedback, with the updated probabilities
    assert sampler.curriculum.draws == 2
    assert sampler.curriculum.last_probabilities() != {"gsm8k": 1 / 3, "math": 1 / 3, "aime": 1 / 3}


def test_sampler_state_round_trip_continues_the_same_draws():
    def step_batch(rows):
        sources = [SOURCES[r] for r in rows for _ in range(2)]
        n = len(sources)
        return fake_batch(
            sources, [[float(i % 2)] for i in range(n)], [[(-1.0) ** i] for i in range(n)], [[1]] * n
        )

    a = CurriculumSampler(FakeRLHFDataset(), data_config())
    it = iter(a)
    for _ in range(2):
        rows = [next(it) for _ in range(4)]
        a.update(step_batch(rows))
    next(it)  # a checkpoint can come mid-batch too
    state = a.state_dict()
    rest_a = [next(it) for _ in range(3)]  # the end of epoch 1: 12 rows
    with pytest.raises(StopIteration):
        next(it)

    b = CurriculumSampler(FakeRLHFDataset(), data_config())
    b.load_state_dict(state)
    rest_b = list(b)
    assert rest_b == rest_a
    assert b.curriculum.scheduler.stats() == a.curriculum.scheduler.stats()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"train_batch_size": 4, "dataloader_num_workers": 0}, "data.dumpcli is missing"),
        (data_config(scheduler={"window": 3}), "needs a `name`"),
        (data_config(recipe="r.yaml"), "either `scheduler`"),
        (data_config(shceduler={"name": "ucb"}), "data.dumpcli.shceduler"),
        (data_config(scheduler={"name": "nope"}), "unknown scheduler 'nope'"),
        (data_config(scheduler={"name": "curator"}), "problem-level selector"),
        ({**data_config(), "dataloader_num_workers": 8}, "dataloader_num_workers=8"),
        ({**data_config(), "train_batch_size": 64}, "fewer than data.train_batch_size=64"),
    ],
)
def test_bad_configuration_is_named(config, message):
    with pytest.raises(ValueError, match=message):
        CurriculumSampler(FakeRLHFDataset(), config)


def test_config_from_a_recipe(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\nseed: 7\ndata: {sources: [{name: a, puzzle: sorting, difficulties: [4], train_per_difficulty: 10}]}\n"
        "train: {scheduler: {name: sec, tau: 0.5}}\n"
    )
    config = read_config({"dumpcli": {"recipe": str(recipe)}})
    assert config.scheduler_and_seed() == ("sec", {"tau": 0.5}, 7)
    sampler = CurriculumSampler(
        FakeRLHFDataset(),
        {"train_batch_size": 4, "dataloader_num_workers": 0, "dumpcli": {"recipe": str(recipe)}},
    )
    assert sampler.curriculum.name == "sec" and sampler.curriculum.seed == 7


# -- the real verl package ----------------------------------------------------------------------


@pytest.fixture
def verl_parts(tmp_path):
    pytest.importorskip("verl")
    pytest.importorskip("omegaconf")
    import pandas as pd
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from dumpcli.train.tiny import build_tokenizer

    rows = [
        {
            "data_source": src,
            "prompt": [{"role": "user", "content": f"question {i} of {src}"}],
            "reward_model": {"style": "rule", "ground_truth": str(i)},
            "extra_info": {"index": i},
        }
        for i, src in enumerate(SOURCES)
    ]
    path = tmp_path / "train.parquet"
    pd.DataFrame(rows).to_parquet(path)
    tokenizer = build_tokenizer([f"question {i} of {s}" for i, s in enumerate(SOURCES)])
    config = OmegaConf.create(
        {
            "train_batch_size": 4,
            "dataloader_num_workers": 0,
            "filter_overlong_prompts": False,
            "cache_dir": str(tmp_path / "cache"),
            "dumpcli": {"scheduler": {"name": "ucb"}, "seed": 0},
        }
    )
    dataset = RLHFDataset(data_files=str(path), tokenizer=tokenizer, config=config)
    return dataset, config


def _loader(dataset, config, sampler):
    from torchdata.stateful_dataloader import StatefulDataLoader
    from verl.utils.dataset.rl_dataset import collate_fn

    return StatefulDataLoader(
        dataset=dataset,
        batch_size=config.train_batch_size,
        num_workers=0,
        drop_last=True,
        collate_fn=collate_fn,
        sampler=sampler,
    )


def _scored(batch_dict, n=2, seed=0):
    """What verl's trainer makes of a dataloader batch before `update`: the DataProto, repeated n
    times (interleaved), uid per prompt, responses scored, GRPO advantages by verl's own function."""
    import uuid

    from verl import DataProto
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    batch = DataProto.from_single_dict(batch_dict)
    batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(batch))], dtype=object)
    batch = batch.repeat(repeat_times=n, interleave=True)
    g = torch.Generator().manual_seed(seed)
    length = 3
    mask = torch.ones(len(batch), length, dtype=torch.int64)
    scores = torch.zeros(len(batch), length)
    scores[:, -1] = (torch.rand(len(batch), generator=g) > 0.5).float()
    advantages, returns = compute_grpo_outcome_advantage(scores, mask, batch.non_tensor_batch["uid"])
    batch.batch["response_mask"] = mask
    batch.batch["token_level_scores"] = scores
    batch.batch["advantages"] = advantages
    return batch


def test_real_verl_draws_feedback_and_checkpoint(verl_parts, tmp_path):
    """The sampler in verl's StatefulDataLoader: each batch's rows come from the curriculum, the
    scored DataProto feeds it, and the loader's checkpoint (verl's data.pt) restores it."""
    dataset, config = verl_parts
    sampler = CurriculumSampler(data_source=dataset, data_config=config)
    assert sampler.curriculum.distributions == ["gsm8k", "math", "aime"]
    loader = _loader(dataset, config, sampler)
    assert len(loader) == 3
    it = iter(loader)
    for step in range(2):
        batch_dict = next(it)
        assert sampler.curriculum.draws == step + 1
        drawn = [SOURCES[x["index"]] for x in batch_dict["extra_info"]]
        assert list(batch_dict["data_source"]) == drawn
        batch = _scored(batch_dict, seed=step)
        sampler.update(batch)
        n = sum(v["n"] for v in sampler.curriculum.scheduler.stats().values())
        assert n == 8 * (step + 1)  # every completion (4 prompts x 2) reached the scheduler
    path = tmp_path / "data.pt"
    torch.save(loader.state_dict(), path)  # what verl's _save_checkpoint writes
    following = [list(next(it)["data_source"])]

    resumed_sampler = CurriculumSampler(data_source=dataset, data_config=config)
    resumed = _loader(dataset, config, resumed_sampler)
    resumed.load_state_dict(torch.load(path, weights_only=True))
    assert [list(b["data_source"]) for b in resumed] == following  # the rest of the epoch, the same draws
    assert resumed_sampler.curriculum.scheduler.stats() == sampler.curriculum.scheduler.stats()
    assert resumed_sampler.steps == 2


def test_real_verl_trainer_feeds_the_sampler_before_the_actor_update(verl_parts, monkeypatch):
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    from dumpcli.integrations.verl import NATIVE_UPDATE_HOOK, curriculum_trainer_class

    if NATIVE_UPDATE_HOOK:
        pytest.skip("this verl calls sampler.update itself")
    dataset, config = verl_parts
    calls = []
    monkeypatch.setattr(
        RayPPOTrainer, "_update_actor", lambda self, batch: calls.append(("actor", len(batch)))
    )
    trainer_class = curriculum_trainer_class()
    trainer = trainer_class.__new__(trainer_class)  # the workers are not needed for the hook
    sampler = CurriculumSampler(data_source=dataset, data_config=config)
    trainer.train_dataloader = _loader(dataset, config, sampler)
    batch = _scored(next(iter(trainer.train_dataloader)))
    trainer._update_actor(batch)
    assert calls == [("actor", 8)] and sampler.steps == 1


def test_real_verl_install_puts_the_curriculum_in_the_task_runner(verl_parts, monkeypatch):
    import importlib

    from omegaconf import OmegaConf

    from dumpcli.integrations.verl import NATIVE_UPDATE_HOOK, install

    if NATIVE_UPDATE_HOOK:
        pytest.skip("this verl loads the sampler from data.sampler.class_path")
    dataset, config = verl_parts
    module = importlib.import_module("verl.trainer.main_ppo_v0")
    monkeypatch.setattr(module, "create_rl_sampler", module.create_rl_sampler)  # undone after the test
    monkeypatch.setattr(module, "RayPPOTrainer", module.RayPPOTrainer)
    assert "verl.trainer.main_ppo_v0" in install()
    assert module.RayPPOTrainer.__name__ == "CurriculumRayPPOTrainer"
    assert isinstance(module.create_rl_sampler(config, dataset), CurriculumSampler)
    plain = OmegaConf.create({"shuffle": False, "seed": 0})
    assert not isinstance(module.create_rl_sampler(plain, dataset), CurriculumSampler)  # verl's own
    install()  # twice: still one layer
    assert isinstance(module.create_rl_sampler(config, dataset), CurriculumSampler)
