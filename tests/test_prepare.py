"""`dump prepare`: canonical rows, tagging rules, split, dedup, manifest, no-op re-runs."""

from __future__ import annotations

import io
import os
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from helpers import run_prepare
from rich.console import Console

from dumpcli.data import templates
from dumpcli.data.ensure import ensure_prepared
from dumpcli.data.fields import normalise, question_ids, source_seed
from dumpcli.data.prepared import is_prepared, load_manifest, load_split
from dumpcli.errors import DataError
from dumpcli.recipe import RecipeError, load_recipe

pytestmark = pytest.mark.usefixtures("in_tmp")


run = run_prepare  # (manifest, printed text) of `dump prepare` on a recipe file


def rows(path: Path, split: str, overrides: list[str] | None = None) -> list[dict]:
    return load_split(load_recipe(path, overrides), split).to_list()


def rec(i: int, depth: int = 3, **extra) -> dict:
    return {"quiz": f"Puzzle number {i}", "answer": str(i), "extra_info": {"depth": depth}, **extra}


def kk_source(**extra) -> dict:
    base = {
        "name": "kk",
        "files": ["data/*.jsonl"],
        "fields": {"prompt": "quiz", "answer": "answer"},
        "difficulty": {"field": "extra_info.depth"},
    }
    return {**base, **extra}


def sid(source: str, text: str) -> str:
    """A row's id: xxh3-64 of the normalised question, seeded by the source name, as 16 hex digits."""
    seed = xxhash.xxh3_64_intdigest(source.encode())
    return f"{xxhash.xxh3_64_intdigest(normalise(text).encode(), seed):016x}"


def check_invariant(m: dict) -> None:
    c = m["counts"]
    assert c["read"] == c["accepted"] + c["rejected"] + c["duplicates"] + c["test_overlap_removed_from_train"]
    assert c["accepted"] == m["splits"]["train"] + m["splits"]["test"]
    assert sum(i["records"] for i in m["inputs"]) == c["read"]
    assert sum(m["rejected"].values()) == c["rejected"]


# ---------------------------------------------------------------- canonical rows + manifest


def test_rows_and_manifest(write_recipe, write_jsonl, tmp_path):
    data = write_jsonl("data/kk.jsonl", [rec(1, depth=10), rec(2, depth=2), rec(3, depth=10)])
    path = write_recipe({"sources": [kk_source()], "prompt_template": "think_answer"})
    manifest, text = run(path)

    assert [d["name"] for d in manifest["distributions"]] == ["kk/2", "kk/10"]  # natural order
    assert manifest["distributions"][1] == {
        "name": "kk/10",
        "source": "kk",
        "difficulty": "10",
        "train": 2,
        "test": 0,
        "rejected": 0,
    }
    assert manifest["counts"] == {
        "read": 3,
        "accepted": 3,
        "rejected": 0,
        "duplicates": 0,
        "test_overlap_removed_from_train": 0,
    }
    assert manifest["splits"] == {"train": 3, "test": 0}
    [entry] = manifest["inputs"]
    assert entry["path"] == "data/kk.jsonl" and entry["records"] == 3
    assert entry["xxh3_128"] == xxhash.xxh3_128(data.read_bytes()).hexdigest()
    assert manifest["data_hash"] == load_recipe(path).data_hash()
    assert manifest["recipe_hash"] == load_recipe(path).recipe_hash()
    assert manifest["tool_version"] and manifest["created"]
    assert orjson.loads((tmp_path / "out" / "manifest.json").read_bytes()) == manifest
    check_invariant(manifest)

    first = rows(path, "train")[0]
    assert first == {
        "id": sid("kk", "Puzzle number 1"),
        "source": "kk",
        "difficulty": "10",
        "distribution": "kk/10",
        "prompt": templates.render("think_answer", "Puzzle number 1"),
        "answer": '"1"',
        "verifier": "exact",
        "meta": '{"file":"data/kk.jsonl","line":1}',
    }
    assert len(first["id"]) == 16
    assert "read 3 = accepted 3 + rejected 0 + duplicates 0 + overlap 0" in text
    assert "kk/10" in text and "total" in text


