"""`dump train` end to end on tiny data: the scheduler gets the right feedback, probabilities move,
checkpoints carry the curriculum, resume reproduces the schedule, and two ranks agree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from conftest import read_jsonl, save_recipe
from helpers import TINY_TRAIN_RECIPE, record_loss_inputs, tiny_train_recipe, train_until_then_signal
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.train.trainer import load_curriculum_state

TINY_RECIPE = TINY_TRAIN_RECIPE
RANK_LOG_TRAIN = Path(__file__).parent / "rank_log_train.py"  # `dump train` logging each rank's draws


pytestmark = pytest.mark.slow  # every test here trains the tiny model end to end


def run_cli(*args: str) -> None:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_train_feeds_the_scheduler_every_completion_and_moves_probabilities(tmp_path):
    recipe = save_recipe(tmp_path, TINY_RECIPE)
    run_cli("train", str(recipe))
    out = tmp_path / "out"
    lines = read_jsonl(out / "curriculum.jsonl")
    assert [line["step"] for line in lines] == [0, 1, 2, 3]
    prompts_per_step = 8 // 2
    for line in lines:
        assert sum(line["drawn"].values()) == prompts_per_step
        assert abs(sum(line["probabilities"].values()) - 1) < 1e-9
    # UCB starts uniform, then the feedback moves it
    assert lines[0]["probabilities"] == {"kk/2": 0.5, "kk/3": 0.5}
    assert any(abs(line["probabilities"]["kk/2"] - 0.5) > 1e-6 for line in lines[1:])
    # the statistics behind step t's probabilities count every completion drawn before t
    completions = {"kk/2": 0, "kk/3": 0}
    for line in lines:
        for dist in completions:
            assert line["stats"][dist]["n"] == completions[dist]
        for dist, prompts in line["drawn"].items():
            completions[dist] += prompts * 2  # num_generations completions per drawn prompt
    final = load_curriculum_state(out / "checkpoint-4")
    assert final["draws"] == 4
    assert (out / "checkpoint-2" / "curriculum_state.pt").exists()
    logs = read_jsonl(out / "train_log.jsonl")
    assert any("curriculum/p/kk/2" in log and "reward" in log for log in logs)
    assert all(log["curriculum/seconds"] >= 0 for log in logs if "loss" in log)
    run = orjson.loads((out / "run.json").read_bytes())
    assert run["scheduler"] == "ucb" and run["distributions"] == ["kk/2", "kk/3"]
    assert run["data"]["data_dir"] == orjson.loads((out / "manifest.json").read_bytes())["data_dir"]
    assert not (out / "data").exists()  # the prepared data stays in the data cache


def test_resume_after_a_crash_reproduces_the_schedule(tmp_path):
    recipe = save_recipe(tmp_path, TINY_RECIPE)
    run_cli("train", str(recipe))
    full = read_jsonl(tmp_path / "out" / "curriculum.jsonl")
    # simulate kill -9 during step 3: checkpoint-4 never written, log has lines past checkpoint-2
    # and a torn last line
    crashed = tmp_path / "crashed"
    shutil.copytree(tmp_path / "out", crashed)
    shutil.rmtree(crashed / "checkpoint-4")
    with open(crashed / "curriculum.jsonl", "ab") as f:
        f.write(b'{"step": 3, "dra')
    run_cli("train", str(recipe), "--set", f"output_dir={crashed}", "--resume")
    resumed = read_jsonl(crashed / "curriculum.jsonl")
    assert [line["step"] for line in resumed] == [0, 1, 2, 3]
    for a, b in zip(full, resumed, strict=True):
        assert a["probabilities"] == b["probabilities"]
        assert a["drawn"] == b["drawn"]


def test_train_refuses_to_overwrite_a_run_without_resume(tmp_path):
    recipe = save_recipe(tmp_path, TINY_RECIPE)
    run_cli("train", str(recipe), "--set", "train.grpo.max_steps=2")
    result = CliRunner().invoke(app, ["train", str(recipe)])
    assert result.exit_code == 1
    assert "--resume" in result.output


def test_two_ranks_draw_identical_batches(tmp_path):
    """torchrun with 2 CPU processes (gloo): both ranks compute the same probabilities, and the
    concatenated local batches are each drawn prompt repeated num_generations times (each rank's
    draws come from a draw observer that tests/rank_log_train.py passes to train())."""
    recipe = save_recipe(tmp_path, TINY_RECIPE)
    run_cli("prepare", str(recipe))  # prepare once so the ranks only read
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
        str(RANK_LOG_TRAIN), str(recipe), "--set", "train.grpo.max_steps=3",
        "--set", "train.grpo.per_device_train_batch_size=4",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [read_jsonl(tmp_path / "out" / "ranks" / f"rank{r}.jsonl") for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 3
    for r0, r1 in zip(*ranks, strict=True):
        assert r0["probabilities"] == r1["probabilities"]
        assert r0["drawn_rows"] == r1["drawn_rows"]
        global_batch = r0["local_rows"] + r1["local_rows"]
        assert global_batch == [row for row in r0["drawn_rows"] for _ in range(2)]
    # global batch = 2 ranks x 4 completions = 4 prompts x 2 generations
    assert all(len(r["drawn_rows"]) == 4 for r in ranks[0])


def test_curator_trains_end_to_end_and_learns_from_policy_improvement(tmp_path):
    recipe = save_recipe(tmp_path, TINY_RECIPE)
    run_cli(
        "train", str(recipe), "--scheduler", "curator",
        "--set", "train.scheduler.warmup_steps=1", "--set", "train.scheduler.pool_factor=4",
    )  # fmt: skip
    out = tmp_path / "out"
    lines = read_jsonl(out / "curriculum.jsonl")
    assert [line["scheduler"] for line in lines] == ["curator"] * 4
    logs = read_jsonl(out / "train_log.jsonl")
    steps = [log for log in logs if "curator/mean_u" in log]
    assert len(steps) == 4  # one bandit update per optimizer step
    assert all(log["curator/entropy"] > 0 for log in steps)
    assert all(set(line["selector"]) == {"kk/2", "kk/3"} for line in lines)  # the curator's own stats
    state = load_curriculum_state(out / "checkpoint-4")
    assert state["selector"]["updates"] == 4 and state["scheduler"]["scheduler"] == "proportional"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # weights: kk/2 by its exact name (3) over the glob (1): 3/4, 1/4 at every step
        ({"name": "weights", "weights": {"kk/2": 3, "kk/*": 1}}, [{"kk/2": 0.75, "kk/3": 0.25}] * 2),
        # classic E2H schedule; T = the run's 2 generation steps (set by `dump train`): stage t
        ({"name": "schedule", "schedule": "classic"}, [{"kk/2": 1.0, "kk/3": 0.0}, {"kk/2": 0.0, "kk/3": 1.0}]),
        # pools: all unseen at step 0; at step 1 the one prompt of step 0 has put its distribution
        # in the pool of its success rate (weight 0.2 or 1.0), the other is still unseen (2.0)
        ({"name": "pools", "unseen_weight": 2.0}, [{"kk/2": 0.5, "kk/3": 0.5}, None]),
    ],
    ids=["weights", "schedule", "pools"],
)  # fmt: skip
def test_distribution_level_schedulers_train_from_the_cli(tmp_path, spec, expected):
    one_prompt = {"train.grpo.per_device_train_batch_size": 2}  # 1 prompt x 2 generations per step
    recipe = save_recipe(
        tmp_path, tiny_train_recipe(**{"train.scheduler": spec, "train.grpo.max_steps": 2, **one_prompt})
    )
    run_cli("train", str(recipe))
    out = tmp_path / "out"
    lines = read_jsonl(out / "curriculum.jsonl")
    assert [line["scheduler"] for line in lines] == [spec["name"]] * 2
    assert [sum(line["drawn"].values()) for line in lines] == [1, 1]
    for line, want in zip(lines, expected, strict=True):
        if want is None:  # pools: the pool of each distribution's step-0 success rate (unseen: 1.0)
            acc = lines[0]["accuracy"]
            pool = {d: 2.0 if d not in acc else 0.2 if acc[d] <= 0.25 else 1.0 if acc[d] <= 0.75 else 0.2 for d in ("kk/2", "kk/3")}  # fmt: skip
            assert len(acc) == 1  # one prompt drawn at step 0
            want = {d: w / sum(pool.values()) for d, w in pool.items()}
        assert line["probabilities"] == pytest.approx(want)
    if spec["name"] == "schedule":  # step 0's prompt from kk/2, step 1's from kk/3
        assert [line["drawn"] for line in lines] == [{"kk/2": 1}, {"kk/3": 1}]
        assert load_curriculum_state(out / "checkpoint-2")["scheduler"]["options"]["total_steps"] == 2
    state = load_curriculum_state(out / "checkpoint-2")["scheduler"]
    assert state["scheduler"] == spec["name"] and state["n"] == [
        lines[0]["drawn"].get(d, 0) * 2 + lines[1]["drawn"].get(d, 0) * 2 for d in ("kk/2", "kk/3")
    ]  # completions counted per distribution (2 generations per drawn prompt)


def test_a_mixture_that_misses_a_distribution_is_a_recipe_error(tmp_path):
    spec = {"name": "weights", "weights": {"kk/2": 1}}
    recipe = save_recipe(tmp_path, tiny_train_recipe(**{"train.scheduler": spec, "train.grpo.max_steps": 2}))
    result = CliRunner().invoke(app, ["train", str(recipe)])
    assert result.exit_code == 2, result.output
    assert "train.scheduler: weights: no key matches 1 distribution(s): kk/3" in " ".join(
        result.output.split()
    )


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_the_run(tmp_path):
    """SIGINT mid-run: the current step ends, a checkpoint with the curriculum state is written,
    the exit code is 130, and --resume completes the run from there."""
    import signal

    recipe = save_recipe(tmp_path, tiny_train_recipe(**{"train.grpo.max_steps": 40, "train.save_steps": 0}))
    run_cli("prepare", str(recipe))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    returncode, output = train_until_then_signal(recipe, env, signal.SIGINT)
    assert returncode == 130, output[-3000:]
    assert "--resume" in output
    checkpoints = list((tmp_path / "out").glob("checkpoint-*"))
    assert len(checkpoints) == 1
    step = int(checkpoints[0].name.split("-")[1])
    assert 0 < step < 40
    assert load_curriculum_state(checkpoints[0])["draws"] == step
    run_cli("train", str(recipe), "--resume")
    lines = read_jsonl(tmp_path / "out" / "curriculum.jsonl")
    assert [line["step"] for line in lines] == list(range(40))


def test_eval_every_starts_at_step_0_with_the_starting_policy(tmp_path):
    """eval.jsonl opens with the starting policy (step 0), before any update; `dump eval --run`
    scores that same policy as its step 0; a resume does not add a second step 0."""
    recipe = save_recipe(
        tmp_path,
        tiny_train_recipe(
            **{
                "train.eval_every": 2,
                "eval.sampled": {"temperature": 1.0, "n": 2},
                "eval.max_per_distribution": 3,
            }
        ),
    )
    run_cli("train", str(recipe))
    out = tmp_path / "out"
    evals = read_jsonl(out / "eval.jsonl")
    assert [e["step"] for e in evals] == [0, 2, 4]
    start = evals[0]
    assert set(start["distributions"]) == {"kk/2", "kk/3"}
    assert all("sampled_accuracy" in m for m in start["distributions"].values())
    assert 0.0 <= start["mean_sampled_accuracy"] <= 1.0 and start["sampled"]["n"] == 2

    run_cli("eval", str(recipe), "--run", str(out))
    scored = orjson.loads((out / "eval.json").read_bytes())["checkpoints"]
    policy = orjson.loads((out / "run.json").read_bytes())["policy_start"]
    assert list(scored)[0] == policy and scored[policy]["step"] == 0
    assert [v["step"] for v in scored.values()] == [0, 2, 4]
    for key in ("accuracy", "mean_reward", "sampled_accuracy"):  # the same numbers both ways
        assert {d: m[key] for d, m in scored[policy]["distributions"].items()} == {
            d: m[key] for d, m in start["distributions"].items()
        }

    # and recorded in the run's evaluation store: training's lines, then those of `dump eval`
    lines = read_jsonl(out / "eval.jsonl")
    assert [(e["step"], e.get("source")) for e in lines] == [
        *[(s, None) for s in (0, 2, 4)],
        *[(s, "dump eval") for s in (0, 2, 4)],
    ]

    run_cli("train", str(recipe), "--resume")
    assert read_jsonl(out / "eval.jsonl") == lines  # a finished run: nothing added, no second step 0


def test_readme_quickstart_train_then_eval_then_report_shows_the_evaluation(tmp_path):
    """The README's `dump train`, `dump eval --run`, `dump report`: with no evaluation during
    training, the report said "no eval.jsonl" although `dump eval` had just scored every checkpoint."""
    recipe = save_recipe(tmp_path, tiny_train_recipe(**{"train.eval_every": 0}))
    out = tmp_path / "out"
    run_cli("train", str(recipe))
    assert not (out / "eval.jsonl").exists()
    run_cli("eval", str(recipe), "--run", str(out))
    result = CliRunner().invoke(app, ["report", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (out / "eval_accuracy.png").is_file()
    report = (out / "report.md").read_text()
    assert "no eval.jsonl" not in report and "Final state (eval at step 4)" in report
    assert "mean accuracy" in report and "at step 0 (the starting policy) ->" in report


def test_thompson_trains_end_to_end_and_resumes_with_its_posterior(tmp_path):
    recipe = save_recipe(tmp_path, TINY_RECIPE)
    run_cli("train", str(recipe), "--scheduler", "thompson")
    out = tmp_path / "out"
    lines = read_jsonl(out / "curriculum.jsonl")
    assert [line["scheduler"] for line in lines] == ["thompson"] * 4
    assert all(sum(line["drawn"].values()) == 4 for line in lines)
    state = load_curriculum_state(out / "checkpoint-4")["selector"]
    # every completion fed back: 4 steps x 8 completions, as Beta pseudo-counts above the (1, 1) prior
    history = state["history"]
    assert float(history["successes"].sum() + history["failures"].sum()) == 32
    assert int(history["completions"].sum()) == 32
    # resume from step 2 reproduces the draws of steps 2 and 3
    shutil.rmtree(out / "checkpoint-4")
    run_cli("train", str(recipe), "--scheduler", "thompson", "--resume")
    assert read_jsonl(out / "curriculum.jsonl") == lines


def test_zero_variance_drop_keeps_all_equal_groups_out_of_a_full_batch(tmp_path, monkeypatch):
    """What reaches the loss: every group of the generation batch (rows regrouped by their position)
    has rewards that differ, unless the step says it ran out of rounds and filled with dropped ones."""
    seen = record_loss_inputs(monkeypatch)
    recipe = save_recipe(
        tmp_path, tiny_train_recipe(**{"train.filter": {"zero_variance": "drop", "max_rounds": 6}})
    )
    run_cli("train", str(recipe))
    out = tmp_path / "out"
    steps = [log for log in read_jsonl(out / "train_log.jsonl") if "filter/rounds" in log]
    assert len(steps) == 4 and len(seen) == 4
    assert any(log["filter/dropped_groups"] > 0 for log in steps)  # the tiny model gives all-equal groups
    rounds = sum(log["filter/rounds"] for log in steps)
    assert len(read_jsonl(out / "curriculum.jsonl")) == rounds  # every round was drawn and fed back
    for (rows, advantages), log in zip(seen, steps, strict=True):
        assert sorted(rows) == list(range(8))  # a full batch: 4 groups of 2
        by_group: dict[int, list[float]] = {}
        for row, adv in zip(rows, advantages, strict=True):
            by_group.setdefault(row // 2, []).append(adv)
        all_equal = sum(1 for a in by_group.values() if max(a) - min(a) < 1e-6)
        assert all_equal == log["filter/filled_with_dropped"]
        if log["filter/rounds"] < 6:
            assert all_equal == 0


def test_problem_pools_trains_from_the_cli(tmp_path):
    recipe = save_recipe(tmp_path, TINY_RECIPE)
    run_cli("train", str(recipe), "--scheduler", "problem_pools")
    lines = read_jsonl(tmp_path / "out" / "curriculum.jsonl")
    assert [line["scheduler"] for line in lines] == ["problem_pools"] * 4
    assert all(sum(line["selector"][d]["selected"] for d in ("kk/2", "kk/3")) == 4 for line in lines)
    state = load_curriculum_state(tmp_path / "out" / "checkpoint-4")["selector"]
    last = state["history"]["last_success"]
    assert len(last) and bool(((last >= 0.0) & (last <= 1.0)).all())


def test_frontier_trains_from_the_cli_and_logs_its_statistics(tmp_path):
    """Our `frontier` scheduler from `--scheduler`: every step logs its per-distribution statistics,
    it counts the groups of the prompts drawn before (a problem drawn twice in a row is one run of
    completions, so at most one per prompt), and its state (the round clock) is in the checkpoint."""
    recipe = save_recipe(tmp_path, TINY_RECIPE)
    run_cli("train", str(recipe), "--scheduler", "frontier", "--set", "train.scheduler.min_groups=3")
    out = tmp_path / "out"
    lines = read_jsonl(out / "curriculum.jsonl")
    assert [line["scheduler"] for line in lines] == ["frontier"] * 4
    assert lines[0]["probabilities"] == {"kk/2": 0.5, "kk/3": 0.5}  # nothing judged yet: uniform
    keys = {"groups", "success", "mixed", "weight", "slope", "se", "known", "score"}
    groups = {"kk/2": 0, "kk/3": 0}
    for line in lines:
        for dist in groups:
            assert set(line["stats"][dist]) == keys
            assert min(groups[dist], 1) <= line["stats"][dist]["groups"] <= groups[dist]
        for dist, prompts in line["drawn"].items():
            groups[dist] += prompts
    state = load_curriculum_state(out / "checkpoint-4")["scheduler"]
    assert state["scheduler"] == "frontier" and state["rounds"] == 4
    assert state["options"]["min_groups"] == 3
