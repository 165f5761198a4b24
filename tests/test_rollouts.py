"""`train.rollouts` (dumpcli/train/rollouts.py): GRESO's skip rule, SPEED-RL's screen, Knapsack RL's
allocation and the advantages of groups of different sizes, against hand-computed values; then the
options end to end from the CLI, with logs that add up and an exact resume."""

from __future__ import annotations

import itertools
import shutil
import sys
import zlib

import numpy as np
import pytest
import torch
from conftest import ToyFamily, read_jsonl, register_family, save_recipe
from helpers import record_loss_inputs, tiny_train_recipe
from pydantic import ValidationError
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.puzzles.base import Verdict
from dumpcli.recipe import RolloutsSpec
from dumpcli.schedulers.curator.improvement import policy_improvement
from dumpcli.train import rollouts as rules
from dumpcli.train.filters import merge_rows

# ----------------------------------------------------------------------------------- skip (GRESO)


def test_skip_probability_is_one_minus_p_to_the_streak_floored_at_one_percent():
    assert rules.skip_probability(0, 0.5) == 0.0  # never generated, or a mixed latest group: kept
    assert rules.skip_probability(1, 0.5) == pytest.approx(0.5)
    assert rules.skip_probability(3, 0.5) == pytest.approx(0.875)
    assert rules.skip_probability(10, 0.5) == pytest.approx(0.99)  # 0.5^10 < 0.01: the floor
    got = rules.skip_probability(np.array([0, 1, 2]), 0.8)
    assert got == pytest.approx([0.0, 0.2, 0.36])


def test_skip_decisions_test_easy_then_hard_with_their_own_draws():
    streak_all = np.array([2, 0, 0, 1])
    streak_none = np.array([0, 3, 0, 0])
    # P_easy(z=2, p=.5) = .75, P_hard(z=3, p=.5) = .875, P_easy(z=1) = .5
    u = np.array([[0.74, 0.0], [0.9, 0.87], [0.0, 0.0], [0.5, 0.0]])
    got = rules.skip_decisions(streak_all, streak_none, 0.5, 0.5, u)
    assert got.tolist() == [True, True, False, False]


def test_exploration_probabilities_move_by_the_step_towards_the_targets_within_bounds():
    spec = RolloutsSpec(method="skip")
    state = rules.SkipState(0.5, 0.5)
    state.adapt(1.0, 1.0, spec)
    assert (state.p_easy, state.p_hard) == (0.5, 0.5)  # no prompt had a history yet
    state.adapting = True
    # targets: easy 0.25/3 = 0.0833, hard 2*0.25/3 = 0.1667
    state.adapt(0.10, 0.10, spec)  # too many easy groups: skip more of them (lower p)
    assert state.p_easy == pytest.approx(0.49) and state.p_hard == pytest.approx(0.51)
    state = rules.SkipState(0.05, 0.95, adapting=True)
    state.adapt(0.5, 0.0, spec)
    assert (state.p_easy, state.p_hard) == (0.05, 0.95)  # clipped to [p_min, p_max]


def test_fill_in_order_takes_the_first_kept_then_the_earliest_others():
    assert rules.fill_in_order([False, True, True, False, True], 2) == ([1, 2], 0)
    assert rules.fill_in_order([False, True, False, False], 3) == ([0, 1, 2], 2)


# ----------------------------------------------------------------------------------- screen (SPEED)


def test_a_screen_qualifies_strictly_inside_the_band():
    rates = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    assert rules.qualifies(rates, (0.0, 1.0)).tolist() == [False, True, True, True, False]
    assert rules.qualifies(rates, (0.25, 0.75)).tolist() == [False, False, True, False, False]


def test_screen_round_size_aims_at_the_missing_prompts():
    assert rules.screen_round_size(16, 1.0, 32) == 16
    assert rules.screen_round_size(10, 0.5, 32) == 20
    assert rules.screen_round_size(10, 0.3, 32) == 32  # ceil(33.3), capped at a generation batch
    assert rules.screen_round_size(2, 0.0, 64) == 20  # q is at least 0.1
    assert rules.screen_round_size(3, 1.0, 32, multiple=2) == 4  # each process screens its share


# ----------------------------------------------------------------------------------- budget (Knapsack RL)


def test_knapsack_value_by_hand():
    assert rules.knapsack_value(2, 0.5) == pytest.approx((1 - 0.25 - 0.25) * 0.5 * 0.25)
    assert rules.knapsack_value(8, 0.0) == 0.0 and rules.knapsack_value(8, 1.0) == 0.0
    assert rules.knapsack_value(3, 0.2) == pytest.approx((1 - 0.008 - 0.512) * 0.2 * 0.64)