def test_distribution_names_and_order_across_sources(write_recipe, write_jsonl):
    write_jsonl("a/x.jsonl", [rec(1, 3), rec(2, 2)])
    write_jsonl("b/x.jsonl", [rec(1, 2), rec(2, 3)])
    sources = [kk_source(name="first", files=["a/*.jsonl"]), kk_source(name="second", files=["b/*.jsonl"])]
    manifest, _ = run(write_recipe({"sources": sources}))
    assert [d["name"] for d in manifest["distributions"]] == ["first/2", "second/2", "first/3", "second/3"]

    by_difficulty, _ = run(write_recipe({"sources": sources, "distribution": ["difficulty"]}, name="d.yaml"))
    assert [(d["name"], d["source"], d["train"]) for d in by_difficulty["distributions"]] == [
        ("2", "first,second", 2),
        ("3", "first,second", 2),
    ]
    by_source, _ = run(write_recipe({"sources": sources, "distribution": ["source"]}, name="s.yaml"))
    assert [(d["name"], d["difficulty"]) for d in by_source["distributions"]] == [
        ("first", "2,3"),
        ("second", "2,3"),
    ]


# ---------------------------------------------------------------- tagging rules


@pytest.mark.parametrize(
    ("rule", "records", "expected"),
    [
        ({"field": "extra_info.depth"}, [rec(1, 4), rec(2, 12)], ["4", "12"]),
        ({"field": "level"}, [rec(1, level=" hard "), rec(2, level=2.0)], ["2", "hard"]),
        (
            {"regex": r"(\d+) inhabitants", "on": "quiz"},
            [{"quiz": "You meet 7 inhabitants", "answer": "x"}],
            ["7"],
        ),
        ({"len_of": "names"}, [rec(1, names=["a", "b", "c"]), rec(2, names=[])], ["0", "3"]),
        ({"value": "hard"}, [rec(1), rec(2)], ["hard"]),
        ({"value": 5}, [rec(1)], ["5"]),
        (
            {"field": "level", "map": {"Level 1": "easy", "Level 2": "easy", "Level 5": "hard"}},
            [rec(1, level="Level 1"), rec(2, level="Level 2"), rec(3, level="Level 5")],
            ["easy", "hard"],
        ),
        ({"field": "level", "map": {1: 10, 2: 20}}, [rec(1, level=1), rec(2, level=2)], ["10", "20"]),
        (
            {"field": "n", "bins": [3, 6]},
            [rec(1, n=2), rec(2, n=3), rec(3, n=5.5), rec(4, n=6)],
            ["0", "1", "2"],
        ),
        (None, [rec(1, 4), rec(2, 9)], ["0"]),
    ],
)
def test_difficulty_rules(write_recipe, write_jsonl, rule, records, expected):
    write_jsonl("data/x.jsonl", records)
    source = kk_source()
    if rule is None:
        del source["difficulty"]
    else:
        source["difficulty"] = rule
    manifest, _ = run(write_recipe({"sources": [source]}))
    assert [d["difficulty"] for d in manifest["distributions"]] == expected
    assert sum(d["train"] for d in manifest["distributions"]) == len(records)


def test_regex_on_file_name(write_recipe, write_jsonl):
    write_jsonl("data/people3_num100.jsonl", [rec(1), rec(2)])
    write_jsonl("data/people12_num100.jsonl", [rec(3)])
    rule = {"regex": r"people(\d+)_", "on": "filename"}
    manifest, _ = run(write_recipe({"sources": [kk_source(difficulty=rule)]}))
    assert [(d["name"], d["train"]) for d in manifest["distributions"]] == [("kk/3", 2), ("kk/12", 1)]


def test_regex_not_matching_a_file_name_is_a_recipe_error(write_recipe, write_jsonl):
    write_jsonl("data/other.jsonl", [rec(1)])
    path = write_recipe({"sources": [kk_source(difficulty={"regex": r"people(\d+)", "on": "filename"})]})
    with pytest.raises(RecipeError) as info:
        run(path)
    assert str(info.value).endswith(
        "data.sources.0.difficulty: regex 'people(\\\\d+)' does not match the file name 'data/other.jsonl'"
    )


