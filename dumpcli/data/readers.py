"""Streaming readers for JSONL and Parquet inputs.

Each yields `(position, raw, record)` one record at a time, so memory does not depend on the
file size. A record that cannot even be parsed is yielded as a `Reject` (not raised), so the
caller decides whether to stop or to go on (`--skip-invalid`) with one code path.

JSONL rules (a "record" is a non-blank line; the position is its 1-based line number):
- a UTF-8 byte-order mark before the first line is ignored; CRLF line ends are accepted
- blank (whitespace-only) lines are skipped and not counted as records
- bytes that are not UTF-8 -> Reject "not valid UTF-8"; bad JSON -> Reject "invalid JSON"
  (a last line without its newline that does not parse is reported as truncated)
- a JSON value that is not an object -> Reject "expected a JSON object"
- arrays and objects nested deeper than MAX_DEPTH -> Reject "nested too deeply", decided on the
  bytes before any parser sees the line (pyarrow's JSON reader crashes the process at a depth of
  some thousands; orjson stops at 1024)
- a key given twice in one object -> Reject "duplicate key" (a JSON parser keeps the last value
  silently)
Parquet: read by record batches; the position is the 0-based row index (as `datasets` counts).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from dumpcli.data.fields import Reject, type_name

BLOCK = 1 << 22  # 4 MiB reads; lines are split in C (bytes.split)
BOM = b"\xef\xbb\xbf"

Progress = Callable[[int], None]

MAX_DEPTH = 100  # arrays and objects nested in one record (real records nest a few levels)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # a JSON string, escapes included
_STEP = np.zeros(256, np.int8)
_STEP[[ord("["), ord("{")]], _STEP[[ord("]"), ord("}")]] = 1, -1


def nesting_depth(line: bytes) -> int:
    """How deep arrays and objects nest in one JSON text: the running count of brackets outside
    strings (`[` and `{` add one, `]` and `}` take one), at its highest."""
    steps = _STEP[np.frombuffer(_STRING.sub(b"", line), np.uint8)]
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


_OPENERS = bytes(b for b in range(256) if b not in b"[{")  # translate() deletes all but these


def too_deep(line: bytes) -> Reject | None:
    """Reject a line nested deeper than MAX_DEPTH. A line with at most MAX_DEPTH opening
    brackets cannot be (one C-level pass decides almost every line); others are measured."""
    if len(line.translate(None, _OPENERS)) <= MAX_DEPTH:
        return None
    depth = nesting_depth(line)
    if depth <= MAX_DEPTH:
        return None
    return Reject("nested too deeply", detail=f"{depth:,} levels of arrays and objects, at most {MAX_DEPTH}")


def duplicate_key(line: bytes, value: Any, escapes: bool = True) -> Reject | None:
    """Reject a line whose objects give a key twice. Every key is followed by a colon and a
    parsed value keeps the last of two equal keys, so a line with a duplicate key has more
    colons than the value written back (`orjson.dumps`); only such a line, or one that may write
    a colon as an escape (`\\u003a`; `escapes=False`: the caller knows it does not), is parsed
    again with a hook that sees every key."""
    if line.count(b":") == orjson.dumps(value).count(b":") and not (escapes and b"\\u003" in line):
        return None
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if not found:
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    found.append(key)
                    break
                seen.add(key)
        return dict(items)

    try:
        json.loads(line, object_pairs_hook=pairs)
    except (ValueError, RecursionError) as e:  # what orjson read, json may not (its own limits)
        return Reject("invalid JSON", detail=str(e))
    return Reject("duplicate key", detail=f"{found[0]!r} is given twice in one object") if found else None


def _json_reason(raw: bytes, err: Exception, truncated: bool) -> Reject:
    """Turn a parse failure into the message the user sees (UTF-8 problems named as such)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return Reject("not valid UTF-8", detail=f"byte 0x{raw[e.start]:02x} at column {e.start + 1}")
    text = re.sub(r":? line 1 column (\d+) \(char \d+\)", r" at column \1", str(err))
    if truncated:
        return Reject("invalid JSON", detail=f"{text} (the last line has no newline: truncated file?)")
    return Reject("invalid JSON", detail=text)


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115


