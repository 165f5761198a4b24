"""Column-wise reading of clean JSONL files: pyarrow parses, pyarrow.compute and numpy check and tag.

The record-by-record path (ingest.stage_records) costs Python time per record; a clean file
(every record valid) does not need it. This path reads the file in byte ranges on line bounds;
pyarrow's JSON reader parses each range, fields are taken as columns and checked column-wise,
difficulty rules run once per distinct value, and whole batches are staged.

It gives up (returns None, having staged nothing) on anything it does not decide exactly as the
record path would: a parse error, a line that is not one JSON object, a record that would be
rejected (a duplicate key, a prompt or answer over the recipe's size limit), a chat prompt, a
missing or null field, a type it does not map one to one (floats), a dotted path through a list,
a line that may nest deeper than readers.MAX_DEPTH (checked on the bytes before pyarrow parses
them: its parser crashes the process on a deep enough record). The caller then reads the file record by record, which reports the
first bad record with its line.
"""

from __future__ import annotations

import codecs
import copy
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from dumpcli.data.fields import Reject, compile_difficulty
from dumpcli.data.ingest import FileJob, strip_answer_prefix
from dumpcli.data.readers import BOM, MAX_DEPTH, chunk_bounds, nesting_depth
from dumpcli.data.staging import Dists, Stage

RANGE_BYTES = 16 << 20  # bytes parsed at a time (memory stays bounded for any file size)
ENABLED = True  # tests turn it off to compare with the record-by-record path


class GiveUp(Exception):
    """This file needs the record-by-record path."""


def _column(table: Any, path: str) -> Any:
    """A dotted path as a column (nested structs), or GiveUp."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = path.split(".")
    if parts[0] not in table.column_names:
        raise GiveUp(f"no column {parts[0]!r}")
    col = table.column(parts[0]).combine_chunks()
    for part in parts[1:]:
        if not pa.types.is_struct(col.type) or col.type.get_field_index(part) < 0:
            raise GiveUp(f"{path}: not a struct field")
        col = pc.struct_field(col, part)
    if col.null_count:
        raise GiveUp(f"{path}: nulls")
    return col


def _nested(path: str, value: Any) -> dict[str, Any]:
    """{"a": {"b": value}} for path "a.b": what a compiled field getter reads."""
    obj: Any = value
    for part in reversed(path.split(".")):
        obj = {part: obj}
    return obj


def _difficulties(job: FileJob, table: Any) -> tuple[np.ndarray, list[str]]:
    """(per-row index into labels, labels in order of first appearance)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rule = job.source.difficulty
    difficulty_of = compile_difficulty(rule, job.recorded)
    n = table.num_rows
    try:
        if rule is None or rule.value is not None or (rule.regex is not None and rule.on == "filename"):
            return np.zeros(n, np.int32), [difficulty_of({})]
        if rule.len_of is not None:
            col = _column(table, rule.len_of)
            if not pa.types.is_list(col.type):
                raise GiveUp("len_of: not a list")
            path, col = rule.len_of, pc.list_value_length(col)
            as_obj = lambda v: _nested(path, [None] * v)  # noqa: E731
        else:
            path = rule.field if rule.field is not None else rule.on
            col = _column(table, path)
            if not (pa.types.is_string(col.type) or pa.types.is_integer(col.type)):
                raise GiveUp(f"{path}: type {col.type}")
            as_obj = lambda v: _nested(path, v)  # noqa: E731
        encoded = col.dictionary_encode()  # dictionary in order of first appearance
        labels: list[str] = []
        index: dict[str, int] = {}
        mapping = []
        for value in encoded.dictionary.to_pylist():
            label = difficulty_of(as_obj(value))
            if label not in index:
                index[label] = len(labels)
                labels.append(label)
            mapping.append(index[label])
        return np.asarray(mapping, np.int32)[encoded.indices.to_numpy(zero_copy_only=False)], labels
    except Reject as r:
        raise GiveUp(r.message) from None


def _ends(col: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first byte, last byte, length in bytes) of each string of a column; -1 for an empty one."""
    offsets = np.frombuffer(col.buffers()[1], np.int32)[col.offset : col.offset + len(col) + 1]
    data = np.frombuffer(col.buffers()[2] or b"\0", np.uint8)
    sizes = np.diff(offsets)
    first = np.where(sizes > 0, data[np.minimum(offsets[:-1], len(data) - 1)], -1)
    last = np.where(sizes > 0, data[np.maximum(offsets[1:] - 1, 0)], -1)
    return first, last, sizes


def _printable(byte: np.ndarray) -> np.ndarray:
    return (byte >= 0x21) & (byte <= 0x7E)  # ASCII, not a space: no string method strips it


def _check_depth(raw: memoryview, newlines: np.ndarray) -> None:
    """GiveUp if a line may nest deeper than MAX_DEPTH: the record path rejects it with its line,
    and pyarrow must not see it. Only a line with more than MAX_DEPTH opening brackets can be
    that deep; such a line is measured (`nesting_depth`). `newlines`: where the range's are."""
    data = np.frombuffer(raw, np.uint8)
    opens = np.flatnonzero((data | 0x20) == ord("{"))  # `[` is 0x5b, `{` 0x7b: no other byte
    if len(opens) <= MAX_DEPTH:
        return
    line = np.searchsorted(newlines, opens)  # the line of each opening bracket, from 0
    crowded = np.unique(line[MAX_DEPTH:][line[MAX_DEPTH:] == line[:-MAX_DEPTH]])
    starts, ends = np.concatenate([[0], newlines + 1]), np.append(newlines, len(data))
    for k in crowded.tolist():
        if nesting_depth(bytes(raw[starts[k] : ends[k]])) > MAX_DEPTH:
            raise GiveUp("nested too deeply")