@pytest.mark.parametrize(
    ("rule", "record", "message"),
    [
        (
            {"field": "extra_info.depth"},
            {"quiz": "q", "answer": "a"},
            "field 'extra_info.depth': expected a number or a non-empty string, got nothing (no such field)",
        ),
        (
            {"field": "extra_info.depth"},
            {"quiz": "q", "answer": "a", "extra_info": {"depth": [3]}},
            "field 'extra_info.depth': expected a number or a non-empty string, got a list of 1 item",
        ),
        (
            {"field": "d", "map": {"a": "easy"}},
            {"quiz": "q", "answer": "a", "d": "b"},
            "field 'd': value not in difficulty.map ('a'), got 'b'",
        ),
        (
            {"field": "d", "bins": [1]},
            {"quiz": "q", "answer": "a", "d": "many"},
            "field 'd': expected a number for difficulty.bins, got 'many'",
        ),
        (
            {"len_of": "names"},
            {"quiz": "q", "answer": "a", "names": "Ann"},
            "field 'names': expected a list, got 'Ann'",
        ),
        (
            {"regex": r"(\d+) people", "on": "quiz"},
            {"quiz": "no number here", "answer": "a"},
            "field 'quiz': expected text matching difficulty regex '(\\\\d+) people', got 'no number here'",
        ),
    ],
)
def test_difficulty_rule_failures(write_recipe, write_jsonl, rule, record, message):
    write_jsonl("data/x.jsonl", [record])
    path = write_recipe({"sources": [kk_source(difficulty=rule)]})
    with pytest.raises(DataError) as info:
        run(path)
    assert str(info.value) == f"data/x.jsonl:1: {message}"


# ---------------------------------------------------------------- prompts and answers


def test_chat_prompts_and_nested_answer(write_recipe, write_jsonl):
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is  2+2?", "name": "u"},
    ]
    write_jsonl(
        "data/x.jsonl",
        [
            {"prompt": chat, "reward_model": {"ground_truth": "4"}},
            {"prompt": "Plain question", "reward_model": {"ground_truth": 5}},
        ],
    )
    source = {"name": "math", "files": ["data/x.jsonl"], "fields": {"answer": "reward_model.ground_truth"}}
    path = write_recipe({"sources": [source], "prompt_template": "plain"})
    run(path)
    chat_row, plain_row = rows(path, "train")
    assert chat_row["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is  2+2?"},
    ]
    assert chat_row["id"] == sid("math", "Be brief.\nWhat is 2+2?")
    assert chat_row["answer"] == '"4"'
    assert plain_row["prompt"] == [{"role": "user", "content": "Plain question"}]
    assert plain_row["answer"] == '"5"'


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"answer": "1"},
            "field 'quiz': expected a non-empty string or a list of {role, content} messages, "
            "got nothing (no such field)",
        ),
        (
            {"quiz": "", "answer": "1"},
            "field 'quiz': expected a non-empty string or a list of {role, content} messages, got an empty string",
        ),
        (
            {"quiz": " \t ", "answer": "1"},
            "field 'quiz': expected a non-empty string or a list of {role, content} messages, got a blank string",
        ),
        (
            {"quiz": None, "answer": "1"},
            "field 'quiz': expected a non-empty string or a list of {role, content} messages, got null",
        ),
        (
            {"quiz": 42, "answer": "1"},
            "field 'quiz': expected a non-empty string or a list of {role, content} messages, got 42",
        ),
        (
            {"quiz": [{"role": "user"}], "answer": "1"},
            "field 'quiz': expected a non-empty string or a list of {role, content} messages, "
            "got item 0: content nothing (no such field)",
        ),
        (
            {"quiz": [], "answer": "1"},
            "field 'quiz': expected a non-empty string or a list of {role, content} messages, got an empty list",
        ),
        ({"quiz": "q"}, "field 'answer': expected a value, got nothing (no such field)"),
        ({"quiz": "q", "answer": None}, "field 'answer': expected a value, got null"),
        (
            {"quiz": "q", "answer": True},
            "field 'answer': verifier 'exact' cannot use this answer: expected text or a number, got True",
        ),
        ({"quiz": "q", "answer": "  "}, "field 'answer': verifier 'exact' cannot use this answer: empty"),
    ],
)
def test_bad_fields_stop_with_file_line_field(write_recipe, write_jsonl, tmp_path, record, message):
    write_jsonl("data/x.jsonl", [{"quiz": "fine", "answer": "1"}, record])
    path = write_recipe({"sources": [kk_source(difficulty={"value": 1})]})
    with pytest.raises(DataError) as info:
        run(path)
    assert str(info.value) == f"data/x.jsonl:2: {message}"
    assert not (tmp_path / "out" / "data").exists() and not (tmp_path / "out" / "manifest.json").exists()


