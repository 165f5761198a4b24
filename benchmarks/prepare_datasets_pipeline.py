"""The data stage written literally as a `datasets` pipeline, for comparison with `dump prepare`
(BENCHMARKS.md): per source a generator, a batched map that validates and tags keeping a reject
reason, a filter, dedup by id, a seeded split per distribution, `save_to_disk`.

Two ways to get the records into a `Dataset`, on the benchmark's file (`quiz`,
`solution_text_format`, `extra_info.depth`; source `syn`, `exact` verifier, 5% test):

- generator: `Dataset.from_generator` yields every non-blank line with its line number (what
  `file:line` messages need); the map parses each line with orjson and checks it in Python.
- arrow: `datasets.load_dataset("json")` is the source's generator (its own JSON builder, which
  keeps no line numbers and stops at the first bad line); the map is vectorised over Arrow
  batches with dumpcli's column helpers (the same ids, prompts and answer encoding as prepare).

Both then: keep the rows with no reject reason, dedup by id (first kept), split, save_to_disk.

Usage: python benchmarks/prepare_datasets_pipeline.py {generator,arrow} FILE.jsonl WORK_DIR
       (WORK_DIR is emptied first; the rows written are counted and printed)
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from pathlib import Path

t0 = time.perf_counter()
import datasets  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from dumpcli.data.fastpath import json_strings  # noqa: E402
from dumpcli.data.fields import hex_ids, question_id, question_ids, source_seed, stable_seed  # noqa: E402
from dumpcli.data.staging import MESSAGES, render_prompts  # noqa: E402

datasets.disable_progress_bars()
SOURCE, TEMPLATE, FRACTION, SEED = "syn", "think_answer", 0.05, 0
PROMPT = "quiz"


def from_lines(path: str, cache: str) -> datasets.Dataset:
    def lines():
        with open(path, "rb") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    yield {"line": number, "raw": line.strip().decode("utf-8", "replace")}

    return datasets.Dataset.from_generator(lines, cache_dir=cache)


def validate_lines(batch: dict) -> dict:
    """Parse, check and tag each line in Python; a reject reason instead of an exception."""
    from dumpcli.puzzles.exact import ExactMatch

    parse = ExactMatch().parse_answer
    seed = source_seed(SOURCE)
    out: dict[str, list] = {k: [] for k in ("id", "difficulty", "question", "answer", "reason")}
    for raw in batch["raw"]:
        try:
            record = orjson.loads(raw)
            question = record[PROMPT]
            if not isinstance(question, str) or not question.strip():
                raise ValueError(f"field '{PROMPT}': expected a non-empty string")
            answer = orjson.dumps(parse(record["solution_text_format"])).decode()
            difficulty = str(record["extra_info"]["depth"])
            row = (f"{question_id(question, seed):016x}", difficulty, question, answer, None)
        except (ValueError, KeyError, TypeError) as e:
            row = (None, None, None, None, str(e) or type(e).__name__)
        for key, value in zip(out, row, strict=True):
            out[key].append(value)
    out["source"] = [SOURCE] * len(batch["raw"])
    out["distribution"] = [None if d is None else f"{SOURCE}/{d}" for d in out["difficulty"]]
    return out


def validate_table(table: pa.Table) -> pa.Table:
    """The same checks and tags column-wise over an Arrow batch (what prepare's fast path does)."""
    n = table.num_rows
    question = table.column(PROMPT).combine_chunks()
    answer = table.column("solution_text_format").combine_chunks()
    depth = pc.struct_field(table.column("extra_info").combine_chunks(), "depth")
    blank = pc.or_kleene(pc.is_null(question), pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(question)), 0))
    reason = pc.if_else(
        pc.fill_null(blank, True),
        f"field '{PROMPT}': expected a non-empty string",
        pc.if_else(
            pc.is_null(depth), "field 'extra_info.depth': expected a number", pa.scalar(None, pa.string())
        ),
    )
    question = pc.fill_null(question, "")
    [ids] = question_ids(question, [source_seed(SOURCE)])
    difficulty = pc.cast(pc.fill_null(depth, 0), pa.string())
    encoded = json_strings(pc.fill_null(answer, "")) or pa.array(
        [orjson.dumps(a).decode() for a in answer.to_pylist()], pa.string()
    )
    return pa.table(
        {
            "id": hex_ids(ids),
            "source": pa.array([SOURCE] * n, pa.string()),
            "difficulty": difficulty,
            "distribution": pc.binary_join_element_wise(SOURCE, difficulty, "/"),
            "prompt": render_prompts(TEMPLATE, question, pa.nulls(n, MESSAGES)),
            "answer": encoded,
            "verifier": pa.array(["exact"] * n, pa.string()),
            "reason": reason,
        }
    )


def main() -> None:
    mode, path, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    shutil.rmtree(work, ignore_errors=True)
    cache = str(work / "cache")
    times = {"imports": time.perf_counter() - t0}
    t = time.perf_counter()
    if mode == "generator":
        ds = from_lines(path, cache)
        times["generator"] = time.perf_counter() - t
        t = time.perf_counter()
        ds = ds.map(validate_lines, batched=True, batch_size=4096, remove_columns=ds.column_names)
    else:
        ds = datasets.load_dataset("json", data_files=path, split="train", cache_dir=cache)
        times["generator"] = time.perf_counter() - t
        t = time.perf_counter()
        ds = ds.with_format("arrow").map(
            validate_table, batched=True, batch_size=8192, remove_columns=ds.column_names
        )
    times["map"] = time.perf_counter() - t
    t = time.perf_counter()
    # the filter: rows with no reject reason (a mask over the map's output; `Dataset.filter`
    # would give an indices mapping, through which every column read goes row by row)
    table = ds.data
    accepted = np.flatnonzero(pc.is_null(table.column("reason")).to_numpy(zero_copy_only=False))
    times["filter"] = time.perf_counter() - t
    t = time.perf_counter()
    ids = table.column("id").take(accepted).to_numpy(zero_copy_only=False)
    _, first = np.unique(ids, return_index=True)
    kept = accepted[np.sort(first)]
    dist = table.column("distribution").take(kept).to_numpy(zero_copy_only=False)
    test = []
    for name in sorted(set(dist.tolist())):  # seeded, exactly round(fraction * n) per distribution
        rows = np.flatnonzero(dist == name)
        k = int(FRACTION * len(rows) + 0.5)
        test.extend(rows[random.Random(stable_seed(SEED, "split", SOURCE, name)).sample(range(len(rows)), k)])
    is_test = np.zeros(len(kept), bool)
    is_test[test] = True
    final = ds.with_format(None).remove_columns(["reason"])
    splits = datasets.DatasetDict(train=final.select(kept[~is_test]), test=final.select(kept[is_test]))
    times["dedup+split"] = time.perf_counter() - t
    t = time.perf_counter()
    splits.save_to_disk(str(work / "final"))
    times["save_to_disk"] = time.perf_counter() - t
    saved = datasets.load_from_disk(str(work / "final"))
    print(
        f"{mode}: train {saved['train'].num_rows} test {saved['test'].num_rows} rejected {len(ds) - len(accepted)}; "
        + " ".join(f"{k} {v:.1f}s" for k, v in times.items())
        + f"; total {time.perf_counter() - t0:.1f}s"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