def _within(col: Any, limit: int) -> bool:
    """Every text of a string column has at most `limit` characters (bytes bound them first)."""
    import pyarrow.compute as pc

    return pc.max(pc.binary_length(col)).as_py() <= limit or pc.max(pc.utf8_length(col)).as_py() <= limit


def _prompts(job: FileJob, table: Any) -> Any:
    import pyarrow as pa

    col = _column(table, job.source.fields.prompt)
    if not pa.types.is_string(col.type):
        raise GiveUp("prompt: not text")  # chat prompts and wrong types: record by record
    first, _, _ = _ends(col)
    for i in np.flatnonzero(~_printable(first)).tolist():  # may be blank: the record path's rule
        text = col[i].as_py()
        if not text or text.isspace():
            raise GiveUp("prompt: empty")
    if not _within(col, job.max_prompt_chars):
        raise GiveUp("prompt: too long")
    return col


def _answers(job: FileJob, table: Any, parse_answer: Any) -> Any:
    """The answer column as JSON text of each canonical answer (column-wise for `exact`)."""
    answers = _answer_texts(job, table, parse_answer)
    if not _within(answers, job.max_answer_chars):
        raise GiveUp("answer: too long")
    return answers


def _answer_texts(job: FileJob, table: Any, parse_answer: Any) -> Any:
    import pyarrow as pa

    col = _column(table, job.source.fields.answer)
    if not (pa.types.is_string(col.type) or pa.types.is_integer(col.type)):
        raise GiveUp(f"answer: type {col.type}")  # structs would come back with every field
    if job.verifier == "exact" and pa.types.is_string(col.type):
        return _exact_answers(col)
    dumps = orjson.dumps
    try:
        return pa.array([dumps(parse_answer(a)) for a in col.to_pylist()], pa.binary()).cast(pa.string())
    except (ValueError, TypeError) as e:
        raise GiveUp(strip_answer_prefix(e)) from None


