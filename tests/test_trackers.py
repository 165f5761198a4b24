"""The curriculum's numbers reach the experiment tracker of `train.grpo.report_to`: TensorBoard
event files written by a tiny `dump train`, read back."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml
from helpers import tiny_train_recipe
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.schedulers import registry
from dumpcli.train.curriculum import Curriculum
from dumpcli.train.trackers import eval_scalars


def read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_eval_scalars_name_each_distribution_and_the_means():
    result = {
        "distributions": {
            "sort/4": {"accuracy": 0.5, "reward": 1.25, "format_rate": 1.0, "sampled_accuracy": 0.25, "n": 4},
            "rev/4": {"accuracy": 0.0, "reward": -1.0, "format_rate": 0.5},
        },
        "mean_accuracy": 0.25,
        "mean_reward": 0.125,
        "num_problems": 8,
        "seconds": 1.5,
    }
    assert eval_scalars(result) == {
        "eval_accuracy/rev/4": 0.0,
        "eval_reward/rev/4": -1.0,
        "eval_format_rate/rev/4": 0.5,
        "eval_accuracy/sort/4": 0.5,
        "eval_sampled_accuracy/sort/4": 0.25,
        "eval_reward/sort/4": 1.25,
        "eval_format_rate/sort/4": 1.0,
        "eval_mean_accuracy": 0.25,
        "eval_mean_reward": 0.125,
    }


def test_last_shares_are_the_drawn_counts_over_the_prompts():
    dists = ["a", "b", "c"]
    scheduler = registry.build("weights", dists, seed=0, sizes=[5, 5, 5], weights={"a": 3, "b": 1, "c": 0})
    curriculum = Curriculum(scheduler, ["a"] * 5 + ["b"] * 5 + ["c"] * 5, seed=3)
    rows = curriculum.draw(8, step=0)
    from_a = sum(r < 5 for r in rows)
    from_b = sum(5 <= r < 10 for r in rows)
    assert from_a + from_b == 8  # c has weight 0
    assert curriculum.last_shares() == {"a": from_a / 8, "b": from_b / 8, "c": 0.0}
    # the same draw as the log line's `drawn`
    assert curriculum._pending is not None
    assert curriculum._pending["drawn"] == {d: n for d, n in (("a", from_a), ("b", from_b)) if n}


def _scalars(run: Path) -> dict[str, dict[int, float]]:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted(run.glob("runs/*/events.out.tfevents.*"))
    assert len(files) == 1, files
    acc = EventAccumulator(str(files[0].parent), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


def test_tensorboard_gets_the_curriculum_eval_and_compute_numbers(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    monkeypatch.setenv("DUMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    recipe = tiny_train_recipe(**{"train.grpo.report_to": "tensorboard", "train.eval_every": 2})
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(app, ["train", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    tb = _scalars(out)

    # every number of every training log line is in TensorBoard, under train/, at its step (the
    # last line of a step wins: the run's summary line comes at the last step)
    lines = read_jsonl(out / "train_log.jsonl")
    assert [line["step"] for line in lines if "loss" in line] == [1, 2, 3, 4]
    expected = {
        (key, line["step"]): value
        for line in lines
        for key, value in line.items()
        if key not in ("step", "time") and isinstance(value, int | float)
    }
    for (key, step), value in expected.items():
        assert tb[f"train/{key}"][step] == pytest.approx(value, rel=1e-6, abs=1e-6), (key, step)
    for dist in ("kk/2", "kk/3"):
        assert set(tb[f"train/curriculum/p/{dist}"]) == {1, 2, 3, 4}
        assert set(tb[f"train/curriculum/share/{dist}"]) == {1, 2, 3, 4}
    for key in ("compute/completions", "compute/tokens", "compute/seconds"):
        assert set(tb[f"train/{key}"]) == {1, 2, 3, 4}
    # 8 completions a step: the counter is cumulative
    assert [tb["train/compute/completions"][s] for s in (1, 2, 3, 4)] == [8, 16, 24, 32]
    # the share drawn is what curriculum.jsonl says was drawn (4 prompts a round)
    draws = read_jsonl(out / "curriculum.jsonl")
    for step, line in zip((1, 2, 3, 4), draws, strict=True):
        for dist in ("kk/2", "kk/3"):
            assert tb[f"train/curriculum/share/{dist}"][step] == pytest.approx(line["drawn"].get(dist, 0) / 4)
    assert any(f"train/reward/{d}" in tb for d in ("kk/2", "kk/3"))

    # each evaluation, step 0 included, at its step, with eval.jsonl's numbers
    evals = read_jsonl(out / "eval.jsonl")
    assert [e["step"] for e in evals] == [0, 2, 4]
    for e in evals:
        for dist, entry in e["distributions"].items():
            assert tb[f"eval/accuracy/{dist}"][e["step"]] == pytest.approx(entry["accuracy"])
        assert tb["eval/mean_accuracy"][e["step"]] == pytest.approx(e["mean_accuracy"])
    # the evaluation did not become a training log line
    assert all("loss" in line or "train_runtime" in line for line in lines)
