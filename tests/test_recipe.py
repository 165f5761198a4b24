"""Recipe loading: clear errors naming the YAML path (exit 2 from the CLI), --set, relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.recipe import RecipeError, load_recipe


def _file_source(**extra):
    return {"name": "logic", "files": ["data/*.jsonl"], **extra}


@pytest.fixture
def data_file(write_jsonl):
    return write_jsonl("data/a.jsonl", [{"prompt": "q", "answer": "a"}])


def _error(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides)
    return str(info.value)


def test_minimal_recipe_resolves_paths_against_its_folder(write_recipe, data_file, tmp_path, monkeypatch):
    path = write_recipe({"sources": [_file_source()]}, name="sub/recipe.yaml", output_dir="../out")
    (tmp_path / "sub" / "data").mkdir()
    (tmp_path / "sub" / "data" / "b.jsonl").write_text("{}\n")
    monkeypatch.chdir("/")
    recipe = load_recipe(path)
    assert recipe.output_path.resolve() == (tmp_path / "out").resolve()
    assert recipe.resolve("data/b.jsonl") == tmp_path / "sub" / "data" / "b.jsonl"
    assert recipe.data.distribution == ["source", "difficulty"]
    assert recipe.data.sources[0].fields.prompt == "prompt"


def test_unknown_key_names_the_yaml_path(write_recipe, data_file):
    path = write_recipe({"sources": [_file_source(bogus=1)]})
    msg = _error(path)
    assert msg == f"{path}: invalid recipe\n  data.sources.0.bogus: unknown key"


def test_unknown_top_level_key(write_recipe, data_file):
    path = write_recipe({"sources": [_file_source()]}, trainer={"x": 1})
    assert _error(path).endswith("\n  trainer: unknown key")


def test_wrong_type_names_path_and_value(write_recipe, data_file):
    path = write_recipe({"sources": [_file_source(test_fraction="lots")]}, seed="abc")
    msg = _error(path)
    assert (
        "\n  seed: Input should be a valid integer, unable to parse string as an integer (got 'abc')" in msg
    )
    assert "\n  data.sources.0.test_fraction: Input should be a valid number" in msg


def test_union_errors_are_folded_into_one_line(write_recipe, data_file):
    path = write_recipe({"sources": [_file_source(difficulty={"value": [1, 2]})]})
    msg = _error(path)
    assert msg.endswith(
        "\n  data.sources.0.difficulty.value: Input should be a valid integer or a valid string (got [1, 2])"
    )


def test_missing_required_key(write_recipe):
    path = write_recipe(None)
    assert _error(path) == f"{path}: invalid recipe\n  data: required key is missing"


def test_glob_with_no_match_is_a_recipe_error(write_recipe, tmp_path):
    path = write_recipe({"sources": [_file_source(files=["nothing/*.jsonl"])]})
    msg = _error(path)
    assert msg == (
        f"{path}: invalid recipe\n  data.sources.0.files.0: no file matches 'nothing/*.jsonl' "
        f"(looked for {tmp_path}/nothing/*.jsonl)"
    )


def test_a_directory_is_not_a_file_match(write_recipe, tmp_path):
    (tmp_path / "dir.jsonl").mkdir()
    path = write_recipe({"sources": [_file_source(files=["dir.jsonl"])]})
    assert "data.sources.0.files.0: no file matches 'dir.jsonl'" in _error(path)


def test_files_may_be_one_pattern(write_recipe, data_file):
    recipe = load_recipe(write_recipe({"sources": [_file_source(files="data/a.jsonl")]}))
    assert recipe.data.sources[0].files == ["data/a.jsonl"]


def test_rule_needs_exactly_one_kind(write_recipe, data_file):
    path = write_recipe({"sources": [_file_source(difficulty={"field": "a", "value": 3})]})
    assert _error(path).endswith(
        "\n  data.sources.0.difficulty: give exactly one of field, regex, len_of, value (got field, value)"
    )
    path = write_recipe({"sources": [_file_source(difficulty={"regex": "people"})]})
    assert "needs one capture group" in _error(path)
    path = write_recipe({"sources": [_file_source(difficulty={"field": "a", "bins": [5, 2]})]})
    assert _error(path).endswith("data.sources.0.difficulty: bins must be sorted ascending")


def test_map_accepts_numeric_yaml_keys(write_recipe, data_file):
    recipe = load_recipe(
        write_recipe({"sources": [_file_source(difficulty={"field": "d", "map": {1: "easy"}})]})
    )
    assert recipe.data.sources[0].difficulty.map == {"1": "easy"}


def test_keys_of_the_other_source_kind_are_errors(write_recipe, data_file):
    path = write_recipe({"sources": [_file_source(train_per_difficulty=5)]})
    assert _error(path).endswith(
        "\n  data.sources.0.train_per_difficulty: only for `reasoning_gym:` or `puzzle:` sources "
        "(this one has `files:`)"
    )
    path = write_recipe(
        {
            "sources": [
                {
                    "name": "kk",
                    "puzzle": "knights_knaves",
                    "difficulties": [3],
                    "train_per_difficulty": 2,
                    "test_fraction": 0.1,
                }
            ]
        }
    )
    assert _error(path).endswith(
        "\n  data.sources.0.test_fraction: only for `files:` or `hf:` sources (this one has `puzzle:`)"
    )


def test_source_needs_one_kind_and_unique_names(write_recipe, data_file):
    path = write_recipe({"sources": [{"name": "x"}]})
    assert "data.sources.0: give exactly one of `files:`, `hf:`, `reasoning_gym:`, `puzzle:`" in _error(path)
    path = write_recipe({"sources": [_file_source(), _file_source()]})
    assert "source names must be unique, repeated: logic" in _error(path)


def test_family_not_available_yet(write_recipe, monkeypatch):
    from dumpcli.puzzles import registry

    monkeypatch.setitem(registry._FAMILIES, "mazes", "dumpcli.puzzles.no_such_module:Mazes")
    path = write_recipe(
        {"sources": [{"name": "m", "puzzle": "mazes", "difficulties": [1], "train_per_difficulty": 1}]}
    )
    msg = _error(path)
    assert (
        "data.sources.0.puzzle: puzzle family 'mazes' is not available in this version yet (available: "
        in msg
    )
    path = write_recipe(
        {"sources": [{"name": "m", "puzzle": "sudoku", "difficulties": [1], "train_per_difficulty": 1}]}
    )
    assert "data.sources.0.puzzle: puzzle family 'sudoku' is unknown (available: " in _error(path)


def test_unknown_verifier_and_template(write_recipe, data_file):
    path = write_recipe({"sources": [_file_source(verifier="nope")], "prompt_template": "fancy"})
    msg = _error(path)
    assert "data.sources.0.verifier: unknown verifier 'nope'" in msg
    assert "data.prompt_template: unknown template 'fancy' (available: " in msg and "think_answer" in msg


# ---------------------------------------------------------------- --set


def test_set_overrides_nested_fields_and_list_items(write_recipe, data_file):
    path = write_recipe({"sources": [_file_source()]})
    recipe = load_recipe(
        path,
        [
            "seed=7",
            "data.sources.0.test_fraction=0.25",
            "data.sources.0.fields.prompt=quiz",
            "data.sources.0.difficulty={field: extra_info.depth}",
            "model.lora.r=4",
        ],
    )
    assert recipe.seed == 7
    src = recipe.data.sources[0]
    assert src.test_fraction == 0.25 and src.fields.prompt == "quiz"
    assert src.difficulty is not None and src.difficulty.field == "extra_info.depth"
    assert recipe.model.lora is not None and recipe.model.lora.r == 4


def test_set_value_is_checked_and_named(write_recipe, data_file):
    path = write_recipe({"sources": [_file_source()]})
    msg = _error(path, ["data.sources.0.test_fraction=2"])
    assert msg.endswith(
        "\n  data.sources.0.test_fraction: Input should be less than 1 (got 2) "
        "[from --set data.sources.0.test_fraction=...]"
    )
    assert _error(path, ["data.nope=1"]).endswith("\n  data.nope: unknown key [from --set data.nope=...]")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("seed", "--set 'seed': expected key.path=value"),
        ("=3", "--set '=3': expected key.path=value"),
        ("a..b=3", "--set 'a..b=3': expected key.path=value"),
        ("data.sources.3.name=x", "--set 'data.sources.3.name=x': data.sources: no list item 3 (it has 1)"),
        ("seed.x=1", "--set 'seed.x=1': seed is not a mapping"),
        ("seed=[1", "--set 'seed=[1': value is not valid YAML"),
    ],
)
def test_bad_set(write_recipe, data_file, override, expected):
    path = write_recipe({"sources": [_file_source()]})
    assert _error(path, [override]).startswith(expected)


# ---------------------------------------------------------------- through the CLI: exit 2, no traceback


@pytest.mark.parametrize(
    ("source", "overrides", "expected"),
    [
        (_file_source(bogus=1), [], "data.sources.0.bogus: unknown key"),
        (_file_source(test_fraction="x"), [], "data.sources.0.test_fraction: Input should be a valid number"),
        (
            _file_source(files=["missing/*.jsonl"]),
            [],
            "data.sources.0.files.0: no file matches 'missing/*.jsonl'",
        ),
        (_file_source(), ["--set", "seed"], "--set 'seed': expected key.path=value"),
        (
            _file_source(),
            ["--set", "data.sources.0.test_fraction=1.5"],
            "data.sources.0.test_fraction: Input should",
        ),
    ],
)
def test_cli_recipe_errors_exit_2_without_traceback(write_recipe, data_file, source, overrides, expected):
    path = write_recipe({"sources": [source]})
    result = CliRunner().invoke(app, ["prepare", str(path), *overrides])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    assert "invalid recipe" in output or "--set" in output
    assert expected in " ".join(output.split())


def test_cli_recipe_file_not_found(tmp_path):
    result = CliRunner().invoke(app, ["prepare", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "recipe file not found" in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_cli_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data: [unclosed\n")
    result = CliRunner().invoke(app, ["prepare", str(path)])
    assert result.exit_code == 2
    assert f"{path}: not valid YAML" in " ".join((result.output + result.stderr).split())


def test_yaml_on_key_is_read_as_on(tmp_path, data_file):
    """PyYAML reads a bare `on:` key as the boolean True (YAML 1.1); the recipe accepts it."""
    path = tmp_path / "recipe.yaml"
    path.write_text(
        "data:\n  sources:\n    - name: kk\n      files: [data/a.jsonl]\n"
        "      difficulty: {regex: 'people(\\d+)', on: filename}\n"
    )
    rule = load_recipe(path).data.sources[0].difficulty
    assert rule is not None and rule.on == "filename" and rule.regex == r"people(\d+)"


def test_short_exponent_floats_are_floats_in_files_and_overrides(tmp_path):
    from dumpcli.recipe import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text(
        "data:\n  sources:\n    - {name: kk, puzzle: knights_knaves, difficulties: [2], train_per_difficulty: 1}\n"
        "train:\n  grpo: {learning_rate: 1e-6}\n"
    )
    recipe = load_recipe(path, ["train.grpo.beta=1e-3"])
    assert recipe.train.grpo == {"learning_rate": 1e-6, "beta": 1e-3}


def test_cli_scheduler_flag_drops_the_other_schedulers_options(tmp_path):
    from dumpcli.cli import _scheduler_override

    path = tmp_path / "r.yaml"
    path.write_text("train:\n  scheduler: {name: ucb, window: 50}\n")
    assert _scheduler_override(path, "ucb") == {}  # same scheduler: keep its options
    assert _scheduler_override(path, "uniform") == {"train.scheduler={name: uniform}": "--scheduler uniform"}
    assert _scheduler_override(path, None) == {}


# ---------------------------------------------------------------- train.grpo against trl.GRPOConfig


def _grpo_recipe(write_recipe, **grpo):
    kk = {"name": "kk", "puzzle": "knights_knaves", "difficulties": [2], "train_per_difficulty": 4}
    return write_recipe({"sources": [kk]}, train={"grpo": grpo})


@pytest.mark.parametrize(
    ("grpo", "expected"),
    [
        ({"learning_rate": "fast"}, "train.grpo.learning_rate: expected a number > 0, got 'fast'"),
        ({"learning_rate": -1}, "train.grpo.learning_rate: expected a number > 0, got -1"),
        ({"learning_rate": float("nan")}, "train.grpo.learning_rate: expected a number > 0, got nan"),
        ({"temperature": -1}, "train.grpo.temperature: expected a number > 0, got -1"),
        ({"max_completion_length": 0}, "train.grpo.max_completion_length: expected an integer >= 1, got 0"),
        (
            {"max_completion_length": None},
            "train.grpo.max_completion_length: expected an integer >= 1, got null",
        ),
        ({"max_steps": -5}, "train.grpo.max_steps: expected an integer >= 1, got -5"),
        ({"max_steps": 0}, "train.grpo.max_steps: expected an integer >= 1, got 0"),
        ({"max_steps": "abc"}, "train.grpo.max_steps: expected an integer >= 1, got 'abc'"),
        ({"max_steps": 2.5}, "train.grpo.max_steps: expected an integer >= 1, got 2.5"),
        ({"max_steps": True}, "train.grpo.max_steps: expected an integer >= 1, got true"),
        ({"top_p": 1.5}, "train.grpo.top_p: expected a number in (0, 1], got 1.5"),
        (
            {"gradient_checkpointing": "yes please"},
            "train.grpo.gradient_checkpointing: expected true or false",
        ),
        ({"loss_type": "ppo"}, "train.grpo.loss_type: expected one of grpo, dr_grpo, dapo, bnpo, cispo"),
        (
            {"scale_rewards": "std"},
            "train.grpo.scale_rewards: expected one of group, batch, none, true, false",
        ),
        (
            {"lr_scheduler_type": "cosine_please"},
            "train.grpo.lr_scheduler_type: expected one of linear, cosine,",
        ),
        ({"report_to": 3}, "train.grpo.report_to: expected text or a list of text or null, got 3"),
        ({"seed": 3}, "train.grpo.seed: set by dumpcli: set `train.seed` (or the top-level `seed`)"),
        ({"output_dir": "x"}, "train.grpo.output_dir: set by dumpcli"),
        (
            {"max_prompt_length": 8},
            "train.grpo.max_prompt_length: not a trl.GRPOConfig field (removed in TRL 1.x)",
        ),
    ],
)
def test_grpo_values_are_checked_against_grpoconfig_at_load(write_recipe, grpo, expected):
    assert expected in _error(_grpo_recipe(write_recipe, **grpo))


def test_grpo_values_that_trl_takes_pass(write_recipe):
    ok = {"learning_rate": 1e-5, "max_steps": 3, "beta": 0, "scale_rewards": False, "loss_type": "grpo",
          "lr_scheduler_type": "cosine", "report_to": ["none"], "steps_per_generation": None, "top_p": 1,
          "num_generations": 4, "per_device_train_batch_size": 8, "logging_steps": 0.5}  # fmt: skip
    assert load_recipe(_grpo_recipe(write_recipe, **ok)).train.grpo == ok


def test_grpo_type_checks_follow_the_grpoconfig_type_hints():
    """Every field whose hint is a plain type refuses a value of another type (no hand list)."""
    from dumpcli.grpo import OWNED, RANGES, check_value, grpo_fields

    wrong = {bool: "maybe", int: "x", float: "x", str: 3}
    checked = 0
    for name, (hint, default) in grpo_fields().items():
        if hint in wrong and name not in OWNED:
            assert check_value(name, wrong[hint], hint, default), name
            if name not in RANGES:  # TRL's own defaults fit its hints (max_steps=-1 is ours to refuse)
                assert check_value(name, default, hint, default) is None, name
            checked += 1
    assert checked > 100  # GRPOConfig has ~190 fields, most of them plain


def test_batch_must_hold_whole_groups_at_load(write_recipe, monkeypatch):
    path = _grpo_recipe(write_recipe, num_generations=3, per_device_train_batch_size=8)
    assert _error(path).endswith(
        "train.grpo.num_generations: 3 does not divide the 8 completions of a generation "
        "(per_device_train_batch_size 8 x 1 process(es) x steps_per_generation 1): "
        "every prompt needs its whole group"
    )
    path = _grpo_recipe(write_recipe, num_generations=4, per_device_train_batch_size=2)
    _error(path)  # 2 completions per generation on one process
    monkeypatch.setenv("WORLD_SIZE", "2")  # a 2-process launch (torchrun / accelerate set it)
    assert load_recipe(path).train.grpo["num_generations"] == 4
    monkeypatch.delenv("WORLD_SIZE")
    path = _grpo_recipe(
        write_recipe, num_generations=4, generation_batch_size=12, per_device_train_batch_size=8
    )
    assert (
        "train.grpo.generation_batch_size: 12 is not a multiple of per_device_train_batch_size (8)"
        in _error(path)
    )
    path = _grpo_recipe(write_recipe, generation_batch_size=16, steps_per_generation=2)
    assert "set generation_batch_size or steps_per_generation, not both" in _error(path)


def test_grpo_set_overrides_are_checked_and_named(write_recipe):
    path = _grpo_recipe(write_recipe)
    assert _error(path, ["train.grpo.max_steps=abc"]).endswith(
        "train.grpo.max_steps: expected an integer >= 1, got 'abc' [from --set train.grpo.max_steps=...]"
    )
    assert "[from --set train.grpo=...]" in _error(path, ["train.grpo={learning_rate: fast}"])


@pytest.mark.parametrize("command", [["train", "--dry-run"], ["prepare"]])
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.grpo.learning_rate=fast", "train.grpo.learning_rate: expected a number > 0, got 'fast'"),
        ("train.grpo.max_steps=abc", "train.grpo.max_steps: expected an integer >= 1, got 'abc'"),
        ("train.grpo.num_generations=3", "train.grpo.num_generations: 3 does not divide the 16 completions"),
        (
            "data.sources.0.params={dpeth: 3}",
            "data.sources.0.params.dpeth: unknown knob (known: depth, width",
        ),
        (
            "data.sources.0.params={depth: 9}",
            "data.sources.0.params.depth: Input should be less than or equal to 4",
        ),
        (
            "data.sources.0.params={depth: 2.0}",
            "data.sources.0.params.depth: Input should be a valid integer",
        ),
        ("train.scheduler.window=1e12", "train.scheduler.window: Input should be a valid integer"),
        ("train.scheduler.window=true", "train.scheduler.window: Input should be a valid integer"),
        (
            "train.scheduler.window=10000000",
            "train.scheduler.window: Input should be less than or equal to 100000",
        ),
        ("train.scheduler.temperature=.inf", "train.scheduler.temperature: Input should be a finite number"),
        (
            "train.scheduler={name: curator, embed_dim: 100000}",
            "train.scheduler: the curator's net would have",
        ),
        (
            "train.scheduler={name: curator, encoder_device: gpu}",
            "train.scheduler.encoder_device: String should match",
        ),
    ],
)
def test_cli_refuses_bad_grpo_knobs_and_options_before_any_work(write_recipe, command, override, expected):
    path = _grpo_recipe(write_recipe)
    result = CliRunner().invoke(app, [command[0], str(path), *command[1:], "--set", override])
    output = " ".join((result.output + result.stderr).split())
    assert result.exit_code == 2, output
    assert expected in output and "Traceback" not in output
    assert not (path.parent / "out").exists()


# ---------------------------------------------------------------- YAML: duplicate keys, alias bombs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: 1\nseed: 2\n", "r.yaml:2: duplicate key 'seed' (first given on line 1)"),
        ("train:\n  grpo:\n    beta: 0\n    learning_rate: 1e-3\n    beta: 0.1\n",
         "r.yaml:5: duplicate key 'beta' (first given on line 3)"),
        ("data:\n  sources:\n    - {name: a, puzzle: sorting, name: b}\n",
         "r.yaml:3: duplicate key 'name' (first given on line 3)"),
    ],
)  # fmt: skip
def test_duplicate_keys_are_refused_with_file_and_line(tmp_path, text, expected):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    assert _error(path) == f"{tmp_path}/{expected}"


def test_merge_keys_may_be_overridden(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        "base: &kk {name: kk, puzzle: knights_knaves, difficulties: [2], train_per_difficulty: 4}\n"
        "data:\n  sources:\n    - <<: *kk\n      name: kk2\n"
    )
    assert "base: unknown key" in _error(path)  # the anchor holder is just an unknown key, not a duplicate


def test_an_alias_bomb_is_refused_cheaply(tmp_path):
    """Nine levels of nine aliases: 1.1 KB of YAML, 538 million values once expanded (the dry run
    used to run past 4 GB). Loading shares aliased values, and the check counts each one once."""
    lines = ["    a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    lines += [f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text(
        "data:\n  sources:\n    - {name: kk, puzzle: knights_knaves, difficulties: [2], train_per_difficulty: 4}\n"
        "train:\n  grpo:\n    model_init_kwargs:\n" + "\n".join("  " + line for line in lines) + "\n"
    )
    assert len(path.read_bytes()) < 1600
    message = _error(path)
    assert message.startswith(f"{path}: the recipe holds 538,75") and message.endswith(
        " values once its YAML aliases (*name) are expanded; at most 100,000 are allowed"
    )
    result = CliRunner().invoke(app, ["train", str(path), "--dry-run"])
    assert result.exit_code == 2 and "YAML aliases" in result.output + result.stderr


def test_aliases_within_bounds_and_recursive_aliases(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        "kk: &kk {puzzle: knights_knaves, difficulties: [2], train_per_difficulty: 4}\n"
        "data:\n  sources:\n    - {<<: *kk, name: a}\n    - {<<: *kk, name: b}\n"
    )
    assert "kk: unknown key" in _error(path)  # aliases themselves are fine
    path.write_text("a: &a [*a]\n")
    assert _error(path) == f"{path}: a YAML alias refers to a mapping or list that contains it"


# ---------------------------------------------------------------------- --scheduler and other flags

# the `dump` command in a fresh interpreter; at exit it says which heavy libraries it imported
CLI_REPORTING_IMPORTS = """
import atexit, sys
atexit.register(lambda: print("imported:", [m for m in ("torch", "trl", "transformers") if m in sys.modules],
                              file=sys.stderr))
