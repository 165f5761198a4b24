"""`dump prepare` against `datasets.load_dataset("json")` on the same synthetic JSONL file.

Writes N knights-and-knaves-like records (about 840 bytes each: quiz, names, solution,
solution_text_format, extra_info.depth; 1% exact duplicates), then runs, each in a fresh
process and alternating, `repeats` times:

- hf:      `datasets.load_dataset("json", data_files=FILE, split="train")` into an empty cache
           (parse + write its Arrow cache; no validation);
- prepare: `dump prepare RECIPE --force` with the `exact` verifier parsing every answer, the
           difficulty read from `extra_info.depth`, dedup, a seeded 5% test split per
           distribution, the rows with rendered prompts (`think_answer`) + each split's row list
           + manifest (with the input's content hash) written, into an empty data cache;
- (--pipeline) the same data stage written literally as a `datasets` pipeline
           (benchmarks/prepare_datasets_pipeline.py): `arrow` (load_dataset as the source's
           generator, a vectorised batched map, dedup, split, save_to_disk) and `generator`
           (Dataset.from_generator over the lines, a per-record map, ...).

Both times include starting Python and importing the libraries. CPU time is user + system of
the command and its children (prepare's workers), the fairer figure on a busy machine. Peak
memory is the largest sum of RSS over the process and its children, sampled every 20 ms.

Then (`--other N`, default 100000; 0 skips) the time to prepare N records from other sources:
- hf:            a local `save_to_disk` folder (GSM8K's columns: question, answer "... #### 42")
                 with the `math` verifier parsing every reference;
- reasoning_gym: N problems from reasoning-gym's chain_sum at 4 settings of max_terms (the
                 task's generator; needs `pip install 'dumpcli[reasoning-gym]'`).

Usage: python benchmarks/prepare.py [--records 1000000] [--repeats 3] [--dir /tmp/dump-bench]
       [--workers N] [--other 100000] [--baseline DIR] [--pipeline]
       (--baseline DIR: a folder holding another version's `dumpcli` package, e.g.
        `git archive 52abccf dumpcli | tar -x -C DIR`, run in the same alternation)
       (--workers sets DUMP_PREPARE_WORKERS for prepare; default: the CPU count)
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import psutil
import yaml

NAMES = [
    "Liam",
    "Chloe",
    "Daniel",
    "Zoey",
    "Mia",
    "Noah",
    "Emma",
    "Jack",
    "Ava",
    "Leo",
    "Ella",
    "Owen",
    "Lily",
    "Sam",
]

HF = """
import sys, datasets
datasets.disable_progress_bars()
ds = datasets.load_dataset("json", data_files=sys.argv[1], split="train", cache_dir=sys.argv[2])
print(len(ds))
"""


def write_records(path: Path, n: int, seed: int = 0) -> None:
    with open(path, "wb") as f:
        for i in range(n):
            j = i - 50 if i % 100 == 99 else i  # 1% exact duplicates of a recent record
            r = random.Random(j * 7919 + seed)
            k = r.randint(3, 14)
            people = r.sample(NAMES, k)
            solution = [r.random() < 0.5 for _ in people]
            quiz = (
                "A very special island is inhabited only by knights and knaves. Knights always tell the "
                f"truth, and knaves always lie. You meet {k} inhabitants: {', '.join(people)}. Puzzle {j}. "
                + " ".join(f"{a} says that {b} is a knave." for a, b in zip(people, people[1:], strict=False))
            )
            record = {
                "quiz": quiz,
                "names": people,
                "solution": solution,
                "solution_text_format": "\n".join(
                    f"({m + 1}) {a} is a {'knight' if s else 'knave'}"
                    for m, (a, s) in enumerate(zip(people, solution, strict=True))
                ),
                "extra_info": {"depth": k, "index": j},
            }
            f.write(orjson.dumps(record) + b"\n")


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall time, CPU time (the process and the children it waited for) and peak memory
    (process tree) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                total = sum(p.memory_info().rss for p in procs)
                peak = max(peak, total)
            except psutil.Error:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall": wall, "cpu": cpu, "peak_mb": peak / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir, removed after)")
    ap.add_argument("--workers", type=int, default=None, help="DUMP_PREPARE_WORKERS for prepare")
    ap.add_argument("--other", type=int, default=100_000, help="records for the hf / reasoning_gym timings")
    ap.add_argument(
        "--baseline", type=Path, default=None, help="folder with another version's dumpcli package"
    )
    ap.add_argument("--pipeline", action="store_true", help="also time the literal datasets pipeline")
    args = ap.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="dump-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"synthetic-{args.records}.jsonl"
    if not data.exists():
        t = time.perf_counter()
        write_records(data, args.records)
        print(f"wrote {data} ({data.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.0f}s")
    recipe = work / "recipe.yaml"
    source = {
        "name": "syn",
        "files": [str(data)],
        "fields": {"prompt": "quiz", "answer": "solution_text_format"},
        "difficulty": {"field": "extra_info.depth"},
        "verifier": "exact",
        "test_fraction": 0.05,
    }
    recipe.write_text(
        yaml.safe_dump({"name": "bench", "output_dir": str(work / "out"), "data": {"sources": [source]}})
    )
    dump = str(Path(sys.executable).with_name("dump"))
    env = dict(os.environ)
    env["DUMP_CACHE_DIR"] = str(work / "dump-cache")  # prepared data goes here; emptied before each run
    if args.workers is not None:
        env["DUMP_PREPARE_WORKERS"] = str(args.workers)

    results: dict[str, list[dict[str, float]]] = {"hf": [], "prepare": []}
    names = ["hf", "prepare"]
    if args.baseline is not None:
        results["baseline"] = []
        names.append("baseline")
        old_recipe = work / "recipe-baseline.yaml"
        old_recipe.write_text(recipe.read_text().replace(str(work / "out"), str(work / "out-baseline")))
    if args.pipeline:
        names += ["pipeline-arrow", "pipeline-generator"]
        results.update({"pipeline-arrow": [], "pipeline-generator": []})
    pipeline = str(Path(__file__).with_name("prepare_datasets_pipeline.py"))
    for rep in range(args.repeats):
        for name in names if rep % 2 == 0 else names[::-1]:
            if name.startswith("pipeline-"):
                mode = name.removeprefix("pipeline-")
                r = measure([sys.executable, pipeline, mode, str(data), str(work / "pipeline")], env=env)
            elif name == "hf":
                cache = work / "hf-cache"
                shutil.rmtree(cache, ignore_errors=True)
                r = measure([sys.executable, "-c", HF, str(data), str(cache)])
                shutil.rmtree(cache, ignore_errors=True)
            elif name == "baseline":
                shutil.rmtree(work / "out-baseline", ignore_errors=True)
                baseline = [sys.executable, "-c", BASELINE, str(args.baseline.resolve())]
                r = measure([*baseline, "prepare", str(old_recipe), "--force"], env=env)
            else:
                shutil.rmtree(work / "dump-cache", ignore_errors=True)
                r = measure([dump, "prepare", str(recipe), "--force"], env=env)
            results[name].append(r)
            print(
                f"rep {rep} {name:8s} {r['wall']:7.2f}s wall {r['cpu']:7.2f}s cpu  peak {r['peak_mb']:6.0f} MiB"
            )

    manifest = orjson.loads((work / "out" / "manifest.json").read_bytes())
    print("prepare counts:", manifest["counts"], "splits:", manifest["splits"])
    print()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"Python {platform.python_version()}; load average now {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"records: {args.records:,} ({data.stat().st_size / 2**20:.0f} MiB); repeats: {args.repeats}")
    print()
    print(
        "| run | median wall (s) | best wall (s) | records/s (median wall) | median CPU (s) | peak RSS, tree (MiB) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    med: dict[str, float] = {}
    cpu: dict[str, float] = {}
    labels = [
        ("hf", '`load_dataset("json")`'),
        ("prepare", "`dump prepare`"),
        ("baseline", "baseline"),
        ("pipeline-arrow", "`datasets` pipeline, load_dataset + vectorised map"),
        ("pipeline-generator", "`datasets` pipeline, from_generator + per-record map"),
    ]
    for name, label in [x for x in labels if x[0] in results]:
        walls = [r["wall"] for r in results[name]]
        med[name] = statistics.median(walls)
        cpu[name] = statistics.median(r["cpu"] for r in results[name])
        peak = max(r["peak_mb"] for r in results[name])
        print(
            f"| {label} | {med[name]:.2f} | {min(walls):.2f} | {args.records / med[name]:,.0f} "
            f"| {cpu[name]:.1f} | {peak:,.0f} |"
        )
    for name in [n for n in ("prepare", "baseline", "pipeline-arrow", "pipeline-generator") if n in results]:
        print(
            f"\nratio {name} / load_dataset: {med[name] / med['hf']:.2f}x wall (median), "
            f"{cpu[name] / cpu['hf']:.2f}x CPU"
        )
    if args.other:
        other_sources(work, args.other, dump, env)
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


# the other version's package first on sys.path (PYTHONPATH would lose to `python -m`'s cwd entry)
BASELINE = """
import sys
sys.path.insert(0, sys.argv.pop(1))
import dumpcli.cli
assert dumpcli.cli.__file__.startswith(sys.path[0]), dumpcli.cli.__file__
dumpcli.cli.app()
"""

GSM8K = """
import sys, datasets
n = int(sys.argv[2])
q = [f"Ann has {i} pens and buys {i % 97 + 1} more boxes of {i % 13 + 2}. How many pens now?" for i in range(n)]
a = [f"{i % 97 + 1} x {i % 13 + 2} = {(i % 97 + 1) * (i % 13 + 2)}. {i} + that = {i + (i % 97 + 1) * (i % 13 + 2)}."
     f"\\n#### {i + (i % 97 + 1) * (i % 13 + 2):,}" for i in range(n)]
