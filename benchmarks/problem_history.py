"""Memory and speed of the shared per-problem history (`ProblemHistory`) against the dicts keyed by
id strings that thompson (alpha and beta) and problem_pools (score) kept before issue 19.

For each number of problems N: fill (every problem visited once, in updates of 2048 completions of
2048 problems, one each: what is kept per problem does not depend on the group size, and the fill
of 1M problems stays short; the ids are formatted afresh each update, as the trainer's feedback
is), measuring with tracemalloc the memory retained after the fill and the peak during it. Then, tracemalloc off and
the garbage collector off, median milliseconds of:
  update (seen)   one update of 2048 completions (256 problems already seen x 8)
  update (new)    one update of 2048 completions, 256 problems never seen x 8 (the history inserts
                  256 keys into its sorted index: O(N) copying)
  lookup          the statistics of 2048 ids (thompson's posteriors, problem_pools' scores)
The "old" rows run the pre-issue-19 code's loops (copied here), on the same updates.

    python benchmarks/problem_history.py                        # N = 1k, 100k, 1M
    python benchmarks/problem_history.py --sizes 1000 --reps 20
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence

import numpy as np

from dumpcli.schedulers.history import ProblemHistory

GROUPS, GROUP_SIZE = 256, 8


def ids_of(numbers: np.ndarray, group_size: int = GROUP_SIZE) -> list[str]:
    """Fresh id strings, each repeated for its group (as a round of feedback carries them)."""
    return [f"src{n % 9}/{n:07d}" for n in np.repeat(numbers, group_size).tolist()]


class OldThompson:
    """thompson.py before issue 19: two dicts keyed by problem id."""

    def __init__(self, decay: float = 1.0, a0: float = 1.0, b0: float = 1.0) -> None:
        self.alpha: dict[str, float] = {}
        self.beta: dict[str, float] = {}
        self.decay, self.a0, self.b0 = decay, a0, b0

    def update(self, ids: Sequence[str], success: np.ndarray) -> None:
        counts: dict[str, tuple[float, int]] = {}  # successes_by_problem
        for pid, ok in zip(ids, success.tolist(), strict=True):
            s, k = counts.get(pid, (0.0, 0))
            counts[pid] = (s + ok, k + 1)
        d = self.decay
        for pid, (s, k) in counts.items():
            a, b = self.alpha.get(pid, self.a0), self.beta.get(pid, self.b0)
            self.alpha[pid] = d * a + (1.0 - d) * self.a0 + s
            self.beta[pid] = d * b + (1.0 - d) * self.b0 + (k - s)

    def lookup(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        a, b = zip(*((self.alpha.get(p, self.a0), self.beta.get(p, self.b0)) for p in ids), strict=True)
        return np.asarray(a), np.asarray(b)


class OldPools:
    """problem_pools.py before issue 19: one dict, problem id -> latest group-mean success."""

    def __init__(self) -> None:
        self.score: dict[str, float] = {}

    def update(self, ids: Sequence[str], success: np.ndarray) -> None:
        counts: dict[str, tuple[float, int]] = {}
        for pid, ok in zip(ids, success.tolist(), strict=True):
            s, k = counts.get(pid, (0.0, 0))
            counts[pid] = (s + ok, k + 1)
        for pid, (s, k) in counts.items():
            self.score[pid] = s / k

    def lookup(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        score = np.fromiter((self.score.get(p, 0.0) for p in ids), np.float64, len(ids))
        seen = np.fromiter((p in self.score for p in ids), bool, len(ids))
        return score, seen


class New:
    """The shared history, as thompson and problem_pools use it."""

    def __init__(self) -> None:
        self.history = ProblemHistory()

    def update(self, ids: Sequence[str], success: np.ndarray) -> None:
        self.history.update(ids, success)

    def lookup(self, ids: Sequence[str]) -> object:
        return self.history.get(ids)


METHODS: dict[str, Callable[[], object]] = {
    "ProblemHistory": New,
    "old thompson (2 dicts)": OldThompson,
    "old problem_pools (1 dict)": OldPools,
}


def median_ms(fn: Callable[[int], None], reps: int) -> float:
    gc.disable()
    try:
        times = []
        for i in range(reps):
            start = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - start)
    finally:
        gc.enable()
    return 1e3 * statistics.median(times)


def run(name: str, n: int, reps: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    success = [(rng.random(GROUPS * GROUP_SIZE) < 0.4).astype(float) for _ in range(8)]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    method = METHODS[name]()
    started = time.perf_counter()
    for r, start in enumerate(range(0, n, GROUPS * GROUP_SIZE)):
        chunk = order[start : start + GROUPS * GROUP_SIZE]
        method.update(ids_of(chunk, 1), success[r % 8][: len(chunk)])
    fill = time.perf_counter() - started
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seen = [ids_of(rng.integers(n, size=GROUPS)) for _ in range(reps)]
    new = [ids_of(n + np.arange(i * GROUPS, (i + 1) * GROUPS)) for i in range(reps)]
    asked = [ids_of(rng.integers(n, size=GROUPS)) for _ in range(reps)]
    return {
        "retained_mb": (current - base) / 2**20,
        "bytes_per_problem": (current - base) / n,
        "peak_mb": (peak - base) / 2**20,
        "fill_s": fill,
        "update_seen_ms": median_ms(lambda i: method.update(seen[i], success[i % 8]), reps),
        "update_new_ms": median_ms(lambda i: method.update(new[i], success[i % 8]), reps),
        "lookup_ms": median_ms(lambda i: method.lookup(asked[i]), reps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,100000,1000000", help="numbers of problems")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma-separated, of: " + ", ".join(METHODS)
    )
    parser.add_argument("--reps", type=int, default=30, help="timed updates and lookups per measure")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"# {platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}")
    print(
        "| method | problems | retained (MB) | bytes / problem | peak during fill (MB) | fill (s, traced) "
        "| update, seen (ms) | update, 256 new (ms) | lookup 2048 ids (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    started = time.perf_counter()
    for n in [int(s) for s in args.sizes.split(",")]:
        for name in args.methods.split(","):
            r = run(name, n, args.reps, args.seed)
            print(
                f"| {name} | {n:,} | {r['retained_mb']:.2f} | {r['bytes_per_problem']:.0f} | {r['peak_mb']:.2f} "
                f"| {r['fill_s']:.1f} | {r['update_seen_ms']:.2f} | {r['update_new_ms']:.2f} | {r['lookup_ms']:.2f} |",
                flush=True,
            )
    print(f"# total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
