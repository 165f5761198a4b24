"""Cost of `train.rollouts`' bookkeeping (history, skip decisions, knapsack, regrouping, its step log)
as a share of a training step, measured inside the same runs (rollouts/seconds over the step's
compute/seconds), so machine noise cancels out of the ratio.

    python benchmarks/rollouts_overhead.py --steps 20 [--recipe recipes/quickstart.yaml]

Each method trains `--steps` GRPO steps of the recipe with the uniform scheduler and no evaluation,
in a temporary folder; the first 2 steps are left out (warm-up).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

METHODS = ("none", "skip", "screen", "budget")


def step_lines(out: Path) -> list[dict]:
    lines = [orjson.loads(x) for x in (out / "train_log.jsonl").read_bytes().splitlines() if x.strip()]
    return [x for x in lines if "loss" in x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="recipes/quickstart.yaml")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print("| method | steps timed | step seconds (mean) | rollouts seconds (mean) | share of a step |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for method in METHODS:
            out = Path(tmp) / method
            cmd = [
                sys.executable, "-m", "dumpcli", "train", args.recipe, "--scheduler", "uniform",
                "--set", f"output_dir={out}", "--set", f"train.grpo.max_steps={args.steps}",
                "--set", "train.eval_every=0", "--set", f"train.save_steps={args.steps}",
                "--set", f"train.rollouts.method={method}",
            ]  # fmt: skip
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            lines = step_lines(out)[2:]
            spent = [b["compute/seconds"] - a["compute/seconds"] for a, b in zip(lines, lines[1:], strict=False)]
            book = [x["rollouts/seconds"] for x in lines[1:]]
            step, cost = sum(spent) / len(spent), sum(book) / len(book)
            print(f"| {method} | {len(spent)} | {step:.3f} | {cost * 1000:.2f} ms | {cost / step:.2%} |")


if __name__ == "__main__":
    main()
