"""Registry of schedulers. Adding one = one module + one line here."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from dumpcli.schedulers.base import Scheduler

_SCHEDULERS: dict[str, str] = {
    "uniform": "dumpcli.schedulers.uniform:Uniform",
    "proportional": "dumpcli.schedulers.uniform:Proportional",
    "ucb": "dumpcli.schedulers.ucb:UCB",
    "sequential": "dumpcli.schedulers.sequential:Sequential",
    "sec": "dumpcli.schedulers.sec:SEC",
    "learnability": "dumpcli.schedulers.learnability:Learnability",
    "exp3": "dumpcli.schedulers.exp3:Exp3",
    "curator": "dumpcli.schedulers.curator:Curator",
}


def names() -> list[str]:
    return [n for n, t in _SCHEDULERS.items() if importlib.util.find_spec(t.split(":")[0]) is not None]


def get_class(name: str) -> type[Scheduler]:
    if name not in names():
        raise KeyError(f"unknown scheduler {name!r} (available: {', '.join(names())})")
    module, cls = _SCHEDULERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def check_options(name: str, options: dict[str, Any]) -> list[str]:
    """Validate recipe options; returns messages like 'window: Input should be greater than 0'."""
    try:
        get_class(name).Options(**options)
    except ValidationError as e:
        out = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            out.append(f"{loc}: {msg}" if loc else msg)  # a check across options has no key
        return out
    return []


def build(
    name: str,
    distributions: Sequence[str],
    *,
    seed: int = 0,
    sizes: Sequence[int] | None = None,
    **options: Any,
) -> Scheduler:
    return get_class(name)(distributions, seed=seed, sizes=sizes, **options)