from dumpcli.cli import app
app()
"""


def run_dump(*args: str, cwd: Path) -> tuple[int, str, list[str]]:
    """(exit code, stderr without the last line, heavy libraries imported)."""
    import ast
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", CLI_REPORTING_IMPORTS, *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )
    *message, last = done.stderr.strip().splitlines()
    assert last.startswith("imported: "), done.stderr
    return done.returncode, "\n".join(message), ast.literal_eval(last.removeprefix("imported: "))


def _tiny_train_recipe(tmp_path: Path, **changes: object) -> Path:
    from conftest import save_recipe
    from helpers import tiny_train_recipe

    return save_recipe(tmp_path, tiny_train_recipe(**changes))


def test_a_scheduler_typo_is_reported_for_the_flag_typed_and_before_torch_and_trl(tmp_path):
    """The message ended with `[from --set train.scheduler=...]` although the user typed
    `--scheduler`, and came after train.grpo's check had imported TRL and torch (10-20 s)."""
    path = _tiny_train_recipe(tmp_path)
    code, message, heavy = run_dump("train", str(path), "--scheduler", "ucbb", cwd=tmp_path)
    assert code == 2
    assert "train.scheduler.name: unknown scheduler 'ucbb'" in message
    assert message.endswith("[from --scheduler ucbb]") and "--set" not in message
    assert heavy == []


