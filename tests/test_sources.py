"""Each source kind end to end through `dump prepare`: `hf` (local save_to_disk folders with the
Hub layouts of GSM8K and MATH), `reasoning_gym` (its generators, offline), CSV files; their
manifest entries, distributions, and errors naming the YAML path."""

from __future__ import annotations

from pathlib import Path

import datasets
import orjson
import pytest
from helpers import run_prepare
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.data.prepared import is_prepared, load_split
from dumpcli.errors import DataError, DumpError
from dumpcli.puzzles.registry import get_verifier
from dumpcli.recipe import RecipeError, load_recipe

pytestmark = pytest.mark.usefixtures("in_tmp")


run = run_prepare  # (manifest, printed text) of `dump prepare` on a recipe file


def gsm8k_folder(path: Path, n: int = 6) -> Path:
    """The Hub layout of openai/gsm8k (config main): question, answer ending in `#### N`."""
    rows = {
        "question": [f"Tom has {i} apples and buys {i + 1} more. How many now?" for i in range(n)],
        "answer": [
            f"He has {i} + {i + 1} = <<{i}+{i + 1}={2 * i + 1}>>{2 * i + 1}.\n#### {2 * i + 1:,}"
            for i in range(n)
        ],
    }
    datasets.Dataset.from_dict(rows).save_to_disk(str(path))
    return path


def math_folder(path: Path) -> Path:
    """The Hub layout of MATH (hendrycks competition_math): problem, level, type, solution."""

    def split(offset: int, n: int) -> datasets.Dataset:
        return datasets.Dataset.from_dict(
            {
                "problem": [
                    f"Compute $\\frac{{{i}}}{{{i + offset + 2}}}$ in lowest terms." for i in range(n)
                ],
                "level": [f"Level {1 + i % 3}" for i in range(n)],
                "type": ["Algebra"] * n,
                "solution": [f"It is $\\boxed{{\\frac{{{i}}}{{{i + offset + 2}}}}}$." for i in range(n)],
            }
        )

    datasets.DatasetDict({"train": split(0, 9), "test": split(100, 3)}).save_to_disk(str(path))
    return path


GSM8K = {"name": "gsm8k", "hf": "hub/gsm8k", "fields": {"prompt": "question"}, "verifier": "math"}
MATH = {
    "name": "math",
    "hf": "hub/math",
    "test_split": "test",
    "fields": {"prompt": "problem", "answer": "solution"},
    "difficulty": {"regex": r"Level (\d)", "on": "level"},
    "verifier": "math",
}


# ---------------------------------------------------------------- hf


def test_hf_folders_end_to_end(write_recipe, tmp_path):
    gsm8k_folder(tmp_path / "hub" / "gsm8k")
    math_folder(tmp_path / "hub" / "math")
    path = write_recipe({"sources": [{**GSM8K, "test_fraction": 0.5}, MATH], "prompt_template": "plain"})
    manifest, text = run(path)
    assert [(d["name"], d["train"], d["test"]) for d in manifest["distributions"]] == [
        ("gsm8k/0", 3, 3),
        ("math/1", 3, 1),
        ("math/2", 3, 1),
        ("math/3", 3, 1),
    ]
    entries = manifest["inputs"]
    assert [(e["kind"], e["path"], e["split_name"], e["split"], e["records"]) for e in entries] == [
        ("hf", "hub/gsm8k", "train", "test_fraction", 6),
        ("hf", "hub/math", "train", "train", 9),
        ("hf", "hub/math", "test", "test", 3),
    ]
    assert entries[0]["fingerprint"] and entries[0]["dataset"] == str((tmp_path / "hub" / "gsm8k").resolve())
    recipe = load_recipe(path)
    rows = load_split(recipe, "train").to_list() + load_split(recipe, "test").to_list()
    by_source = {r["source"]: r for r in rows}
    assert orjson.loads(by_source["gsm8k"]["answer"]).isdigit()  # "#### 7" -> "7"
    assert by_source["math"]["answer"].startswith('"\\\\frac{')  # the boxed content
    hub = datasets.load_from_disk(str(tmp_path / "hub" / "math"))
    for row in (r for r in rows if r["source"] == "math"):  # meta: where the record came from
        where = orjson.loads(row["meta"])
        assert set(where) == {"dataset", "split", "row"} and where["dataset"] == "hub/math"
        assert hub[where["split"]][where["row"]]["problem"] == row["prompt"][-1]["content"]
    math = get_verifier("math")
    for r in rows[:3]:
        reference = orjson.loads(r["answer"])
        assert math.verify(f"<think></think><answer>{reference}</answer>", reference).answer_score == 1.0
    assert "read 18 = accepted 18" in text

    _, text = run(path)
    assert "up to date" in text
    gsm8k_folder(tmp_path / "hub" / "gsm8k", n=8)  # saved again: a new fingerprint
    assert not is_prepared(load_recipe(path))
    manifest, _ = run(path)
    assert manifest["inputs"][0]["records"] == 8


