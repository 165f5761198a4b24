"""The shipped mixture recipes, prepared offline: recipes/examples/math-mix.yaml with local
save_to_disk folders in the Hub layouts of GSM8K and MATH, recipes/examples/reasoning-gym-mix.yaml
with reasoning-gym's generators (no network either way)."""

from __future__ import annotations

from pathlib import Path

import datasets
import orjson
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.data.prepared import load_manifest, load_split
from dumpcli.puzzles.registry import get_verifier
from dumpcli.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]


def prepare(recipe: Path, *overrides: str) -> str:
    args = ["prepare", str(recipe), "--skip-invalid"]
    for o in overrides:
        args += ["--set", o]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def gsm8k(path: Path) -> Path:
    def split(n: int, offset: int) -> datasets.Dataset:
        q = [f"Ann has {i + offset} pens and gets {i} more. How many pens does she have?" for i in range(n)]
        a = [
            f"She has {i + offset} + {i} = <<{i + offset}+{i}={2 * i + offset}>>{2 * i + offset}.\n#### {2 * i + offset:,}"
            for i in range(n)
        ]
        return datasets.Dataset.from_dict({"question": q, "answer": a})

    datasets.DatasetDict({"train": split(8, 1000), "test": split(2, 5000)}).save_to_disk(str(path))
    return path


def math(path: Path) -> Path:
    def split(n: int, offset: int) -> datasets.Dataset:
        return datasets.Dataset.from_dict(
            {
                "problem": [f"What is $\\sqrt{{{(i + offset) ** 2}}}$?" for i in range(n)],
                "level": ["Level ?" if i == 0 else f"Level {1 + i % 5}" for i in range(n)],
                "type": ["Prealgebra"] * n,
                "solution": [f"It is $\\boxed{{{i + offset}}}$." for i in range(n)],
            }
        )

    datasets.DatasetDict({"train": split(11, 10), "test": split(6, 900)}).save_to_disk(str(path))
    return path


def test_math_mix_recipe_with_hub_layout_folders(tmp_path):
    recipe = REPO / "recipes" / "examples" / "math-mix.yaml"
    overrides = [
        f"data.sources.0.hf={gsm8k(tmp_path / 'gsm8k')}",
        f"data.sources.1.hf={math(tmp_path / 'math')}",
        "data.sources.2.train_per_difficulty=3",
        "data.sources.2.test_per_difficulty=1",
        f"output_dir={tmp_path / 'out'}",
    ]
    output = prepare(recipe, *overrides)
    manifest = load_manifest(tmp_path / "out")
    names = [d["name"] for d in manifest["distributions"]]
    assert names[:2] == ["gsm8k/0", "math/1"] and {"kk/3", "kk/5", "math/5"} <= set(names)
    assert manifest["rejected"] == {
        "field 'level': expected text matching difficulty regex 'Level (\\\\d)'": 2
    }
    c = manifest["counts"]
    assert (c["read"], c["accepted"], c["rejected"]) == (8 + 2 + 11 + 6 + 12, 8 + 2 + 11 + 6 + 12 - 2, 2)
    assert "rejected 2: field 'level'" in output
    r = load_recipe(recipe, overrides)
    verifier = get_verifier("math")
    for row in load_split(r, "test").to_list():
        if row["verifier"] == "math":
            reference = orjson.loads(row["answer"])
            assert (
                verifier.verify(f"<think>.</think><answer>{reference}</answer>", reference).answer_score
                == 1.0
            )
            assert verifier.verify("<think>.</think><answer>-1</answer>", reference).answer_score == 0.0
    assert {row["verifier"] for row in load_split(r, "train").to_list()} == {"math", "knights_knaves"}


def test_reasoning_gym_mix_recipe(tmp_path):
    recipe = REPO / "recipes" / "examples" / "reasoning-gym-mix.yaml"
    overrides = [f"output_dir={tmp_path / 'out'}"]
    for i in range(3):
        overrides += [f"data.sources.{i}.train_per_difficulty=5", f"data.sources.{i}.test_per_difficulty=2"]
    prepare(recipe, *overrides)
    manifest = load_manifest(tmp_path / "out")
    assert [(d["name"], d["train"], d["test"]) for d in manifest["distributions"]] == [
        ("legs/1", 5, 2),  # easy to hard: by difficulty label, then source order
        ("chain_sum/2", 5, 2),
        ("legs/2", 5, 2),
        ("sort/3", 5, 2),
        ("chain_sum/4", 5, 2),
        ("chain_sum/6", 5, 2),
        ("sort/6", 5, 2),
        ("sort/10", 5, 2),
    ]
    verifier = get_verifier("reasoning_gym")
    for row in load_split(load_recipe(recipe, overrides), "test").to_list():
        answer = verifier.parse_answer(row["answer"])
        gold = verifier.reference_text(answer)
        assert verifier.verify(f"<think>.</think><answer>{gold}</answer>", answer).answer_score == 1.0
        assert verifier.verify(f"<think>.</think><answer>It is {gold}</answer>", answer).answer_score == 0.0