# ---------------------------------------------------------------- split


def test_test_fraction_is_exact_stratified_and_seeded(write_recipe, write_jsonl):
    write_jsonl(
        "data/x.jsonl", [rec(i, depth=2) for i in range(40)] + [rec(100 + i, depth=3) for i in range(10)]
    )
    path = write_recipe({"sources": [kk_source(test_fraction=0.25)]})
    manifest, _ = run(path)
    assert [(d["name"], d["train"], d["test"]) for d in manifest["distributions"]] == [
        ("kk/2", 30, 10),
        ("kk/3", 7, 3),  # round(2.5) = 3: halves go up
    ]
    test_ids = {r["id"] for r in rows(path, "test")}
    train_ids = {r["id"] for r in rows(path, "train")}
    assert len(test_ids) == 13 and not test_ids & train_ids

    run(path, force=True)  # same seed, same split
    assert {r["id"] for r in rows(path, "test")} == test_ids
    run(path, ["seed=1"])  # data is addressed by its data hash: seed 1 has its own
    assert {r["id"] for r in rows(path, "test", ["seed=1"])} != test_ids
    assert {r["id"] for r in rows(path, "test")} == test_ids
    check_invariant(load_manifest(load_recipe(path)))


def test_split_by_files(write_recipe, write_jsonl):
    write_jsonl("train/a.jsonl", [rec(i) for i in range(5)])
    write_jsonl("test/a.jsonl", [rec(10 + i) for i in range(2)])
    path = write_recipe({"sources": [kk_source(files=["train/*.jsonl"], test_files=["test/*.jsonl"])]})
    manifest, _ = run(path)
    assert manifest["splits"] == {"train": 5, "test": 2}
    assert [i["split"] for i in manifest["inputs"]] == ["train", "test"]
    assert [orjson.loads(r["meta"]) for r in rows(path, "test")] == [
        {"file": "test/a.jsonl", "line": 1},
        {"file": "test/a.jsonl", "line": 2},
    ]


def test_same_file_in_files_and_test_files_is_an_error(write_recipe, write_jsonl):
    write_jsonl("data/a.jsonl", [rec(1)])
    path = write_recipe({"sources": [kk_source(test_files=["data/a.jsonl"])]})
    with pytest.raises(RecipeError, match=r"data.sources.0.test_files: data/a.jsonl is also in files"):
        run(path)


# ---------------------------------------------------------------- dedup


def test_duplicates_and_test_overlap(write_recipe, write_jsonl):
    write_jsonl(
        "train/a.jsonl",
        [
            {"quiz": "What is 1+1?", "answer": "2"},
            {"quiz": "  what is\t1+1? ", "answer": "2"},  # same after lowercase + whitespace collapse
            {"quiz": "Q2", "answer": "x"},
            {"quiz": "Q3", "answer": "x"},
        ],
    )
    write_jsonl(
        "test/a.jsonl",
        [{"quiz": "q3", "answer": "x"}, {"quiz": "Q4", "answer": "y"}, {"quiz": "q4", "answer": "y"}],
    )
    source = kk_source(files=["train/*.jsonl"], test_files=["test/*.jsonl"], difficulty={"value": 1})
    path = write_recipe({"sources": [source]})
    manifest, text = run(path)
    assert manifest["counts"] == {
        "read": 7,
        "accepted": 4,
        "rejected": 0,
        "duplicates": 2,
        "test_overlap_removed_from_train": 1,
    }
    check_invariant(manifest)
    assert [r["prompt"][-1]["content"] for r in rows(path, "train")] == [
        "What is 1+1?",
        "Q2",
    ]  # first one kept
    assert [r["prompt"][-1]["content"] for r in rows(path, "test")] == ["q3", "Q4"]
    assert "read 7 = accepted 4 + rejected 0 + duplicates 2 + overlap 1" in text


