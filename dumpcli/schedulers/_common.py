"""Pieces shared by the schedulers: feedback -> arrays, per-distribution sliding windows, state checks.

Everything here is vectorised over the batch so that an update costs O(len(feedback)) numpy work
plus one Python pass to read the fields out of the `Feedback` objects (the dominant cost).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from dumpcli.schedulers.base import Feedback, Scheduler

_DIST = attrgetter("distribution")

# Magnitudes are capped here before being summed or averaged: a sum of even 10^6 capped values
# stays finite, so scores, states and JSON logs never hold inf/NaN. Real |advantages| are O(1).
MAGNITUDE_CAP = 1e100


def feedback_arrays(
    sched: Scheduler, feedback: Sequence[Feedback], *fields: str, unit: Iterable[str] = ()
) -> tuple[np.ndarray, ...]:
    """(distribution index int64, then one float64 array per field) in feedback order.

    Raises ValueError for an unknown distribution, a non-finite value, or a value outside [0, 1] for a
    field listed in `unit` (success rates): a NaN advantage means the GRPO loss is already broken, and
    silently dropping it would make the curriculum disagree with the trainer.
    """
    n = len(feedback)
    try:
        idx = np.fromiter(map(sched.index.__getitem__, map(_DIST, feedback)), np.int64, n)
    except KeyError as e:
        known = ", ".join(sched.distributions[:5]) + (", ..." if sched.k > 5 else "")
        raise ValueError(f"feedback for unknown distribution {e.args[0]!r} (known: {known})") from None
    out: list[np.ndarray] = [idx]
    unit = set(unit)
    for field in fields:
        arr = np.fromiter(map(attrgetter(field), feedback), np.float64, n)
        if not np.isfinite(arr).all():
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValueError(f"feedback[{bad}].{field} is {arr[bad]} (expected a finite number)")
        if field in unit and n and (arr.min() < 0.0 or arr.max() > 1.0):
            bad = int(np.flatnonzero((arr < 0.0) | (arr > 1.0))[0])
            raise ValueError(f"feedback[{bad}].{field} is {arr[bad]} (expected a value in [0, 1])")
        out.append(arr)
    return tuple(out)


def proportional_with_floor(scores: np.ndarray, epsilon: float) -> np.ndarray:
    """p = (1 - epsilon) * scores / sum(scores) + epsilon / k; uniform where every score is 0."""
    k = len(scores)
    total = scores.sum()
    base = scores / total if total > 0 else np.full(k, 1.0 / k)
    p = (1.0 - epsilon) * base + epsilon / k
    return p / p.sum()


def group_sums(idx: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-distribution (count, sum) of `values` over this batch (length-k arrays)."""
    counts = np.bincount(idx, minlength=k)
    sums = np.bincount(idx, weights=values, minlength=k) if len(idx) else np.zeros(k)
    return counts, sums