def brute_force(p: list[float], total: int, low: int, high: int) -> tuple[float, ...]:
    best, arg = -1.0, None
    for n in itertools.product(range(low, high + 1), repeat=len(p)):
        if sum(n) != total:
            continue
        v = sum(float(rules.knapsack_value(ni, pi)) for ni, pi in zip(n, p, strict=True))
        if v > best + 1e-15:
            best, arg = v, n
    assert arg is not None
    return tuple(sorted(zip(arg, p, strict=True)))


@pytest.mark.parametrize(
    ("p", "total"),
    [([0.5, 0.1, 0.9], 24), ([0.3, 0.6], 12), ([0.2, 0.4, 0.7, 0.5], 20), ([0.05, 0.95, 0.5], 15)],
)
def test_knapsack_allocation_is_the_exact_optimum(p, total):
    """When the cost estimate does not trigger the fallback, the allocation maximises the paper's
    objective: the same as enumerating every allocation."""
    p_arr = np.array(p)
    cost = np.minimum(16, np.floor(np.log(0.1) / np.log(np.maximum(p_arr, 1 - p_arr))))
    assert cost.sum() >= total - 2 * len(p)  # the fallback stays out of these cases
    got = rules.knapsack_allocation(p_arr, np.ones(len(p), bool), total, default=8, low=2, high=16)
    assert got.sum() == total and got.min() >= 2 and got.max() <= 16
    value = sum(float(rules.knapsack_value(n, q)) for n, q in zip(got, p, strict=True))
    best = brute_force(p, total, 2, 16)
    assert value == pytest.approx(sum(float(rules.knapsack_value(n, q)) for n, q in best), rel=1e-12)


def test_knapsack_base_allocation_and_fallbacks_by_hand():
    known = np.array([True, True, True, False])
    # unknown -> 8; p=0 and p=1 -> 2; p=.5 -> 2, left 32 - 14 = 18; p=.5's cost log(.1)/log(.5) = 3.3 -> 3
    # < 18: 15 go to the p=0 prompt, 3 to the p=.5 one
    got = rules.knapsack_allocation(np.array([0.5, 0.0, 1.0, 0.3]), known, 32, default=8, low=2, high=16)
    assert got.tolist() == [5, 17, 2, 8]
    # without p=0 prompts, the excess (24 - [2, 2, 8] - 3 = 9) goes to every prompt outside (0, 1)
    got = rules.knapsack_allocation(np.array([0.5, 1.0, 0.3]), np.array([True, True, False]), 24, 8, 2, 16)
    assert got.tolist() == [5, 2 + 5, 8 + 4]
    # no prompt in (0, 1): what is left goes to the p=0 prompts, or each prompt gets the default
    got = rules.knapsack_allocation(np.array([0.0, 1.0, 0.0]), np.ones(3, bool), 24, 8, 2, 16)
    assert got.tolist() == [11, 2, 11]
    got = rules.knapsack_allocation(np.array([1.0, 1.0]), np.ones(2, bool), 16, 8, 2, 16)
    assert got.tolist() == [8, 8]
    # nothing known yet: every prompt gets num_generations (the first visits are uniform)
    got = rules.knapsack_allocation(np.zeros(4), np.zeros(4, bool), 32, 8, 2, 16)
    assert got.tolist() == [8, 8, 8, 8]
    # every prompt at its cap: the rest is spread evenly, as the reference does
    got = rules.knapsack_allocation(np.array([0.5, 0.5]), np.ones(2, bool), 20, 8, 2, 4)
    assert got.tolist() == [10, 10]


def test_estimated_rate_uses_the_latest_visit_only_when_it_had_16_completions():
    got = rules.estimated_rate(np.array([0.5, 0.25]), np.array([16, 8]), np.array([0.1, 0.3]))
    assert got.tolist() == [0.5, 0.3]


# ----------------------------------------------------------------------------------- advantages