def test_a_set_under_the_new_scheduler_is_named_as_the_set(tmp_path):
    path = _tiny_train_recipe(tmp_path)
    result = CliRunner().invoke(
        app, ["train", str(path), "--scheduler", "sequential", "--set", "train.scheduler.window=0"]
    )
    assert result.exit_code == 2
    assert "train.scheduler.window: " in result.output
    assert "[from --set train.scheduler.window=...]" in result.output and "--scheduler" not in result.output


def test_eval_flags_are_named_in_recipe_errors(tmp_path):
    path = _tiny_train_recipe(tmp_path)
    result = CliRunner().invoke(app, ["eval", str(path), "--backend", "tpu"])
    assert result.exit_code == 2 and "eval.backend: " in result.output
    assert "[from --backend tpu]" in result.output


def test_train_help_lists_every_scheduler_of_the_registry():
    from dumpcli.schedulers import registry

    for command in ("train", "compare"):
        result = CliRunner().invoke(app, [command, "--help"], terminal_width=400)
        assert result.exit_code == 0
        assert all(name in result.output for name in registry.names()), (command, result.output)


@pytest.mark.skipif(__import__("importlib").util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_a_missing_optional_extra_is_reported_before_torch_and_trl(tmp_path):
    path = _tiny_train_recipe(tmp_path, **{"train.grpo.use_vllm": True})
    code, message, heavy = run_dump("train", str(path), cwd=tmp_path)
    assert code == 1 and "train.grpo.use_vllm: true needs vLLM" in message and "dumpcli[vllm]" in message
    assert heavy == []
