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
    assert _scheduler_override(path, "ucb") == []  # same scheduler: keep its options
    assert _scheduler_override(path, "uniform") == ["train.scheduler={name: uniform}"]
    assert _scheduler_override(path, None) == []