def test_hf_bad_records_name_the_dataset_and_row(write_recipe, tmp_path):
    datasets.Dataset.from_dict(
        {"question": ["Q1", "", "Q3"], "answer": ["#### 1", "#### 2", "#### 3"]}
    ).save_to_disk(str(tmp_path / "hub" / "gsm8k"))
    path = write_recipe({"sources": [GSM8K]})
    with pytest.raises(DataError) as info:
        run(path)
    assert str(info.value) == (
        "hub/gsm8k[train]: row 1: field 'question': expected a non-empty string or a list of "
        "{role, content} messages, got an empty string"
    )
    manifest, _ = run(path, skip_invalid=True)
    assert manifest["counts"]["rejected"] == 1
    reject = orjson.loads((tmp_path / "out" / "rejects.jsonl").read_bytes())
    assert reject["row"] == 1 and reject["file"] == "hub/gsm8k[train]"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"split": "validation"},
            "data.sources.0.split: no split 'validation' in hub/math (it has train, test)",
        ),
        ({"test_split": "dev"}, "data.sources.0.test_split: no split 'dev' in hub/math (it has train, test)"),
        ({"hf": "./hub/none"}, "data.sources.0.hf: no such folder hub/none (and not a Hub dataset id)"),
        ({"hf": "hub"}, "data.sources.0.hf: hub is not a folder written by save_to_disk"),
        ({"trust_remote_code": True}, "data.sources.0.trust_remote_code: datasets "),
        ({"files": ["x.jsonl"]}, "data.sources.0: give exactly one of `files:`, `hf:`"),
        ({"puzzle_count": 3}, "data.sources.0.puzzle_count: unknown key"),
        ({"params": {}}, "data.sources.0.params: only for `puzzle:` sources (this one has `hf:`)"),
        ({"split": 3}, "data.sources.0.split: Input should be a valid string"),
    ],
)
def test_hf_errors_name_the_yaml_path(write_recipe, tmp_path, change, message):
    math_folder(tmp_path / "hub" / "math")
    path = write_recipe({"sources": [{**MATH, **change}]})
    with pytest.raises(RecipeError) as info:
        run(path)
    assert message in str(info.value)


