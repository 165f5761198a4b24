"""`dump prepare` on damaged input: exact messages, --skip-invalid and rejects.jsonl, exit codes."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.data.prepare import prepare
from dumpcli.data.prepared import load_split
from dumpcli.data.readers import chunk_bounds
from dumpcli.errors import DataError
from dumpcli.recipe import load_recipe

pytestmark = pytest.mark.usefixtures("in_tmp")


def run(path: Path, **kw) -> tuple[dict, str]:
    out = io.StringIO()
    manifest = prepare(load_recipe(path), console=Console(file=out, width=200), **kw)
    return manifest, out.getvalue()


def good(i: int, depth: int = 3) -> bytes:
    return orjson.dumps({"quiz": f"Question {i}", "answer": str(i), "depth": depth})


SOURCE = {
    "name": "src",
    "files": ["data/*.jsonl"],
    "fields": {"prompt": "quiz"},
    "difficulty": {"field": "depth"},
}

# (name, bytes of one file, the first error, its reason category)
BAD_FILES = [
    (
        "invalid JSON",
        good(1) + b'\n{"quiz": oops}\n',
        "data/x.jsonl:2: invalid JSON: unexpected character, expected a JSON value at column 10",
        "invalid JSON",
    ),
    (
        "truncated last line",
        good(1) + b'\n{"quiz": "Question 2", "ans',
        "data/x.jsonl:2: invalid JSON: unexpected end of data at column 28 "
        "(the last line has no newline: truncated file?)",
        "invalid JSON",
    ),
    (
        "non-UTF-8 bytes",
        good(1) + b'\n{"quiz": "caf\xe9", "answer": "1", "depth": 3}\n',
        "data/x.jsonl:2: not valid UTF-8: byte 0xe9 at column 14",
        "not valid UTF-8",
    ),
    (
        "not an object",
        b"[1, 2]\n" + good(1) + b"\n",
        "data/x.jsonl:1: expected a JSON object, got a list",
        "expected a JSON object",
    ),
    (
        "missing field",
        good(1) + b'\n{"answer": "1", "depth": 3}\n',
        "data/x.jsonl:2: field 'quiz': expected a non-empty string or a list of {role, content} messages, "
        "got nothing (no such field)",
        "field 'quiz': expected a non-empty string or a list of {role, content} messages",
    ),
    (
        "empty field",
        good(1) + b'\n{"quiz": "", "answer": "1", "depth": 3}\n',
        "data/x.jsonl:2: field 'quiz': expected a non-empty string or a list of {role, content} messages, "
        "got an empty string",
        "field 'quiz': expected a non-empty string or a list of {role, content} messages",
    ),
    (
        "wrong type",
        good(1) + b'\n{"quiz": "Q", "answer": "1", "depth": {"n": 3}}\n',
        "data/x.jsonl:2: field 'depth': expected a number or a non-empty string, got an object {n}",
        "field 'depth': expected a number or a non-empty string",
    ),
]


@pytest.mark.parametrize(("name", "raw", "message", "reason"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_first_bad_record_stops_the_run(write_recipe, write_jsonl, tmp_path, name, raw, message, reason):
    write_jsonl("data/x.jsonl", raw=raw)
    path = write_recipe({"sources": [SOURCE]})
    with pytest.raises(DataError) as info:
        run(path)
    assert str(info.value) == message
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize(("name", "raw", "message", "reason"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_skip_invalid_goes_on_and_writes_rejects(
    write_recipe, write_jsonl, tmp_path, name, raw, message, reason
):
    write_jsonl("data/x.jsonl", raw=raw)
    manifest, text = run(write_recipe({"sources": [SOURCE]}), skip_invalid=True)
    assert manifest["counts"] == {
        "read": 2,
        "accepted": 1,
        "rejected": 1,
        "duplicates": 0,
        "test_overlap_removed_from_train": 0,
    }
    assert manifest["rejected"] == {reason: 1}
    [row] = [orjson.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_bytes().splitlines()]
    file, line, detail = message.split(":", 2)
    assert row["file"] == file and row["line"] == int(line) and row["reason"] == detail.strip()
    assert row["source"] == "src"
    bad_line = raw.split(b"\n")[row["line"] - 1]
    assert row["record"] == bad_line.decode("utf-8", "replace")
    assert "read 2 = accepted 1 + rejected 1 + duplicates 0 + overlap 0" in text
    assert f"rejected 1: {reason}" in text


def test_bom_crlf_and_blank_lines_are_fine(write_recipe, write_jsonl):
    raw = b"\xef\xbb\xbf" + good(1) + b"\r\n\r\n   \r\n" + good(2) + b"\r\n\n" + good(3)  # no final newline
    write_jsonl("data/x.jsonl", raw=raw)
    path = write_recipe({"sources": [SOURCE]})
    manifest, _ = run(path)
    assert manifest["counts"]["read"] == 3 and manifest["splits"]["train"] == 3
    metas = [orjson.loads(r["meta"]) for r in load_split(load_recipe(path), "train").to_list()]
    assert metas == [{"file": "data/x.jsonl", "line": n} for n in (1, 4, 6)]  # blank lines counted


def test_line_numbers_count_blank_lines(write_recipe, write_jsonl):
    write_jsonl("data/x.jsonl", raw=good(1) + b"\n\n\n" + good(2) + b"\r\n\r\n{bad}\r\n")
    with pytest.raises(DataError, match=r"^data/x.jsonl:6: invalid JSON"):
        run(write_recipe({"sources": [SOURCE]}))


def test_every_bad_case_in_one_file(write_recipe, write_jsonl, tmp_path):
    lines = [good(1)] + [
        raw.split(b"\n")[1] if not raw.startswith(b"[") else b"[1, 2]" for _, raw, _, _ in BAD_FILES
    ]
    lines += [good(2, depth=4), good(1)]  # one more distribution and a duplicate
    write_jsonl("data/x.jsonl", raw=b"\n".join(lines) + b"\n")
    manifest, text = run(write_recipe({"sources": [SOURCE]}), skip_invalid=True)
    c = manifest["counts"]
    assert c == {
        "read": 10,
        "accepted": 2,
        "rejected": 7,
        "duplicates": 1,
        "test_overlap_removed_from_train": 0,
    }
    assert manifest["rejected"] == {
        "invalid JSON": 2,
        "not valid UTF-8": 1,
        "expected a JSON object": 1,
        "field 'quiz': expected a non-empty string or a list of {role, content} messages": 2,
        "field 'depth': expected a number or a non-empty string": 1,
    }
    # rejected records whose difficulty was read are counted against their distribution
    assert [(d["name"], d["rejected"]) for d in manifest["distributions"]] == [("src/3", 2), ("src/4", 0)]
    assert "src (difficulty unknown)" in text
    rejects = (tmp_path / "out" / "rejects.jsonl").read_bytes().splitlines()
    assert [orjson.loads(r)["line"] for r in rejects] == [2, 3, 4, 5, 6, 7, 8]
    assert "read 10 = accepted 2 + rejected 7 + duplicates 1 + overlap 0" in text


def test_a_strict_run_removes_stale_rejects(write_recipe, write_jsonl, tmp_path):
    data = write_jsonl("data/x.jsonl", raw=good(1) + b"\n{bad\n")
    path = write_recipe({"sources": [SOURCE]})
    run(path, skip_invalid=True)
    assert (tmp_path / "out" / "rejects.jsonl").exists()
    data.write_bytes(good(1) + b"\n")
    run(path)
    assert not (tmp_path / "out" / "rejects.jsonl").exists()


@pytest.mark.parametrize("raw", [b"", b"\n  \n\r\n"], ids=["empty", "only blank lines"])
def test_empty_file(write_recipe, write_jsonl, raw):
    write_jsonl("data/a.jsonl", [{"quiz": "Q", "answer": "1", "depth": 1}])
    write_jsonl("data/b.jsonl", raw=raw)
    path = write_recipe({"sources": [SOURCE]})
    with pytest.raises(DataError) as info:
        run(path)
    assert str(info.value) == (
        "data/b.jsonl: empty file (no records); remove it from the recipe, or pass --skip-invalid to go on"
    )
    manifest, text = run(path, skip_invalid=True)
    assert manifest["warnings"] == ["data/b.jsonl: empty file (no records)"]
    assert [i["records"] for i in manifest["inputs"]] == [1, 0]
    assert "warning: data/b.jsonl: empty file (no records)" in text


def test_nothing_accepted(write_recipe, write_jsonl):
    write_jsonl("data/x.jsonl", raw=b"{bad\n[]\n")
    with pytest.raises(DataError) as info:
        run(write_recipe({"sources": [SOURCE]}), skip_invalid=True)
    assert str(info.value) == "no record was accepted (2 read, 2 rejected; see out/rejects.jsonl)"


def test_gzip_input(write_recipe, write_jsonl, tmp_path):
    import gzip

    (tmp_path / "data").mkdir()
    with gzip.open(tmp_path / "data" / "x.jsonl.gz", "wb") as f:
        f.write(good(1) + b"\n" + good(2) + b"\n")
    manifest, _ = run(write_recipe({"sources": [{**SOURCE, "files": ["data/*.jsonl.gz"]}]}))
    assert manifest["splits"]["train"] == 2


def test_large_file_crosses_read_blocks(write_recipe, write_jsonl, monkeypatch):
    """Lines split across the reader's blocks come out whole, numbered right."""
    from dumpcli.data import readers

    monkeypatch.setattr(readers, "BLOCK", 64)
    lines = [good(i) for i in range(50)] + [b"{broken"] + [good(100)]
    write_jsonl("data/x.jsonl", raw=b"\xef\xbb\xbf" + b"\r\n".join(lines))
    path = write_recipe({"sources": [SOURCE]})
    with pytest.raises(DataError, match=r"^data/x.jsonl:51: invalid JSON"):
        run(path)
    manifest, _ = run(path, skip_invalid=True)
    assert manifest["counts"]["read"] == 52 and manifest["splits"]["train"] == 51


