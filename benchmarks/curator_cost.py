"""Cost of the Actor-Curator calls the trainer makes per generation step (issue 6).

A bank of knights-and-knaves prompts (built-in generator, 3..8 people, the `think_answer` template: the
system instructions + the puzzle, ~220 words) stands in for the train split. Per step:
  select():             score a pool of `--pool` candidates and draw `--n` of them
                        (cold = none of the pool's features cached yet; warm = all cached)
  update_improvement(): one bandit update on the `--n` draws (`update_steps` Adam steps)
  policy_improvement(): u for `--n` prompts x `--group` completions of `--tokens` tokens
and the size of the saved state (torch.save). Torch runs with `--threads` intra-op threads (default
1: the curator is too small to gain from more, and a busy trainer has none to spare).

    python benchmarks/curator_cost.py                  # pool 2048, n 256, group 8, 1024 tokens
    python benchmarks/curator_cost.py --text user      # the puzzle text only (~150 words)
"""

from __future__ import annotations

import argparse
import io
import platform
import random
import statistics
import subprocess
import time

import numpy as np
import torch

from dumpcli.data.templates import render
from dumpcli.puzzles.registry import get_family
from dumpcli.schedulers import registry
from dumpcli.schedulers.curator import Candidate, policy_improvement


def bank(size: int, text: str, seed: int) -> list[Candidate]:
    family = get_family("knights_knaves")
    rnd = random.Random(seed)
    out = []
    for i in range(size):
        people = 3 + i % 6
        messages = render("think_answer", family.generate(people, rnd)["question"])
        body = "\n".join(m["content"] for m in messages) if text == "all" else messages[-1]["content"]
        out.append(Candidate(f"kk{i:05d}", body, "kk", str(people), f"kk/{people}"))
    return out


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:,.1f} (min {min(values) * 1e3:,.1f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bank", type=int, default=6000)
    ap.add_argument("--pool", type=int, default=2048)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--text", choices=["all", "user"], default="all")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    problems = bank(args.bank, args.text, 0)
    words = statistics.mean(len(c.text.split()) for c in problems)
    dists = [f"kk/{p}" for p in range(3, 9)]
    cur = registry.build("curator", dists, seed=0, sizes=[args.bank // 6] * 6, warmup_steps=0)
    rng = np.random.default_rng(0)

    cold, warm, upd = [], [], []
    # cold: each pool is new problems (the bank is cycled through once, nothing cached)
    order = rng.permutation(len(problems))
    for start in range(0, len(problems) - args.pool + 1, args.pool):
        pool = [problems[i] for i in order[start : start + args.pool]]
        t = time.perf_counter()
        cur.select(pool, args.n, rng)
        cold.append(time.perf_counter() - t)
    for _ in range(args.reps):
        pool = [problems[i] for i in rng.integers(0, len(problems), size=args.pool)]
        t = time.perf_counter()
        idx, q = cur.select(pool, args.n, rng)
        warm.append(time.perf_counter() - t)
        u = rng.normal(0.0, 0.05, size=args.n)
        t = time.perf_counter()
        cur.update_improvement([pool[i] for i in idx], q, u)
        upd.append(time.perf_counter() - t)

    b = args.n * args.group
    old = -torch.rand(b, args.tokens) * 3
    new = old + torch.randn(b, args.tokens) * 0.01
    mask = (torch.arange(args.tokens)[None, :] < torch.randint(1, args.tokens + 1, (b, 1))).int()
    adv = torch.randn(b)
    pi = []
    for _ in range(args.reps):
        t = time.perf_counter()
        policy_improvement(old, new, mask, adv, args.group)
        pi.append(time.perf_counter() - t)
    buf = io.BytesIO()
    torch.save(cur.state_dict(), buf)

    try:
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if "Model name" in ln), "?")
    except OSError:
        model = platform.processor() or "?"
    print(
        f"machine: {model}; python {platform.python_version()}, torch {torch.__version__}, threads {args.threads}"
    )
    print(
        f"bank {args.bank} problems, mean {words:.0f} words/prompt ({args.text}); pool {args.pool}, n {args.n}"
    )
    print("| call | ms median (min) |\n|---|---:|")
    print(f"| select(), pool {args.pool}, features not cached | {ms(cold)} |")
    print(f"| select(), pool {args.pool}, features cached | {ms(warm)} |")
    print(f"| update_improvement(), {args.n} draws | {ms(upd)} |")
    print(f"| policy_improvement(), {b} x {args.tokens} tokens | {ms(pi)} |")
    print(f"state_dict: {buf.tell() / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
