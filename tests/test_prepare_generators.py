"""`dump prepare` with built-in puzzle generators (a toy family here; knights and knaves at the end)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from dumpcli.data import templates
from dumpcli.data.fields import stable_seed
from dumpcli.data.prepare import prepare
from dumpcli.data.prepared import load_split
from dumpcli.errors import DataError
from dumpcli.puzzles import registry
from dumpcli.recipe import RecipeError, load_recipe


def run(path: Path, overrides: list[str] | None = None, **kw) -> tuple[dict, str]:
    out = io.StringIO()
    manifest = prepare(load_recipe(path, overrides), console=Console(file=out, width=200), **kw)
    return manifest, out.getvalue()


def toy(**extra) -> dict:
    return {"name": "toy", "puzzle": "toy", "difficulties": [2, 1], "train_per_difficulty": 5,
            "test_per_difficulty": 2, **extra}  # fmt: skip


def test_generated_splits_rows_and_manifest(toy_family, write_recipe, tmp_path):
    path = write_recipe({"sources": [toy()], "prompt_template": "short"})
    manifest, text = run(path)
    assert [(d["name"], d["train"], d["test"]) for d in manifest["distributions"]] == [
        ("toy/1", 5, 2),
        ("toy/2", 5, 2),
    ]
    assert manifest["counts"] == {
        "read": 14,
        "accepted": 14,
        "rejected": 0,
        "duplicates": 0,
        "test_overlap_removed_from_train": 0,
    }
    [entry] = manifest["inputs"]
    assert entry["kind"] == "generator" and entry["records"] == 14 and entry["path"].endswith("conftest.py")

    # the first test_per_difficulty puzzles of each difficulty are the test split, in order
    rng = random.Random(stable_seed(0, "toy", 2))
    expected = [toy_family().generate(2, rng) for _ in range(7)]
    test = [r for r in load_split(load_recipe(path), "test").to_list() if r["difficulty"] == "2"]
    train = [r for r in load_split(load_recipe(path), "train").to_list() if r["difficulty"] == "2"]
    assert [r["prompt"] for r in test] == [templates.render("short", p["question"]) for p in expected[:2]]
    assert [r["prompt"][-1]["content"] for r in train] == [p["question"] for p in expected[2:]]
    row = test[0]
    assert row["answer"] == orjson.dumps(expected[0]["answer"]).decode()
    assert row["verifier"] == "toy" and row["source"] == "toy" and row["distribution"] == "toy/2"
    assert orjson.loads(row["meta"]) == {"a": expected[0]["a"], "b": expected[0]["b"]}
    assert "read 14 = accepted 14" in text


def test_generation_is_deterministic_and_seeded(toy_family, write_recipe):
    first = write_recipe({"sources": [toy()]}, name="a.yaml", output_dir="a")
    second = write_recipe({"sources": [toy()]}, name="b.yaml", output_dir="b")
    run(first)
    run(second)
    ids = [r["id"] for r in load_split(load_recipe(first), "train").to_list()]
    assert ids == [r["id"] for r in load_split(load_recipe(second), "train").to_list()]
    assert len(set(ids)) == len(ids)
    run(second, ["seed=1"], force=True)
    assert ids != [r["id"] for r in load_split(load_recipe(second, ["seed=1"]), "train").to_list()]


def test_repeated_puzzles_are_regenerated_then_reported(toy_family, write_recipe):
    # span=3: 9 distinct sums per level; 7 are asked for, so repeats happen and are skipped
    manifest, _ = run(write_recipe({"sources": [toy(params={"span": 3})]}))
    assert manifest["splits"] == {"train": 10, "test": 4}
    assert manifest["inputs"][0]["regenerated"] > 0
    assert manifest["counts"]["read"] == 14 and manifest["counts"]["duplicates"] == 0
    # span=2: only 4 distinct puzzles, 7 asked for
    path = write_recipe({"sources": [toy(params={"span": 2})]}, name="small.yaml")
    with pytest.raises(DataError) as info:
        run(path)
    assert str(info.value) == (
        "toy (puzzle toy, difficulty 2): only 4 distinct puzzles after 101 repeats; "
        "lower train_per_difficulty/test_per_difficulty (asked 7)"
    )


def test_bad_params_and_difficulties_are_recipe_errors(toy_family, write_recipe):
    path = write_recipe({"sources": [toy(params={"colour": "red"})]})
    with pytest.raises(
        RecipeError, match=r"data.sources.0.params: got an unexpected keyword argument 'colour'"
    ):
        run(path)
    path = write_recipe({"sources": [toy(difficulties=[1, 12])]})
    with pytest.raises(RecipeError, match=r"data.sources.0.difficulties: \[12\] outside toy's range 1..9"):
        run(path)


def test_generator_and_files_together(toy_family, write_recipe, write_jsonl):
    write_jsonl("data/x.jsonl", [{"question": "What is 1 + 1?", "answer": 2, "level": 1}])
    files = {"name": "mine", "files": ["data/x.jsonl"], "fields": {"prompt": "question"},
             "difficulty": {"field": "level"}, "verifier": "toy", "test_fraction": 0.0}  # fmt: skip
    path = write_recipe({"sources": [toy(), files], "distribution": ["difficulty"]})
    manifest, _ = run(path)
    assert [(d["name"], d["source"], d["train"], d["test"]) for d in manifest["distributions"]] == [
        ("1", "toy,mine", 6, 2),
        ("2", "toy", 5, 2),
    ]
    [row] = [r for r in load_split(load_recipe(path), "train").to_list() if r["source"] == "mine"]
    assert row["answer"] == "2" and row["verifier"] == "toy"


def test_changed_family_code_makes_the_data_stale(toy_family, write_recipe, monkeypatch, tmp_path):
    from dumpcli.data.sources import puzzle as puzzle_source

    path = write_recipe({"sources": [toy()]})
    run(path)
    _, text = run(path)
    assert "up to date" in text
    fake = tmp_path / "family.py"
    fake.write_text("# another version of the family\n")
    monkeypatch.setattr(puzzle_source, "family_file", lambda name: fake)
    _, text = run(path)
    assert "up to date" not in text


@pytest.mark.skipif("knights_knaves" not in registry.names(), reason="knights_knaves family not available")
def test_real_knights_knaves_generator(write_recipe):
    source = {"name": "kk", "puzzle": "knights_knaves", "difficulties": [2, 3], "train_per_difficulty": 3,
              "test_per_difficulty": 1}  # fmt: skip
    path = write_recipe({"sources": [source]})
    manifest, _ = run(path)
    assert [(d["name"], d["train"], d["test"]) for d in manifest["distributions"]] == [
        ("kk/2", 3, 1),
        ("kk/3", 3, 1),
    ]
    family = registry.get_family("knights_knaves")
    for row in load_split(load_recipe(path), "train").to_list():
        answer = orjson.loads(row["answer"])
        assert set(answer) >= {"names", "solution"} and len(answer["names"]) == int(row["difficulty"])
        assert family.parse_answer(answer) == answer  # already canonical
        assert row["verifier"] == "knights_knaves"