# ---------------------------------------------------------------- through the CLI


def test_cli_bad_record_exits_1_without_traceback(write_recipe, write_jsonl):
    write_jsonl("data/x.jsonl", raw=good(1) + b'\n{"quiz": null, "answer": "1", "depth": 3}\n')
    path = write_recipe({"sources": [SOURCE]})
    result = CliRunner().invoke(app, ["prepare", str(path)])
    output = result.output + result.stderr
    assert result.exit_code == 1
    assert "Traceback" not in output
    assert (
        "data/x.jsonl:2: field 'quiz': expected a non-empty string or a list of {role, content} messages, got null"
        in " ".join(output.split())
    )
    result = CliRunner().invoke(app, ["prepare", str(path), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert "read 2 = accepted 1 + rejected 1 + duplicates 0 + overlap 0" in result.output
    result = CliRunner().invoke(app, ["prepare", str(path), "--skip-invalid"])
    assert result.exit_code == 0 and "up to date" in result.output


# ---------------------------------------------------------------- big files: worker processes


def _outputs(path: Path, tmp_path: Path) -> tuple[dict, list[dict], list[dict], bytes]:
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    for key in ("created",):
        manifest.pop(key)
    recipe = load_recipe(path)
    rejects = tmp_path / "out" / "rejects.jsonl"
    return (
        manifest,
        load_split(recipe, "train").to_list(),
        load_split(recipe, "test").to_list(),
        rejects.read_bytes() if rejects.exists() else b"",
    )


def test_worker_processes_give_the_same_result(write_recipe, write_jsonl, tmp_path, monkeypatch):
    """Chunks read by workers are merged in file order: same rows, counts, rejects, line numbers."""
    from dumpcli.data import ingest

    lines = []
    for i in range(300):
        lines.append(good(i % 250, depth=3 + i % 4))  # 50 duplicates
        if i % 37 == 5:
            lines.append(b'{"quiz": "", "answer": "1", "depth": 4}')
        if i % 53 == 7:
            lines.append(b"{broken json")
        if i % 41 == 3:
            lines.append(b"   ")
    write_jsonl("data/x.jsonl", raw=b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    write_jsonl("data/y.jsonl", [{"quiz": "small file", "answer": "1", "depth": 9}])
    path = write_recipe({"sources": [{**SOURCE, "test_fraction": 0.2}]})

    monkeypatch.setenv("DUMP_PREPARE_WORKERS", "1")
    run(path, skip_invalid=True)
    sequential = _outputs(path, tmp_path)
    monkeypatch.setenv("DUMP_PREPARE_WORKERS", "2")
    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 1000)  # x.jsonl in workers, y.jsonl here
    monkeypatch.setattr(ingest, "CHUNK_BYTES", 2000)
    assert len(chunk_bounds(tmp_path / "data" / "x.jsonl", 2000)) > 5
    run(path, skip_invalid=True, force=True)
    parallel = _outputs(path, tmp_path)
    assert parallel == sequential
    manifest = parallel[0]
    assert manifest["counts"]["duplicates"] == 50 and manifest["counts"]["rejected"] > 10
    check = manifest["counts"]
    assert check["read"] == check["accepted"] + check["rejected"] + check["duplicates"]

    with pytest.raises(DataError) as first:  # the first bad record, with its line in the whole file
        run(path, force=True)
    monkeypatch.setenv("DUMP_PREPARE_WORKERS", "1")
    with pytest.raises(DataError) as again:
        run(path, force=True)
    assert str(first.value) == str(again.value)
    assert str(first.value).startswith("data/x.jsonl:8: field 'quiz'")  # lines 1-4, blank 5, 6, 7


def test_chunk_bounds_split_on_line_ends(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"".join(b"%d\n" % i * (i % 7) for i in range(200)) + b"tail-without-newline")
    data = path.read_bytes()
    for size in (1, 10, 100, 10_000):
        bounds = chunk_bounds(path, size)
        assert bounds[0][0] == 0 and bounds[-1][1] == len(data)
        assert all(a < b for a, b in bounds) and all(
            b == c for (_, b), (c, _) in zip(bounds[:-1], bounds[1:], strict=True)
        )
        assert all(data[b - 1 : b] == b"\n" for _, b in bounds[:-1])