class SlidingWindows:
    """The last `size` values of every distribution, plus the all-time count.

    Stored as a ring buffer with one row per distribution *seen so far* (rows are allocated lazily,
    so 100k distributions cost memory only once sampled). The window sum of every row touched by a
    push is recomputed from the row itself, so there is no running-sum drift and the sum is a pure
    function of the row: identical after a state round-trip (the slot layout is restored too).
    Unfilled slots hold 0.0, which leaves the sums exact.
    """

    def __init__(self, k: int, size: int) -> None:
        self.k = k
        self.size = size
        self._reset()

    def _reset(self) -> None:
        k = self.k
        self.row = np.full(k, -1, dtype=np.int64)
        self.buf = np.zeros((0, self.size), dtype=np.float64)
        self.rows_used = 0
        self.total = np.zeros(k, dtype=np.int64)  # all-time number of values pushed per distribution
        self.sum = np.zeros(k, dtype=np.float64)  # sum of the values currently in the window

    def count(self) -> np.ndarray:
        """Number of values currently in each window (<= size)."""
        return np.minimum(self.total, self.size)

    def mean(self, empty: float) -> np.ndarray:
        """Window means; `empty` for distributions with no value yet."""
        c = self.count()
        out = np.full(self.k, empty, dtype=np.float64)
        np.divide(self.sum, c, out=out, where=c > 0)
        return out

    def _ensure_rows(self, dists: np.ndarray) -> None:
        new = dists[self.row[dists] < 0]
        if not len(new):
            return
        need = self.rows_used + len(new)
        if need > len(self.buf):
            grown = np.zeros((max(need, 2 * len(self.buf), 16), self.size), dtype=np.float64)
            grown[: self.rows_used] = self.buf[: self.rows_used]
            self.buf = grown
        self.row[new] = np.arange(self.rows_used, need)
        self.rows_used = need

    def push(self, idx: np.ndarray, values: np.ndarray) -> None:
        """Append values (in arrival order) to their distributions' windows."""
        n = len(idx)
        if n == 0:
            return
        order = np.argsort(idx, kind="stable")  # stable: keeps arrival order inside a distribution
        s, v = idx[order], values[order]
        first = np.empty(n, dtype=bool)
        first[0] = True
        np.not_equal(s[1:], s[:-1], out=first[1:])
        start = np.flatnonzero(first)
        dists = s[start]
        counts = np.diff(np.append(start, n))
        rank = np.arange(n) - np.repeat(start, counts)  # position of each value inside its group
        self._ensure_rows(dists)
        rows = self.row[s]
        pos = np.repeat(self.total[dists] % self.size, counts) + rank
        if counts.max() > self.size:  # only the last `size` values of a group survive
            keep = rank >= np.repeat(counts, counts) - self.size
            rows, pos, v = rows[keep], pos[keep] % self.size, v[keep]
        else:  # pos < 2 * size: wrap with a subtraction instead of a modulo
            pos[pos >= self.size] -= self.size
        self.buf[rows, pos] = v
        self.total[dists] += counts
        self.sum[dists] = self.buf[self.row[dists]].sum(axis=1)

    def window(self, d: int) -> list[float]:
        """Values of distribution d's window, oldest first."""
        c = int(min(self.total[d], self.size))
        if c == 0:
            return []
        slots = (int(self.total[d]) - c + np.arange(c)) % self.size
        return self.buf[self.row[d], slots].tolist()

    def state_dict(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            "size": self.size,
            "total": self.total.tolist(),
            "windows": {names[d]: self.window(d) for d in np.flatnonzero(self.total > 0).tolist()},
        }

    def load_state_dict(self, state: dict[str, Any], index: dict[str, int]) -> None:
        if int(state["size"]) != self.size:
            raise ValueError(f"state has window {state['size']}, this scheduler has window {self.size}")
        total = np.asarray(state["total"], dtype=np.int64)
        if total.shape != (self.k,) or (total < 0).any():
            raise ValueError(f"state 'total' must be {self.k} non-negative counts")
        self._reset()
        self.total = total
        dists = np.flatnonzero(total > 0)
        self._ensure_rows(dists)
        for name, values in state["windows"].items():
            d = index[name]
            c = int(min(total[d], self.size))
            if len(values) != c:
                raise ValueError(f"state window of {name!r} has {len(values)} values, expected {c}")
            slots = (int(total[d]) - c + np.arange(c)) % self.size
            self.buf[self.row[d], slots] = np.asarray(values, dtype=np.float64)
        if len(dists):
            self.sum[dists] = self.buf[self.row[dists]].sum(axis=1)


def base_state(sched: Scheduler) -> dict[str, Any]:
    """The part of every state dict that identifies what it belongs to."""
    return {
        "scheduler": sched.name,
        "distributions": list(sched.distributions),
        "options": sched.options.model_dump(),
    }


def check_state(sched: Scheduler, state: dict[str, Any], structural: Iterable[str] = ()) -> None:
    """Refuse a state saved by another scheduler, for other distributions, or with another shape.

    Options named in `structural` (e.g. the window size) must match; the others may differ, so a
    resumed run can change, say, the temperature on purpose.
    """
    if state.get("scheduler") != sched.name:
        raise ValueError(f"state was saved by scheduler {state.get('scheduler')!r}, not {sched.name!r}")
    if list(state.get("distributions", [])) != sched.distributions:
        raise ValueError(
            "state was saved for other distributions "
            f"({len(state.get('distributions', []))} saved vs {sched.k} now, or a different order)"
        )
    saved = state.get("options", {})
    for key in structural:
        if key in saved and saved[key] != getattr(sched.options, key):
            raise ValueError(
                f"state was saved with {key}={saved[key]!r}, this scheduler has {key}={getattr(sched.options, key)!r}"
            )
