"""Extensions from the user's own code (dumpcli/plugins.py): an installed plug-in package's entry
points appear in the registries, `dump puzzles list` and the recipe check; import paths work
anywhere a recipe names a scheduler, family, verifier, source kind or reward function; a plug-in
that fails is a recipe error at its YAML path (exit 2); and `dump train` trains with them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml
from helpers import TINY_TRAIN_RECIPE, run_prepare, tiny_train_recipe
from plugin_package import PACKAGE, write_plugin
from typer.testing import CliRunner

from dumpcli import plugins
from dumpcli.cli import app
from dumpcli.puzzles import registry as puzzles
from dumpcli.recipe import RecipeError, load_recipe
from dumpcli.schedulers import registry as schedulers

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The plug-in package on sys.path, as `pip install` would leave it (entry points re-read)."""
    site = write_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    plugins.entry_points.cache_clear()
    puzzles._cache.clear()
    yield site
    plugins.entry_points.cache_clear()
    puzzles._cache.clear()
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def write(tmp_path: Path, recipe: dict) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    return str(e.value)


def test_without_the_package_nothing_is_listed(tmp_path):
    plugins.entry_points.cache_clear()
    assert "fail_first" not in schedulers.names()
    assert "successor" not in puzzles.names()
    path = write(tmp_path, tiny_train_recipe(**{"train.scheduler.name": "fail_first"}))
    assert "train.scheduler.name: unknown scheduler 'fail_first'" in error_of(path)


def test_entry_points_join_the_registries(installed):
    assert schedulers.names()[-2:] == ["fail_first", "not_a_scheduler"]
    assert schedulers.get_class("fail_first").__name__ == "FailFirst"
    assert not schedulers.is_problem_level("fail_first")
    assert "fail_first" in schedulers.distribution_level()
    assert puzzles.names()[-1] == "successor"
    assert {"successor", "reversed"} <= set(puzzles.verifier_names())
    assert puzzles.get_family("successor").reference_text(41) == "4 2"
    # a verifier only is not a family
    with pytest.raises(KeyError, match="unknown puzzle family 'reversed'"):
        puzzles.get_family("reversed")
    with pytest.raises(plugins.PluginError, match="a verifier only"):
        puzzles.get_family(f"{PACKAGE}.puzzles:Reversed")
    # built-ins keep their names and come first
    assert schedulers.names()[0] == "uniform" and puzzles.names()[0] == "knights_knaves"


def test_import_paths_need_no_entry_point(installed):
    cls = schedulers.get_class(f"{PACKAGE}.curriculum:FailFirst")
    scheduler = schedulers.build(f"{PACKAGE}.curriculum:FailFirst", ["a", "b"], floor=0.5)
    assert cls.__name__ == "FailFirst"
    # no feedback yet: rates 0, weights 1.5 each
    assert scheduler.probabilities().tolist() == [0.5, 0.5]
    from dumpcli.schedulers import Feedback

    scheduler.update([Feedback("a", "1", 1.0, 0.0, 1.0), Feedback("b", "2", 0.0, 0.0, 0.0)])
    # a solved all (1 - 1 + 0.5 = 0.5), b none (1 - 0 + 0.5 = 1.5)
    assert scheduler.probabilities().tolist() == [0.25, 0.75]
    verifier = puzzles.get_verifier(f"{PACKAGE}.puzzles:Reversed")
    assert verifier.verify("<think>x</think><answer>cba</answer>", "abc").answer_score == 1.0


