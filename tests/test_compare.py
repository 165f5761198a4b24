"""`dump compare` end to end on a two-step budget: every scheduler and seed trained from one warm
start, the table and plot written, and a second call reuses the finished runs."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml
from helpers import tiny_train_recipe
from matplotlib.image import imread
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.compare import (
    auc,
    below_start,
    budget_overrides,
    compute_verdicts,
    steps_to_target,
    summarise,
    threads_per_job,
)
from dumpcli.recipe import RecipeError
from dumpcli.stats import first_reaching, interpolate, mean_over, paired_verdict, t_quantile

RECIPE = tiny_train_recipe(
    **{
        "name": "tiny-compare",
        "data.sources.0.train_per_difficulty": 8,
        # `window` is a UCB option: compare must drop it for uniform
        "train.scheduler": {"name": "ucb", "window": 50},
        "train.grpo.per_device_train_batch_size": 4,
        "train.grpo.max_steps": 2,
        "train.grpo.max_completion_length": 16,
        "eval": {"max_per_distribution": 4, "max_new_tokens": 16},
    }
)


def test_auc_and_steps_to_target_hand_values() -> None:
    points = [(0, 0.0), (10, 0.5), (20, 0.5)]
    assert auc(points) == pytest.approx((10 * 0.25 + 10 * 0.5) / 20)
    assert auc([(5, 0.3)]) == 0.3
    assert steps_to_target(points, 0.5) == 10
    assert steps_to_target(points, 0.6) is None


def test_summarise_reference_target_and_spread() -> None:
    def pts(values: list[float]) -> list[dict]:
        return [
            {"step": 10 * i, "mean_accuracy": v, "distributions": {"a": v, "b": v}}
            for i, v in enumerate(values)
        ]

    curves = {"uniform": {0: pts([0.0, 0.2, 0.4]), 1: pts([0.0, 0.4, 0.6])}, "ucb": {0: pts([0.0, 0.6, 0.8])}}
    s = summarise(curves, ["a", "b"], "uniform")
    assert s["target"] == pytest.approx(0.5)
    uniform, ucb = s["summary"]["uniform"], s["summary"]["ucb"]
    assert uniform["final"]["a"]["mean"] == pytest.approx(0.5)
    assert uniform["final"]["a"]["std"] == pytest.approx(0.1414213, abs=1e-6)  # sample std of 0.4, 0.6
    assert uniform["steps_to_target"] == 20 and ucb["steps_to_target"] == 10
    assert ucb["final_mean_accuracy"] == {"mean": pytest.approx(0.8), "std": 0.0}
    assert uniform["auc"] == pytest.approx((10 * 0.15 + 10 * 0.4) / 20)
    # gain over start: final minus step 0, per seed (0.4 and 0.6 -> 0.5 +- 0.1414); ucb 0.8
    assert uniform["gain_over_start"]["mean"] == pytest.approx(0.5)
    assert uniform["gain_over_start"]["std"] == pytest.approx(0.1414213, abs=1e-6)
    assert ucb["gain_over_start"] == {"mean": pytest.approx(0.8), "std": 0.0}
    # steps to uniform's final, as a multiple of uniform's own: 10 / 20
    assert uniform["steps_ratio"] == 1.0 and ucb["steps_ratio"] == pytest.approx(0.5)


def test_gain_over_start_and_below_start_sentence() -> None:
    def pts(values: list[float]) -> list[dict]:
        return [{"step": 10 * i, "mean_accuracy": v, "distributions": {"a": v}} for i, v in enumerate(values)]

    curves = {"uniform": {0: pts([0.6, 0.5, 0.37]), 1: pts([0.6, 0.7, 0.65])}, "ucb": {0: pts([0.6, 0.7])}}
    s = summarise(curves, ["a"], "uniform")
    uniform = s["summary"]["uniform"]
    assert uniform["gain_over_start"]["mean"] == pytest.approx((-0.23 + 0.05) / 2)
    assert uniform["seeds_below_start"] == 1 and s["summary"]["ucb"]["seeds_below_start"] == 0
    lines = below_start({"schedulers": ["uniform", "ucb"], **s})
    assert len(lines) == 1 and lines[0].startswith(
        "uniform: final mean accuracy is below the starting policy"
    )
    assert "1 of 2 seed(s)" in lines[0]


def test_paired_verdict_level_and_better_by_hand() -> None:
    # diffs 0.02, -0.01, 0.05: mean 0.02, sd 0.03, half = t(0.975, 2) * 0.03 / sqrt(3) = 4.303 * 0.017320508
    level = paired_verdict([0.52, 0.49, 0.55], [0.50, 0.50, 0.50])
    assert level["diff"] == pytest.approx(0.02) and level["n"] == 3
    assert level["lo"] == pytest.approx(0.02 - 0.0745301, abs=1e-6)
    assert level["hi"] == pytest.approx(0.02 + 0.0745301, abs=1e-6)
    assert level["verdict"] == "level"
    # diffs 0.10, 0.12, 0.08, 0.10, 0.10: mean 0.10, sd sqrt(0.0008 / 4) = 0.0141421
    # half = t(0.975, 4) 2.776 * 0.0141421 / sqrt(5) = 0.0175573 -> [0.0824, 0.1176]: better
    better = paired_verdict([0.6, 0.62, 0.58, 0.6, 0.6], [0.5] * 5)
    assert better["lo"] == pytest.approx(0.1 - 0.0175573, abs=1e-6) and better["verdict"] == "better"
    worse = paired_verdict([0.5] * 5, [0.6, 0.62, 0.58, 0.6, 0.6])
    assert worse["verdict"] == "worse" and worse["hi"] == pytest.approx(-0.1 + 0.0175573, abs=1e-6)
    one = paired_verdict([0.9], [0.1])
    assert one == {"diff": pytest.approx(0.8), "lo": None, "hi": None, "n": 1, "verdict": "-"}
    assert t_quantile(1) == 12.706 and t_quantile(100) == 2.042
    with pytest.raises(ValueError):
        paired_verdict([0.1], [0.1, 0.2])


def test_compute_axis_interpolation_area_and_first_reaching() -> None:
    pts = [(0.0, 0.2), (100.0, 0.4), (300.0, 0.8)]
    assert interpolate(pts, 50) == pytest.approx(0.3)
    assert interpolate(pts, 200) == pytest.approx(0.6)
    assert interpolate(pts, 1000) == pytest.approx(0.8) and interpolate(pts, -5) == pytest.approx(0.2)
    # [0, 200]: 100 * (0.2 + 0.4) / 2 + 100 * (0.4 + 0.6) / 2 = 30 + 50 = 80 -> 80 / 200
    assert mean_over(pts, 200) == pytest.approx(0.4)
    assert first_reaching(pts, 0.4) == 100 and first_reaching(pts, 0.9) is None


def test_compute_verdicts_by_hand() -> None:
    """Two seeds; uniform spends 100 completions per evaluation, `focus` 200 (dynamic sampling)."""

    def pts(values: list[float], per: int) -> list[dict]:
        return [
            {"step": i, "mean_accuracy": v, "distributions": {"a": v}, "completions": per * i,
             "tokens": 10.0 * per * i, "seconds": float(i)}
            for i, v in enumerate(values)
        ]  # fmt: skip

    curves = {
        "uniform": {0: pts([0.2, 0.3, 0.4], 100), 1: pts([0.2, 0.4, 0.5], 100)},
        "focus": {0: pts([0.2, 0.5, 0.6], 200), 1: pts([0.2, 0.4, 0.6], 200)},
    }
    target = 0.45  # uniform's seed-mean final
    v = compute_verdicts(curves, ["a"], "uniform", target)
    assert v["equal_completions"] == 200  # the fewest any run spent: uniform's 2 x 100
    focus = v["methods"]["focus"]
    # final: diffs 0.2, 0.1 -> mean 0.15
    assert focus["final"]["diff"] == pytest.approx(0.15)
    # at 200 completions: focus is at its step 1 (0.5, 0.4), uniform at its step 2 (0.4, 0.5): diffs 0.1, -0.1
    assert focus["at_equal_completions"]["diff"] == pytest.approx(0.0)
    assert focus["at_equal_completions"]["verdict"] == "level"
    # AUC over [0, 200]: focus seed 0: (0.2 + 0.5) / 2 = 0.35; uniform seed 0: (0.25 + 0.35) / 2 = 0.3
    #                    focus seed 1: 0.3;                     uniform seed 1: (0.3 + 0.45) / 2 = 0.375
    assert focus["auc_per_completion"]["diff"] == pytest.approx(((0.35 - 0.3) + (0.3 - 0.375)) / 2)
    # to 0.45 on the seed-mean curves: uniform (0, .2) (100, .35) (200, .45) -> 200;
    # focus (0, .2) (200, .45) (400, .6) -> 200; ratio 1.0. Per seed: focus 200 and 400
    assert focus["completions_to_target"] == {"completions": 200.0, "per_seed": [200.0, 400.0], "ratio": 1.0}
    assert v["methods"]["uniform"]["completions_to_target"]["per_seed"] == [None, 200.0]
    assert focus["per_distribution"]["a"]["diff"] == pytest.approx(0.15)
    assert focus["completions_spent"] == 400


def test_budget_option_parsing() -> None:
    assert budget_overrides("completions=38400") == ["train.budget.completions=38400"]
    assert budget_overrides("completions=10,tokens=99") == [
        "train.budget.completions=10",
        "train.budget.tokens=99",
    ]
    assert budget_overrides(None) == []
    for bad in ("steps=3", "completions=", "completions=-1", "completions=1e4"):
        with pytest.raises(RecipeError, match="--budget"):
            budget_overrides(bad)


def test_threads_per_job_shares_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert [threads_per_job(j) for j in (1, 2, 3)] == [2, 1, 1]
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert threads_per_job(4) == 4


@pytest.mark.slow
def test_compare_two_step_budget_every_scheduler_and_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUMP_CACHE_DIR", str(tmp_path / "cache"))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    args = ["compare", str(recipe), "--schedulers", "uniform,ucb", "--seeds", "0,1"]
    # the first call trains two runs at a time in child processes (one torch thread each here)
    result = CliRunner().invoke(app, [*args, "--jobs", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    root = tmp_path / "out" / "compare"
    data = orjson.loads((root / "compare.json").read_bytes())
    assert data["schedulers"] == ["uniform", "ucb"] and data["seeds"] == [0, 1]
    assert (
        data["reference"] == "uniform"
        and data["max_steps"] == 2
        and data["distributions"] == ["kk/2", "kk/3"]
    )
    assert sorted(data["runs"]) == ["ucb-seed0", "ucb-seed1", "uniform-seed0", "uniform-seed1"]
    for name, run in data["runs"].items():
        out = Path(run["output_dir"])
        assert out == root / name and (out / "checkpoint-2" / "trainer_state.json").is_file()
        assert [p["step"] for p in run["curve"]] == [0, 1, 2]  # start + every step (eval_every was 0)
        info = orjson.loads((out / "run.json").read_bytes())
        assert (info["scheduler"], info["seed"]) == (run["scheduler"], run["seed"])
        assert not (out / "data").exists() and not (out / "data").is_symlink()  # nothing copied or linked
        assert (
            info["data"]["data_dir"] == orjson.loads((root.parent / "manifest.json").read_bytes())["data_dir"]
        )
        options = info["recipe"]["train"]["scheduler"]
        assert ("window" in options) == (run["scheduler"] == "ucb")
        assert run["status"] == "trained"
        assert (out / "compare.log").is_file()  # the child process's output
    starts = {orjson.dumps(run["curve"][0]) for run in data["runs"].values()}
    assert len(starts) == 1  # one warm start, evaluated once, shared by every run
    # ... and written as each run's own step 0, not evaluated again by every run (its timing is
    # the one evaluation's: a second evaluation would have taken its own `seconds`)
    shared = orjson.loads((root / "start_eval.json").read_bytes())["result"]
    for name in data["runs"]:
        step0 = orjson.loads((root / name / "eval.jsonl").read_bytes().splitlines()[0])
        assert step0 == {"step": 0, **shared}, name
    for sched in ("uniform", "ucb"):
        s = data["summary"][sched]
        assert s["seeds"] == [0, 1] and s["final_step"] == 2
        assert set(s["final"]) == {"kk/2", "kk/3"}
        assert 0.0 <= s["auc"] <= 1.0
        reached = s["steps_to_target"]
        assert reached is None or reached in (0, 1, 2)
    assert data["summary"]["uniform"]["steps_to_target"] is not None  # the reference reaches its own final

    md = (root / "compare.md").read_text()
    blocks = md.split("\n\n")
    tables = [[line for line in b.splitlines() if line.startswith("| ")] for b in blocks]
    tables = [t for t in tables if t]
    table = tables[0]
    assert table[0].startswith("| scheduler | kk/2 | kk/3 | mean | gain over start | AUC | steps to")
    assert [row.split("|")[1].strip() for row in table[1:]] == ["uniform (ref)", "ucb"]
    verdict = tables[1]
    assert verdict[0].startswith("| method | seeds | final: diff [95% CI] | verdict | at ")
    assert "AUC per completion" in verdict[0] and "completions to target" in verdict[0]
    assert verdict[1].split("|")[1].strip() == "uniform (ref)" and verdict[2].split("|")[1].strip() == "ucb"
    assert verdict[2].split("|")[4].strip() in ("better", "level", "worse")
    # 2 steps of 4 completions (per_device_train_batch_size 4, no filter): every run spent 8
    v = data["verdicts"]
    assert v["equal_completions"] == 8
    assert v["methods"]["ucb"]["paired_seeds"] == [0, 1] and v["methods"]["ucb"]["completions_spent"] == 8
    for run in data["runs"].values():
        assert [p["completions"] for p in run["curve"]] == [0, 4, 8]
        assert run["curve"][-1]["tokens"] > 0 and run["curve"][-1]["seconds"] > 0
    assert sum(data["drawn_share"]["uniform"].values()) == pytest.approx(1.0)
    for name in (
        "mean_accuracy",
        "mean_accuracy_completions",
        "mean_accuracy_tokens",
        "mean_accuracy_seconds",
    ):
        assert f"({name}.png)" in md
        assert imread(root / f"{name}.png").shape[:2] == (500, 1000)
    assert "uniform" in result.output and "ucb" in result.output and "AUC" in result.output
    assert "verdict against uniform" in result.output

    stamps = {p: p.stat().st_mtime_ns for p in root.glob("*/checkpoint-2/trainer_state.json")}
    # a run whose final evaluation is missing gets its final checkpoint evaluated: same numbers as
    # the evaluation done inside training on the same weights
    eval_log = root / "ucb-seed1" / "eval.jsonl"
    lines = eval_log.read_bytes().splitlines()
    removed = orjson.loads(lines[-1])
    assert removed["step"] == 2
    eval_log.write_bytes(b"".join(line + b"\n" for line in lines[:-1]))
    again = CliRunner().invoke(app, args, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    rerun = orjson.loads((root / "compare.json").read_bytes())
    assert {run["status"] for run in rerun["runs"].values()} == {"reused"}
    assert stamps == {p: p.stat().st_mtime_ns for p in root.glob("*/checkpoint-2/trainer_state.json")}
    assert rerun["summary"] == data["summary"]
    redone = orjson.loads(eval_log.read_bytes().splitlines()[-1])
    assert redone["step"] == 2 and redone["distributions"] == removed["distributions"]


def test_other_schedulers_start_from_their_own_defaults(tmp_path: Path) -> None:
    """The recipe's `window: 300` is UCB's: sequential and learnability also take a `window`,
    but compare must run them with their own defaults, as `dump train --scheduler X` does."""
    from dumpcli.compare import scheduler_options
    from dumpcli.recipe import load_recipe

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    recipe = load_recipe(path)
    assert scheduler_options(recipe, "ucb") == ({"window": 50}, [])
    for other in ("sequential", "learnability", "uniform"):
        assert scheduler_options(recipe, other) == ({}, ["window"])


def test_variants_name_a_scheduler_with_options_and_a_filter(tmp_path: Path) -> None:
    from dumpcli.compare import _check_args, run_recipe
    from dumpcli.errors import DumpError
    from dumpcli.recipe import RecipeError, load_recipe

    raw = {
        **RECIPE,
        "compare": {
            "variants": {
                "mix": {"scheduler": {"name": "weights", "weights": {"*": 1}}},
                "ucb-ds": {"scheduler": {"name": "ucb", "window": 7}, "filter": {"zero_variance": "drop"}},
            }
        },
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    recipe = load_recipe(path)
    ds = run_recipe(recipe, "ucb-ds", 1, 5)
    assert ds.train.scheduler.name == "ucb" and ds.train.scheduler.options() == {"window": 7}
    assert ds.train.filter.zero_variance == "drop" and ds.train.seed == 1
    assert ds.output_path.name == "ucb-ds-seed1"
    mix = run_recipe(recipe, "mix", 0, 5)
    assert mix.train.scheduler.name == "weights" and not mix.train.filter.active
    assert not run_recipe(recipe, "ucb", 0, 5).train.filter.active  # a plain name keeps the recipe's filter
    _check_args(["uniform", "mix", "ucb-ds"], [0], list(recipe.compare.variants))
    with pytest.raises(DumpError, match="unknown nope"):
        _check_args(["nope"], [0], list(recipe.compare.variants))
    # a variant's scheduler options are checked at load, with their YAML path
    raw["compare"]["variants"]["mix"]["scheduler"]["weights"] = {"*": 0}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(RecipeError, match=r"compare\.variants\.mix\.scheduler\.weights"):
        load_recipe(path)


def test_dry_run_shows_the_selector_its_proposal_and_the_filter(tmp_path: Path) -> None:
    from rich.console import Console

    from dumpcli.recipe import load_recipe
    from dumpcli.train.dry_run import dry_run

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    recipe = load_recipe(
        path,
        [
            "train.scheduler={name: thompson, proposal: ucb, target: 0.4}",
            "train.filter={zero_variance: drop, band: [0.1, 0.9], max_rounds: 3}",
        ],
    )
    console = Console(record=True, width=200)
    got = dry_run(recipe, console=console)
    text = console.export_text()
    assert got["scheduler"]["name"] == "thompson" and got["scheduler"]["options"]["target"] == 0.4
    assert got["scheduler"]["drawn_by"] == "ucb"
    assert got["filter"] == {"zero_variance": "drop", "band": [0.1, 0.9], "max_rounds": 3}
    assert "distributions drawn by" in text and "drop groups whose rewards are all equal" in text
    assert "at most 3 generation rounds" in text
    schedule = dry_run(load_recipe(path, ["train.scheduler={name: schedule}"]), console=Console(quiet=True))
    assert schedule["scheduler"]["drawn_by"] == "schedule"


@pytest.mark.slow
def test_compare_budget_stops_every_run_at_the_same_completions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--budget completions=8: uniform (4 completions a step) stops at step 2; UCB with dynamic
    sampling (4 per round, up to 3 rounds a step) stops at the first step whose rounds reach 8.
    Every run ends at the step where its completions first reach the budget, below max_steps."""
    monkeypatch.setenv("DUMP_CACHE_DIR", str(tmp_path / "cache"))
    recipe = tiny_train_recipe(
        **{
            **{k: v for k, v in RECIPE.items() if k not in ("train",)},
            "train.scheduler": {"name": "ucb", "window": 50},
            "train.grpo": {**RECIPE["train"]["grpo"], "max_steps": 6},
            "compare": {
                "variants": {
                    "ucb-ds": {
                        "scheduler": {"name": "ucb"},
                        "filter": {"zero_variance": "drop", "max_rounds": 3},
                    }
                }
            },
        }
    )
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    args = [
        "compare",
        str(path),
        "--schedulers",
        "uniform,ucb-ds",
        "--seeds",
        "0",
        "--budget",
        "completions=8",
    ]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = orjson.loads((tmp_path / "out" / "compare" / "compare.json").read_bytes())
    assert data["budget"] == {"completions": 8}
    for name, run in data["runs"].items():
        out = Path(run["output_dir"])
        logs = [
            orjson.loads(x) for x in (out / "train_log.jsonl").read_bytes().splitlines() if b'"loss"' in x
        ]
        spent = [line["compute/completions"] for line in logs]
        assert spent[-1] >= 8 and all(c < 8 for c in spent[:-1]), name
        last = logs[-1]["step"]
        assert last < 6 and (out / f"checkpoint-{last}").is_dir(), name
        assert run["curve"][-1]["step"] == last and run["curve"][-1]["completions"] == spent[-1]
    assert data["runs"]["uniform-seed0"]["curve"][-1]["step"] == 2
    again = CliRunner().invoke(app, args, catch_exceptions=False)  # finished by the budget: reused
    assert again.exit_code == 0, again.output
    rerun = orjson.loads((tmp_path / "out" / "compare" / "compare.json").read_bytes())
    assert {run["status"] for run in rerun["runs"].values()} == {"reused"}