def test_group_advantages_of_unequal_groups_by_hand():
    r = torch.tensor([1.0, 0.0, 2.0, 5.0, 1.0, 1.0])
    got = rules.group_advantages(r, [3, 1, 2], "group")
    # means 1, 5, 1; group 1's unbiased std = 1; a group of one and an all-equal group: 0
    expected = [0.0, -1 / (1 + 1e-4), 1 / (1 + 1e-4), 0.0, 0.0, 0.0]
    assert got.tolist() == pytest.approx(expected, abs=1e-6)
    assert rules.group_advantages(r, [3, 1, 2], "none").tolist() == pytest.approx([0, -1, 1, 0, 0, 0])
    batch_std = float(r.std())
    got = rules.group_advantages(r, [3, 1, 2], "batch")
    scaled = [0, -1 / (batch_std + 1e-4), 1 / (batch_std + 1e-4), 0, 0, 0]
    assert got.tolist() == pytest.approx(scaled, abs=1e-6)
    # an unscorable completion (NaN) is left out of its group's mean and gets 0
    got = rules.group_advantages(torch.tensor([1.0, float("nan"), 3.0]), [3], "none")
    assert got.tolist() == pytest.approx([-1.0, 0.0, 1.0])
    with pytest.raises(ValueError):
        rules.group_advantages(r, [3, 2], "group")


def test_equal_groups_get_trls_advantages():
    """For groups of num_generations, the same numbers as TRL's own (mean and nanstd per group)."""
    from trl.trainer.utils import nanstd

    rewards = torch.randn(24, generator=torch.Generator().manual_seed(0))
    grouped = rewards.view(-1, 4)
    trl = (grouped - grouped.mean(1, keepdim=True)) / (nanstd(grouped, dim=1, keepdim=True) + 1e-4)
    got = rules.group_advantages(rewards, [4] * 6, "group")
    assert torch.allclose(got, trl.reshape(-1).to(torch.float32), atol=1e-6)


def test_zero_variance_groups_and_quantiles():
    assert rules.zero_variance_groups([1, 1, 0, 1, 2, 2, 2], [2, 2, 3]) == 2
    assert rules.quantiles([4, 8, 8, 12]) == {"min": 4.0, "median": 8.0, "max": 12.0, "mean": 8.0}


def test_policy_improvement_with_groups_of_their_own_sizes():
    b = 5
    zeros = torch.zeros(b, 1, dtype=torch.float64)
    advantages = torch.tensor([1.0, -1.0, 2.0, 0.0, -2.0], dtype=torch.float64)
    log_ratio = torch.tensor([[0.1], [0.1], [0.0], [0.0], [-0.1]], dtype=torch.float64)
    u = policy_improvement(zeros, log_ratio, torch.ones(b, 1), advantages, [2, 3])
    rho = torch.exp(log_ratio.reshape(-1)).clamp(0.8, 1.2)
    expected = [float((rho[:2] * advantages[:2]).mean()), float((rho[2:] * advantages[2:]).mean())]
    assert u.tolist() == pytest.approx(expected, rel=1e-6)
    assert policy_improvement(zeros[:4], log_ratio[:4], torch.ones(4, 1), advantages[:4], 2).shape == (2,)


def test_merge_rows_repads_rounds_of_different_widths():
    a = {
        "prompt_ids": torch.tensor([[0, 5], [6, 7]]),
        "completion_ids": torch.tensor([[1], [2]]),
        "advantages": torch.tensor([0.5, -0.5]),
        "num_items_in_batch": torch.tensor(3),
    }
    b = {
        "prompt_ids": torch.tensor([[8, 9, 9]]),
        "completion_ids": torch.tensor([[3, 4]]),
        "advantages": torch.tensor([1.0]),
        "num_items_in_batch": torch.tensor(2),
    }
    got = merge_rows([a, b], [(1, 0), (0, 1)], pad_token_id=0)
    assert got["prompt_ids"].tolist() == [[8, 9, 9], [0, 6, 7]]  # prompts padded on the left
    assert got["completion_ids"].tolist() == [[3, 4], [2, 0]]  # completions on the right
    assert got["advantages"].tolist() == [1.0, -0.5]


def test_curriculum_take_keeps_only_the_generated_prompts_in_its_log():
    from dumpcli.schedulers import registry
    from dumpcli.train.curriculum import Curriculum

    scheduler = registry.build("uniform", ["a", "b"], seed=0, sizes=[2, 2])
    curriculum = Curriculum(scheduler, ["a", "a", "b", "b"], seed=0)
    rows = curriculum.draw(6, step=0)
    curriculum.take([0, 2])
    dists = ["a" if rows[i] < 2 else "b" for i in (0, 2)]
    expected = {d: dists.count(d) for d in ("a", "b") if dists.count(d)}
    assert curriculum._pending is not None and curriculum._pending["drawn"] == expected
    assert sum(curriculum.last_shares().values()) == pytest.approx(1.0)


