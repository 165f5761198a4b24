"""Step time of `dump train --scheduler uniform` against plain TRL `GRPOTrainer`: what dumpcli's
trainer hooks, curriculum and logs cost on top of TRL, with the same model, data and GRPO config.

Rounds are interleaved (dumpcli, TRL, dumpcli, TRL, ...) so machine noise hits both alike. A step's
time is the wall clock from the end of the previous step to the end of this one (StepClock), the
first `--skip` steps and the last (dumpcli saves its final checkpoint there) left out. Reports the
median step time of each and the ratio dumpcli / TRL (goal: at most 1.02).

    OMP_NUM_THREADS=1 python benchmarks/vs_trl.py [--recipe recipes/bench-cpu.yaml] [--steps 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path

import torch
from rich.console import Console
from trl_baseline import StepClock, train_plain_trl

from dumpcli.recipe import load_recipe
from dumpcli.train.run import train


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", default=str(Path(__file__).parent.parent / "recipes" / "bench-cpu.yaml"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", type=int, default=1, help="first steps left out of the timing")
    parser.add_argument("--set", action="append", default=[], help="recipe overrides for both")
    args = parser.parse_args()
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="dump-vs-trl-"))
    common = [*args.set, f"train.grpo.max_steps={args.steps}", "train.eval_every=0"]
    # data and warm start are shared and cached: built once outside the timing
    train(
        load_recipe(args.recipe, [*common, "train.grpo.max_steps=1", f"output_dir={work / 'prep'}"]),
        console=console,
    )
    times: dict[str, list[float]] = {"dumpcli": [], "trl": []}
    lengths: dict[str, list[float]] = {"dumpcli": [], "trl": []}
    leave_out = {args.steps}
    for round_ in range(args.rounds):
        for name in ("dumpcli", "trl"):
            out = work / f"{name}-{round_}"
            recipe = load_recipe(
                args.recipe, [*common, "train.scheduler={name: uniform}", f"output_dir={out}"]
            )
            clock = StepClock()
            if name == "dumpcli":
                train(recipe, console=console, callbacks=[clock])
            else:
                train_plain_trl(recipe, out, [clock], console)
            steps = clock.step_seconds(args.skip, leave_out)
            times[name].extend(steps)
            lengths[name].extend(clock.mean_lengths(args.skip, leave_out))
            console.print(
                f"round {round_} {name}: median {statistics.median(steps) * 1000:.0f} ms over {len(steps)} steps"
            )
    med = {k: statistics.median(v) for k, v in times.items()}
    console.print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    )
    for k, v in times.items():
        console.print(
            f"{k:8s} median step {med[k] * 1000:.1f} ms over {len(v)} steps (min {min(v) * 1000:.1f})"
        )
    console.print(
        f"ratio dumpcli uniform / TRL GRPOTrainer = {med['dumpcli'] / med['trl']:.3f} (median step time)"
    )
    # the prompts differ (each draws its own), and so do the completions' lengths: per token too
    per_token = {k: sum(times[k]) / sum(lengths[k]) for k in times}
    for k in times:
        console.print(f"{k:8s} mean completion length {statistics.mean(lengths[k]):.2f} tokens")
    console.print(
        f"ratio per completion token (sum of step times / sum of mean lengths) = {per_token['dumpcli'] / per_token['trl']:.3f}"
    )


if __name__ == "__main__":
    main()
