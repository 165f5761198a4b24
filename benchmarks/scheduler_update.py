"""Cost of one scheduler step (update with a batch of feedback + probabilities) vs number of distributions.

A batch is 2048 feedback items. Two layouts:
  groups: 128 prompts x 16 completions, each prompt's distribution drawn uniformly (a real GRPO step)
  items:  2048 independent uniform draws (spreads the batch over as many distributions as possible)

Each (scheduler, k, layout) runs `--warmup` untimed steps, then `--reps` timed steps on fresh
pre-built batches, garbage collector off (as timeit does); reported: median and minimum microseconds
per step (update + probabilities; the minimum is the least noisy figure on a shared machine), and the
median of update alone. Building Feedback objects is not timed; the "(read feedback only)" rows time just turning
the 2048 Feedback objects into (distribution index, advantage) arrays, the Python-level floor of any update.

    python benchmarks/scheduler_update.py                    # all schedulers, k = 10, 1000, 100000
    python benchmarks/scheduler_update.py --k 1000 --schedulers ucb --reps 200
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import subprocess
import time

import numpy as np

from dumpcli.schedulers import registry
from dumpcli.schedulers._common import feedback_arrays
from dumpcli.schedulers.base import Feedback


def make_batches(k: int, n_batches: int, layout: str, seed: int) -> tuple[list[str], list[list[Feedback]]]:
    rng = np.random.default_rng(seed)
    names = [f"src/{i}" for i in range(k)]
    batches = []
    for _ in range(n_batches):
        if layout == "groups":
            dists = np.repeat(rng.integers(k, size=128), 16)
        else:
            dists = rng.integers(k, size=2048)
        success = (rng.random(2048) < 0.5).astype(float)
        adv = rng.normal(size=2048)
        batches.append(
            [
                Feedback(names[d], f"p{j // 16}", float(s), float(a), float(s))
                for j, (d, s, a) in enumerate(
                    zip(dists.tolist(), success.tolist(), adv.tolist(), strict=True)
                )
            ]
        )
    return names, batches


# options a scheduler cannot run without (a mixture, a step budget)
REQUIRED = {
    "weights": {"weights": {"src/1*": 2.0, "src/2": 3.0, "*": 1.0}},
    "schedule": {"schedule": "gaussian", "total_steps": 1000},
}


def bench(name: str, k: int, layout: str, warmup: int, reps: int) -> tuple[float, float, float]:
    names, batches = make_batches(k, warmup + reps, layout, seed=k)
    options = REQUIRED.get(name, {})
    sched = registry.build(name, names, seed=0, sizes=list(range(1, k + 1)), **options)
    for fb in batches[:warmup]:
        sched.update(fb)
        sched.probabilities()
    step, upd = [], []
    gc.collect()
    gc.disable()  # as timeit does: no collector pauses over the ~100k live Feedback objects
    for fb in batches[warmup:]:
        t0 = time.perf_counter()
        sched.update(fb)
        t1 = time.perf_counter()
        p = sched.probabilities()
        t2 = time.perf_counter()
        assert abs(p.sum() - 1.0) < 1e-9
        step.append(t2 - t0)
        upd.append(t1 - t0)
    gc.enable()
    return statistics.median(step) * 1e6, min(step) * 1e6, statistics.median(upd) * 1e6


def bench_read(k: int, layout: str, reps: int) -> tuple[float, float]:
    """The floor every scheduler pays: reading 2048 Feedback objects into (index, advantage) arrays."""
    names, batches = make_batches(k, reps, layout, seed=k)
    sched = registry.build("uniform", names)
    times = []
    gc.collect()
    gc.disable()
    for fb in batches:
        t0 = time.perf_counter()
        feedback_arrays(sched, fb, "advantage")
        times.append(time.perf_counter() - t0)
    gc.enable()
    return statistics.median(times) * 1e6, min(times) * 1e6


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    import os

    return (
        f"{model}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, numpy {np.__version__}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--schedulers",
        default="uniform,proportional,ucb,sequential,sec,learnability,exp3,weights,schedule,pools",
    )
    ap.add_argument("--k", default="10,1000,100000", help="comma-separated numbers of distributions")
    ap.add_argument("--layouts", default="groups,items")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--reps", type=int, default=40)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"batch: 2048 feedback items; warmup {args.warmup}, reps {args.reps}; microseconds")
    print()
    print("| scheduler | k | layout | step median (us) | step min (us) | update only, median (us) |")
    print("|---|---:|---|---:|---:|---:|")
    for k in (int(x) for x in args.k.split(",")):
        for layout in args.layouts.split(","):
            med, best = bench_read(k, layout, args.reps)
            print(
                f"| (read feedback only) | {k} | {layout} | {med:,.0f} | {best:,.0f} | {med:,.0f} |",
                flush=True,
            )
    for name in args.schedulers.split(","):
        for k in (int(x) for x in args.k.split(",")):
            for layout in args.layouts.split(","):
                med, best, upd = bench(name, k, layout, args.warmup, args.reps)
                print(f"| {name} | {k} | {layout} | {med:,.0f} | {best:,.0f} | {upd:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
