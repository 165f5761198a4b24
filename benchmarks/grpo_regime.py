"""Which GRPO settings make the tiny CPU model learn? Uniform GRPO on the curriculum benchmark's
data, one line per setting: greedy mean accuracy and sampled pass@1 at step 0 (the shared warm
start) and at the end, and the gain.

Every setting is `dump train recipes/bench-cpu.yaml --scheduler uniform --set ...` into its own
folder under --out, all from the same cached warm start; `--jobs 2` runs two at a time with one
torch thread each (two at two threads each oversubscribe 2 cores).

    python benchmarks/grpo_regime.py --jobs 2                      # every setting, seed 0
    python benchmarks/grpo_regime.py --only bench --seeds 0,1,2    # the benchmark's setting, 3 seeds
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent

# name -> overrides of recipes/bench-cpu.yaml (train.grpo unless the key says otherwise)
SETTINGS: dict[str, dict[str, object]] = {
    # the first bench-cpu's GRPO settings: lr 5e-4, temperature 1.0, 64 completions a step
    "v1": {"learning_rate": 5e-4, "temperature": 1.0, "per_device_train_batch_size": 64, "max_steps": 100},
    "v1-low-lr": {
        "learning_rate": 5e-5,
        "temperature": 1.0,
        "per_device_train_batch_size": 64,
        "max_steps": 100,
    },
    "t0.5-b64": {"learning_rate": 1e-4, "temperature": 0.5, "per_device_train_batch_size": 64},
    "t0.5-b128-lr1e-4": {"learning_rate": 1e-4, "temperature": 0.5},
    "t1.0-b128": {"temperature": 1.0},  # the benchmark's setting at temperature 1.0
    "bench": {},  # recipes/bench-cpu.yaml as it is: lr 2e-4, temperature 0.5, 128 completions, 300 steps
}


def overrides(setting: dict[str, object]) -> list[str]:
    out = []
    for key, value in setting.items():
        path = key if "." in key else f"train.grpo.{key}"
        out += ["--set", f"{path}={value}"]
    return out


def run(name: str, seed: int, out: Path, threads: int) -> dict[str, object]:
    folder = out / f"{name}-seed{seed}"
    evals = folder / "eval.jsonl"
    started = time.time()
    if not (folder / "run.json").exists() or not evals.exists():
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        command = [sys.executable, "-m", "dumpcli", "train", str(ROOT / "recipes" / "bench-cpu.yaml")]
        command += ["--scheduler", "uniform", "--set", f"output_dir={folder}", "--set", f"train.seed={seed}"]
        command += overrides(SETTINGS[name])
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder.parent / f"{folder.name}.log", "wb") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=True)
    lines = [orjson.loads(x) for x in evals.read_bytes().splitlines() if x.strip()]
    first, last = lines[0], lines[-1]
    return {
        "setting": name,
        "seed": seed,
        "steps": last["step"],
        "greedy": (first["mean_accuracy"], last["mean_accuracy"]),
        "sampled": (first.get("mean_sampled_accuracy"), last.get("mean_sampled_accuracy")),
        "minutes": (time.time() - started) / 60,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(SETTINGS), help="comma-separated settings")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "grpo-regime")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        sys.exit(f"unknown setting(s) {unknown}; known: {', '.join(SETTINGS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    plan = [(n, s) for n in names for s in seeds]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda ns: run(ns[0], ns[1], args.out, threads), plan))
    print(
        "| setting | seed | steps | greedy step 0 | greedy final | gain | sampled step 0 | sampled final | gain | minutes |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        g0, g1 = r["greedy"]
        s0, s1 = r["sampled"]
        sampled = (
            f"{s0:.3f} | {s1:.3f} | {s1 - s0:+.3f}" if s0 is not None and s1 is not None else "- | - | -"
        )
        print(
            f"| {r['setting']} | {r['seed']} | {r['steps']} | {g0:.3f} | {g1:.3f} | {g1 - g0:+.3f} | "
            f"{sampled} | {r['minutes']:.1f} |"
        )


if __name__ == "__main__":
    main()
