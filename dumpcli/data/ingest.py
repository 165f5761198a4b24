"""Reading input files for `dump prepare`: the per-record hot loop, and worker processes that
run it on line-aligned chunks of big JSONL files.

The per-record work (parse, validate, tag, parse the answer) is Python, so a big JSONL file
(>= PARALLEL_MIN_BYTES) is cut into chunks read by forked workers (DUMP_PREPARE_WORKERS,
default the CPU count, max 8). Each worker stages its rows in its own Arrow part with line
numbers and distributions local to the chunk; the parent merges results in file order, so
rows, counts, line numbers and the first error are those of a sequential read.
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from dumpcli.data.fields import (
    MAX_ANSWER_CHARS,
    MAX_PROMPT_CHARS,
    MISSING,
    Reject,
    check_messages,
    compile_difficulty,
    compile_path,
    describe,
)
from dumpcli.data.readers import iter_jsonl
from dumpcli.data.staging import BATCH, Stage
from dumpcli.errors import DataError
from dumpcli.io import jsonl_writer
from dumpcli.puzzles.guard import die_with_parent


def strip_answer_prefix(err: Exception) -> str:
    """Verifiers say "answer: ..."; the message already names the field."""
    text = str(err) or type(err).__name__
    return text[len("answer: ") :] if text.startswith("answer: ") else text


PARALLEL_MIN_BYTES = 64 << 20  # smaller JSONL files are read in this process
CHUNK_BYTES = 16 << 20  # a worker's share of a big JSONL file


def workers() -> int:
    """Worker processes for big JSONL files: DUMP_PREPARE_WORKERS, else the CPU count (max 8)."""
    env = os.environ.get("DUMP_PREPARE_WORKERS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise DataError(f"DUMP_PREPARE_WORKERS={env!r}: expected a whole number") from None
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass
class FileJob:
    """What reading one file (or one byte range of a JSONL file) needs; picklable for workers."""

    source_index: int
    source: Any  # a files or hf source spec (fields, difficulty)
    source_names: list[str]
    verifier: str
    kind: str  # jsonl | parquet | csv | hf
    path: str
    label: str  # the file as named in messages
    recorded: str  # the file as named in the manifest (what `{regex, on: filename}` searches)
    group: int
    skip_invalid: bool
    start: int = 0
    end: int | None = None
    lines_before: int = 0  # newlines in the file before `start`
    template: str = "plain"  # the prompt template (rows are staged in their final form)
    verifiers: list[str] | None = None  # every source's verifier, by source index
    dist_keys: list[str] | None = None  # recipe.data.distribution
    provenance: str = ""  # each row's `meta`: this text, the line or row number, "}"
    max_prompt_chars: int = MAX_PROMPT_CHARS  # recipe data.max_prompt_chars
    max_answer_chars: int = MAX_ANSWER_CHARS  # recipe data.max_answer_chars
    part: str = ""  # worker: where to stage rows
    rejects: str = ""  # worker: where to write rejected records


@contextmanager
def pool(n: int) -> Iterator[Any]:
    """`n` worker processes (None if `n` is 0 or the platform cannot fork).

    Forked, and before this run starts any thread of its own (progress bar, hashing): the
    workers start at once, share the parent's imported modules, and unlike spawn/forkserver do
    not re-import the caller's __main__ (a script without an `if __name__` guard would break)."""
    import multiprocessing

    if not n or "fork" not in multiprocessing.get_all_start_methods():
        yield None
        return
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(
        max_workers=n,
        mp_context=multiprocessing.get_context("fork"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
    try:
        pool.submit(os.getpid).result()  # forks all workers now (fork start method: all at once)
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


class Stop(Exception):
    """A worker's first bad record (no --skip-invalid); the parent adds the line offset."""

    def __init__(self, line: int, message: str):
        super().__init__(line, message)
        self.line, self.message = line, message


RejectFn = Callable[[str, Any, Reject, "int | None"], None]


def stage_records(
    job: FileJob,
    rows: Iterator[tuple[int, Any, Any]],
    stage: Stage,
    dist_index: Callable[[str], int],
    reject: RejectFn,
) -> int:
    """The hot loop: validate, tag and stage every record; returns how many were read.

    Runs in this process or in a worker (`read_chunk`); `reject(position, raw, Reject, dist)`
    stops the run or records the bad record."""
    from dumpcli.puzzles import registry

    i, src = job.source_index, job.source
    difficulty_of = compile_difficulty(src.difficulty, job.recorded)  # the caller checked it compiles
    prompt_field, answer_field = src.fields.prompt, src.fields.answer
    get_prompt, get_answer = compile_path(prompt_field), compile_path(answer_field)
    prompt_reason = (
        f"field '{prompt_field}': expected a non-empty string or a list of {{role, content}} messages"
    )
    answer_reason = f"field '{answer_field}': expected a value"
    parse_answer = registry.get_verifier(job.verifier).parse_answer
    answer_bad = f"field '{answer_field}': verifier '{job.verifier}' cannot use this answer"
    max_prompt, max_answer = job.max_prompt_chars, job.max_answer_chars
    prompt_long = f"field '{prompt_field}': longer than data.max_prompt_chars ({max_prompt:,} characters)"
    answer_long = (
        f"field '{answer_field}': longer than data.max_answer_chars ({max_answer:,} characters, as JSON)"
    )
    dumps = orjson.dumps
    provenance = job.provenance
    is_parquet = job.kind != "jsonl"  # rows are numbered from 0, as `datasets` counts
    group = job.group
    dist_of: dict[str, int] = {}
    # bound once: this loop runs once per record
    dist_append, src_append, group_append = stage.dist.append, stage.src.append, stage.group.append
    count = 0
    try:
        for pos, raw, obj in rows:
            count += 1
            dist = None
            try:
                if type(obj) is Reject:
                    raise obj
                diff = difficulty_of(obj)
                dist = dist_of.get(diff)
                if dist is None:
                    dist = dist_of[diff] = dist_index(diff)
                prompt = get_prompt(obj)
                if type(prompt) is str:
                    if not prompt or prompt.isspace():
                        raise Reject(prompt_reason, got=describe(prompt))
                    text = prompt
                elif type(prompt) is list:
                    prompt, text = check_messages(prompt, prompt_field)
                else:
                    raise Reject(prompt_reason, got=describe(prompt))
                if len(text) > max_prompt:
                    raise Reject(prompt_long, got=f"{len(text):,}")
                a = get_answer(obj)
                if a is MISSING or a is None:
                    raise Reject(answer_reason, got=describe(a))
                try:
                    answer = dumps(parse_answer(a))
                except (ValueError, TypeError) as e:
                    raise Reject(answer_bad, detail=strip_answer_prefix(e)) from None
                if len(answer) > max_answer and len(answer.decode()) > max_answer:
                    raise Reject(answer_long, got=f"{len(answer.decode()):,}")
            except Reject as r:
                reject(f"row {pos}" if is_parquet else str(pos), raw if raw else obj, r, dist)
                continue
            # Stage.add, inlined
            dist_append(dist)
            src_append(i)
            group_append(group)
            stage.text.append(text)
            stage.prompt.append(prompt)
            stage.difficulty.append(diff)
            stage.answer.append(answer)
            stage.meta.append(f"{provenance}{pos}}}")
            if len(stage.text) >= BATCH:
                stage.flush()
    except (OSError, EOFError) as e:  # unreadable file, damaged gzip
        raise DataError(f"{job.label}: cannot read: {e}") from None
    except (DataError, Stop):
        raise
    except Exception as e:
        if is_parquet and type(e).__module__.startswith("pyarrow"):
            what = {"parquet": "Parquet file", "csv": "CSV file"}.get(job.kind, "dataset")
            raise DataError(f"{job.label}: not a readable {what}: {e}") from None
        raise
    return count


def reject_row(job: FileJob, pos: str, raw: Any, r: Reject) -> dict[str, Any]:
    """One line of rejects.jsonl: where, why, and the record as read."""
    row: dict[str, Any] = {"source": job.source.name, "file": job.label}
    if pos.isdigit():
        row["line"] = int(pos)
    else:
        row["row"] = int(pos.split()[-1])
    row["reason"] = r.message
    row["record"] = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return row


def read_chunk(job: FileJob) -> dict[str, Any]:
    """Worker process: stage one byte range of a JSONL file. Distributions are numbered locally;
    the parent maps them (`prepare._Build._read_parallel`)."""
    gc.disable()
    stage = Stage(
        Path(job.part).parent,
        job.source_names,
        prefix=Path(job.part).stem.lstrip("."),
        template=job.template,
        verifiers=job.verifiers,
        dist_keys=job.dist_keys,
    )
    names: list[str] = []
    index: dict[str, int] = {}
    reasons: Counter[str] = Counter()
    by_dist: Counter[int] = Counter()
    unknown = 0
    out = open(job.rejects, "wb") if job.skip_invalid else None  # noqa: SIM115
    rejects = jsonl_writer(out, default=str) if out is not None else None

    def dist_index(difficulty: str) -> int:
        if difficulty not in index:
            index[difficulty] = len(names)
            names.append(difficulty)
        return index[difficulty]

    def reject(pos: str, raw: Any, r: Reject, dist: int | None) -> None:
        nonlocal unknown
        if rejects is None:
            raise Stop(int(pos), r.message)
        reasons[r.reason] += 1
        if dist is None:
            unknown += 1
        else:
            by_dist[dist] += 1
        rejects.write(reject_row(job, pos, raw, r))

    first_error = None
    try:
        rows = iter_jsonl(Path(job.path), start=job.start, end=job.end, lines_before=job.lines_before)
        records = stage_records(job, rows, stage, dist_index, reject)
    except Stop as e:
        first_error, records = (e.line, e.message), 0
    finally:
        stage.close()
        if out is not None:
            out.close()
    assert len(stage.parts) <= 1, stage.parts  # closed once: one part, none if no row was accepted
    return {
        "path": str(stage.parts[0]) if stage.parts else job.part,
        "rows": stage.rows,
        "records": records,
        "difficulties": names,
        "dist": bytes(stage.dist),
        "ids": bytes(stage.ids),
        "qhash": bytes(stage.qhash),
        "reasons": dict(reasons),
        "rejected_by_dist": dict(by_dist),
        "rejected_unknown": unknown,
        "first_error": first_error,
    }