def test_overlap_across_sources_and_dedup_off(write_recipe, write_jsonl):
    write_jsonl("a/x.jsonl", [{"quiz": "Shared question", "answer": "1"}, {"quiz": "Own", "answer": "1"}] * 2)
    write_jsonl("b/x.jsonl", [{"quiz": "shared   QUESTION", "answer": "1"}])
    sources = [
        kk_source(name="a", files=["a/*.jsonl"], difficulty={"value": 1}),
        kk_source(name="b", files=["b/*.jsonl"], test_files=None, difficulty={"value": 1}),
    ]
    sources[1]["files"] = []
    sources[1]["test_files"] = ["b/*.jsonl"]
    manifest, _ = run(write_recipe({"sources": sources}))
    assert manifest["counts"]["duplicates"] == 2
    assert manifest["counts"]["test_overlap_removed_from_train"] == 1
    assert manifest["splits"] == {"train": 1, "test": 1}

    manifest, _ = run(write_recipe({"sources": sources, "dedup": False}, name="nodedup.yaml"))
    assert manifest["counts"]["duplicates"] == 0
    assert manifest["counts"]["test_overlap_removed_from_train"] == 2  # both copies leave train
    assert manifest["splits"] == {"train": 2, "test": 1}
    check_invariant(manifest)


def test_duplicates_are_dropped_before_the_fraction_split(write_recipe, write_jsonl):
    write_jsonl("data/x.jsonl", [rec(i % 10) for i in range(30)])
    manifest, _ = run(write_recipe({"sources": [kk_source(test_fraction=0.5)]}))
    assert manifest["counts"]["duplicates"] == 20
    assert manifest["counts"]["test_overlap_removed_from_train"] == 0
    assert manifest["splits"] == {"train": 5, "test": 5}


def test_question_ids_match_question_id():
    texts = [
        "Plain text",
        "  Leading and trailing  ",
        "Double  space",
        "Tab\there",
        "New\nline\r\n",
        "CAPS and MiXeD",
        "non-breaking\u00a0space",
        "Unicode É caf\u00e9",
        "ligature \ufb01",
        "x",
        " ",
        "\x1c sep",
        "end ",
        "a" * 1000,
        "",
    ]
    seed = source_seed("kk")
    for batch in (texts, [t for t in texts if t.isascii()], texts[:1], []):
        ids, plain = question_ids(pa.array(batch, pa.string()), [seed, 0])
        norms = [" ".join(t.lower().split()).encode() for t in batch]
        assert ids.tolist() == [xxhash.xxh3_64_intdigest(n, seed) for n in norms]
        assert plain.tolist() == [xxhash.xxh3_64_intdigest(n) for n in norms]
    sliced = pa.array(texts, pa.string()).slice(3, 4)  # an offset into Arrow's buffers
    [ids] = question_ids(sliced, [seed])
    assert ids.tolist() == [xxhash.xxh3_64_intdigest(normalise(t).encode(), seed) for t in texts[3:7]]


# ---------------------------------------------------------------- Parquet


def test_parquet_with_nested_fields(write_recipe, tmp_path):
    table = pa.table(
        {
            "quiz": ["Q one", None, "Q three"],
            "reward_model": [{"ground_truth": "1"}, {"ground_truth": "2"}, {"ground_truth": "3"}],
            "extra_info": [{"depth": 3}, {"depth": 3}, {"depth": 4}],
        }
    )
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "x.parquet", row_group_size=2)
    source = {
        "name": "pq",
        "files": ["data/x.parquet"],
        "fields": {"prompt": "quiz", "answer": "reward_model.ground_truth"},
        "difficulty": {"field": "extra_info.depth"},
    }
    path = write_recipe({"sources": [source]})
    with pytest.raises(DataError) as info:
        run(path)
    assert str(info.value) == (
        "data/x.parquet: row 1: field 'quiz': expected a non-empty string or a list of {role, content} "
        "messages, got null"
    )
    manifest, _ = run(path, skip_invalid=True)
    assert [(d["name"], d["train"], d["rejected"]) for d in manifest["distributions"]] == [
        ("pq/3", 1, 1),
        ("pq/4", 1, 0),
    ]
    reject = orjson.loads((tmp_path / "out" / "rejects.jsonl").read_bytes())
    assert reject["row"] == 1 and reject["file"] == "data/x.parquet"
    assert reject["record"] == {
        "quiz": None,
        "reward_model": {"ground_truth": "2"},
        "extra_info": {"depth": 3},
    }
    train = rows(path, "train")
    assert [orjson.loads(r["meta"]) for r in train] == [
        {"file": "data/x.parquet", "row": 0},
        {"file": "data/x.parquet", "row": 2},
    ]
    assert train[1]["answer"] == '"3"'


