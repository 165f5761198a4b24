"""Extensions from the user's own code, without a fork: every registry resolves names here.

A recipe names an extension in one of two ways:
- an import path `package.module:attribute`, wherever it names a scheduler, a puzzle family, a
  verifier, a source kind (`kind:`) or a reward function (`train.reward.functions`);
- the name of an entry point of an installed package, in the group of its kind; such a plug-in
  is listed beside the built-ins (`dump train --help`, `dump puzzles list`, the recipe check):

    [project.entry-points."dumpcli.schedulers"]
    my_sched = "my_pkg.curriculum:MySched"

One protocol per kind (the base classes document them):

  group                kind                     the object must be
  dumpcli.schedulers   scheduler or selector    a subclass of dumpcli.schedulers.Scheduler
                                                (distribution-level) or ProblemSelector (problem-level)
  dumpcli.puzzles      puzzle family            a subclass of dumpcli.puzzles.base.PuzzleFamily
  dumpcli.verifiers    verifier                 a subclass of dumpcli.puzzles.base.Verifier
  dumpcli.sources      source kind              a subclass of dumpcli.data.sources.base.SourceSpecBase
  (import path only)   reward function          a callable f(prompts, completions, **kwargs) -> list[float]

A built-in name wins over an entry point of the same name (a plug-in adds, it never replaces).
Entry points are read once per process (importlib.metadata), and a plug-in's module is imported
only when it is used. What fails (an import, a missing attribute, an object that does not meet
its protocol) is a `PluginError`; the recipe check reports it at its YAML path (exit 2).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import re
from collections.abc import Mapping
from typing import Any

SCHEDULERS = "dumpcli.schedulers"
PUZZLES = "dumpcli.puzzles"
VERIFIERS = "dumpcli.verifiers"
SOURCES = "dumpcli.sources"

_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class PluginError(ValueError):
    """An extension that cannot be used: the message says which and why (the caller adds where)."""


def is_import_path(name: str) -> bool:
    """`package.module:attribute` (what a recipe writes to name an object of its own code)."""
    return isinstance(name, str) and _IMPORT_PATH.fullmatch(name) is not None


@functools.cache
def entry_points(group: str) -> dict[str, str]:
    """Installed plug-ins of a group: name -> "module:attribute" (nothing imported)."""
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=group)}


def table(builtin: Mapping[str, str], group: str) -> dict[str, str]:
    """The built-ins, then the group's plug-ins whose names are not taken."""
    out = dict(builtin)
    for name, target in entry_points(group).items():
        out.setdefault(name, target)
    return out


def target_of(name: str, builtin: Mapping[str, str], group: str) -> str | None:
    """Where `name` lives: a built-in's or plug-in's target, the import path itself, or None."""
    known = table(builtin, group)
    if name in known:
        return known[name]
    return name if is_import_path(name) else None


def load(target: str) -> Any:
    """The object at `module:attribute` (the attribute may be dotted: `mod:Class.method`)."""
    if not is_import_path(target):
        raise PluginError(f"{target!r}: expected an import path like 'my_pkg.module:name'")
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:  # anything the user's module raises while importing
        raise PluginError(f"{target!r}: cannot import {module_name!r}: {type(e).__name__}: {e}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"{target!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def load_class(target: str, base: type | tuple[type, ...], protocol: str) -> type:
    """The class at `target`, checked to be a subclass of `base` (the kind's protocol)."""
    obj = load(target)
    if not (inspect.isclass(obj) and issubclass(obj, base)):
        raise PluginError(f"{target!r} is {_describe(obj)}, not {protocol}")
    return obj


def check_reward_function(target: str) -> Any:
    """A reward function by import path, checked against TRL's calling convention: it is called
    as f(prompts=..., completions=..., completion_ids=..., trainer_state=..., <dataset columns>...)
    and returns one float (or None: not applicable) per completion."""
    fn = load(target)
    if inspect.isclass(fn) or not callable(fn):
        raise PluginError(
            f"{target!r} is {_describe(fn)}, not a function f(prompts, completions, **kwargs) -> list[float]"
        )
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return fn  # a builtin or C callable without a signature: TRL will tell
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        raise PluginError(
            f"{target!r} must accept **kwargs: it is called with prompts, completions, completion_ids, "
            "trainer_state and every dataset column (answer, verifier, distribution, ...) as keywords"
        )
    return fn


def _describe(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    if inspect.ismodule(obj):
        return f"the module {obj.__name__}"
    return f"a {type(obj).__name__}"
