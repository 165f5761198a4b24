"""A fixed mixture from the recipe: weights per distribution name or per glob, normalised.

    train.scheduler: {name: weights, weights: {"sort/*": 2, "rev/4": 1, "*": 0.5}}
    p_d = w_d / sum_j w_j

Each key is a distribution name (`source/difficulty`) or an `fnmatch` glob over the names
(case-sensitive: `*`, `?`, `[...]`). A key's weight applies to *every* distribution it decides, so
`"sort/*": 2` gives each sort distribution weight 2 (four of them: 8 in all), not 2 shared.

Overlapping keys: the most specific one decides. An exact name beats every glob; between globs,
the one with more characters other than `*` wins (`sort/*` beats `*/4` and `*` for `sort/4`). Two
matching globs equally specific are ambiguous: an error names both. The order of the keys in the
YAML never matters (so `--set` merges cannot change the mixture).

Refused when the scheduler is built, with the names: a distribution no key matches (a mixture that
forgets a distribution is a typo far more often than a wish; give it `0` to leave it out), a key
that matches no distribution (a misspelt source), and a mixture whose weights are all 0.

Source: per-dataset sampling weights as in OpenRLHF's `prompt_probs` (one probability per prompt
dataset) and verl issue 2139 (per-dataset sampling ratios); globs make one recipe line cover a
source with many difficulties. The feedback is ignored (responses are only counted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from dumpcli.schedulers.base import Options
from dumpcli.schedulers.uniform import _Static

_GLOB_CHARS = frozenset("*?[")


class WeightsOptions(Options):
    weights: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        ...,
        min_length=1,
        description='weight per distribution name or glob, e.g. {"sort/*": 2, "*": 1} (normalised)',
    )

    @field_validator("weights", mode="before")
    @classmethod
    def _number_keys_are_names(cls, v: object) -> object:
        """YAML reads `{4: 1}` with an int key; a distribution named by its difficulty alone is "4"."""
        if isinstance(v, dict):
            return {
                str(k) if isinstance(k, int | float) and not isinstance(k, bool) else k: w
                for k, w in v.items()
            }
        return v

    @field_validator("weights")
    @classmethod
    def _some_positive(cls, v: dict[str, float]) -> dict[str, float]:
        if any(not key.strip() for key in v):
            raise PydanticCustomError(
                "empty_key", "keys must be distribution names or globs, got an empty key"
            )
        if not any(w > 0 for w in v.values()):
            raise PydanticCustomError("all_zero", "at least one weight must be positive")
        return v


def _specificity(key: str, name: str) -> float:
    """Exact names first, then globs by their number of non-`*` characters."""
    if key == name or not _GLOB_CHARS & set(key):
        return math.inf
    return float(len(key) - key.count("*"))


def resolve(weights: dict[str, float], distributions: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """(weight per distribution, the key that decided it); ValueError when the mixture does not fit."""
    winners: list[str] = []
    unmatched: list[str] = []
    used: set[str] = set()
    for d in distributions:
        matches = [key for key in weights if key == d or fnmatchcase(d, key)]
        used.update(matches)
        if not matches:
            unmatched.append(d)
            continue
        rank = {key: _specificity(key, d) for key in matches}
        top = [key for key in matches if rank[key] == max(rank.values())]
        if len(top) > 1:
            raise ValueError(
                f"weights: {d!r} is matched by {' and '.join(repr(k) for k in top)}, equally specific; "
                "add a key for it (an exact name wins)"
            )
        winners.append(top[0])
    if unmatched:
        shown = ", ".join(unmatched[:10]) + (", ..." if len(unmatched) > 10 else "")
        raise ValueError(
            f"weights: no key matches {len(unmatched)} distribution(s): {shown} "
            '(add them, a glob such as "*", or give them 0 to leave them out)'
        )
    unused = [key for key in weights if key not in used]
    if unused:
        known = ", ".join(distributions[:10]) + (", ..." if len(distributions) > 10 else "")
        raise ValueError(
            f"weights: {', '.join(repr(k) for k in unused)} match(es) no distribution (distributions: {known})"
        )
    w = np.array([weights[key] for key in winners], dtype=np.float64)
    if w.sum() <= 0:
        raise ValueError("weights: every distribution has weight 0 (at least one must be positive)")
    return w, winners


class Weights(_Static):
    name: ClassVar[str] = "weights"
    Options: ClassVar[type[WeightsOptions]] = WeightsOptions
    options: WeightsOptions

    def _fixed(self) -> np.ndarray:
        self.weight, self.pattern = resolve(self.options.weights, self.distributions)
        return self.weight / self.weight.sum()

    def stats(self) -> dict[str, dict[str, float]]:
        return {
            d: {"n": float(self.n[i]), "weight": float(self.weight[i])}
            for i, d in enumerate(self.distributions)
        }
