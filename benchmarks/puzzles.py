"""Puzzle generation and verification throughput (issue 3), one process = one core.

Measures:
- knights_knaves: distinct puzzles per second at 3, 8, 12 and 16 people (the `dump puzzles
  generate` path: generate, check uniqueness by exhaustive search, dedup by question text);
- verifier completions per second on one GRPO step's worth (2048) of realistic completions
  (about 1.5 KB of thinking plus the answer), best of `--verify-repeats` runs with caches
  emptied before each: knights_knaves `verify` with a new puzzle per completion (worst case for
  the per-puzzle cache), the TRL reward function on groups of 8 completions per puzzle (answers
  as JSON text, as in training), and the other verifiers;
- zebra and countdown puzzles per second per level;
- the slowest of a battery of hostile 1 MB / backtracking-bait completions, per verifier.

Usage: python benchmarks/puzzles.py [--quick] [--repeats 5] [--verify-repeats 15]
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from dumpcli.puzzles.commands import iter_rows
from dumpcli.puzzles.knights_knaves import NAMES, _compiled
from dumpcli.puzzles.registry import get_family, get_verifier
from dumpcli.puzzles.rewards import RewardFunction, decode_answer


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """Minimum CPU time of `repeats` runs. CPU time (not wall) is the per-core cost, and it is
    much less disturbed than wall time by other jobs on a shared machine. Caches are emptied
    before every run, so a repeat never profits from the previous one; the garbage collector is
    off while timing."""
    times = []
    for _ in range(repeats):
        _compiled.cache_clear()
        decode_answer.cache_clear()
        gc.collect()
        gc.disable()  # as timeit does: the collector's pauses depend on the whole process, not on us
        try:
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
        finally:
            gc.enable()
    return min(times)


def chunked_best(repeats: int, items: list[Any], run: Callable[[list[Any]], Any], chunk: int = 64) -> float:
    """CPU time of `run` over all items, as the sum over chunks of each chunk's best of `repeats`.
    Other jobs only ever add time; short chunks are more likely to catch an undisturbed slice."""
    best = [float("inf")] * ((len(items) + chunk - 1) // chunk)
    for _ in range(repeats):
        for k in range(len(best)):
            part = items[k * chunk : (k + 1) * chunk]
            best[k] = min(best[k], best_of(1, lambda p=part: run(p)))
    return sum(best)


def kk_completions(count: int, people: int, mixed: bool, seed: int = 0) -> tuple[list[str], list[dict]]:
    """Completions shaped like a model's: ~1.5 KB of thinking, then an answer. `mixed=False`: the
    prompt's own "(1) Zoey is a knight" lines, right or with one role flipped; `mixed=True`: also
    "Zoey is a knight, ...", "1. Zoey ...", a hedge, and a missing <think> (one fifth each)."""
    family = get_family("knights_knaves")
    rng = random.Random(seed)
    thinking = (
        "Let's think step by step, by considering whether each person is lying and if that leads to "
        "contradiction. Assume the first person is a knight. No contradiction is found in their claim. "
    ) * 8
    completions, answers = [], []
    for i in range(count):
        puzzle = family.generate(people, rng)
        right = puzzle["solution_text_format"]
        flipped = (
            right.replace("knight", "knave", 1) if "knight" in right else right.replace("knave", "knight", 1)
        )
        kind = i % 5 if mixed else i % 2 * 2
        answer = {
            0: right,
            1: puzzle["solution_text"],
            2: flipped,
            3: right + "\n(9) " + puzzle["names"][0] + " is a knave or a knight",
            4: right.replace("(1)", "1."),
        }[kind]
        text = f"<think>{thinking}</think>\n<answer>\n{answer}\n</answer>"
        completions.append(text if kind != 4 else text.replace("<think>", ""))
        answers.append(puzzle["answer"])
    return completions, answers


def bench_kk_generation(counts: dict[int, int], repeats: int) -> list[tuple[str, int, float]]:
    rows = []
    for people, n in counts.items():
        elapsed = best_of(repeats, lambda p=people, n=n: list(iter_rows("knights_knaves", p, n, seed=0)))
        rows.append((f"knights_knaves, {people} people", n, elapsed))
    return rows


def bench_verifiers(n: int, repeats: int) -> list[tuple[str, int, float]]:
    kk = get_verifier("knights_knaves")
    rows = []

    def verify_all(pairs: list[tuple[str, dict]]) -> None:
        for completion, answer in pairs:
            kk.verify(completion, answer)

    for mixed in (False, True):
        completions, answers = kk_completions(n, 8, mixed)
        fmt = "mixed formats" if mixed else "(k) lines"
        pairs = list(zip(completions, answers, strict=True))
        rows.append(
            (
                f"knights_knaves verify, 8 people, {fmt}, a new puzzle each",
                n,
                chunked_best(repeats, pairs, verify_all),
            )
        )
        # TRL scores num_generations completions of each prompt: 8 per distinct answer, JSON text
        reward = RewardFunction("dump")
        grouped = [(c, orjson.dumps(a).decode()) for c, a in pairs[: n // 8] for _ in range(8)]

        def score_all(batch: list[tuple[str, str]], r: RewardFunction = reward) -> None:
            r(
                [None] * len(batch),
                [c for c, _ in batch],
                [a for _, a in batch],
                ["knights_knaves"] * len(batch),
            )

        elapsed = chunked_best(repeats, grouped, score_all)
        rows.append((f"RewardFunction('dump'), 8 people, {fmt}, groups of 8", len(grouped), elapsed))

    c16, a16 = kk_completions(n // 4, 16, mixed=False, seed=1)
    elapsed = chunked_best(repeats, list(zip(c16, a16, strict=True)), verify_all)
    rows.append(("knights_knaves verify, 16 people, (k) lines, a new puzzle each", n // 4, elapsed))

    others: dict[str, tuple[str, Any]] = {
        "zebra": (
            "<think>x</think><answer>House 1: Alice, red, cat\nHouse 2: Bob, blue, dog\nHouse 3: Carol, green, fish</answer>",
            {
                "attributes": ["Name", "Color", "Pet"],
                "houses": [["Alice", "red", "cat"], ["Bob", "blue", "dog"], ["Carol", "green", "fish"]],
            },
        ),
        "countdown": (
            "<think>x</think><answer>(25 - 5) * 4 + 7</answer>",
            {"numbers": [25, 5, 4, 7], "target": 87},
        ),
        "exact": ("<think>x</think><answer> $\\boxed{1,000}$ </answer>", "1000"),
    }
    for name, (completion, answer) in others.items():
        verifier = get_verifier(name)

        def run(pairs: list[tuple[str, Any]], v: Any = verifier) -> None:
            for c, a in pairs:
                v.verify(c, a)

        rows.append((f"{name} verify", n // 4, chunked_best(repeats, [(completion, answer)] * (n // 4), run)))
    return rows


def bench_other_generators(n: int, repeats: int) -> list[tuple[str, int, float]]:
    rows = []
    for level in (3, 6, 9):
        count = max(1, n // (level * level))
        elapsed = best_of(repeats, lambda lv=level, c=count: list(iter_rows("zebra", lv, c, seed=0)))
        rows.append((f"zebra, difficulty {level}", count, elapsed))
    for level in (4, 8):
        elapsed = best_of(repeats, lambda lv=level: list(iter_rows("countdown", lv, n, seed=0)))
        rows.append((f"countdown, {level} numbers", n, elapsed))
    return rows


def bench_hostile() -> list[tuple[str, str, float]]:
    """Worst case over a battery of hostile inputs, per verifier (ms per completion)."""
    mb, k = 1_000_000, 19_000

    def wrap(block: str) -> str:
        return "<think>x</think><answer>" + block + "</answer>"

    inputs = {
        "1 MB of <think>": "<think>" * (mb // 7),
        "1 MB of '<'": "<" * mb,
        "1 MB answer block": wrap("Zoey is a knight " * (mb // 17)),
        "19 KB: name + spaces": wrap("zoey" + " " * k + "!"),
        "19 KB: 'zoey is a ' x1900": wrap("zoey is a " * (k // 10)),
        "19 KB: blank lines": wrap("\n" * k + "1"),
        "19 KB: '(' ": wrap("(" * k),
    }
    answers = {
        "knights_knaves": {"names": NAMES[:16], "solution": [True] * 16},
        "zebra": {"attributes": ["Name", "Pet"], "houses": [["Alice", "cat"], ["Bob", "dog"]]},
        "countdown": {"numbers": [1, 2, 3], "target": 6},
        "exact": "42",
    }
    rows = []
    for name, answer in answers.items():
        verifier = get_verifier(name)
        worst = max(
            (
                (best_of(3, lambda t=text, v=verifier, a=answer: v.verify(t, a)), label)
                for label, text in inputs.items()
            )
        )
        rows.append((name, worst[1], worst[0]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Smaller sizes (a smoke run).")
    parser.add_argument("--repeats", type=int, default=5, help="Timed runs of each generation row.")
    parser.add_argument("--verify-repeats", type=int, default=15, help="Timed runs of each verifier row.")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    print(f"machine: {cpu}; Python {platform.python_version()}; one process (one core); CPU time\n")

    print("| what | items | best CPU time (s) | items / s |")
    print("|---|---:|---:|---:|")
    gen = bench_kk_generation(
        {3: 1000 // scale, 8: 1000 // scale, 12: 1000 // scale, 16: 500 // scale}, args.repeats
    )
    # one GRPO step's worth of completions (DUMP: 128 prompts x 16), timed `verify_repeats` times
    for label, n, elapsed in gen + bench_verifiers(2048, args.verify_repeats):
        print(f"| {label} | {n:,} | {elapsed:.3f} | {n / elapsed:,.0f} |")
    for label, n, elapsed in bench_other_generators(200 // scale, 1 if args.quick else args.repeats):
        print(f"| {label} | {n:,} | {elapsed:.3f} | {n / elapsed:,.1f} |")

    print("\n| verifier | slowest hostile input | ms per completion |")
    print("|---|---|---:|")
    for name, label, elapsed in bench_hostile():
        print(f"| {name} | {label} | {elapsed * 1000:.1f} |")


if __name__ == "__main__":
    main()
