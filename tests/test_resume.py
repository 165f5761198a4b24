"""`dump train --resume` when the run folder is damaged or the recipe changed.

One 4-step run (checkpoints 2 and 4, eval every 2 steps) is trained once for the module; each test
works on a copy of it. A resume must continue from the newest intact checkpoint, leave logs with
one line per step that match the uninterrupted run, refuse a recipe that would change the run
(exit 2, naming the YAML path) before touching anything, and extend `max_steps` with the lr a run
of the new length has at each step.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from conftest import read_jsonl, save_recipe
from helpers import tiny_train_recipe
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.run_folder import (
    CURRICULUM_LOG,
    EVAL_LOG,
    RUN_INFO,
    TRAIN_LOG,
    checkpoint_problems,
    latest_checkpoint,
    truncate_logs,
)

LR = 1.0e-3
RECIPE = tiny_train_recipe(**{"train.eval_every": 2})
LOGS = (CURRICULUM_LOG, TRAIN_LOG, EVAL_LOG)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run: tmp/out, its data and warm start in tmp/cache."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DUMP_CACHE_DIR", str(root / "cache"))
        code, output = invoke("train", str(save_recipe(root, RECIPE)))
    assert code == 0, output
    return root


@pytest.fixture
def run(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the trained run (tmp_path/out) sharing its data and warm-start cache."""
    monkeypatch.setenv("DUMP_CACHE_DIR", str(trained / "cache"))
    shutil.copytree(trained / "out", tmp_path / "out")
    return tmp_path


def metric_steps(out: Path) -> list[int]:
    return [line["step"] for line in read_jsonl(out / "train_log.jsonl") if "loss" in line]


def assert_same_logs_as(out: Path, reference: Path) -> None:
    """One line per step or draw, and the same schedule and evaluation steps as the reference run."""
    assert metric_steps(out) == metric_steps(reference) == [1, 2, 3, 4]
    summaries = [line for line in read_jsonl(out / "train_log.jsonl") if "train_runtime" in line]
    assert len(summaries) == 1
    got, want = read_jsonl(out / "curriculum.jsonl"), read_jsonl(reference / "curriculum.jsonl")
    assert [line["draw"] for line in got] == [0, 1, 2, 3]
    for a, b in zip(got, want, strict=True):
        assert (a["step"], a["probabilities"], a["drawn"]) == (b["step"], b["probabilities"], b["drawn"])
    assert [e["step"] for e in read_jsonl(out / "eval.jsonl")] == [0, 2, 4]


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = [
    ("model.safetensors", "truncated"),
    ("model.safetensors", "missing"),
    ("optimizer.pt", "truncated"),
    ("optimizer.pt", "missing"),
    ("curriculum_state.pt", "truncated"),
    ("curriculum_state.pt", "missing"),
    ("rng_state.pth", "truncated"),
    ("rng_state.pth", "missing"),
    ("trainer_state.json", "truncated"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "damage"), DAMAGE)
def test_a_damaged_latest_checkpoint_is_passed_over_and_the_run_finishes(run, trained, name, damage):
    out = run / "out"
    target = out / "checkpoint-4" / name
    truncate(target) if damage == "truncated" else target.unlink()
    assert any(name in p for p in checkpoint_problems(out / "checkpoint-4"))
    assert checkpoint_problems(out / "checkpoint-2") == []

    code, output = invoke("train", str(save_recipe(run, RECIPE)), "--resume")
    assert code == 0, output
    assert "passing over checkpoint-4" in output and name in output
    assert "falling back to checkpoint-2" in output
    assert_same_logs_as(out, trained / "out")
    assert checkpoint_problems(out / "checkpoint-4") == []  # saved again, whole
    segments = orjson.loads((out / "run.json").read_bytes())["runs"]
    assert [(s["from_step"], s["max_steps"]) for s in segments] == [(0, 4), (2, 4)]
    assert segments[-1]["checkpoint"] == "checkpoint-2" and name in segments[-1]["skipped"][0]