def test_recipe_check_accepts_plugins_and_checks_their_options(installed, tmp_path):
    recipe = tiny_train_recipe(**{"train.scheduler": {"name": "fail_first", "floor": 0.2}})
    recipe["data"]["sources"].append(
        {"name": "succ", "puzzle": "successor", "difficulties": [2, 3], "train_per_difficulty": 4}
    )
    recipe["train"]["reward"] = {"functions": [{"function": f"{PACKAGE}.rewards:bonus", "weight": 0.5}]}
    loaded = load_recipe(write(tmp_path, recipe))
    assert loaded.train.reward.weights() == [1.0, 0.5]
    # the plug-in's own Options and its family's range are checked like a built-in's
    recipe["train"]["scheduler"] = {"name": "fail_first", "floor": 0, "windw": 3}
    recipe["data"]["sources"][1]["difficulties"] = [2, 9]
    message = error_of(write(tmp_path, recipe))
    assert "train.scheduler.floor: Input should be greater than 0" in message
    assert "train.scheduler.windw: unknown key" in message
    assert "data.sources.1.difficulties: [9] outside successor's range 1..6" in message


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        (
            "train.scheduler",
            {"name": "not_a_scheduler"},
            "train.scheduler.name: 'dumpcli_demo_plugin.curriculum:NotAScheduler' is the class "
            "dumpcli_demo_plugin.curriculum.NotAScheduler, not a subclass of dumpcli.schedulers.Scheduler",
        ),
        (
            "train.scheduler",
            {"name": "no_such_pkg.mod:Thing"},
            "train.scheduler.name: 'no_such_pkg.mod:Thing': cannot import 'no_such_pkg.mod': "
            "ModuleNotFoundError: No module named 'no_such_pkg'",
        ),
        (
            "train.scheduler",
            {"name": f"{PACKAGE}.curriculum:Missing"},
            f"train.scheduler.name: '{PACKAGE}.curriculum:Missing': module '{PACKAGE}.curriculum' "
            "has no attribute 'Missing'",
        ),
        (
            "train.reward",
            {"functions": [{"function": f"{PACKAGE}.rewards:no_kwargs"}]},
            f"train.reward.functions.0.function: '{PACKAGE}.rewards:no_kwargs' must accept **kwargs",
        ),
        (
            "train.reward",
            {"functions": [{"function": f"{PACKAGE}.curriculum:FailFirst"}]},
            f"train.reward.functions.0.function: '{PACKAGE}.curriculum:FailFirst' is the class",
        ),
        (
            "train.reward",
            {"weight": 0, "functions": [{"function": f"{PACKAGE}.rewards:bonus", "weight": 0}]},
            "train.reward: every weight is 0",
        ),
        (
            "data.sources.0.puzzle",
            f"{PACKAGE}.puzzles:Reversed",
            "data.sources.0.puzzle: 'dumpcli_demo_plugin.puzzles:Reversed' is Reversed, a verifier only",
        ),
        (
            "data.sources.0.verifier",
            f"{PACKAGE}.sources:Spec",
            "data.sources.0.verifier: 'dumpcli_demo_plugin.sources:Spec' is the class "
            "dumpcli_demo_plugin.sources.Spec, not a subclass of dumpcli.puzzles.base.Verifier",
        ),
    ],
)
def test_a_plugin_that_fails_is_a_recipe_error_at_its_yaml_path(installed, tmp_path, where, value, expected):
    path = write(tmp_path, tiny_train_recipe(**{where: value}))
    assert expected in error_of(path)
    result = CliRunner().invoke(app, ["train", str(path), "--dry-run"])
    assert result.exit_code == 2, result.output


def test_a_selector_proposal_may_be_a_plugin_scheduler(installed, tmp_path):
    for proposal in ("fail_first", f"{PACKAGE}.curriculum:FailFirst"):
        sched = {"name": "thompson", "proposal": proposal, "proposal_options": {"floor": 0.3}}
        loaded = load_recipe(write(tmp_path, tiny_train_recipe(**{"train.scheduler": sched})))
        assert loaded.train.scheduler.options()["proposal"] == proposal
    sched["proposal"], sched["proposal_options"] = f"{PACKAGE}.curriculum:NotAScheduler", {}
    assert (
        "train.scheduler.proposal: 'dumpcli_demo_plugin.curriculum:NotAScheduler' is the class"
        in error_of(write(tmp_path, tiny_train_recipe(**{"train.scheduler": sched})))
    )
    sched["proposal_options"] = {"floor": -1}
    sched["proposal"] = "fail_first"
    assert "floor: Input should be greater than 0" in error_of(
        write(tmp_path, tiny_train_recipe(**{"train.scheduler": sched}))
    )


def test_grpo_reward_weights_are_set_from_train_reward(installed, tmp_path):
    path = write(tmp_path, tiny_train_recipe(**{"train.grpo.reward_weights": [1.0]}))
    assert "train.grpo.reward_weights: set by dumpcli" in error_of(path)
    from dumpcli.train.config import grpo_config_kwargs

    plain = load_recipe(write(tmp_path, TINY_TRAIN_RECIPE))
    assert "reward_weights" not in grpo_config_kwargs(plain, tmp_path)
    recipe = tiny_train_recipe(
        **{
            "train.reward": {
                "weight": 2.0,
                "functions": [{"function": f"{PACKAGE}.rewards:bonus", "weight": -1}],
            }
        }
    )
    assert grpo_config_kwargs(load_recipe(write(tmp_path, recipe)), tmp_path)["reward_weights"] == [2.0, -1.0]


def test_source_kind_from_an_entry_point_or_an_import_path(installed, tmp_path):
    for kind in ("numbers", f"{PACKAGE}.sources:Spec"):
        recipe = {
            "name": "n",
            "output_dir": f"out-{kind.split(':')[0]}",
            "data": {"sources": [{"name": "num", "kind": kind, "count": 6}], "prompt_template": "short"},
        }
        loaded = load_recipe(write(tmp_path, recipe))
        assert type(loaded.data.sources[0]).__name__ == "Spec"
        assert loaded.model_dump(mode="json")["data"]["sources"][0]["kind"] == kind
        manifest, _ = run_prepare(tmp_path / "recipe.yaml")
        counts = {d["name"]: (d["train"], d["test"]) for d in manifest["distributions"]}
        assert counts == {"num/1": (6, 2), "num/2": (6, 2)}
    # its own keys are checked by its Spec, reported at the item
    recipe["data"]["sources"][0] = {"name": "num", "kind": "numbers", "count": 0, "colour": 1}
    message = error_of(write(tmp_path, recipe))
    assert "data.sources.0: count: Input should be greater than 0; colour: unknown key" in message
    recipe["data"]["sources"][0] = {"name": "num", "kind": "no_pkg.x:Spec"}
    assert "data.sources.0: kind: 'no_pkg.x:Spec': cannot import 'no_pkg.x'" in error_of(
        write(tmp_path, recipe)
    )
    recipe["data"]["sources"][0] = {"name": "num", "kind": "nope"}
    assert "an installed plug-in's kind, or an import path" in error_of(write(tmp_path, recipe))


