"""JSONL through `jsonlines` (orjson as its dumps/loads) against the hand-written orjson code it
replaced (issue 20), in one run: same records, interleaved rounds, ratio after/before.

Three operations, on records shaped like a curriculum.jsonl line (8 distributions: probabilities,
draws, per-distribution stats; about 1 KB):
  write    one file of N records, as `dump puzzles generate` and rejects.jsonl write them
  append   one record per open + write + flush, as every run log (`append_jsonl`) is written
  read     a log of N records back (`read_jsonl`: report, compare, resume)

"before" is the code as it was (inlined below: `orjson.dumps(obj) + b"\\n"`, `splitlines()` +
`orjson.loads`); "after" is dumpcli.io today. Each round times both on the same data, alternating
which goes first; reported: the median over rounds of each, and the median of the per-round ratios.

    python benchmarks/jsonl_io.py                      # N = 100000 (append: N // 10), 5 rounds
    python benchmarks/jsonl_io.py --n 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from dumpcli.io import append_jsonl, jsonl_writer, read_jsonl


# ---------------------------------------------------------------- before (as the code was)
def write_before(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "wb") as f:
        for row in rows:
            f.write(orjson.dumps(row) + b"\n")


def append_before(path: Path, obj: Any) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    with os.fdopen(fd, "ab") as f:
        f.write(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        f.flush()


def read_before(path: Path) -> list[dict[str, Any]]:
    out = []
    for raw in path.read_bytes().splitlines():
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(line, dict):
            out.append(line)
    return out


# ---------------------------------------------------------------- after (dumpcli.io)
def write_after(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "wb") as f:
        jsonl_writer(f).write_all(rows)


def record(i: int) -> dict[str, Any]:
    dists = [f"kk/{d}" for d in range(2, 10)]
    return {
        "step": i,
        "draw": i,
        "scheduler": "ucb",
        "probabilities": {d: (j + 1) / 36 for j, d in enumerate(dists)},
        "drawn": {d: (i + j) % 5 for j, d in enumerate(dists)},
        "stats": {
            d: {"n": float(i * 8 + j), "mean_abs_adv": 0.123456 + j, "ucb": 1.5 + j / 7}
            for j, d in enumerate(dists)
        },
    }


def timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = [record(i) for i in range(args.n)]
    n_append = max(1, args.n // 10)
    times: dict[tuple[str, str], list[float]] = {}
    ratios: dict[str, list[float]] = {"write": [], "append": [], "read": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_before(folder / "log.jsonl", rows)
        assert (folder / "log.jsonl").read_bytes() == _after_bytes(folder, rows), "the two writers differ"
        assert read_before(folder / "log.jsonl") == read_jsonl(folder / "log.jsonl") == rows
        for r in range(args.rounds):
            ops = {
                "write": {
                    "before": lambda: write_before(folder / "w.jsonl", rows),
                    "after": lambda: write_after(folder / "w.jsonl", rows),
                },
                "append": {
                    "before": lambda: _appends(append_before, folder / "a.jsonl", rows[:n_append]),
                    "after": lambda: _appends(append_jsonl, folder / "a.jsonl", rows[:n_append]),
                },
                "read": {
                    "before": lambda: read_before(folder / "log.jsonl"),
                    "after": lambda: read_jsonl(folder / "log.jsonl"),
                },
            }
            for op, impls in ops.items():
                order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
                got = {}
                for which in order:
                    (folder / "a.jsonl").unlink(missing_ok=True)
                    got[which] = timed(impls[which])
                    times.setdefault((op, which), []).append(got[which])
                ratios[op].append(got["after"] / got["before"])
    print(
        f"# {platform.machine()}, Python {platform.python_version()}, N = {args.n:,} (append: {n_append:,}), {args.rounds} rounds"
    )
    print(
        "| operation | records | before (orjson by hand) | after (jsonlines + orjson) | ratio after/before |"
    )
    print("|---|---:|---:|---:|---:|")
    for op in ratios:
        count = n_append if op == "append" else args.n
        b = statistics.median(times[(op, "before")])
        a = statistics.median(times[(op, "after")])
        print(
            f"| {op} | {count:,} | {b * 1e3:.0f} ms ({count / b / 1e3:.0f}k rec/s) | "
            f"{a * 1e3:.0f} ms ({count / a / 1e3:.0f}k rec/s) | {statistics.median(ratios[op]):.3f} |"
        )


def _after_bytes(folder: Path, rows: list[dict[str, Any]]) -> bytes:
    write_after(folder / "check.jsonl", rows)
    return (folder / "check.jsonl").read_bytes()


def _appends(append: Callable[[Path, Any], None], path: Path, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        append(path, row)


if __name__ == "__main__":
    main()
