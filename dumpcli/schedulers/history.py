"""A streaming success history per problem, shared by the methods that need one (Thompson's Beta
posterior, problem pools, the rollout options of issue 19).

Every `update` is one generation round's scored completions; all completions of a problem in one
call form one *visit*. Per problem x, after a visit with k completions and s successes:

    S_x <- decay * S_x + s           F_x <- decay * F_x + (k - s)        (discounted counts)
    last_success = s / k, last_size = k, visits += 1, completions += k
    streak_all  <- streak_all + 1 if every completion succeeded, else 0   (likewise streak_none)
    recent bits <- the latest 16 outcomes, newest in bit 0 (a visit's outcomes in the given order)

recent_rate is the mean of the latest min(16, completions) outcomes. Successes are 0/1 in the
trainer; a fractional one (verl's `success_key` may give one) enters S, F and last_success as it
is, and counts as succeeded in the bits and streaks when it is >= 0.5.

Memory is bounded without a dict of id strings (a dict of 1M ids costs ~120 MB): a problem is
keyed by a 64-bit blake2b hash of its id (the same in every process, unlike `hash()`), kept in one
sorted uint64 array searched with `np.searchsorted`. Each key points to a slot of the value arrays
(struct of arrays, compact dtypes); new problems take new slots at the end (x1.5 growth), so an
update inserts only into the two index arrays. 54 bytes a problem (8 key + 4 slot + 42 values),
plus up to half the value bytes as growth room (benchmarks/problem_history.py). Two different ids
collide with probability about n^2 / 2^65 for n problems (3e-8 for a million); a collision would
merge the two problems' statistics into one entry, nothing worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

import numpy as np

FORMAT = "problem_history/1"

# value arrays, one slot per problem. Counts in int32 (2^31 visits or completions of one problem
# are out of reach); streaks saturate at 65535 visits.
FIELDS: dict[str, type[np.generic]] = {
    "successes": np.float64,
    "failures": np.float64,
    "last_success": np.float64,
    "visits": np.int32,
    "completions": np.int32,
    "last_size": np.int32,
    "streak_all": np.uint16,
    "streak_none": np.uint16,
    "recent": np.uint16,
}
# how each is saved: torch tensors of these signed dtypes (bit views where unsigned), which every
# torch >= 2.4 saves and loads with weights_only=True
SAVED_AS: dict[type[np.generic], type[np.generic]] = {np.uint64: np.int64, np.uint16: np.int16}
STREAK_MAX = np.iinfo(np.uint16).max


def problem_keys(problem_ids: Sequence[str]) -> np.ndarray:
    """The uint64 key of each id: the first 8 bytes of blake2b(id) as a little-endian integer."""
    keys, problem = distinct_keys(problem_ids)
    return keys[problem]


def distinct_keys(problem_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(the sorted distinct keys, the index in them of each id's key). Each distinct id is hashed once."""
    index: dict[str, Any] = dict.fromkeys(problem_ids)
    for i, p in enumerate(index):
        index[p] = i
    digests = b"".join(blake2b(p.encode("utf-8", "surrogatepass"), digest_size=8).digest() for p in index)
    keys, inverse = np.unique(np.frombuffer(digests, dtype="<u8").astype(np.uint64), return_inverse=True)
    where = np.fromiter(map(index.__getitem__, problem_ids), np.int64, len(problem_ids))
    return keys, inverse.reshape(-1)[where]


def popcount16(x: np.ndarray) -> np.ndarray:
    """Set bits of each 16-bit value (int64 out; numpy < 2 has no bitwise_count)."""
    x = x.astype(np.int64)
    x = x - ((x >> 1) & 0x5555)
    x = (x & 0x3333) + ((x >> 2) & 0x3333)
    x = (x + (x >> 4)) & 0x0F0F
    return (x + (x >> 8)) & 0x1F


@dataclass(frozen=True)
class HistoryView:
    """What the history knows of each asked problem (numpy arrays in the asked order)."""

    seen: np.ndarray  # bool
    visits: np.ndarray  # int64
    completions: np.ndarray  # int64
    successes: np.ndarray  # float64: discounted successes S
    failures: np.ndarray  # float64: discounted failures F
    last_success: np.ndarray  # float64: mean success of the latest visit (0 when unseen)
    last_size: np.ndarray  # int64: completions in the latest visit
    recent_rate: np.ndarray  # float64: mean of the latest recent_count outcomes (0 when unseen)
    recent_count: np.ndarray  # int64: min(16, completions)
    streak_all: np.ndarray  # int64: latest consecutive visits in which every completion succeeded
    streak_none: np.ndarray  # int64: latest consecutive visits in which none succeeded


