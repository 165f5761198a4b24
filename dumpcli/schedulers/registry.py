"""Registry of curriculum methods. Adding one = one module + one line here.

A scheduler of the user's own code is named by import path (`name: "my_pkg.curriculum:MySched"`)
or installed as an entry point in the group `dumpcli.schedulers` (dumpcli/plugins.py); either is a
subclass of `Scheduler` or of `ProblemSelector`.

Two kinds share the names of `train.scheduler.name` / `--scheduler`: distribution-level
`Scheduler`s (which distribution next) and problem-level `ProblemSelector`s (which problems of a
candidate pool; the pool is drawn by the selector's `proposal` scheduler). `Curriculum` composes them.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dumpcli import plugins
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
    "frontier": "dumpcli.schedulers.frontier:Frontier",
}


PROTOCOL = "a subclass of dumpcli.schedulers.Scheduler or dumpcli.schedulers.selector.ProblemSelector"


def names() -> list[str]:
    """Built-ins whose modules are importable, then installed plug-ins (entry points)."""
    builtin = [n for n, t in _SCHEDULERS.items() if importlib.util.find_spec(t.split(":")[0]) is not None]
    return builtin + [n for n in plugins.entry_points(plugins.SCHEDULERS) if n not in _SCHEDULERS]


def get_class(name: str) -> type[Method]:
    """KeyError for a name that is neither known nor an import path; PluginError (a ValueError)
    for a plug-in that does not import or is not a scheduler."""
    target = plugins.target_of(name, _SCHEDULERS, plugins.SCHEDULERS)
    if target is None or (name in _SCHEDULERS and name not in names()):
        raise KeyError(f"unknown scheduler {name!r} (available: {', '.join(names())})")
    if name in _SCHEDULERS:
        module, cls = target.split(":")
        return getattr(importlib.import_module(module), cls)
    cls = plugins.load_class(target, (Method,), PROTOCOL)
    # a Method is a Scheduler or else a selector: checked by its methods, so that this registry
    # does not import selector.py (which imports it back to validate a proposal)
    if not issubclass(cls, Scheduler) and not all(hasattr(cls, m) for m in ("pool_size", "select", "update")):
        raise plugins.PluginError(f"{target!r} is the class {cls.__name__}, not {PROTOCOL}")
    return cls


def problem(name: str) -> str | None:
    """Why `name` cannot be used as a scheduler (None: it can), for the recipe check."""
    try:
        get_class(name)
    except KeyError as e:
        return str(e.args[0])
    except plugins.PluginError as e:
        return str(e)
    return None


def is_problem_level(name: str) -> bool:
    """A method is a distribution-level `Scheduler` or else a problem-level `ProblemSelector`."""
    return not issubclass(get_class(name), Scheduler)


def distribution_level() -> list[str]:
    """Names that can draw a selector's candidate pool (every distribution-level scheduler)."""
    out = []
    for name in names():
        try:
            if not is_problem_level(name):
                out.append(name)
        except plugins.PluginError:
            continue  # an installed plug-in that does not load: reported where a recipe names it
    return out


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