# ----------------------------------------------------------------------------------- the recipe


def test_rollout_options_belong_to_their_method():
    assert not RolloutsSpec().active and RolloutsSpec(method="budget").active
    with pytest.raises(ValidationError, match="k_screen belongs to method 'screen'"):
        RolloutsSpec(method="skip", k_screen=2)
    with pytest.raises(ValidationError, match="band must be"):
        RolloutsSpec(method="screen", band=(0.5, 0.5))
    with pytest.raises(ValidationError, match="min_per_prompt"):
        RolloutsSpec(method="budget", min_per_prompt=9, max_per_prompt=8)


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_wrong_option_is_a_recipe_error_naming_it(tmp_path):
    recipe = save_recipe(tmp_path, tiny_train_recipe(**{"train.rollouts": {"method": "skip", "k_screen": 2}}))
    result = CliRunner().invoke(app, ["train", str(recipe)])
    assert result.exit_code == 2
    assert "train.rollouts" in result.output and "k_screen belongs to method 'screen'" in result.output


# ----------------------------------------------------------------------------------- end to end


class CoinFamily(ToyFamily):
    """A verifier that calls a completion right by the parity of its checksum: mixed, seeded outcomes
    (the tiny model never answers a real puzzle right), so the rollout rules have rates in (0, 1)."""

    name = "coin"

    def verify(self, completion: str, answer: object) -> Verdict:
        ok = zlib.crc32(completion.encode()) % 2 == 0
        return Verdict(True, float(ok), True, "heads" if ok else "tails")


@pytest.fixture
def coin_family(monkeypatch: pytest.MonkeyPatch) -> None:
    register_family(monkeypatch, CoinFamily)


ROLLOUT_RECIPE = {  # 6 problems, so prompts come back with a history; 2 prompts x 4 completions a step
    "data.sources.0": {
        "name": "coin",
        "puzzle": "coin",
        "difficulties": [1, 2],
        "train_per_difficulty": 3,
        "test_per_difficulty": 2,
    },
    "train.grpo.temperature": 1.0,
    "train.grpo.num_generations": 4,
    "train.grpo.per_device_train_batch_size": 8,
    "train.scheduler": {"name": "uniform"},
}


def rollout_logs(tmp_path, rollouts: dict, **changes) -> list[dict]:
    recipe = tiny_train_recipe(**{**ROLLOUT_RECIPE, "train.rollouts": rollouts, **changes})
    run_cli("train", str(save_recipe(tmp_path, recipe)))
    return [line for line in read_jsonl(tmp_path / "out" / "train_log.jsonl") if "loss" in line]


def assert_logs_add_up(logs: list[dict]) -> None:
    total = 0.0
    for line in logs:
        spent = line["rollouts/completions"]
        assert spent == pytest.approx(line["rollouts/completions_per_prompt/mean"] * line["rollouts/prompts"])
        total += spent
        assert line["compute/completions"] == total  # every completion counted once


@pytest.mark.slow
def test_budget_shares_the_steps_completions_by_predicted_success(coin_family, tmp_path):
    logs = rollout_logs(
        tmp_path,
        {"method": "budget", "min_history": 4},
        **{"train.grpo.max_steps": 6, "train.grpo.per_device_train_batch_size": 12},
    )
    assert_logs_add_up(logs)
    assert all(line["rollouts/completions"] == 12 for line in logs)  # the step's budget, exactly
    assert any(line["rollouts/known"] > 0 for line in logs)  # prompts came back with a history
    assert any(line["rollouts/completions_per_prompt/min"] != 4 for line in logs)  # and got their own share


