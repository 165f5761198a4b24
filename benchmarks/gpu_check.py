"""A GPU check of dumpcli with nothing downloaded: a ~100M-parameter Qwen2-style model built from a
config (the tiny word tokenizer of the data), bf16, the bench v2 mixture (recipes/bench-cpu.yaml),
then on the same warm start:
  1. `dump train` with `ucb`, periodic evaluation every `--eval-every` steps (step 0 included);
  2. plain TRL `GRPOTrainer`, same data, model and GRPOConfig (no curriculum, no evaluation);
  3. `dump train` with `ucb` and a LoRA adapter.
Prints one table: median step time (steps with an evaluation or a checkpoint left out), ratio to
TRL, greedy eval accuracy at step 0 and at the end, peak GPU memory, parameters. The numbers also go
to OUT/gpu_check.json.

    python benchmarks/gpu_check.py                      # one GPU: 30 steps of each (minutes)
    OMP_NUM_THREADS=1 python benchmarks/gpu_check.py --cpu --tiny   # smoke test on CPU (tiny model, 4 steps)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from trl_baseline import StepClock, train_plain_trl

from dumpcli.recipe import load_recipe
from dumpcli.run_folder import read_evals
from dumpcli.train.run import train

RECIPE = Path(__file__).parent.parent / "recipes" / "bench-cpu.yaml"
# ~99M parameters: 12 layers x (4 x 768^2 attention + 3 x 768 x 2560 MLP), the embeddings are small
MODEL_100M = "model.tiny={hidden_size: 768, num_layers: 12, num_heads: 12, intermediate_size: 2560}"
LORA = "model.lora={r: 16, alpha: 32, target_modules: all-linear}"


def overrides(args: argparse.Namespace, out: Path) -> list[str]:
    sets = [
        f"output_dir={out}",
        f"train.grpo.max_steps={args.steps}",
        f"train.save_steps={args.steps}",
        "train.eval_every=0",
    ]
    if args.tiny:  # the recipe's own tiny model, smaller batches and evaluation: seconds per step on CPU
        sets += [
            "warmup.steps=10",
            "train.grpo.per_device_train_batch_size=16",
            "eval.max_per_distribution=4",
            "eval.sampled=null",
        ]
    else:
        sets += [MODEL_100M, "warmup.learning_rate=5.0e-4"]
    if args.cpu:
        sets += ["train.grpo.use_cpu=true", "train.grpo.bf16=false"]
    else:
        sets += ["train.grpo.bf16=true"]
    return sets


def peak_memory_gib(cpu: bool) -> float | None:
    if cpu or not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 2**30


def reset_peak(cpu: bool) -> None:
    if not cpu and torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def params(model: Any) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


class ParamCount(StepClock):
    """The step clock, plus the trained model's parameter counts (taken at the start of training)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: tuple[int, int] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        super().on_train_begin(args, state, control, **kwargs)
        if kwargs.get("model") is not None:
            self.counts = params(kwargs["model"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=None, help="GRPO steps per run (30; --tiny: 4)")
    parser.add_argument("--eval-every", type=int, default=None, help="(10; --tiny: 2)")
    parser.add_argument("--cpu", action="store_true", help="run on CPU (no GPU check: a smoke test)")
    parser.add_argument("--tiny", action="store_true", help="the recipe's tiny model, small batches")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a new temporary one)")
    args = parser.parse_args()
    args.steps = args.steps or (4 if args.tiny else 30)
    args.eval_every = args.eval_every or (2 if args.tiny else 10)
    if not args.cpu and not torch.cuda.is_available():
        raise SystemExit("no GPU here: run with --cpu --tiny for the CPU smoke test")
    console = Console(width=max(Console().width, 150))  # one table, unwrapped
    work = args.out or Path(tempfile.mkdtemp(prefix="dump-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    device = "cpu" if args.cpu else torch.cuda.get_device_name(0)
    # data and warm start (cached by their settings) first, outside every timing
    started = time.perf_counter()
    train(load_recipe(RECIPE, [*overrides(args, work / "prep"), "train.grpo.max_steps=1"]), console=console)
    prep_seconds = time.perf_counter() - started

    runs = {
        "dumpcli ucb + eval": [
            "train.scheduler={name: ucb, window: 300, exploration: 1.0, temperature: 0.1}",
            f"train.eval_every={args.eval_every}",
        ],
        "TRL GRPOTrainer": [],
        "dumpcli ucb + LoRA": ["train.scheduler={name: ucb}", LORA, f"train.eval_every={args.eval_every}"],
    }
    rows: list[dict[str, Any]] = []
    for name, extra in runs.items():
        out = work / name.replace(" ", "-").replace("+", "").replace("--", "-")
        recipe = load_recipe(RECIPE, [*overrides(args, out), *extra])
        clock = ParamCount()
        reset_peak(args.cpu)
        began = time.perf_counter()
        if name.startswith("TRL"):
            train_plain_trl(recipe, out, [clock], console)
        else:
            train(recipe, console=console, callbacks=[clock])
        wall = time.perf_counter() - began
        every = recipe.train.eval_every
        leave_out = {s for s in range(1, args.steps + 1) if every and s % every == 0} | {args.steps}
        steps = clock.step_seconds(skip=1, leave_out=leave_out)
        evals = read_evals(out) if every else []
        total, trainable = clock.counts or (0, 0)
        rows.append(
            {
                "run": name,
                "steps": args.steps,
                "timed_steps": len(steps),
                "median_step_s": statistics.median(steps) if steps else None,
                "wall_s": wall,
                "eval_steps": [e["step"] for e in evals],
                "accuracy_first": evals[0]["mean_accuracy"] if evals else None,
                "accuracy_last": evals[-1]["mean_accuracy"] if evals else None,
                "peak_gib": peak_memory_gib(args.cpu),
                "params": total,
                "trainable": trainable,
                "mean_completion_length": statistics.mean(clock.mean_lengths(1, leave_out))
                if steps
                else None,
            }
        )
    trl = next(r for r in rows if r["run"].startswith("TRL"))["median_step_s"]
    table = Table(
        title=f"dumpcli GPU check on {device} ({'fp32' if args.cpu else 'bf16'}, {args.steps} GRPO steps a run)"
    )
    for col in (
        "run",
        "median step (s)",
        "vs TRL",
        "eval acc 0 -> last",
        "peak mem (GiB)",
        "params (trainable)",
        "mean len",
        "wall (s)",
    ):
        table.add_column(col, justify="left" if col == "run" else "right")
    for r in rows:
        step = r["median_step_s"]
        table.add_row(
            r["run"],
            f"{step:.3f}" if step else "-",
            f"{step / trl:.3f}" if step and trl else "-",
            f"{r['accuracy_first']:.3f} -> {r['accuracy_last']:.3f} ({len(r['eval_steps'])})"
            if r["eval_steps"]
            else "-",
            f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "-",
            f"{r['params'] / 1e6:.1f}M ({r['trainable'] / 1e6:.2f}M)",
            f"{r['mean_completion_length']:.1f}" if r["mean_completion_length"] else "-",
            f"{r['wall_s']:.0f}",
        )
    console.print(table)
    console.print(
        f"data + warm start (cached afterwards): {prep_seconds:.0f} s; torch {torch.__version__}; work folder {work}"
    )
    summary = {"device": device, "torch": torch.__version__, "cpu": args.cpu, "tiny": args.tiny, "runs": rows}
    (work / "gpu_check.json").write_text(json.dumps(summary, indent=2))
    for r in rows:
        if not r["timed_steps"]:
            console.print(f"[yellow]{r['run']}: no step could be timed (--steps too small for --eval-every)")


if __name__ == "__main__":
    main()
