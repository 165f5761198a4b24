"""Step time of `dump train` with each curriculum method vs `uniform`, same recipe, same process.

Runs are interleaved (uniform, ucb, uniform, ucb, ...) so machine noise hits both alike, and the
per-step times are wall-clock per optimizer step from the trainer's own log (generation, scoring,
update, and for the curator its pool scoring, re-scoring and bandit update), skipping the first
steps (warm-up of allocators and caches). Reports the median step time of each and its ratio to
uniform.

    python benchmarks/train_overhead.py [--recipe recipes/quickstart.yaml] [--steps 20] [--rounds 2]
        [--schedulers uniform,ucb,curator,weights,schedule,pools,thompson,ucb-ds]

A name is a scheduler with its default options, or one of VARIANTS (a scheduler that needs options,
or a scheduler with dynamic sampling), or a variant of the recipe's `compare.variants`. For dynamic
sampling the cost is mostly extra generation: the generation rounds per step are reported too.
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

# methods that need settings to run: a uniform hand mixture, and UCB with DAPO's dynamic sampling
VARIANTS = {
    "weights": ['train.scheduler={name: weights, weights: {"*": 1}}'],
    "ucb-ds": ["train.scheduler={name: ucb}", "train.filter={zero_variance: drop, max_rounds: 4}"],
}


def overrides_for(recipe_path: str, name: str) -> list[str]:
    variants = load_recipe(recipe_path).compare.variants
    if name in variants:
        v = variants[name]
        out = [f"train.scheduler={orjson.dumps(v.scheduler.model_dump()).decode()}"]
        if v.filter is not None:
            out.append(f"train.filter={orjson.dumps(v.filter.model_dump(mode='json')).decode()}")
        return out
    return VARIANTS.get(name, [f"train.scheduler={{name: {name}}}"])


def generation_rounds(run_dir: Path, skip: int) -> list[float]:
    lines = [orjson.loads(x) for x in (run_dir / "train_log.jsonl").read_bytes().splitlines()]
    return [x.get("filter/rounds", 1.0) for x in lines if "loss" in x and x["step"] > skip + 1]


def curriculum_seconds(run_dir: Path, skip: int) -> list[float]:
    """The trainer's own per-step measurement of the curriculum's work (draw, update, curator)."""
    lines = [orjson.loads(x) for x in (run_dir / "train_log.jsonl").read_bytes().splitlines()]
    return [x["curriculum/seconds"] for x in lines if "curriculum/seconds" in x and x["step"] > skip + 1]


def step_times(run_dir: Path, skip: int) -> list[float]:
    """Wall-clock seconds between consecutive step logs (logging_steps = 1): everything a step
    costs, callbacks included (TRL's own `step_time` misses the curator's post-update work)."""
    lines = [orjson.loads(x) for x in (run_dir / "train_log.jsonl").read_bytes().splitlines()]
    stamps = {x["step"]: x["time"] for x in lines if "loss" in x}
    return [stamps[s] - stamps[s - 1] for s in sorted(stamps) if s > skip + 1 and s - 1 in stamps]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", default=str(Path(__file__).parent.parent / "recipes" / "quickstart.yaml"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip", type=int, default=2, help="first steps left out of the timing")
    parser.add_argument("--schedulers", default="uniform,ucb,curator")
    args = parser.parse_args()
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="dump-overhead-"))
    names = args.schedulers.split(",")
    times: dict[str, list[float]] = {name: [] for name in names}
    own: dict[str, list[float]] = {name: [] for name in names}
    rounds: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in names:
            out = work / f"{name}-{round_}"
            recipe = load_recipe(
                args.recipe,
                [
                    *overrides_for(args.recipe, name),
                    f"train.grpo.max_steps={args.steps}",
                    "train.eval_every=0",
                    f"output_dir={out}",
                ],
            )
            if round_ == 0 and name == names[0]:
                # data and warm start are shared and cached: build them outside the timing
                recipe_ = load_recipe(args.recipe, [f"output_dir={work / 'prep'}", "train.grpo.max_steps=1"])
                train(recipe_, console=console)
            train(recipe, console=console)
            times[name].extend(step_times(out, args.skip))
            own[name].extend(curriculum_seconds(out, args.skip))
            rounds[name].extend(generation_rounds(out, args.skip))
    med = {k: statistics.median(v) for k, v in times.items()}
    console.print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    for k, v in times.items():
        share = statistics.mean(own[k]) / statistics.mean(v)
        console.print(
            f"{k:8s} median step {med[k] * 1000:.1f} ms over {len(v)} steps; curriculum work "
            f"{statistics.mean(own[k]) * 1000:.1f} ms/step = {share:.2%} of the step; "
            f"{statistics.mean(rounds[k]):.2f} generation rounds/step"
        )
    for k in names[1:]:
        console.print(f"ratio {k} / {names[0]} = {med[k] / med[names[0]]:.3f}")


if __name__ == "__main__":
    main()