def test_puzzles_list_and_generate_show_the_plugin(installed, tmp_path):
    result = CliRunner().invoke(app, ["puzzles", "list"])
    assert result.exit_code == 0, result.output
    assert "successor" in result.output and "The number after n" in result.output
    assert "reversed" in result.output  # a verifier for file sources
    out = tmp_path / "p.jsonl"
    result = CliRunner().invoke(
        app, ["puzzles", "generate", "successor", "-d", "2", "-n", "3", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(rows) == 3 and all(row["question"].startswith("After: ") for row in rows)


def test_a_row_of_a_data_file_cannot_name_an_import_path(installed, tmp_path):
    """`dump puzzles verify` reads the verifier from each row: data may not make dumpcli import a module."""
    rows = tmp_path / "c.jsonl"
    rows.write_bytes(
        orjson.dumps(
            {"completion": "<answer>x</answer>", "answer": "x", "verifier": f"{PACKAGE}.puzzles:Reversed"}
        )
        + b"\n"
    )
    result = CliRunner().invoke(app, ["puzzles", "verify", str(rows)])
    assert result.exit_code == 1 and "unknown 'dumpcli_demo_plugin.puzzles:Reversed'" in result.output
    assert f"{PACKAGE}.puzzles" not in sys.modules


@pytest.mark.slow
def test_dump_train_with_an_installed_plugin_package(tmp_path):
    """A fresh `dump` process with the package on PYTHONPATH: its scheduler (entry point), puzzle
    family (entry point) and reward function (import path) train together; the curriculum learns
    from the weighted sum TRL trains on."""
    site = write_plugin(tmp_path / "site")
    recipe = tiny_train_recipe(
        **{
            "train.scheduler": {"name": "fail_first", "floor": 0.25},
            "train.reward": {
                "scheme": "binary",
                "functions": [{"function": f"{PACKAGE}.rewards:bonus", "weight": 0.5}],
            },
            "train.grpo.max_steps": 2,
            "train.save_steps": 2,
            "warmup.steps": 0,
        }
    )
    recipe["data"]["sources"] = [
        {
            "name": "succ",
            "puzzle": "successor",
            "difficulties": [2, 3],
            "train_per_difficulty": 16,
            "test_per_difficulty": 2,
        }
    ]
    path = write(tmp_path, recipe)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "DUMP_CACHE_DIR": str(tmp_path / "cache"),
        "PLUGIN_LOG": str(tmp_path / "plugin_log.jsonl"),
    }
    listed = subprocess.run(
        [sys.executable, "-m", "dumpcli", "puzzles", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0 and "successor" in listed.stdout, listed.stderr[-2000:]
    proc = subprocess.run(
        [sys.executable, "-m", "dumpcli", "train", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "out"
    run = orjson.loads((out / "run.json").read_bytes())
    assert run["scheduler"] == "fail_first" and run["distributions"] == ["succ/2", "succ/3"]
    curriculum = [orjson.loads(line) for line in (out / "curriculum.jsonl").read_bytes().splitlines()]
    assert [line["step"] for line in curriculum] == [0, 1]
    assert set(curriculum[-1]["stats"]["succ/2"]) == {"n", "solved"}  # the plug-in's own stats
    # the reward function got TRL's keywords and every dataset column, once per scoring (per step)
    calls = [orjson.loads(line) for line in (tmp_path / "plugin_log.jsonl").read_bytes().splitlines()]
    assert len(calls) == 2 and all(c["n"] == 8 for c in calls)
    assert {"answer", "verifier", "distribution", "completion_ids", "trainer_state"} <= set(calls[0]["keys"])
    logs = [orjson.loads(line) for line in (out / "train_log.jsonl").read_bytes().splitlines()]
    for log in (entry for entry in logs if "reward" in entry):
        # TRL's reward = binary + 0.5 * bonus; the curriculum's per-distribution rewards are that sum
        assert log["rewards/bonus/mean"] == 1.0
        assert log["reward"] == pytest.approx(log["rewards/binary_reward/mean"] + 0.5)
        counts = {d: log[f"count/{d}"] for d in ("succ/2", "succ/3") if f"count/{d}" in log}
        mean = sum(log[f"reward/{d}"] * n for d, n in counts.items()) / sum(counts.values())
        assert mean == pytest.approx(log["reward"])
        assert all(0.5 <= log[f"reward/{d}"] <= 1.5 for d in counts)
