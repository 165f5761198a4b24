"""Column-wise reading of clean JSONL files: pyarrow parses, pyarrow.compute validates and tags.

The record-by-record path (ingest.stage_records) costs Python time per record; a clean file
(every record valid) does not need it. This path reads the file in byte ranges on line bounds;
for each range pyarrow's JSON reader parses the records and its CSV reader (one column, a
delimiter that JSON text cannot contain raw) gives the lines themselves for `meta`. Fields are
taken as columns, checked with `pyarrow.compute`, difficulty rules run once per distinct value,
and whole batches are staged.

It gives up (returns None, having staged nothing) on anything it does not decide exactly as the
record path would: a parse error, a record that would be rejected, a chat prompt, a missing or
null field, a type it does not map one to one (floats), a dotted path through a list. The caller
then reads the file record by record, which reports the first bad record with its line.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from dumpcli.data.fields import Reject, compile_difficulty
from dumpcli.data.ingest import FileJob, strip_answer_prefix
from dumpcli.data.readers import chunk_bounds
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


def _prompts(job: FileJob, table: Any) -> tuple[Any, list[str]]:
    import pyarrow as pa

    col = _column(table, job.source.fields.prompt)
    if not pa.types.is_string(col.type):
        raise GiveUp("prompt: not text")  # chat prompts and wrong types: record by record
    texts = col.to_pylist()
    if any(not t or t.isspace() for t in texts):  # str.isspace: exactly the record path's rule
        raise GiveUp("prompt: empty")
    return col, texts


def _answers(job: FileJob, table: Any, parse_answer: Any) -> Any:
    """The answer column as JSON text of each canonical answer (column-wise for `exact`)."""
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


_BLANKS = " \t\n\r\x0b\x0c"  # what bytes.strip() removes


def _lines(buf: Any, first: bool) -> Any:
    """The non-blank lines of a byte range as a string column, each exactly what the record path
    reads (no BOM, stripped like bytes.strip()): the buffer cut at its newlines without a copy,
    then one `ascii_trim` pass. Bytes that are not UTF-8: GiveUp."""
    import pyarrow as pa
    import pyarrow.compute as pc

    data = np.frombuffer(buf, dtype=np.uint8)
    begin = 3 if first and bytes(data[:3]) == b"\xef\xbb\xbf" else 0
    offsets = np.concatenate([[begin], np.flatnonzero(data == 10) + 1, [len(data)]]).astype(np.int32)
    if offsets[-1] == offsets[-2]:
        offsets = offsets[:-1]  # the range ends with a newline
    raw = pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), buf)
    lines = pc.ascii_trim(raw, _BLANKS)
    sizes = np.diff(np.frombuffer(lines.buffers()[1], np.int32)[lines.offset : lines.offset + len(lines) + 1])
    if (sizes == 0).any():
        lines = lines.filter(pa.array(sizes > 0))
    try:
        lines.validate(full=True)  # UTF-8: the record path rejects a line that is not
    except pa.ArrowInvalid as e:
        raise GiveUp(str(e)) from None
    return lines


def _exact_answers(col: Any) -> Any:
    """`exact`'s parse_answer + orjson.dumps for string answers. parse_answer leaves a text alone
    when it starts and ends with a printable ASCII character other than a quote and is not too
    long (one regex over the column finds the others); those rows are only JSON-encoded."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from dumpcli.puzzles.exact import MAX_REFERENCE, ExactMatch

    odd = pc.or_(
        pc.match_substring_regex(col, r'^[^!-~]|[^!-~]$|^"|^$'),
        pc.greater(pc.utf8_length(col), MAX_REFERENCE),
    )
    texts = col.to_pylist()
    dumps = orjson.dumps
    encoded = [dumps(t) for t in texts]
    parse = ExactMatch().parse_answer
    try:
        for i in np.flatnonzero(odd.to_numpy(zero_copy_only=False)).tolist():
            encoded[i] = dumps(parse(texts[i]))
    except (ValueError, TypeError) as e:
        raise GiveUp(strip_answer_prefix(e)) from None
    return pa.array(encoded, pa.binary()).cast(pa.string())


def _only(table: Any, job: FileJob) -> Any:
    """Parse options for the next ranges: an explicit schema of the top-level fields this source
    reads (as the first range typed them), others skipped; a record that does not fit fails to
    parse, and the file goes record by record."""
    import pyarrow as pa
    import pyarrow.json as paj

    rule = job.source.difficulty
    paths = [job.source.fields.prompt, job.source.fields.answer]
    if rule is not None:
        paths += [p for p in (rule.field, rule.len_of, None if rule.on == "filename" else rule.on) if p]
    roots = {p.split(".")[0] for p in paths}
    schema = pa.schema([f for f in table.schema if f.name in roots])
    return paj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")


def stage_jsonl(job: FileJob, stage: Stage, dists: Dists, verifier: Any) -> int | None:
    """Stage a clean JSONL file column-wise; the number of records, or None (nothing staged)."""
    import pyarrow as pa
    import pyarrow.json as paj

    path = Path(job.path)
    if path.suffix == ".gz" or not path.stat().st_size:
        return None
    stage.close()
    mark = stage.mark()
    saved = copy.deepcopy(dists)
    i, name = job.source_index, job.source.name
    total = 0
    parse = None
    try:
        with open(path, "rb") as f:
            for start, end in chunk_bounds(path, RANGE_BYTES):
                f.seek(start)
                buf = pa.py_buffer(f.read(end - start))
                try:
                    table = paj.read_json(
                        pa.BufferReader(buf),
                        read_options=paj.ReadOptions(use_threads=True),
                        parse_options=parse,
                    )
                    lines = _lines(buf, first=start == 0)
                except (pa.ArrowException, ValueError) as e:
                    raise GiveUp(str(e)) from None
                if len(lines) != table.num_rows or not table.num_rows:
                    raise GiveUp("lines and records do not match")
                if parse is None:  # later ranges: build only the columns used, with these types
                    parse = _only(table, job)
                rows, labels = _difficulties(job, table)
                dist_map = np.asarray([dists.get(i, name, d) for d in labels], np.int32)
                questions, texts = _prompts(job, table)
                answers = _answers(job, table, verifier.parse_answer)
                difficulty = pa.array(labels, pa.string()).take(pa.array(rows))
                stage.add_batch(i, job.group, dist_map[rows], questions, texts, difficulty, answers, lines)
                total += table.num_rows
    except GiveUp:
        stage.rollback(mark)
        dists.__dict__.update(saved.__dict__)
        return None
    stage.close()
    return total
