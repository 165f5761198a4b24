"""Compute counters (completions, tokens, seconds per step in train_log.jsonl) and `train.budget`."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml
from helpers import tiny_train_recipe
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.train.compute import ComputeCounter, budget_reached, checkpoint_compute


def read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_counter_state_round_trip_and_budget_rule():
    c = ComputeCounter()
    c.add_generation(16, 100)
    c.add_generation(16, 50)
    c.add_forward(30)
    assert (c.completions, c.tokens, c.forward_tokens) == (32, 150, 30)
    spent = c.state_dict()
    assert budget_reached(spent, 32, None) and not budget_reached(spent, 33, None)
    assert budget_reached(spent, None, 150) and not budget_reached(spent, None, 151)
    assert budget_reached(spent, 1000, 150)  # either limit ends the run
    assert not budget_reached(spent, None, None)
    d = ComputeCounter()
    d.load_state_dict(c.state_dict())
    assert d.state_dict()["completions"] == 32 and d.state_dict()["tokens"] == 150
    d.load_state_dict(None)  # a checkpoint saved before counters existed
    assert d.state_dict() == {"completions": 0, "tokens": 0, "forward_tokens": 0, "seconds": 0.0}


@pytest.mark.slow
def test_train_logs_cumulative_compute_and_filter_rounds_count(tmp_path):
    recipe = tiny_train_recipe(**{"train.filter": {"zero_variance": "drop", "max_rounds": 3}})
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run_cli("train", str(path))
    out = tmp_path / "out"
    logs = [line for line in read_jsonl(out / "train_log.jsonl") if "loss" in line]
    assert [line["step"] for line in logs] == [1, 2, 3, 4]
    rounds = [line["filter/rounds"] for line in logs]
    completions = [line["compute/completions"] for line in logs]
    # 8 completions per generation round (per_device_train_batch_size 8), every round counted
    expected, total = [], 0
    for r in rounds:
        total += 8 * r
        expected.append(total)
    assert completions == expected
    tokens = [line["compute/tokens"] for line in logs]
    assert all(b > a for a, b in zip(tokens, tokens[1:], strict=False))
    assert all(0 < t <= 12 * c for t, c in zip(tokens, completions, strict=True))  # max_completion_length 12
    seconds = [line["compute/seconds"] for line in logs]
    assert all(b >= a for a, b in zip(seconds, seconds[1:], strict=False)) and seconds[0] > 0
    saved = checkpoint_compute(out / "checkpoint-4")
    assert saved["completions"] == completions[-1] and saved["tokens"] == tokens[-1]


@pytest.mark.slow
def test_budget_stops_the_run_at_equal_completions_and_resume_is_a_no_op(tmp_path):
    recipe = tiny_train_recipe(
        **{"train.budget": {"completions": 20}, "train.grpo.max_steps": 10, "train.eval_every": 2}
    )
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    output = run_cli("train", str(path))
    out = tmp_path / "out"
    logs = [line for line in read_jsonl(out / "train_log.jsonl") if "loss" in line]
    # 8 completions a step: 8, 16, 24 -> the step that reaches 20 is the last
    assert [line["compute/completions"] for line in logs] == [8, 16, 24]
    assert (out / "checkpoint-3").is_dir() and not (out / "checkpoint-4").exists()
    assert "train.budget spent at step 3" in output
    evals = read_jsonl(out / "eval.jsonl")
    assert [e["step"] for e in evals] == [0, 2, 3]  # the step that spends the budget is evaluated
    again = run_cli("train", str(path), "--resume")
    assert "spent its train.budget" in again
    assert len([line for line in read_jsonl(out / "train_log.jsonl") if "loss" in line]) == 3