def _exact_answers(col: Any) -> Any:
    """`exact`'s parse_answer + orjson.dumps for string answers. parse_answer leaves a text alone
    when it starts and ends with a printable ASCII character other than a quote and is not too
    long (numpy on the first and last bytes finds the others): those rows are only JSON-encoded,
    column-wise (`json_strings`); the others go through parse_answer one by one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from dumpcli.puzzles.exact import MAX_REFERENCE, ExactMatch

    first, last, sizes = _ends(col)
    odd = ~_printable(first) | ~_printable(last) | (first == ord('"')) | (sizes > MAX_REFERENCE)
    encoded = json_strings(col)
    if encoded is None:  # a control character JSON writes as \u00XX: row by row
        encoded = pa.array([orjson.dumps(t) for t in col.to_pylist()], pa.binary()).cast(pa.string())
    rows = np.flatnonzero(odd)
    if not len(rows):
        return encoded
    parse = ExactMatch().parse_answer
    try:
        fixed = [orjson.dumps(parse(t)) for t in col.take(rows).to_pylist()]
    except (ValueError, TypeError) as e:
        raise GiveUp(strip_answer_prefix(e)) from None
    return pc.replace_with_mask(encoded, pa.array(odd), pa.array(fixed, pa.binary()).cast(pa.string()))


_JSON_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def json_strings(col: Any) -> Any:
    """`orjson.dumps` of every string of a column, column-wise: each character JSON escapes that
    occurs is replaced in one pass (the backslash first), then the quotes are added. None if a
    control character other than those occurs (orjson writes it as \\u00XX)."""
    import pyarrow.compute as pc

    offsets = np.frombuffer(col.buffers()[1], np.int32)[col.offset : col.offset + len(col) + 1]
    data = np.frombuffer(col.buffers()[2] or b"", np.uint8)[offsets[0] : offsets[-1]]
    found = set(np.unique(data[(data < 0x20) | (data == ord('"')) | (data == ord("\\"))]).tolist())
    if found - {ord(c) for c in _JSON_ESCAPES}:
        return None
    for char, escaped in _JSON_ESCAPES.items():
        if ord(char) in found:
            col = pc.replace_substring(col, char, escaped)
    return pc.binary_join_element_wise('"', col, '"', "")


def _line_numbers(raw: memoryview, records: int, first: bool, newlines: np.ndarray) -> np.ndarray:
    """The line number, from 1 in this range, of each record as the record path counts lines
    (`newlines`: where the range's are). GiveUp unless every non-blank line is valid UTF-8 holding one
    JSON object (`{...}`) and there are as many of them as records (pyarrow's reader also takes
    two objects on one line, or one object over several lines, where the record path rejects)."""
    data = np.frombuffer(raw, np.uint8)
    if data.max() >= 0x80:
        try:
            codecs.utf_8_decode(raw, "strict", True)
        except UnicodeDecodeError:
            raise GiveUp("not UTF-8") from None
    begin = len(BOM) if first and bytes(raw[: len(BOM)]) == BOM else 0
    starts = np.concatenate([[begin], newlines + 1])
    ends = np.append(newlines, len(data))
    if data[-1] == 10:  # nothing after the last newline
        starts, ends = starts[:-1], ends[:-1]
    if (
        len(starts) == records
        and (ends > starts).all()
        and (data[starts] == ord("{")).all()
        and (data[ends - 1] == ord("}")).all()
    ):  # the usual file: `{...}` on every line
        return np.arange(1, records + 1)
    stripped = [line.strip() for line in bytes(raw[begin:]).split(b"\n")]  # blank lines, CRLF, spaces
    numbers = [k for k, line in enumerate(stripped, 1) if line]
    if len(numbers) != records or not all(
        stripped[k - 1][:1] == b"{" and stripped[k - 1][-1:] == b"}" for k in numbers
    ):
        raise GiveUp("lines and records do not match")
    return np.asarray(numbers)


def _only(table: Any, job: FileJob) -> Any:
    """Parse options for the next ranges: an explicit schema of the top-level fields this source
    reads (as the first range typed them); a record that does not fit fails to parse, and the
    file goes record by record. The other fields are still parsed (`infer`, not `ignore`), so a
    key given twice anywhere in a record is a parse error here too."""
    import pyarrow as pa
    import pyarrow.json as paj

    rule = job.source.difficulty
    paths = [job.source.fields.prompt, job.source.fields.answer]
    if rule is not None:
        paths += [p for p in (rule.field, rule.len_of, None if rule.on == "filename" else rule.on) if p]
    roots = {p.split(".")[0] for p in paths}
    schema = pa.schema([f for f in table.schema if f.name in roots])
    return paj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")


def stage_jsonl(job: FileJob, stage: Stage, dists: Dists, verifier: Any) -> int | None:
    """Stage a clean JSONL file column-wise; the number of records, or None (nothing staged)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as paj

    path = Path(job.path)
    if path.suffix == ".gz" or not path.stat().st_size:
        return None
    stage.close()
    mark = stage.mark()
    saved = copy.deepcopy(dists)
    i, name = job.source_index, job.source.name
    total = 0
    lines_before = 0
    parse = None
    bounds = chunk_bounds(path, RANGE_BYTES)
    buffer = memoryview(bytearray(max(b - a for a, b in bounds)))  # one buffer for every range
    try:
        with open(path, "rb", buffering=0) as f:
            for start, end in bounds:
                f.seek(start)
                raw = buffer[: end - start]
                got = 0
                while got < len(raw) and (n := f.readinto(raw[got:])):
                    got += n
                if got != len(raw):
                    raise GiveUp("the file changed while it was read")
                newlines = np.flatnonzero(np.frombuffer(raw, np.uint8) == 10)
                _check_depth(raw, newlines)
                try:
                    table = paj.read_json(
                        pa.BufferReader(raw),
                        read_options=paj.ReadOptions(use_threads=True, block_size=len(raw) + 1),
                        parse_options=parse,
                    )
                except (pa.ArrowException, ValueError) as e:
                    raise GiveUp(str(e)) from None
                if not table.num_rows:
                    raise GiveUp("no records")
                lines = _line_numbers(raw, table.num_rows, start == 0, newlines) + lines_before
                lines_before += len(newlines)
                if parse is None:  # later ranges: build only the columns used, with these types
                    parse = _only(table, job)
                rows, labels = _difficulties(job, table)
                dist_map = np.asarray([dists.get(i, name, d) for d in labels], np.int32)
                questions = _prompts(job, table)
                answers = _answers(job, table, verifier.parse_answer)
                difficulty = pa.array(labels, pa.string()).take(pa.array(rows))
                meta = pc.binary_join_element_wise(
                    job.provenance, pc.cast(pa.array(lines), pa.string()), "}", ""
                )
                stage.add_batch(i, job.group, dist_map[rows], questions, difficulty, answers, meta)
                total += table.num_rows
    except GiveUp:
        stage.rollback(mark)
        dists.__dict__.update(saved.__dict__)
        return None
    stage.close()
    return total
