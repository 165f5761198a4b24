"""Step time of `dump train` with the `ucb` scheduler vs `uniform`, same recipe, same process.

Runs are interleaved (uniform, ucb, uniform, ucb, ...) so machine noise hits both alike, and the
per-step times come from TRL's own `step_time` metric (generation + scoring + update), skipping
the first steps (warm-up of allocators and caches). Reports the median step time of each and the
ratio ucb / uniform.

    python benchmarks/train_overhead.py [--recipe recipes/quickstart.yaml] [--steps 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path

import orjson
from rich.console import Console

from dumpcli.recipe import load_recipe
from dumpcli.train.run import train


def step_times(run_dir: Path, skip: int) -> list[float]:
    lines = [orjson.loads(x) for x in (run_dir / "train_log.jsonl").read_bytes().splitlines()]
    return [float(x["step_time"]) for x in lines if "step_time" in x and x["step"] > skip]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", default=str(Path(__file__).parent.parent / "recipes" / "quickstart.yaml"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip", type=int, default=2, help="first steps left out of the timing")
    args = parser.parse_args()
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="dump-overhead-"))
    times: dict[str, list[float]] = {"uniform": [], "ucb": []}
    for round_ in range(args.rounds):
        for name in ("uniform", "ucb"):
            out = work / f"{name}-{round_}"
            recipe = load_recipe(
                args.recipe,
                [
                    f"train.scheduler={{name: {name}}}",
                    f"train.grpo.max_steps={args.steps}",
                    "train.eval_every=0",
                    f"output_dir={out}",
                ],
            )
            if round_ == 0 and name == "uniform":
                # data and warm start are shared and cached: build them outside the timing
                recipe_ = load_recipe(args.recipe, [f"output_dir={work / 'prep'}", "train.grpo.max_steps=1"])
                train(recipe_, console=console)
            train(recipe, console=console)
            times[name].extend(step_times(out, args.skip))
    med = {k: statistics.median(v) for k, v in times.items()}
    console.print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    for k, v in times.items():
        console.print(f"{k:8s} median step {med[k] * 1000:.1f} ms over {len(v)} steps")
    console.print(f"ratio ucb / uniform = {med['ucb'] / med['uniform']:.3f}")


if __name__ == "__main__":
    main()