@pytest.mark.slow
def test_screen_generates_the_rest_of_a_group_only_for_prompts_that_qualify(
    coin_family, tmp_path, monkeypatch
):
    seen = record_loss_inputs(monkeypatch)
    logs = rollout_logs(tmp_path, {"method": "screen", "k_screen": 2, "max_rounds": 3})
    assert_logs_add_up(logs)
    assert len(seen) == len(logs) == 4
    for (rows, advantages), line in zip(seen, logs, strict=True):
        assert sorted(rows) == list(range(8))  # a full batch of 2 groups of 4
        # every screened prompt got 2 completions, the 2 chosen ones 2 more
        assert line["rollouts/completions"] == 2 * line["rollouts/screened"] + 2 * 2
        by_group: dict[int, list[float]] = {}
        for row, adv in zip(rows, advantages, strict=True):
            by_group.setdefault(row // 4, []).append(adv)
        moving = [a for a in by_group.values() if max(a) - min(a) > 1e-6]
        assert len(moving) == 2 - line["rollouts/filled"]  # a prompt that qualified has mixed outcomes
        for group in moving:  # normalised over the whole group of 4, not the screen and the rest apart
            assert sum(group) == pytest.approx(0.0, abs=1e-4)
            assert float(torch.tensor(group).std()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow
def test_skip_runs_and_resumes_exactly(coin_family, tmp_path):
    """GRESO's skip from the CLI; a resume from checkpoint-2 draws and skips exactly as the run did."""
    logs = rollout_logs(tmp_path, {"method": "skip", "pool_factor": 2})
    assert_logs_add_up(logs)
    assert all(line["rollouts/prompts"] == 2 for line in logs)
    out = tmp_path / "out"
    full = read_jsonl(out / "curriculum.jsonl")
    assert all(sum(line["drawn"].values()) == 2 for line in full)  # only the generated prompts count
    skipped = sum(line["rollouts/skipped"] for line in logs) / len(logs)
    printed = run_cli("report", str(out))
    assert "Per step, on average: 8.0 completions, 2.0 prompts, 1.00 generation rounds" in printed
    assert f"{skipped:.1f} prompts skipped" in printed
    shutil.rmtree(out / "checkpoint-4")
    run_cli("train", str(tmp_path / "recipe.yaml"), "--resume")
    assert read_jsonl(out / "curriculum.jsonl") == full
    resumed = [line for line in read_jsonl(out / "train_log.jsonl") if "loss" in line]
    for a, b in zip(logs[2:], resumed[2:], strict=True):
        for key in ("rollouts/skipped", "rollouts/p_easy", "rollouts/p_hard", "compute/completions"):
            assert a[key] == b[key]


@pytest.mark.slow
def test_budget_resumes_with_its_history(coin_family, tmp_path):
    from dumpcli.train.trainer import load_curriculum_state

    rollout_logs(tmp_path, {"method": "budget", "min_history": 4})
    out = tmp_path / "out"
    full = read_jsonl(out / "curriculum.jsonl")
    state = load_curriculum_state(out / "checkpoint-4")["rollouts"]
    assert state["method"] == "budget" and len(state["history"]["keys"]) > 0
    shutil.rmtree(out / "checkpoint-4")
    run_cli("train", str(tmp_path / "recipe.yaml"), "--resume")
    assert read_jsonl(out / "curriculum.jsonl") == full


def test_compare_tabulates_what_each_step_spent(tmp_path):
    """`dump compare`'s rollouts table: the logged rollouts/* means, and for runs logged before them,
    completions from the compute counter and the informative share from TRL's zero-std share."""
    import orjson

    from dumpcli.compare import rollout_stats

    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir()
    old.mkdir()
    lines = [
        {"step": 1, "loss": 0.1, "rollouts/completions": 120.0, "rollouts/prompts": 24.0, "rollouts/rounds": 3.0,
         "rollouts/informative_groups": 1.0, "rollouts/screened_out": 10.0},
        {"step": 2, "loss": 0.1, "rollouts/completions": 100.0, "rollouts/prompts": 20.0, "rollouts/rounds": 2.0,
         "rollouts/informative_groups": 0.5, "rollouts/screened_out": 4.0},
    ]  # fmt: skip
    (new / "train_log.jsonl").write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    lines = [
        {"step": 1, "loss": 0.1, "compute/completions": 64.0, "frac_reward_zero_std": 0.75},
        {"step": 2, "loss": 0.1, "compute/completions": 128.0, "frac_reward_zero_std": 0.25},
        {"step": 2, "train_runtime": 3.0},
    ]
    (old / "train_log.jsonl").write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    got = rollout_stats([new])
    assert got == {"completions": 110.0, "prompts": 22.0, "rounds": 2.5, "informative_groups": 0.75,
                   "skipped": None, "screened_out": 7.0, "informative_per_1k": None}  # fmt: skip
    got = rollout_stats([old])
    assert got["completions"] == 64.0 and got["rounds"] == 1.0 and got["informative_groups"] == 0.5
    # with run.json's GRPO settings (8 groups a step): informative groups per 1000 completions,
    # (0.25 * 8 + 0.75 * 8) / 128 completions
    (old / "run.json").write_bytes(
        orjson.dumps(
            {"recipe": {"train": {"grpo": {"per_device_train_batch_size": 64, "num_generations": 8}}}}
        )
    )
    assert rollout_stats([old])["informative_per_1k"] == 1000 * 8 / 128
    lines = [
        {
            "step": 1,
            "loss": 0.1,
            "compute/completions": 192.0,
            "filter/rounds": 3,
            "filter/filled_with_dropped": 2,
        }
    ]
    filtered = tmp_path / "filtered"
    filtered.mkdir()
    (filtered / "train_log.jsonl").write_bytes(orjson.dumps(lines[0]) + b"\n")
    (filtered / "run.json").write_bytes((old / "run.json").read_bytes())
    got = rollout_stats([filtered])  # 8 groups trained, 2 of them all-equal fillers
    assert got["informative_groups"] == 0.75 and got["informative_per_1k"] == 1000 * 6 / 192


def test_dry_run_describes_the_rollouts(tmp_path):
    from rich.console import Console

    from dumpcli.recipe import load_recipe
    from dumpcli.train.dry_run import dry_run

    path = save_recipe(tmp_path, tiny_train_recipe())
    console = Console(record=True, width=200)
    got = dry_run(load_recipe(path, ["train.rollouts={method: budget, min_per_prompt: 1}"]), console=console)
    assert got["rollouts"] == {"method": "budget", "min_per_prompt": 1}
    assert "budget (Knapsack RL): 1-128 completions a prompt" in console.export_text()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["budget", "screen"])
def test_two_ranks_agree_on_the_rollouts(tmp_path, method):
    """torchrun, 2 CPU processes (gloo): the run finishes, every completion is counted once, and with
    `budget` the two local batches are rank 0's allocation laid out contiguously across the ranks."""
    import os
    import subprocess
    from pathlib import Path

    rollouts = (
        {"method": "budget", "min_history": 2} if method == "budget" else {"method": "screen", "k_screen": 2}
    )
    recipe = tiny_train_recipe(
        **{
            "data.sources.0.train_per_difficulty": 3,
            "train.grpo.num_generations": 4,
            "train.grpo.per_device_train_batch_size": 4,
            "train.grpo.max_steps": 3,
            "train.scheduler": {"name": "uniform"},
            "train.rollouts": rollouts,
        }
    )
    path = save_recipe(tmp_path, recipe)
    run_cli("prepare", str(path))
    script = Path(__file__).parent / "rank_log_train.py"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541",
        str(script), str(path),
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "out"
    logs = [line for line in read_jsonl(out / "train_log.jsonl") if "loss" in line]
    assert len(logs) == 3
    assert_logs_add_up(logs)
    if method == "budget":
        ranks = [read_jsonl(out / "ranks" / f"rank{r}.jsonl") for r in (0, 1)]
        for r0, r1 in zip(*ranks, strict=True):
            assert r0["drawn_rows"] == r1["drawn_rows"]
            both = r0["local_rows"] + r1["local_rows"]
            assert len(both) == 8
            runs = [row for i, row in enumerate(both) if i == 0 or both[i - 1] != row]
            drawn = r0["drawn_rows"]  # each drawn prompt's group, contiguous, in draw order
            assert runs == [row for i, row in enumerate(drawn) if i == 0 or drawn[i - 1] != row]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["skip", "screen", "budget"])
@pytest.mark.parametrize("scheduler", ["curator", "thompson", "ucb"])
def test_every_rollout_method_composes_with_schedulers_and_selectors(
    coin_family, tmp_path, method, scheduler
):
    """The curator learns from the policy improvement of the prompts actually trained (a screen's
    chosen ones, groups of budget's sizes), thompson and ucb from every completion."""
    options = {"curator": {"name": "curator", "warmup_steps": 1, "pool_factor": 2}}.get(
        scheduler, {"name": scheduler}
    )
    rollouts = {"skip": {"method": "skip"}, "screen": {"method": "screen", "k_screen": 2},
                "budget": {"method": "budget", "min_history": 4}}[method]  # fmt: skip
    logs = rollout_logs(tmp_path, rollouts, **{"train.scheduler": options, "train.grpo.max_steps": 3})
    assert_logs_add_up(logs)
    lines = read_jsonl(tmp_path / "out" / "curriculum.jsonl")
    assert {line["scheduler"] for line in lines} == {scheduler}
    if scheduler == "curator":
        assert sum(1 for line in logs if "curator/mean_u" in line) == 3  # one bandit update a step