def iter_jsonl(
    path: Path,
    on_bytes: Progress | None = None,
    start: int = 0,
    end: int | None = None,
    lines_before: int = 0,
) -> Iterator[tuple[int, bytes, Any]]:
    """Yield (line number, line bytes without BOM/CR/newline, parsed value or Reject).

    `start`/`end` read one byte range (from `chunk_bounds`), whose first line is line
    `lines_before + 1` of the file."""
    loads = orjson.loads
    lineno = lines_before
    first = start == 0
    remaining = None if end is None else end - start
    with _open(path) as f:
        if start:
            f.seek(start)
        rest = b""
        while True:
            block = f.read(BLOCK if remaining is None else min(BLOCK, remaining))
            if remaining is not None:
                remaining -= len(block)
            if on_bytes is not None and block:
                on_bytes(len(block))
            # a colon may be written `\u003a` (`duplicate_key`); the lines of this batch are rest + block
            escapes = b"\\u003" in block or b"\\u003" in rest or b"\\u003" in rest[-4:] + block[:4]
            if not block:
                batch = [rest] if rest else []
                last_has_newline = False
            else:
                batch = (rest + block).split(b"\n") if rest else block.split(b"\n")
                rest = batch.pop()
                last_has_newline = True
            if first and batch:
                if batch[0].startswith(BOM):
                    batch[0] = batch[0][3:]
                first = False
            for raw in batch:
                lineno += 1
                line = raw.strip()
                if not line:
                    continue
                bad = too_deep(line)
                if bad is not None:
                    yield lineno, line, bad
                    continue
                try:
                    value = loads(line)
                except orjson.JSONDecodeError as e:
                    yield lineno, line, _json_reason(line, e, truncated=not last_has_newline)
                    continue
                if type(value) is not dict:
                    yield lineno, line, Reject("expected a JSON object", got=type_name(value))
                    continue
                bad = duplicate_key(line, value, escapes)
                yield lineno, line, value if bad is None else bad
            if not block:
                return


def chunk_bounds(path: Path, chunk: int) -> list[tuple[int, int]]:
    """Byte ranges of about `chunk` bytes that start and end on line boundaries, covering the file."""
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
        while cuts[-1] + chunk < size:
            f.seek(cuts[-1] + chunk)
            f.readline()
            cut = f.tell()
            if cut >= size:
                break
            cuts.append(cut)
    cuts.append(size)
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def count_parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def iter_parquet(
    path: Path, columns: list[str] | None = None, on_rows: Progress | None = None
) -> Iterator[tuple[int, None, Any]]:
    """Yield (row index, None, row as a dict) by record batches. `columns` limits what is read
    (top-level names; None = all, so a rejected row goes to rejects.jsonl whole)."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    row = 0
    for batch in pf.iter_batches(batch_size=4096, columns=columns):
        rows = batch.to_pylist()
        for record in rows:
            yield row, None, record
            row += 1
        if on_rows is not None:
            on_rows(len(rows))


def iter_csv(path: Path) -> Iterator[tuple[int, None, Any]]:
    """Yield (row index, None, row as a dict) from a CSV file with a header line (pyarrow's
    streaming reader: column types inferred, the first row is the header)."""
    import pyarrow.csv as pcsv

    row = 0
    with pcsv.open_csv(path) as reader:
        for batch in reader:
            for record in batch.to_pylist():
                yield row, None, record
                row += 1


def count_records(path: Path) -> int | None:
    """Rows of a Parquet file (from its metadata), non-empty lines of a JSONL file, CSV rows;
    None if unreadable (a count is informative only; prepare reports the real error)."""
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return count_parquet_rows(path)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as f:
            lines = sum(1 for line in f if line.strip())
        return lines - 1 if name.removesuffix(".gz").endswith(".csv") else lines
    except Exception:  # noqa: BLE001
        return None
