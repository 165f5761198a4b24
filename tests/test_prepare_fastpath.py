"""The column-wise path for clean JSONL files gives exactly what the record-by-record path gives
(rows, ids, meta, manifest, order), and hands every file it cannot decide exactly to it."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from dumpcli.data import fastpath
from dumpcli.data.prepare import prepare
from dumpcli.data.prepared import load_split
from dumpcli.recipe import load_recipe

pytestmark = pytest.mark.usefixtures("in_tmp")


def outputs(path: Path, overrides: list[str], **kw) -> tuple[dict, list[dict], list[dict]]:
    recipe = load_recipe(path, overrides)
    manifest = prepare(recipe, console=Console(file=io.StringIO()), force=True, **kw)
    manifest = {k: v for k, v in manifest.items() if k not in ("created",)}
    return manifest, load_split(recipe, "train").to_list(), load_split(recipe, "test").to_list()


def both(path: Path, monkeypatch, overrides: list[str] | None = None, **kw) -> tuple[int, tuple, tuple]:
    """(files the column-wise path took, its outputs, the record path's outputs)."""
    taken = []
    real = fastpath.stage_jsonl

    def spy(*args, **kwargs):
        n = real(*args, **kwargs)
        taken.append(n is not None)
        return n

    monkeypatch.setattr(fastpath, "stage_jsonl", spy)
    fast = outputs(path, overrides or [], **kw)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = outputs(path, overrides or [], **kw)
    monkeypatch.setattr(fastpath, "ENABLED", True)
    return sum(taken), fast, slow


def rec(i: int, **extra) -> dict:
    return {
        "quiz": f"Puzzle {i}:  Who is a Knight?",
        "answer": f"({i}) x",
        "extra_info": {"depth": 2 + i % 3},
        **extra,
    }


ANSWERS = [
    'say "yes"', "back\\slash", "two\nlines\r\n", "tab\there", "\x08bell\x0c", "\x01ctrl", "  padded  ",
    '"quoted"', '"half', "ünï ✓", "\u2028sep", "end\x7f", "é", "a\tb", "a\x1fb",
]  # fmt: skip

CLEAN = [
    ("plain", [rec(i) for i in range(40)] + [rec(3)], {"difficulty": {"field": "extra_info.depth"}}),
    ("unicode and spaces", [rec(i, quiz=f"Énigme  {i}\tcafé ✓ ") for i in range(20)], {"fields": {"prompt": "quiz"}}),
    ("int answers, map", [{"quiz": f"q{i}", "answer": i, "level": f"Level {1 + i % 2}"} for i in range(30)],
     {"difficulty": {"field": "level", "map": {"Level 1": "easy", "Level 2": "hard"}}}),
    ("bins and len_of", [rec(i, names=["a"] * (i % 5)) for i in range(25)], {"difficulty": {"len_of": "names"}}),
    ("regex on a field", [rec(i, text=f"with {i % 4} people") for i in range(25)],
     {"difficulty": {"regex": r"(\d+) people", "on": "text"}}),
    ("value", [rec(i) for i in range(10)], {"difficulty": {"value": 7}}),
    ("answers to escape", [rec(i, answer=a) for i, a in enumerate(ANSWERS)], {}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "records", "extra"), CLEAN, ids=[c[0] for c in CLEAN])
def test_clean_files_same_result_both_ways(write_recipe, write_jsonl, monkeypatch, name, records, extra):
    raw = b"\xef\xbb\xbf" + b"\r\n".join(orjson.dumps(r) for r in records) + b"\r\n\n   \n"
    write_jsonl("data/a.jsonl", raw=raw)
    write_jsonl(
        "data/b.jsonl", [{**r, "quiz": f"Other {j}"} for j, r in enumerate(records[:5])] + [records[0]]
    )
    source = {"name": "s", "files": ["data/a.jsonl"], "test_files": ["data/b.jsonl"],
              "fields": {"prompt": "quiz"}, **extra}  # fmt: skip
    other = {"name": "t", "files": ["data/b.jsonl"], "fields": {"prompt": "quiz"}, "test_fraction": 0.3}
    path = write_recipe({"sources": [source, other]})
    taken, fast, slow = both(path, monkeypatch)
    assert taken == 3
    assert fast == slow


@pytest.mark.parametrize(
    "records",
    [
        [rec(1), {"quiz": "", "answer": "1", "extra_info": {"depth": 3}}],  # a bad record
        [rec(1), rec(2, answer=2.5)],  # a float answer
        [rec(1, quiz=[{"role": "user", "content": "hi"}])],  # a chat prompt
        [rec(1), {"quiz": "q", "answer": "a"}],  # a missing field
        [rec(1), rec(2, extra_info={"depth": "3"})],  # a type change between records
        [rec(1, quiz="\x1c")],  # blank to Python
        [rec(1, answer="x" * 10_001)],  # too long for `exact`
    ],
    ids=["bad record", "float", "chat", "missing", "type change", "odd blank", "long answer"],
)
def test_files_it_cannot_decide_go_record_by_record(write_recipe, write_jsonl, monkeypatch, records):
    write_jsonl("data/a.jsonl", [rec(i) for i in range(5)] + records)
    path = write_recipe({"sources": [{"name": "s", "files": ["data/*.jsonl"], "fields": {"prompt": "quiz"},
                                      "difficulty": {"field": "extra_info.depth"}}]})  # fmt: skip
    taken, fast, slow = both(path, monkeypatch, skip_invalid=True)
    assert taken == 0
    assert fast == slow


def test_several_byte_ranges(write_recipe, write_jsonl, monkeypatch):
    monkeypatch.setattr(fastpath, "RANGE_BYTES", 500)
    write_jsonl("data/a.jsonl", [rec(i % 60) for i in range(200)])
    path = write_recipe({"sources": [{"name": "s", "files": ["data/a.jsonl"], "fields": {"prompt": "quiz"},
                                      "difficulty": {"field": "extra_info.depth"}, "test_fraction": 0.1}]})  # fmt: skip
    taken, fast, slow = both(path, monkeypatch)
    assert taken == 1 and fast == slow
    assert fast[0]["counts"]["duplicates"] == 140


def test_a_later_byte_range_that_does_not_fit_the_first_goes_record_by_record(
    write_recipe, write_jsonl, monkeypatch
):
    """Ranges after the first parse only the fields used, typed as the first range typed them."""
    monkeypatch.setattr(fastpath, "RANGE_BYTES", 500)
    late = [rec(i, extra_info={"depth": str(3 + i % 2)}) for i in range(100, 120)]  # text, not a number
    write_jsonl("data/a.jsonl", [rec(i) for i in range(60)] + late)
    path = write_recipe({"sources": [{"name": "s", "files": ["data/a.jsonl"], "fields": {"prompt": "quiz"},
                                      "difficulty": {"field": "extra_info.depth"}}]})  # fmt: skip
    taken, fast, slow = both(path, monkeypatch)
    assert taken == 0 and fast == slow
    assert fast[0]["splits"]["train"] == 80


@pytest.mark.parametrize(
    "raw",
    [
        b'{"quiz": "a", "answer": "1"}{"quiz": "b", "answer": "2"}\n',  # two objects on a line
        b'{"quiz": "a", "answer": "1"} {"quiz": "b", "answer": "2"}\n{"quiz":\n "c", "answer": "3"}\n',
        b'{"quiz": "a",\n "answer": "1"}\n',  # one object over two lines
    ],
    ids=["two on a line", "two on a line and one over two", "one over two lines"],
)
def test_lines_that_are_not_one_object_go_record_by_record(write_recipe, write_jsonl, monkeypatch, raw):
    """pyarrow's reader takes these; the record path reads lines, and rejects them."""
    write_jsonl("data/a.jsonl", raw=b"".join(orjson.dumps(rec(i)) + b"\n" for i in range(5)) + raw)
    path = write_recipe({"sources": [{"name": "s", "files": ["data/*.jsonl"], "fields": {"prompt": "quiz"}}]})
    taken, fast, slow = both(path, monkeypatch, skip_invalid=True)
    assert taken == 0
    assert fast == slow
    assert fast[0]["counts"]["rejected"] >= 1 and set(fast[0]["rejected"]) == {"invalid JSON"}


def test_json_strings_are_what_orjson_writes():
    import pyarrow as pa

    texts = [a for a in ANSWERS if "\x01" not in a and "\x1f" not in a] + ["", "plain", 'a\\"b', "\\", '"']
    column = pa.array(["skipped", *texts])[1:]
    encoded = fastpath.json_strings(column)
    assert encoded.to_pylist() == [orjson.dumps(t).decode() for t in texts]
    assert fastpath.json_strings(pa.array(["fine", "a\x01b"])) is None  # orjson writes \u0001