def hub_cache(cache: Path, repo: str, config: str, splits: dict[str, dict]) -> None:
    """What `load_dataset(repo, config)` leaves in the HF cache, made offline: a packaged Parquet
    builder's output, moved to the folder and file names of a Hub dataset's cache entry."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets.data_files import DataFilesDict
    from datasets.packaged_modules.parquet.parquet import Parquet

    owner, name = repo.split("/")
    files = cache.parent / "hub-files"
    files.mkdir(parents=True, exist_ok=True)
    for split, columns in splits.items():
        pq.write_table(pa.table(columns), files / f"{split}.parquet")
    patterns = {split: [f"{split}.parquet"] for split in splits}
    builder = Parquet(
        cache_dir=str(cache),
        dataset_name=name,
        config_name=config,
        data_files=DataFilesDict.from_patterns(patterns, base_path=str(files)),
        hash="0123abcd",
    )
    builder.download_and_prepare()
    [built] = (cache / name).glob(f"{config}-*")
    target = cache / f"{owner}___{name}"
    target.mkdir()
    built.rename(target / config)


def test_hub_dataset_offline_from_the_hf_cache(write_recipe, tmp_path, monkeypatch):
    import huggingface_hub.constants

    cache = tmp_path / "hf-cache"
    rows = {
        "train": {
            "question": [f"What is {i} + {i}?" for i in range(6)],
            "answer": [f"#### {2 * i}" for i in range(6)],
        },
        "test": {"question": ["What is 10 + 10?"], "answer": ["#### 20"]},
    }
    hub_cache(cache, "someone/gsm8k", "main", rows)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    source = {**GSM8K, "hf": "someone/gsm8k", "config": "main", "test_split": "test"}
    path = write_recipe({"sources": [source]})
    manifest, _ = run(path)
    assert manifest["splits"] == {"train": 6, "test": 1}
    entry = manifest["inputs"][0]
    assert (entry["kind"], entry["dataset"], entry["config"], entry["split_name"]) == (
        "hf",
        "someone/gsm8k",
        "main",
        "train",
    )
    assert entry["fingerprint"] and entry["rows"] == 6
    assert [r["answer"] for r in load_split(load_recipe(path), "test").to_list()] == ['"20"']
    _, text = run(path)
    assert "up to date" in text


def test_hub_dataset_offline_without_cache_is_one_clear_message(write_recipe, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    path = write_recipe({"sources": [{**GSM8K, "hf": "openai/gsm8k", "config": "main"}]})
    result = CliRunner().invoke(app, ["prepare", str(path)])
    output = " ".join((result.output + result.stderr).split())
    assert result.exit_code == 1, output
    assert "Traceback" not in output
    assert "data.sources.0.hf: cannot load Hub dataset 'openai/gsm8k' (config 'main')" in output
    assert "must already be in the HF cache" in output and "save_to_disk" in output


# ---------------------------------------------------------------- reasoning_gym

RG = {
    "name": "chain",
    "reasoning_gym": "chain_sum",
    "config": {"min_digits": 1, "max_digits": 2},
    "difficulties": {"knob": "max_terms", "values": [2, 4]},
    "train_per_difficulty": 6,
    "test_per_difficulty": 2,
}


def test_reasoning_gym_end_to_end(write_recipe):
    spell = {
        "name": "legs",
        "reasoning_gym": "leg_counting",
        "difficulties": [{"min_animals": 1, "max_animals": 2}, {"min_animals": 3, "max_animals": 5}],
        "train_per_difficulty": 4,
        "test_per_difficulty": 1,
    }
    path = write_recipe({"sources": [RG, spell], "prompt_template": "plain"})
    manifest, _ = run(path)
    assert [(d["name"], d["train"], d["test"]) for d in manifest["distributions"]] == [
        ("legs/1", 4, 1),
        ("chain/2", 6, 2),
        ("legs/2", 4, 1),
        ("chain/4", 6, 2),
    ]
    entry = manifest["inputs"][0]
    assert entry["kind"] == "reasoning_gym" and entry["task"] == "chain_sum" and entry["version"]
    assert entry["records"] == 16
    rows = load_split(load_recipe(path), "train").to_list()
    assert {r["verifier"] for r in rows} == {"reasoning_gym"}
    chain = [r for r in rows if r["distribution"] == "chain/4"]
    assert all(orjson.loads(r["meta"])["metadata"]["num_terms"] <= 4 for r in chain)

    _, text = run(path)
    assert "up to date" in text
    again = write_recipe({"sources": [RG, spell], "prompt_template": "plain"}, name="b.yaml", output_dir="b")
    run(again, force=True)
    assert [r["id"] for r in load_split(load_recipe(again), "train").to_list()] == [r["id"] for r in rows]


def test_reasoning_gym_scoring_gold_hedges_and_padding(write_recipe):
    path = write_recipe({"sources": [RG]})
    run(path)
    verifier = get_verifier("reasoning_gym")
    for row in load_split(load_recipe(path), "test").to_list():
        answer = verifier.parse_answer(row["answer"])
        gold = answer["answer"]
        other = str(int(gold) + 1)

        def score(text: str, answer: dict = answer) -> float:
            return verifier.verify(f"<think>.</think><answer>{text}</answer>", answer).answer_score

        assert score(verifier.reference_text(answer)) == 1.0
        assert score(other) == 0.0
        assert score(f"{gold} or {other}") == 0.0  # hedge
        assert score(f"either {other} or {gold}") == 0.0
        assert score(f"The answer is {gold}") == 0.0  # padding: reasoning-gym alone gives partial credit
        assert score(f"{gold} and {other}") == 0.0


def test_reasoning_gym_default_scorer_gives_substring_credit_we_do_not():
    """What the guard is for: reasoning-gym's own default scorer pays for padding."""
    import reasoning_gym

    entry = {"question": "", "answer": "42", "metadata": {}}
    raw = reasoning_gym.dataset.ProceduralDataset.score_answer(None, "I think 42, or 43", entry)
    assert 0 < raw < 1
    answer = {"task": "chain_sum", "answer": "42", "metadata": {}}
    assert (
        get_verifier("reasoning_gym").verify("<answer>I think 42, or 43</answer>", answer).answer_score == 0.0
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"reasoning_gym": "chain_summ"},
            "data.sources.0.reasoning_gym: unknown task 'chain_summ' (did you mean chain_sum?)",
        ),
        (
            {"config": {"colour": 1}},
            "data.sources.0.config: chain_sum has no knob 'colour' (knobs: min_terms",
        ),
        (
            {"difficulties": {"knob": "terms", "values": [1]}},
            "data.sources.0.difficulties.knob: chain_sum has no knob 'terms'",
        ),
        (
            {"config": {"min_terms": 3}, "difficulties": {"knob": "max_terms", "values": [4, 2]}},
            "data.sources.0.difficulties.values.1: chain_sum rejects",
        ),
        (
            {"difficulties": [{"max_terms": 3}, {"seed": 1}]},
            "data.sources.0.difficulties.1: chain_sum has no knob 'seed'",
        ),
        (
            {"train_per_difficulty": 0, "test_per_difficulty": 0},
            "set train_per_difficulty and/or test_per_difficulty",
        ),
        ({"files": ["a.jsonl"]}, "data.sources.0: give exactly one of"),
        ({"fields": {"prompt": "q"}}, "data.sources.0.fields: only for `files:` or `hf:` sources"),
    ],
)
def test_reasoning_gym_errors_name_the_yaml_path(write_recipe, change, message):
    path = write_recipe({"sources": [{**RG, **change}]})
    with pytest.raises(RecipeError) as info:
        run(path)
    assert message in str(info.value)