def test_final_is_where_each_run_ended_when_budgets_stop_runs_at_different_steps() -> None:
    """Runs stopped by train.budget end at different steps: "final" is each run's own last
    evaluation, not the last step the seeds have in common."""

    def pts(values: dict[int, float]) -> list[dict]:
        return [{"step": s, "mean_accuracy": v, "distributions": {"a": v}} for s, v in values.items()]

    curves = {
        "uniform": {0: pts({0: 0.3, 25: 0.4, 50: 0.5}), 1: pts({0: 0.3, 25: 0.4, 50: 0.5})},
        "screen": {0: pts({0: 0.3, 25: 0.35, 41: 0.6}), 1: pts({0: 0.3, 25: 0.45, 38: 0.4})},
    }
    s = summarise(curves, ["a"], "uniform")["summary"]["screen"]
    assert s["final_mean_accuracy"]["mean"] == pytest.approx(0.5)  # 0.6 and 0.4, not step 25's 0.4
    assert s["final"]["a"]["mean"] == pytest.approx(0.5)
    assert s["gain_over_start"]["mean"] == pytest.approx(0.2)
    assert s["final_steps"] == [38, 41]
    assert s["curve"][-1]["step"] == pytest.approx(39.5) and s["curve"][-1]["mean"] == pytest.approx(0.5)


