"""Registry of puzzle families and verifiers. Adding a family = one module + one line here."""

from __future__ import annotations

import importlib

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


def names() -> list[str]:
    """Puzzle families that can generate."""
    return _available(_FAMILIES)


def verifier_names() -> list[str]:
    return sorted(names() + _available(_VERIFIERS))


def _load(name: str) -> Verifier:
    if name not in _cache:
        target = _FAMILIES.get(name) or _VERIFIERS.get(name)
        if target is None or name not in verifier_names():
            raise KeyError(
                f"unknown puzzle family or verifier {name!r} (available: {', '.join(verifier_names())})"
            )
        module, cls = target.split(":")
        _cache[name] = getattr(importlib.import_module(module), cls)()
    return _cache[name]


def get_family(name: str) -> PuzzleFamily:
    if name not in names():
        raise KeyError(f"unknown puzzle family {name!r} (available: {', '.join(names()) or 'none'})")
    family = _load(name)
    assert isinstance(family, PuzzleFamily)
    return family


def get_verifier(name: str) -> Verifier:
    return _load(name)