def test_reasoning_gym_not_installed_says_how_to_get_it(write_recipe, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "reasoning_gym" else real(name, *a)
    )
    with pytest.raises(DumpError, match=r"pip install 'dumpcli\[reasoning-gym\]'"):
        run(write_recipe({"sources": [RG]}))


def test_explicit_kind_is_accepted(write_recipe):
    manifest, _ = run(write_recipe({"sources": [{"kind": "reasoning_gym", **RG}]}))
    assert manifest["splits"] == {"train": 12, "test": 4}


# ---------------------------------------------------------------- files: CSV


def test_csv_files(write_recipe, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text(
        'question,answer,level\nWhat is 2+2?,4,1\n"Half of 1, as a fraction?",1/2,2\n,3,1\n'
    )
    source = {
        "name": "csv",
        "files": ["data/*.csv"],
        "fields": {"prompt": "question"},
        "difficulty": {"field": "level"},
    }
    path = write_recipe({"sources": [source]})
    with pytest.raises(DataError, match=r"^data/a.csv: row 2: field 'question'"):
        run(path)
    manifest, _ = run(path, skip_invalid=True)
    assert [(d["name"], d["train"]) for d in manifest["distributions"]] == [("csv/1", 1), ("csv/2", 1)]
    assert manifest["inputs"][0]["kind"] == "csv"
    rows = load_split(load_recipe(path), "train").to_list()
    assert rows[1]["prompt"][-1]["content"] == "Half of 1, as a fraction?" and rows[1]["answer"] == '"1/2"'