datasets.Dataset.from_dict({"question": q, "answer": a}).save_to_disk(sys.argv[1])
"""


def other_sources(work: Path, n: int, dump: str, env: dict[str, str]) -> None:
    """Time `dump prepare` on n records from a local hf folder and from reasoning-gym."""
    folder = work / f"gsm8k-like-{n}"
    if not folder.exists():
        subprocess.run([sys.executable, "-c", GSM8K, str(folder), str(n)], check=True, env=env)
    per = n // 4
    recipes = {
        "hf (save_to_disk folder, math verifier)": {
            "name": "gsm8k", "hf": str(folder), "fields": {"prompt": "question"}, "verifier": "math",
            "test_fraction": 0.05,
        },
        "reasoning_gym (chain_sum, 4 settings)": {
            "name": "chain", "reasoning_gym": "chain_sum", "config": {"min_terms": 2, "max_digits": 4},
            "difficulties": {"knob": "max_terms", "values": [2, 3, 4, 5]},
            "train_per_difficulty": per - per // 20, "test_per_difficulty": per // 20,
        },
    }  # fmt: skip
    print()
    print(f"| source, {n:,} records | wall (s) | records/s | CPU (s) | peak RSS, tree (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for label, source in recipes.items():
        path = work / f"other-{source['name']}.yaml"
        out = work / f"out-{source['name']}"
        path.write_text(
            yaml.safe_dump({"name": source["name"], "output_dir": str(out), "data": {"sources": [source]}})
        )
        shutil.rmtree(work / "dump-cache", ignore_errors=True)
        r = measure([dump, "prepare", str(path), "--force"], env=env)
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        rows = manifest["splits"]["train"] + manifest["splits"]["test"]
        print(
            f"| {label} ({rows:,} prepared) | {r['wall']:.2f} | {rows / r['wall']:,.0f} | {r['cpu']:.1f} | {r['peak_mb']:,.0f} |"
        )


if __name__ == "__main__":
    main()
