"""Registry of curriculum methods. Adding one = one module + one line here.

Two kinds share the names of `train.scheduler.name` / `--scheduler`: distribution-level
`Scheduler`s (which distribution next) and problem-level `ProblemSelector`s (which problems of a
candidate pool; the pool is drawn by the selector's `proposal` scheduler). `Curriculum` composes them.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dumpcli.schedulers.base import Method, Scheduler

if TYPE_CHECKING:  # selector.py validates a selector's proposal with this registry: no import back
    from dumpcli.schedulers.selector import ProblemSelector

_SCHEDULERS: dict[str, str] = {
    "uniform": "dumpcli.schedulers.uniform:Uniform",
    "proportional": "dumpcli.schedulers.uniform:Proportional",
    "ucb": "dumpcli.schedulers.ucb:UCB",
    "sequential": "dumpcli.schedulers.sequential:Sequential",
    "sec": "dumpcli.schedulers.sec:SEC",
    "learnability": "dumpcli.schedulers.learnability:Learnability",
    "exp3": "dumpcli.schedulers.exp3:Exp3",
    "curator": "dumpcli.schedulers.curator:Curator",
    "thompson": "dumpcli.schedulers.thompson:Thompson",
    "weights": "dumpcli.schedulers.weights:Weights",
    "schedule": "dumpcli.schedulers.schedule:Schedule",
    "pools": "dumpcli.schedulers.pools:Pools",
    "problem_pools": "dumpcli.schedulers.problem_pools:ProblemPools",
    "progress": "dumpcli.schedulers.progress:Progress",
}


def names() -> list[str]:
    return [n for n, t in _SCHEDULERS.items() if importlib.util.find_spec(t.split(":")[0]) is not None]


def get_class(name: str) -> type[Method]:
    if name not in names():
        raise KeyError(f"unknown scheduler {name!r} (available: {', '.join(names())})")
    module, cls = _SCHEDULERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def is_problem_level(name: str) -> bool:
    """A method is a distribution-level `Scheduler` or else a problem-level `ProblemSelector`."""
    return not issubclass(get_class(name), Scheduler)


def distribution_level() -> list[str]:
    """Names that can draw a selector's candidate pool (every distribution-level scheduler)."""
    return [n for n in names() if not is_problem_level(n)]


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
    """A distribution-level scheduler (`build_selector` for problem-level methods)."""
    cls = get_class(name)
    if not issubclass(cls, Scheduler):
        raise ValueError(f"{name!r} is a problem-level method: build it with build_selector")
    return cls(distributions, seed=seed, sizes=sizes, **options)


def build_selector(
    name: str,
    distributions: Sequence[str],
    *,
    seed: int = 0,
    sizes: Sequence[int] | None = None,
    **options: Any,
) -> ProblemSelector:
    cls = get_class(name)
    if issubclass(cls, Scheduler):
        raise ValueError(f"{name!r} is a distribution-level scheduler: build it with build")
    return cls(distributions, seed=seed, sizes=sizes, **options)