def test_plots_of_runs_stopped_at_different_steps(tmp_path: Path) -> None:
    """The plot's x (the compute axis) and y (the summary curve) have the same points when the runs
    end at different steps (it raised before)."""
    from dumpcli.compare import plot_mean_accuracy

    def pts(values: dict[int, float]) -> list[dict]:
        return [{"step": s, "mean_accuracy": v, "distributions": {"a": v}, "completions": 100.0 * s,
                 "tokens": 1000.0 * s, "seconds": float(s)} for s, v in values.items()]  # fmt: skip

    curves = {"screen": {0: pts({0: 0.3, 25: 0.35, 41: 0.6}), 1: pts({0: 0.3, 25: 0.45, 38: 0.4})}}
    result = {
        "recipe": "r",
        **summarise(curves, ["a"], "screen"),
        "runs": {
            f"screen-seed{k}": {"scheduler": "screen", "seed": k, "curve": v}
            for k, v in curves["screen"].items()
        },
    }
    for axis in ("step", "completions"):
        assert plot_mean_accuracy(result, tmp_path / f"{axis}.png", axis=axis).is_file()


def test_completions_to_target_counts_runs_stopped_at_different_steps() -> None:
    """Budget-stopped runs end at different steps: the seed-mean curve ends at their averaged ends,
    so a method that reaches the target only at its end is not reported as never reaching it."""

    def pts(values: dict[int, float], per: int) -> list[dict]:
        return [
            {"step": s, "mean_accuracy": v, "distributions": {"a": v}, "completions": per * s,
             "tokens": 10.0 * per * s, "seconds": float(s)}
            for s, v in values.items()
        ]  # fmt: skip

    curves = {
        "uniform": {0: pts({0: 0.2, 50: 0.3, 100: 0.4}, 100), 1: pts({0: 0.2, 50: 0.3, 100: 0.4}, 100)},
        "screen": {0: pts({0: 0.2, 50: 0.3, 96: 0.5}, 104), 1: pts({0: 0.2, 50: 0.3, 93: 0.5}, 106)},
    }
    v = compute_verdicts(curves, ["a"], "uniform", 0.4)
    reach = v["methods"]["screen"]["completions_to_target"]
    # seed-mean curve: (0, .2), (5250, .3), ((9984 + 9858) / 2, .5): the first point at 0.4 or above
    assert reach["completions"] == pytest.approx((96 * 104 + 93 * 106) / 2)
