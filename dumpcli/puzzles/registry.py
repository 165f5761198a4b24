"""Registry of puzzle families and verifiers. Adding a family = one module + one line here.

A family or verifier of the user's own code is named by import path (`puzzle: "my_pkg.p:MyFamily"`,
`verifier: "my_pkg.v:MyVerifier"`) or installed as an entry point in the group `dumpcli.puzzles`
(a `PuzzleFamily` subclass) or `dumpcli.verifiers` (a `Verifier` subclass), see dumpcli/plugins.py.
Either is instantiated once, with no arguments."""

from __future__ import annotations

import importlib

from dumpcli import plugins
from dumpcli.puzzles.base import PuzzleFamily, Verifier

# name -> "module:Class"; imported lazily so `dump --help` stays fast
_FAMILIES: dict[str, str] = {
    "knights_knaves": "dumpcli.puzzles.knights_knaves:KnightsKnaves",
    "zebra": "dumpcli.puzzles.zebra:Zebra",
    "countdown": "dumpcli.puzzles.countdown:Countdown",
    "sorting": "dumpcli.puzzles.sorting:Sorting",
    "addition": "dumpcli.puzzles.addition:Addition",
    "reversal": "dumpcli.puzzles.reversal:Reversal",
    "parity": "dumpcli.puzzles.parity:Parity",
}
# verifiers that are not families (answers come from files)
_VERIFIERS: dict[str, str] = {
    "exact": "dumpcli.puzzles.exact:ExactMatch",
    "math": "dumpcli.puzzles.math_answer:MathAnswer",
    "reasoning_gym": "dumpcli.puzzles.reasoning_gym_answer:ReasoningGymAnswer",
}
_cache: dict[str, Verifier] = {}


def _available(table: dict[str, str]) -> list[str]:
    out = []
    for name, target in table.items():
        module = target.split(":")[0]
        if importlib.util.find_spec(module) is not None:
            out.append(name)
    return out


def _plugins(group: str) -> list[str]:
    return [n for n in plugins.entry_points(group) if n not in _FAMILIES and n not in _VERIFIERS]


def names() -> list[str]:
    """Puzzle families that can generate: built-ins, then installed plug-ins."""
    return _available(_FAMILIES) + _plugins(plugins.PUZZLES)


def verifier_names() -> list[str]:
    return sorted({*names(), *_available(_VERIFIERS), *_plugins(plugins.VERIFIERS)})


def known(name: str) -> bool:
    """A listed family or verifier, or an import path (checked when loaded)."""
    return name in verifier_names() or plugins.is_import_path(name)


def _load(name: str) -> Verifier:
    if name not in _cache:
        if not known(name):
            raise KeyError(
                f"unknown puzzle family or verifier {name!r} (available: {', '.join(verifier_names())})"
            )
        target = _FAMILIES.get(name) or _VERIFIERS.get(name)
        if target is not None:
            module, cls = target.split(":")
            _cache[name] = getattr(importlib.import_module(module), cls)()
        else:
            target = (
                plugins.entry_points(plugins.PUZZLES).get(name)
                or plugins.entry_points(plugins.VERIFIERS).get(name)
                or name
            )
            found = plugins.load_class(target, Verifier, "a subclass of dumpcli.puzzles.base.Verifier")
            try:
                _cache[name] = found()
            except Exception as e:  # the user's constructor
                raise plugins.PluginError(
                    f"{target!r}: {found.__name__}() failed: {type(e).__name__}: {e}"
                ) from None
    return _cache[name]


def get_family(name: str) -> PuzzleFamily:
    """KeyError for an unknown name; PluginError for a plug-in that does not load or is a
    verifier only (not a PuzzleFamily)."""
    if name not in names() and not plugins.is_import_path(name):
        raise KeyError(f"unknown puzzle family {name!r} (available: {', '.join(names()) or 'none'})")
    family = _load(name)
    if not isinstance(family, PuzzleFamily):
        raise plugins.PluginError(
            f"{name!r} is {type(family).__name__}, a verifier only, not a subclass of "
            "dumpcli.puzzles.base.PuzzleFamily (it cannot generate)"
        )
    return family


def get_verifier(name: str) -> Verifier:
    return _load(name)


def problem(name: str, family: bool = False) -> str | None:
    """Why `name` cannot be used as a family (or verifier), None if it can: built-ins are only
    looked up (not imported), plug-ins are loaded and checked."""
    builtin = _FAMILIES if family else {**_FAMILIES, **_VERIFIERS}
    if name in builtin:
        return None if name in (names() if family else verifier_names()) else f"{name!r} is not available"
    try:
        get_family(name) if family else get_verifier(name)
    except KeyError as e:
        return str(e.args[0])
    except plugins.PluginError as e:
        return str(e)
    return None
