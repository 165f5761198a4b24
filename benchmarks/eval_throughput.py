"""Evaluation throughput: completions per second of `dump eval`'s HF generation, batched (prompts
sorted by length, left-padded, `--batch-size` per batch) against one prompt at a time, with the same
checkpoint and the same prompts in one process.

Default checkpoint: the recipe's starting policy (for recipes/quickstart.yaml the tiny model after
its SFT warm start, which writes the answer format and stops at EOS like a trained policy does),
built on first use into a temporary output dir and the warm-start cache (`DUMP_CACHE_DIR`).
Greedy decoding, `--max-new-tokens` (default: the recipe's eval.max_new_tokens). Each mode runs
once untimed on a few prompts (allocator and kernel warm-up), then `--reps` timed passes over all
prompts; reported: best and median completions/s, and how many completions the two modes agree on.

    python benchmarks/eval_throughput.py                               # quickstart, 100 prompts
    python benchmarks/eval_throughput.py --checkpoint runs/quickstart/checkpoint-40 --prompts 200
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from dumpcli.data.ensure import ensure_prepared
from dumpcli.data.prepared import load_split
from dumpcli.evaluate import hf_sampler, render_prompts, select_rows
from dumpcli.model import load_pretrained
from dumpcli.recipe import load_recipe
from dumpcli.train.warmup import prepare_policy

ROOT = Path(__file__).resolve().parent.parent


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "quickstart.yaml"))
    ap.add_argument("--checkpoint", default=None, help="model dir (default: the recipe's warm start)")
    ap.add_argument("--prompts", type=int, default=100, help="test prompts, spread over the distributions")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    console = Console(stderr=True)

    with tempfile.TemporaryDirectory(prefix="eval-bench-") as tmp:
        recipe = load_recipe(args.recipe, [f"output_dir={tmp}/out"])
        if args.max_new_tokens is not None:
            recipe.eval.max_new_tokens = args.max_new_tokens
        manifest = ensure_prepared(recipe, console)
        order = [d["name"] for d in manifest["distributions"]]
        test = load_split(recipe, "test")
        rows = select_rows(test, math.ceil(args.prompts / len(order)), order)[: args.prompts]
        checkpoint = args.checkpoint or prepare_policy(recipe, load_split(recipe, "train"), test, console)
        model, tokenizer = load_pretrained(checkpoint, recipe)
        model.eval()
        prompts = render_prompts(tokenizer, rows)

        modes = {
            f"batched ({args.batch_size})": recipe.eval.model_copy(update={"batch_size": args.batch_size}),
            "one at a time": recipe.eval.model_copy(update={"batch_size": 1}),
        }
        results: dict[str, dict] = {}
        for name, spec in modes.items():
            sample = hf_sampler(model, tokenizer, spec)
            sample(prompts[: min(4, len(prompts))])  # warm-up, untimed
            times, outputs = [], None
            for _ in range(args.reps):
                start = time.perf_counter()
                outputs = sample(prompts)
                times.append(time.perf_counter() - start)
            assert outputs is not None
            lengths = [length for out in outputs for _, length in out]
            results[name] = {
                "best": len(prompts) / min(times),
                "median": len(prompts) / statistics.median(times),
                "seconds": min(times),
                "mean_length": sum(lengths) / len(lengths),
                "at_budget": sum(length >= spec.max_new_tokens for length in lengths) / len(lengths),
                "texts": [out[0][0] for out in outputs],
            }

    batched, single = results.values()
    agree = sum(a == b for a, b in zip(batched["texts"], single["texts"], strict=True))
    print(f"checkpoint: {checkpoint}")
    print(
        f"{len(prompts)} prompts ({', '.join(order)}), greedy, max_new_tokens {recipe.eval.max_new_tokens}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_name()}, Python {sys.version.split()[0]}"
    )
    print()
    print(
        "| mode | completions/s (best) | completions/s (median) | seconds (best) | mean length | at max length |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['best']:.1f} | {r['median']:.1f} | {r['seconds']:.2f} | "
            f"{r['mean_length']:.1f} | {r['at_budget']:.0%} |"
        )
    print()
    print(
        f"speed-up batched / one at a time: {batched['best'] / single['best']:.1f}x (best), "
        f"{batched['median'] / single['median']:.1f}x (median); identical completions: {agree}/{len(prompts)}"
    )


if __name__ == "__main__":
    main()