@pytest.mark.slow
def test_no_intact_checkpoint_is_one_message_and_no_log_is_touched(run):
    out = run / "out"
    for step in (2, 4):
        truncate(out / f"checkpoint-{step}" / "optimizer.pt")
    before = {name: (out / name).read_bytes() for name in (*LOGS, RUN_INFO)}
    code, output = invoke("train", str(save_recipe(run, RECIPE)), "--resume")
    assert code == 1
    assert "no intact checkpoint" in output and "checkpoint-2: optimizer.pt" in output
    assert {name: (out / name).read_bytes() for name in before} == before


@pytest.mark.slow
def test_a_kill_after_trainer_state_json_leaves_a_checkpoint_that_does_not_count(
    trained, tmp_path, monkeypatch
):
    """The window of the issue: transformers has written trainer_state.json of checkpoint-4, the
    curriculum state or the marker is not written yet. Resume must not take checkpoint-4."""
    from transformers.trainer_callback import TrainerState

    monkeypatch.setenv("DUMP_CACHE_DIR", str(trained / "cache"))
    original = TrainerState.save_to_json

    def killed_after_writing(self, path):
        original(self, path)
        if self.global_step == 4:
            raise RuntimeError("killed")

    recipe = save_recipe(tmp_path, RECIPE)
    with monkeypatch.context() as patched:
        patched.setattr(TrainerState, "save_to_json", killed_after_writing)
        result = CliRunner().invoke(app, ["train", str(recipe)])
    assert isinstance(result.exception, RuntimeError)
    out = tmp_path / "out"
    assert (out / "checkpoint-4" / "trainer_state.json").is_file()
    assert latest_checkpoint(out) == out / "checkpoint-2"
    code, output = invoke("train", str(recipe), "--resume")
    assert code == 0, output
    assert "falling back to checkpoint-2" in output
    assert_same_logs_as(out, trained / "out")


@pytest.mark.slow
def test_save_total_limit_keeps_the_last_good_checkpoint_until_the_new_one_is_complete(
    trained, tmp_path, monkeypatch
):
    """With save_total_limit 1, transformers deletes checkpoint-2 at the end of its save of
    checkpoint-4, before our marker: a kill in between left no intact checkpoint. Rotation now
    waits for the marker."""
    import dumpcli.train.trainer as trainer_module

    monkeypatch.setenv("DUMP_CACHE_DIR", str(trained / "cache"))
    original = trainer_module.mark_complete

    def killed_before_marking(folder, step):
        if step == 4:
            raise RuntimeError("killed")
        original(folder, step)

    recipe = save_recipe(
        tmp_path, tiny_train_recipe(**{"train.eval_every": 2, "train.grpo.save_total_limit": 1})
    )
    with monkeypatch.context() as patched:
        patched.setattr(trainer_module, "mark_complete", killed_before_marking)
        result = CliRunner().invoke(app, ["train", str(recipe)])
    assert isinstance(result.exception, RuntimeError)
    out = tmp_path / "out"
    assert latest_checkpoint(out) == out / "checkpoint-2"
    code, output = invoke("train", str(recipe), "--resume")
    assert code == 0, output
    assert "falling back to checkpoint-2" in output
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4"]  # the limit still holds
    assert latest_checkpoint(out) == out / "checkpoint-4"
    assert_same_logs_as(out, trained / "out")


@pytest.mark.slow
def test_a_run_started_before_checkpoint_markers_resumes(run, trained):
    """Checkpoints of an earlier dumpcli have no marker and its run.json no `runs`: resume checks
    them by their headers, marks them complete and records the first start as the first segment."""
    out = run / "out"
    for marker in out.glob("checkpoint-*/checkpoint_complete.json"):
        marker.unlink()
    info = orjson.loads((out / RUN_INFO).read_bytes())
    del info["runs"]
    (out / RUN_INFO).write_bytes(orjson.dumps(info))
    shutil.rmtree(out / "checkpoint-4")  # killed during step 3 or 4
    assert latest_checkpoint(out) == out / "checkpoint-2"
    code, output = invoke("train", str(save_recipe(run, RECIPE)), "--resume")
    assert code == 0, output
    assert "earlier dumpcli" in output and "resuming from" in output
    assert (out / "checkpoint-2" / "checkpoint_complete.json").is_file()
    assert_same_logs_as(out, trained / "out")
    segments = orjson.loads((out / RUN_INFO).read_bytes())["runs"]
    assert [(s["from_step"], s["max_steps"]) for s in segments] == [(0, 4), (2, 4)]