def test_unreadable_parquet(write_recipe, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.parquet").write_bytes(b"not parquet at all")
    path = write_recipe({"sources": [{"name": "pq", "files": ["data/x.parquet"]}]})
    with pytest.raises(DataError, match=r"^data/x.parquet: not a readable Parquet file: "):
        run(path)


def test_unknown_file_format(write_recipe, tmp_path):
    (tmp_path / "data.txt").write_text("a,b\n")
    path = write_recipe({"sources": [{"name": "c", "files": ["data.txt"]}]})
    with pytest.raises(
        RecipeError,
        match=r"data.sources.0.format: cannot tell the format of 'data.txt'; set format: jsonl, parquet or csv",
    ):
        run(path)


# ---------------------------------------------------------------- no-op re-runs, loaders


def test_rerun_is_a_noop_until_something_changes(write_recipe, write_jsonl, tmp_path):
    data = write_jsonl("data/x.jsonl", [rec(1), rec(2)])
    path = write_recipe({"sources": [kk_source()]})
    recipe_manifest = tmp_path / "out" / "manifest.json"
    run(path)
    assert is_prepared(load_recipe(path))
    stamp = recipe_manifest.stat().st_mtime_ns

    _, text = run(path)
    assert "up to date" in text and recipe_manifest.stat().st_mtime_ns == stamp

    os.utime(data, ns=(1, 1))  # touched, same bytes: the content hash says unchanged
    _, text = run(path)
    assert "up to date" in text
    _, text = run(path, ["train.eval_every=5"])  # not a data setting
    assert "up to date" in text

    _, text = run(path, ["data.sources.0.test_fraction=0.5"])
    assert "up to date" not in text and "read 2" in text
    run(path)

    _, text = run(path, force=True)
    assert "up to date" not in text

    data.write_bytes(data.read_bytes() + orjson.dumps(rec(3)) + b"\n")
    assert not is_prepared(load_recipe(path))
    manifest, _ = run(path)
    assert manifest["counts"]["read"] == 3

    write_jsonl("data/y.jsonl", [rec(4)])  # a new file matching the glob
    assert not is_prepared(load_recipe(path))
    manifest, _ = run(path)
    assert manifest["counts"]["read"] == 4


def test_failed_run_keeps_previous_output(write_recipe, write_jsonl, tmp_path):
    data = write_jsonl("data/x.jsonl", [rec(1), rec(2)])
    path = write_recipe({"sources": [kk_source()]})
    before, _ = run(path)
    data.write_bytes(data.read_bytes() + b"{broken\n")
    with pytest.raises(DataError, match=r"^data/x.jsonl:3: invalid JSON"):
        run(path)
    assert load_manifest(tmp_path / "out") == before
    assert len(rows(path, "train")) == 2
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_skip_invalid_build_is_not_up_to_date_for_a_strict_run(write_recipe, write_jsonl):
    write_jsonl("data/x.jsonl", [rec(1)], raw=orjson.dumps(rec(1)) + b"\nnope\n")
    path = write_recipe({"sources": [kk_source()]})
    run(path, skip_invalid=True)
    _, text = run(path, skip_invalid=True)
    assert "up to date" in text
    with pytest.raises(DataError, match=r"^data/x.jsonl:2: invalid JSON"):
        run(path)


def test_ensure_prepared_and_loaders(write_recipe, write_jsonl, tmp_path):
    write_jsonl("data/x.jsonl", [rec(1), rec(2)])
    recipe = load_recipe(write_recipe({"sources": [kk_source()]}))
    with pytest.raises(DataError, match=r"manifest.json: not found; run `dump prepare RECIPE` first"):
        load_manifest(recipe)
    with pytest.raises(DataError, match=r"no prepared data; run `dump prepare RECIPE` first"):
        load_split(recipe, "train")
    out = io.StringIO()
    manifest = ensure_prepared(recipe, Console(file=out))
    assert "preparing data" in out.getvalue() and manifest["splits"]["train"] == 2
    out = io.StringIO()
    assert ensure_prepared(recipe, Console(file=out)) == manifest
    assert out.getvalue() == ""
    assert load_manifest(tmp_path / "out") == manifest == load_manifest(str(tmp_path / "out"))
    assert load_split(tmp_path / "out", "train").num_rows == 2
    assert load_split(recipe, "test").num_rows == 0
    with pytest.raises(DataError, match="split 'dev': expected one of train, test"):
        load_split(recipe, "dev")  # type: ignore[arg-type]


def test_split_column_reads_what_the_rows_hold(write_recipe, write_jsonl):
    """split_column reads a column with Arrow; the same values, in the same order, as the rows."""
    from dumpcli.data.prepared import split_column

    write_jsonl("data/x.jsonl", [rec(i % 30, depth=2 + i % 3) for i in range(60)])
    path = write_recipe({"sources": [kk_source(test_fraction=0.3)]})
    run(path)
    for split in ("train", "test"):
        dataset = load_split(load_recipe(path), split)
        for name in ("id", "distribution", "answer"):
            assert split_column(dataset, name) == [r[name] for r in dataset.to_list()]
    assert split_column([{"id": "a"}, {"id": "b"}], "id") == ["a", "b"]  # plain rows


def test_prepare_of_files_imports_neither_torch_nor_datasets(write_recipe, write_jsonl, tmp_path):
    """`dump prepare` on files needs pyarrow only: importing torch (via the scheduler registry)
    or datasets would cost seconds of every run (measured: torch 2-8 s under load)."""
    import subprocess
    import sys

    write_jsonl("data/x.jsonl", [rec(i) for i in range(50)])
    path = write_recipe({"sources": [kk_source(test_fraction=0.2)]})
    code = (
        "import io, sys\n"
        "from rich.console import Console\n"
        "from dumpcli.data.prepare import prepare\n"
        "from dumpcli.recipe import load_recipe\n"
        f"prepare(load_recipe({str(path)!r}), console=Console(file=io.StringIO()))\n"
        "print(sorted(m for m in ('torch', 'datasets', 'transformers') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_noop_with_inputs_outside_the_recipe_folder(write_recipe, write_jsonl, tmp_path):
    write_jsonl("data/x.jsonl", [rec(1)])
    path = write_recipe({"sources": [kk_source(files=["../data/*.jsonl"])]}, name="recipes/r.yaml")
    manifest, _ = run(path)
    assert manifest["inputs"][0]["path"] == str((tmp_path / "data" / "x.jsonl").resolve())
    assert (tmp_path / "recipes" / "out" / "manifest.json").exists()
    _, text = run(path)
    assert "up to date" in text


@pytest.mark.parametrize("name", sorted(templates.TEMPLATES))
def test_column_wise_prompts_equal_the_template(name, tmp_path):
    """Prompts are built column-wise when the template allows; always the same as render()."""
    from dumpcli.data.staging import MESSAGES, render_prompts

    questions = ["What is 1 + 1?", "  spaced  out\n", "ünïcödé ✓", "short", "", "x" * 13]
    column = pa.array(["skipped", *questions])[1:]  # an offset into Arrow's buffers
    built = render_prompts(name, column, pa.nulls(len(questions), MESSAGES))
    built.validate(full=True)
    assert built.to_pylist() == [templates.render(name, q) for q in questions]
    chat = [{"role": "user", "content": "hi"}]
    mixed = render_prompts(name, pa.array(["Q", None]), pa.array([None, chat], MESSAGES)).to_pylist()
    assert mixed == [templates.render(name, "Q"), chat]
