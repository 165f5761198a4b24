"""`dump prepare` on hostile input (issue 21, items 6-8): a record nested thousands of levels deep
(pyarrow's JSON reader crashed the process), a duplicate key, a chat role no template knows, an
oversized prompt or answer, an oversized recipe. Each is refused with file:line and its reason, on
both reading paths, and counted and written to the rejects with --skip-invalid."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from helpers import quiz_line
from rich.console import Console
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.data import fastpath
from dumpcli.data.prepare import prepare
from dumpcli.data.prepared import load_split
from dumpcli.data.readers import MAX_DEPTH, duplicate_key, nesting_depth, too_deep
from dumpcli.errors import DataError
from dumpcli.recipe import MAX_RECIPE_BYTES, RecipeError, load_recipe


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def run(path: Path, overrides: list[str] | None = None, **kw) -> dict:
    return prepare(
        load_recipe(path, overrides), console=Console(file=io.StringIO(), width=200), force=True, **kw
    )


SOURCE = {
    "name": "src",
    "files": ["data/*.jsonl"],
    "fields": {"prompt": "quiz"},
    "difficulty": {"field": "depth"},
}
NESTED = b"[" * (MAX_DEPTH + 50) + b"]" * (MAX_DEPTH + 50)
CHAT = b'[{"role": "system", "content": "Be brief."}, {"role": "hacker", "content": "Q"}]'
BIG = "x" * 100_001

# (name, the bad line (line 2 of the file), recipe overrides, the message after "data/x.jsonl:2: ", its reason)
BAD = [
    (
        "nested in an unused field",
        b'{"quiz": "Q", "answer": "1", "depth": 3, "junk": ' + NESTED + b"}",
        [],
        f"nested too deeply: {MAX_DEPTH + 51} levels of arrays and objects, at most {MAX_DEPTH}",
        "nested too deeply",
    ),
    (
        "duplicate key",
        b'{"quiz": "Q", "answer": "1", "depth": 3, "answer": "2"}',
        [],
        "duplicate key: 'answer' is given twice in one object",
        "duplicate key",
    ),
    (
        "duplicate key in a nested unused field",
        b'{"quiz": "Q", "answer": "1", "depth": 3, "meta": {"a": 1, "b": [{"c": 1, "c": 1}]}}',
        [],
        "duplicate key: 'c' is given twice in one object",
        "duplicate key",
    ),
    (
        "unknown chat role",
        b'{"quiz": ' + CHAT + b', "answer": "1", "depth": 3}',
        [],
        "field 'quiz': a message's role must be one of system, user, assistant, got item 1: 'hacker'",
        "field 'quiz': a message's role must be one of system, user, assistant",
    ),
    (
        "prompt over the default limit",
        orjson.dumps({"quiz": BIG, "answer": "1", "depth": 3}),
        [],
        "field 'quiz': longer than data.max_prompt_chars (100,000 characters), got 100,001",
        "field 'quiz': longer than data.max_prompt_chars (100,000 characters)",
    ),
    (
        "prompt over a set limit",
        orjson.dumps({"quiz": "Ünïcödé question", "answer": "1", "depth": 3}),
        ["data.max_prompt_chars=15"],
        "field 'quiz': longer than data.max_prompt_chars (15 characters), got 16",
        "field 'quiz': longer than data.max_prompt_chars (15 characters)",
    ),
    (
        "answer over a set limit",
        orjson.dumps({"quiz": "Q", "answer": "é" * 9, "depth": 3}),
        ["data.max_answer_chars=10"],
        "field 'answer': longer than data.max_answer_chars (10 characters, as JSON), got 11",
        "field 'answer': longer than data.max_answer_chars (10 characters, as JSON)",
    ),
]
IDS = [b[0] for b in BAD]


@pytest.mark.parametrize("columnwise", [True, False], ids=["column-wise", "record by record"])
@pytest.mark.parametrize(("name", "line", "overrides", "message", "reason"), BAD, ids=IDS)
def test_a_bad_record_stops_the_run(
    write_recipe, write_jsonl, monkeypatch, columnwise, name, line, overrides, message, reason
):
    monkeypatch.setattr(fastpath, "ENABLED", columnwise)
    write_jsonl("data/x.jsonl", raw=quiz_line(1) + b"\n" + line + b"\n" + quiz_line(3) + b"\n")
    with pytest.raises(DataError) as info:
        run(write_recipe({"sources": [SOURCE]}), overrides)
    assert str(info.value) == f"data/x.jsonl:2: {message}"


@pytest.mark.parametrize("columnwise", [True, False], ids=["column-wise", "record by record"])
@pytest.mark.parametrize(("name", "line", "overrides", "message", "reason"), BAD, ids=IDS)
def test_skip_invalid_counts_and_writes_the_bad_record(
    write_recipe, write_jsonl, tmp_path, monkeypatch, columnwise, name, line, overrides, message, reason
):
    monkeypatch.setattr(fastpath, "ENABLED", columnwise)
    write_jsonl("data/x.jsonl", raw=quiz_line(1) + b"\n" + line + b"\n" + quiz_line(3) + b"\n")
    manifest = run(write_recipe({"sources": [SOURCE]}), overrides, skip_invalid=True)
    assert manifest["counts"]["read"] == 3 and manifest["counts"]["rejected"] == 1
    assert manifest["rejected"] == {reason: 1}
    [row] = [orjson.loads(r) for r in (tmp_path / "out" / "rejects.jsonl").read_bytes().splitlines()]
    assert (row["file"], row["line"], row["reason"]) == ("data/x.jsonl", 2, message)
    assert row["record"] == line.decode()


def test_within_the_limits_is_accepted(write_recipe, write_jsonl, monkeypatch):
    """The bounds are inclusive, and a record at each of them is read column-wise."""
    deep = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)  # MAX_DEPTH levels with the record itself
    lines = [
        b'{"quiz": "Q1", "answer": "1", "depth": 3, "junk": ' + deep + b"}",
        b'{"quiz": "Q2 [[[[", "answer": "2", "depth": 3, "text": "' + b"{" * 500 + b'"}',  # brackets in text
        b'{"quiz": "Q3", "answer": "x:y", "depth": 3, "a\\u003a": 1, "a": 2}',  # keys `a:` and `a`
        orjson.dumps({"quiz": "x" * 15, "answer": "é" * 8, "depth": 3}),
    ]
    write_jsonl("data/x.jsonl", raw=b"\n".join(lines) + b"\n")
    path = write_recipe({"sources": [SOURCE]})
    taken = []
    real = fastpath.stage_jsonl
    monkeypatch.setattr(fastpath, "stage_jsonl", lambda *a, **k: taken.append(real(*a, **k)) or taken[-1])
    manifest = run(path, ["data.max_prompt_chars=15", "data.max_answer_chars=10"])
    assert manifest["counts"]["accepted"] == 4 and taken == [4]


def test_a_duplicate_key_in_a_later_byte_range_is_seen(write_recipe, write_jsonl, tmp_path, monkeypatch):
    """Ranges after the first are parsed with the first range's types for the fields used; an
    unused field is still parsed, so its duplicate key is not passed over."""
    monkeypatch.setattr(fastpath, "RANGE_BYTES", 300)
    records = [quiz_line(i) for i in range(40)]
    records[30] = b'{"quiz": "Q30", "answer": "30", "depth": 3, "x": {"k": 1, "k": 2}}'
    write_jsonl("data/x.jsonl", raw=b"\n".join(records) + b"\n")
    manifest = run(write_recipe({"sources": [SOURCE]}), skip_invalid=True)
    assert manifest["rejected"] == {"duplicate key": 1}
    [row] = [orjson.loads(r) for r in (tmp_path / "out" / "rejects.jsonl").read_bytes().splitlines()]
    assert row["line"] == 31
    questions = [
        r["prompt"][-1]["content"] for r in load_split(load_recipe(tmp_path / "recipe.yaml"), "train")
    ]
    assert "Q30" not in questions and len(questions) == 39


@pytest.mark.slow
@pytest.mark.parametrize("depth", [20_000, 200_000])
def test_a_record_nested_thousands_deep_is_refused_not_a_crash(write_recipe, write_jsonl, tmp_path, depth):
    """pyarrow's JSON reader crashed the process (exit 139) on 20,000 levels in a field the
    recipe does not read; a subprocess, so that a crash fails this test and not the suite."""
    bad = b'{"quiz": "Q", "answer": "1", "depth": 3, "junk": ' + b"[" * depth + b"]" * depth + b"}"
    write_jsonl("data/x.jsonl", raw=quiz_line(1) + b"\n" + bad + b"\n" + quiz_line(3) + b"\n")
    path = write_recipe({"sources": [SOURCE]})
    env = {**os.environ, "DUMP_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "dumpcli", "prepare", str(path)]
    strict = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert strict.returncode == 1, strict.stderr[-2000:]
    assert f"data/x.jsonl:2: nested too deeply: {depth + 1:,} levels" in " ".join(strict.stderr.split())
    skip = subprocess.run([*cmd, "--skip-invalid"], capture_output=True, text=True, env=env, timeout=300)
    assert skip.returncode == 0, skip.stderr[-2000:]
    [row] = [orjson.loads(r) for r in (tmp_path / "out" / "rejects.jsonl").read_bytes().splitlines()]
    assert (row["line"], row["reason"].split(":")[0]) == (2, "nested too deeply")


# ---------------------------------------------------------------- the checks themselves


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b'{"a": 1}', 1),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}], "c": {}}', 4),
        (b'{"a": "[[[{{{", "b": "\\"[[["}', 1),  # brackets in strings, an escaped quote
        (b'{"a": "\\\\", "b": [[]]}', 3),  # an escaped backslash ends the string
        (b'"just text"', 0),
    ],
)
def test_nesting_depth(text, depth):
    assert nesting_depth(text) == depth


def test_too_deep_counts_only_brackets_outside_strings():
    assert too_deep(b'{"a": "' + b"[" * 5000 + b'"}') is None
    assert too_deep(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is None
    bad = too_deep(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    assert bad is not None and bad.reason == "nested too deeply"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (b'{"a": 1, "b": 2}', None),
        (b'{"a": "x:y", "b": {"c": ":"}}', None),
        (b'{"a": 1, "a\\u003a": 2}', None),  # `a` and `a:`
        (b'{"a": 1, "a": 1}', "a"),
        (b'{"a": "p:q", "a": "r"}', "a"),
        (b'{"x": [{"b": 1}, {"b": 2, "b": 3}]}', "b"),
        (b'{"a": 1, "a": "\\u003a"}', "a"),  # the dropped colon hidden by an escaped one
        (b'{"a\\u003a": 1, "a:": 2}', "a:"),
    ],
)
def test_duplicate_key(text, key):
    bad = duplicate_key(text, orjson.loads(text))
    assert (bad is None) == (key is None)
    if key is not None:
        assert bad.message == f"duplicate key: {key!r} is given twice in one object"


# ---------------------------------------------------------------- the limits in the recipe


def test_the_limits_are_checked_in_the_recipe(write_recipe, write_jsonl):
    write_jsonl("data/x.jsonl", raw=quiz_line(1) + b"\n")
    path = write_recipe({"sources": [SOURCE]})
    assert load_recipe(path).data.max_prompt_chars == 100_000
    assert load_recipe(path).data.max_answer_chars == 10_000
    with pytest.raises(RecipeError, match="data.max_prompt_chars: Input should be greater than 0"):
        load_recipe(path, ["data.max_prompt_chars=0"])


def test_an_oversized_recipe_is_refused_by_its_size(tmp_path):
    """A 100 MB recipe took 68 s and 1 GB to refuse, with a message about YAML aliases."""
    path = tmp_path / "big.yaml"
    filler = "# " + "x" * 98 + "\n"
    path.write_text("name: big\n" + filler * (MAX_RECIPE_BYTES // 100))
    assert path.stat().st_size > MAX_RECIPE_BYTES
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(info.value) == (
        f"{path}: the file is {path.stat().st_size:,} bytes; a recipe may be at most 1,048,576 bytes "
        "(real recipes are a few KB: is this the recipe file?)"
    )
    result = CliRunner().invoke(app, ["prepare", str(path)])
    assert result.exit_code == 2 and "a recipe may be at most" in " ".join(result.output.split())


def test_many_values_without_aliases_are_not_called_an_alias_bomb(tmp_path):
    path = tmp_path / "wide.yaml"
    path.write_text("name: wide\nextra: [" + ", ".join(["1"] * 100_001) + "]\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert (
        str(info.value) == f"{path}: the recipe holds 100,004 values; at most 100,000 are allowed"
    )  # the mapping, name, the list, its items