@pytest.mark.slow
def test_resume_of_a_finished_run_adds_no_line(run, trained):
    code, output = invoke("train", str(save_recipe(run, RECIPE)), "--resume")
    assert code == 0, output
    assert_same_logs_as(run / "out", trained / "out")


CHANGES = [
    ("seed=1", "seed"),
    ("train.seed=7", "train.seed"),
    ("data.sources.0.difficulties=[2, 3, 4]", "data.sources.0.difficulties"),
    ("data.sources.0.train_per_difficulty=30", "data.sources.0.train_per_difficulty"),
    ("model.tiny.hidden_size=64", "model.tiny.hidden_size"),
    ("warmup.steps=3", "warmup.steps"),
    ("train.scheduler.name=uniform", "train.scheduler.name"),
    ("train.scheduler.exploration=2.0", "train.scheduler.exploration"),
    ("train.reward.scheme=binary", "train.reward.scheme"),
    ("train.filter.zero_variance=drop", "train.filter.zero_variance"),
    ("train.rollouts.method=skip", "train.rollouts.method"),
    ("train.grpo.learning_rate=0.01", "train.grpo.learning_rate"),
    ("train.grpo.num_generations=4", "train.grpo.num_generations"),
    ("train.grpo.max_steps=3", "train.grpo.max_steps"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("override", "key"), CHANGES)
def test_a_resume_that_would_change_the_run_is_refused_before_anything_is_touched(run, override, key):
    out = run / "out"
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, output = invoke("train", str(save_recipe(run, RECIPE)), "--resume", "--set", override)
    assert code == 2, output
    flat = " ".join(output.split())
    assert f"{key}: " in flat and "output_dir=NEW_DIR" in flat
    assert flat.count("error:") == 1
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_a_resume_on_other_prepared_problems_is_refused(run, trained):
    """Same recipe, other data: run.json's fingerprint of the prepared problems (ids and answers)
    is that of the data the run trained on; a resume on data that differs from it (an input file or
    a generator changed since) stops with exit 2 before any log is cut."""
    from dumpcli.data.prepared import load_split
    from dumpcli.recipe import load_recipe
    from dumpcli.train.warmup import data_fingerprint

    out, recipe = run / "out", save_recipe(run, RECIPE)
    info = orjson.loads((out / "run.json").read_bytes())
    loaded = load_recipe(trained / "recipe.yaml")  # prepared there
    assert info["data"]["fingerprint"] == data_fingerprint(
        load_split(loaded, "train"), load_split(loaded, "test")
    )
    info["data"]["fingerprint"] = "0" * 16  # as if it had trained on other problems
    shutil.rmtree(out / "checkpoint-4")  # a crash before the end: the resume has steps to train
    (out / "run.json").write_bytes(orjson.dumps(info))
    before = {name: (out / name).read_bytes() for name in (*LOGS, RUN_INFO)}
    code, output = invoke("train", str(recipe), "--resume")
    assert code == 2, output
    assert "data fingerprint" in " ".join(output.split()) and "output_dir=NEW_DIR" in output
    assert {name: (out / name).read_bytes() for name in before} == before


@pytest.mark.slow
def test_extending_max_steps_gives_the_lr_of_a_run_of_the_new_length(run, trained):
    """Linear decay: step s of a run of T steps trains at LR * (1 - (s - 1) / T). After extending
    4 -> 6 steps, steps 5 and 6 get 6-step values (4 / 6 and 1 / 6 of LR), not 0.0 then a jump.
    Eval settings may change too."""
    out = run / "out"
    recipe = save_recipe(run, RECIPE)
    code, output = invoke(
        "train", str(recipe), "--resume",
        "--set", "train.grpo.max_steps=6", "--set", "train.eval_every=3", "--set", "eval.max_new_tokens=10",
    )  # fmt: skip
    assert code == 0, output
    assert "re-planned for 6 steps" in output
    lrs = {
        line["step"]: line["learning_rate"] for line in read_jsonl(out / "train_log.jsonl") if "loss" in line
    }
    assert sorted(lrs) == [1, 2, 3, 4, 5, 6]
    for step in (1, 2, 3, 4):  # trained before the extension, on the 4-step schedule
        assert lrs[step] == pytest.approx(LR * (1 - (step - 1) / 4))
    for step in (5, 6):
        assert lrs[step] == pytest.approx(LR * (1 - (step - 1) / 6))
    assert [line["draw"] for line in read_jsonl(out / "curriculum.jsonl")] == list(range(6))
    assert [e["step"] for e in read_jsonl(out / "eval.jsonl")] == [0, 2, 4, 6]
    info = orjson.loads((out / "run.json").read_bytes())
    assert [(s["from_step"], s["max_steps"]) for s in info["runs"]] == [(0, 4), (4, 6)]
    assert info["recipe"]["train"]["grpo"]["max_steps"] == 6
    assert all(s["tool_version"] for s in info["runs"])


def test_truncate_logs_cuts_each_log_to_the_checkpoint(tmp_path):
    """curriculum by draw, eval up to and with the step, the train log without the summary of a
    stopped run; torn lines go."""
    (tmp_path / "curriculum.jsonl").write_bytes(b'{"draw": 0}\n{"draw": 1}\n{"draw": 2}\n{"dra')
    (tmp_path / "eval.jsonl").write_bytes(b'{"step": 0}\n{"step": 2}\n{"step": 4}\n')
    (tmp_path / "train_log.jsonl").write_bytes(
        b'{"step": 1, "loss": 0}\n{"step": 2, "loss": 0}\n{"step": 2, "train_runtime": 1}\n'
        b'{"step": 3, "loss": 0}\n{"st'
    )
    dropped = truncate_logs(tmp_path, step=2, draws=2)
    assert dropped == {"curriculum.jsonl": 2, "eval.jsonl": 1, "train_log.jsonl": 3}
    assert [x["draw"] for x in read_jsonl(tmp_path / "curriculum.jsonl")] == [0, 1]
    assert [x["step"] for x in read_jsonl(tmp_path / "eval.jsonl")] == [0, 2]
    assert read_jsonl(tmp_path / "train_log.jsonl") == [{"step": 1, "loss": 0}, {"step": 2, "loss": 0}]


class NotAllowed:  # a global that torch.load(weights_only=True) refuses to unpickle
    pass


def bad_pickle(path: Path) -> None:
    import torch

    torch.save({"state": NotAllowed()}, path)


def nan_weights(path: Path) -> None:
    """The same tensors, names and dtypes (so the same size and header), one of them all NaN."""
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(path)
    first = sorted(k for k, t in tensors.items() if t.is_floating_point())[0]
    tensors[first] = torch.full_like(tensors[first], float("nan"))
    size = path.stat().st_size
    save_file(tensors, path, metadata={"format": "pt"})
    assert path.stat().st_size == size


CONTENT_DAMAGE = [
    ("curriculum_state.pt", bad_pickle, "cannot be loaded with weights_only=True"),
    ("rng_state.pth", bad_pickle, "cannot be loaded with weights_only=True"),
    ("model.safetensors", nan_weights, "holds NaN or inf values"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "damage", "reason"), CONTENT_DAMAGE)
def test_a_checkpoint_damaged_inside_intact_headers_is_passed_over(run, trained, name, damage, reason):
    """Headers and sizes agree (the marker is rewritten after the damage), yet the resume would
    crash on the file: it is passed over, named, like a truncated one."""
    from dumpcli.run_folder import content_problems, mark_complete

    out = run / "out"
    damage(out / "checkpoint-4" / name)
    mark_complete(out / "checkpoint-4", 4)
    assert checkpoint_problems(out / "checkpoint-4") == []  # the header checks see nothing
    assert any(p.startswith(f"{name} {reason}") for p in content_problems(out / "checkpoint-4"))
    assert content_problems(out / "checkpoint-2") == []

    code, output = invoke("train", str(save_recipe(run, RECIPE)), "--resume")
    assert code == 0, output
    assert "passing over checkpoint-4" in output and name in output and reason in " ".join(output.split())
    assert "falling back to checkpoint-2" in output
    assert_same_logs_as(out, trained / "out")
    assert content_problems(out / "checkpoint-4") == []  # saved again, whole