class ProblemHistory:
    """Success statistics of every problem seen, keyed by the hash of its id (module docstring)."""

    RECENT = 16  # the latest successes kept per problem, as bits of a uint16

    def __init__(self, decay: float = 1.0) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay}")
        self.decay = float(decay)
        self._reset(0)

    def _reset(self, size: int) -> None:
        self.keys = np.zeros(0, dtype=np.uint64)  # sorted
        self.slot = np.zeros(0, dtype=np.int32)  # slot of keys[i] in the value arrays (< 2^31 problems)
        self.size = 0  # slots in use; slot `size` is always a zero one (the unseen defaults)
        self.values = {name: np.zeros(size + 1, dtype=dtype) for name, dtype in FIELDS.items()}

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        """Bytes held by the index and value arrays (capacity included)."""
        return self.keys.nbytes + self.slot.nbytes + sum(a.nbytes for a in self.values.values())

    def _grow(self, size: int) -> None:
        """Room for `size` problems plus the zero slot (x1.5 growth: appends cost O(1) amortised)."""
        capacity = len(self.values["visits"])
        if size + 1 <= capacity:
            return
        capacity = max(size + 1, capacity + capacity // 2)
        for name, arr in self.values.items():
            grown = np.zeros(capacity, dtype=arr.dtype)
            grown[: self.size] = arr[: self.size]
            self.values[name] = grown

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """Slot of each key; the zero slot `size` for keys not seen."""
        pos = np.searchsorted(self.keys, keys)
        out = np.full(len(keys), self.size, dtype=np.int64)
        inside = pos < len(self.keys)
        hit = np.zeros(len(keys), dtype=bool)
        hit[inside] = self.keys[pos[inside]] == keys[inside]
        out[hit] = self.slot[pos[hit]]
        return out

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        """Slots of sorted distinct keys, giving new ones the next free slots."""
        slots = self._find(keys)
        new = slots == self.size
        count = int(new.sum())
        if count:
            fresh = np.arange(self.size, self.size + count, dtype=np.int32)
            self._grow(self.size + count)
            pos = np.searchsorted(self.keys, keys[new])
            self.keys = np.insert(self.keys, pos, keys[new])  # keys[new] ascending: stays sorted
            self.slot = np.insert(self.slot, pos, fresh)
            slots[new] = fresh
            self.size += count
        return slots

    def update(self, problem_ids: Sequence[str], successes: Sequence[float] | np.ndarray) -> None:
        """One generation round's completions (0/1 successes), any order. All completions of a problem
        in one call form one *visit* of that problem."""
        n = len(problem_ids)
        succ = np.asarray(successes, dtype=np.float64)
        if succ.shape != (n,):
            raise ValueError(f"update: {n} problem ids but successes of shape {succ.shape}")
        if n == 0:
            return
        if not np.isfinite(succ).all() or succ.min() < 0.0 or succ.max() > 1.0:
            bad = int(np.flatnonzero(~((succ >= 0.0) & (succ <= 1.0)))[0])
            raise ValueError(f"update: success[{bad}] is {succ[bad]} (expected a value in [0, 1])")
        keys, problem = distinct_keys(problem_ids)
        m = len(keys)
        slots = self._slots(keys)
        k = np.bincount(problem, minlength=m)
        s = np.bincount(problem, weights=succ, minlength=m)  # summed in the given order
        ok = succ >= 0.5
        hits = np.bincount(problem, weights=ok, minlength=m)
        # recent bits of this visit: the completion j-th from the end of its visit goes to bit j
        order = np.argsort(problem, kind="stable")
        start = np.cumsum(k) - k
        from_end = np.repeat(k, k) - 1 - (np.arange(n) - np.repeat(start, k))
        keep = from_end < self.RECENT
        bits = np.bincount(
            problem[order][keep], weights=ok[order][keep] * 2.0 ** from_end[keep], minlength=m
        ).astype(np.int64)

        v = self.values
        v["successes"][slots] = self.decay * v["successes"][slots] + s
        v["failures"][slots] = self.decay * v["failures"][slots] + (k - s)
        v["last_success"][slots] = s / k
        v["last_size"][slots] = k
        v["visits"][slots] += 1
        v["completions"][slots] += k.astype(np.int32)
        for name, hit in (("streak_all", hits == k), ("streak_none", hits == 0)):
            v[name][slots] = np.where(hit, np.minimum(v[name][slots].astype(np.int64) + 1, STREAK_MAX), 0)
        shift = np.minimum(k, self.RECENT)
        v["recent"][slots] = ((v["recent"][slots].astype(np.int64) << shift) | bits) & 0xFFFF

    def get(self, problem_ids: Sequence[str]) -> HistoryView:
        """Vectorised lookup, one entry per asked id in the asked order; unseen ids get the defaults
        (not seen, every count and rate 0)."""
        keys, problem = distinct_keys(problem_ids)
        slots = self._find(keys)[problem]
        v = {name: arr[slots] for name, arr in self.values.items()}
        count = np.minimum(v["completions"].astype(np.int64), self.RECENT)
        rate = np.zeros(len(slots), dtype=np.float64)
        np.divide(popcount16(v["recent"]), count, out=rate, where=count > 0)
        ints = {
            n: v[n].astype(np.int64)
            for n in ("visits", "completions", "last_size", "streak_all", "streak_none")
        }
        return HistoryView(
            seen=slots < self.size,
            successes=v["successes"],
            failures=v["failures"],
            last_success=v["last_success"],
            recent_rate=rate,
            recent_count=count,
            **ints,
        )

    # -- checkpoints ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Every array in key order as a torch tensor (loads with torch.load(weights_only=True))."""
        import torch  # here: importing this module must not import torch (the registry loads it)

        def tensor(arr: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(arr).view(SAVED_AS.get(arr.dtype.type, arr.dtype)))

        return {
            "format": FORMAT,
            "decay": self.decay,
            "keys": tensor(self.keys),
            **{name: tensor(arr[self.slot]) for name, arr in self.values.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict()` exactly (its decay too)."""
        if state.get("format") != FORMAT:
            raise ValueError(
                f"not a problem history state (format {state.get('format')!r}, expected {FORMAT!r})"
            )
        keys = _array(state, "keys", np.uint64)
        n = len(keys)
        if n > 1 and not (keys[1:] > keys[:-1]).all():
            raise ValueError("problem history state: 'keys' must be strictly increasing")
        values = {name: _array(state, name, dtype, n) for name, dtype in FIELDS.items()}
        for name in ("successes", "failures"):
            if not (np.isfinite(values[name]).all() and (values[name] >= 0).all()):
                raise ValueError(f"problem history state: '{name}' must be finite and >= 0")
        if not ((values["last_success"] >= 0) & (values["last_success"] <= 1)).all():
            raise ValueError("problem history state: 'last_success' must be in [0, 1]")
        for name in ("visits", "completions", "last_size"):
            if (values[name] < 0).any():
                raise ValueError(f"problem history state: '{name}' must be >= 0")
        decay = float(state["decay"])
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"problem history state: decay must be in [0, 1], got {decay}")
        self.decay = decay
        self._set(keys, values)

    def _set(self, keys: np.ndarray, values: dict[str, np.ndarray]) -> None:
        n = len(keys)
        self._reset(n)
        self.keys = keys
        self.slot = np.arange(n, dtype=np.int32)
        self.size = n
        for name, arr in values.items():
            self.values[name][:n] = arr

    def load_legacy(
        self,
        problem_ids: Sequence[str],
        *,
        successes: Sequence[float] | None = None,
        failures: Sequence[float] | None = None,
        last_success: Sequence[float] | None = None,
    ) -> None:
        """Rebuild from a state saved before this history existed (thompson's alpha/beta, problem
        pools' score): each problem counts one visit of unknown size; what the old state did not
        keep (completions, last size, recent outcomes, streaks) starts at 0."""
        n = len(problem_ids)
        given = {"successes": successes, "failures": failures, "last_success": last_success}
        columns = {}
        for name, col in given.items():
            arr = np.zeros(n) if col is None else np.asarray(col, dtype=np.float64)
            if arr.shape != (n,) or not np.isfinite(arr).all() or (arr < 0).any():
                raise ValueError(f"old state: '{name}' must hold one finite value >= 0 per problem id")
            columns[name] = arr
        if (columns["last_success"] > 1).any():
            raise ValueError("old state: the success rates must be in [0, 1]")
        keys, problem = distinct_keys(problem_ids)
        first = np.full(len(keys), n, dtype=np.int64)
        np.minimum.at(first, problem, np.arange(n))  # a collision keeps the first id's values
        values = {name: np.zeros(len(keys), dtype=dtype) for name, dtype in FIELDS.items()}
        for name, arr in columns.items():
            values[name] = arr[first]
        values["visits"][:] = 1
        self._set(keys, values)


def _array(state: dict[str, Any], name: str, dtype: type[np.generic], n: int | None = None) -> np.ndarray:
    """A saved column (tensor, array or list) as `dtype`, reading signed bit views back as unsigned."""
    if name not in state:
        raise ValueError(f"problem history state has no {name!r}")
    arr = np.asarray(state[name])
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        raise ValueError(
            f"problem history state: {name!r} must be a vector of {n} values, got shape {arr.shape}"
        )
    saved = SAVED_AS.get(dtype)
    if saved is not None and arr.dtype == saved:
        return arr.view(dtype).copy()
    return arr.astype(dtype)
