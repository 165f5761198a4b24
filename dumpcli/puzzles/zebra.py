"""Zebra (Einstein) puzzles: N houses in a row, M attributes, clues with exactly one solution.

Generation: draw a random solution, add random true clues until a SAT solver (pycosat) finds no
other solution, then drop every clue that is not needed (in random order), so the clue set is
minimal. Difficulty maps to (houses, attributes); `houses=` / `attributes=` set them directly.

Clue kinds (also in each record's `constraints`): at / not_at (a house number), same, not_same,
left (directly left of), before (somewhere left of), next (neighbours), gap (one house between).

The answer is one line per house ("House 2: Bob, red, cat, ..."). The verifier reads the values
it knows from the text after each "House k" and scores the fraction of cells right; a house
given two values of one attribute, or a value placed in two houses, gets no credit.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pycosat
from pydantic import Field

from dumpcli.puzzles.answer import answer_block, from_json_text
from dumpcli.puzzles.base import Knobs, PuzzleFamily, Verdict

# attribute: (label, how a person with value v is described, values); values are distinct words
ATTRIBUTES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "name": ("Name", "{v}", ("Alice", "Bob", "Carol", "David", "Eric", "Fiona")),
    "color": (
        "House color",
        "the person in the {v} house",
        ("red", "green", "blue", "yellow", "white", "purple"),
    ),
    "pet": ("Pet", "the {v} owner", ("cat", "dog", "bird", "fish", "horse", "rabbit")),
    "drink": ("Drink", "the person who drinks {v}", ("tea", "coffee", "milk", "water", "juice", "cocoa")),
    "nationality": ("Nationality", "the {v}", ("Brit", "Swede", "Dane", "German", "Norwegian", "Spaniard")),
    "hobby": (
        "Hobby",
        "the person who enjoys {v}",
        ("chess", "painting", "gardening", "cooking", "reading", "knitting"),
    ),
    "car": ("Car", "the {v} driver", ("Ford", "Toyota", "BMW", "Honda", "Tesla", "Audi")),
    "food": ("Food", "the person who loves {v}", ("pizza", "sushi", "tacos", "pasta", "soup", "salad")),
    "music": ("Music", "the {v} fan", ("jazz", "rock", "pop", "classical", "blues", "folk")),
    "sport": (
        "Sport",
        "the person who plays {v}",
        ("tennis", "soccer", "golf", "hockey", "rugby", "cricket"),
    ),
}
MAX_HOUSES = 6
MAX_ATTRIBUTES = 6
# difficulty -> (houses, attributes)
LEVELS = {1: (2, 2), 2: (3, 2), 3: (3, 3), 4: (4, 3), 5: (4, 4), 6: (5, 4), 7: (5, 5), 8: (6, 5), 9: (6, 6)}
# clue kinds and how often they are drawn
_KINDS = ("at", "not_at", "same", "not_same", "left", "before", "next", "gap")
_WEIGHTS = (1, 1, 3, 1, 2, 1, 2, 1)
# no newline in the leading classes (a run of blank lines must not be rescanned from every line
# start) and at most 6 digits (int() refuses huge digit strings)
_HOUSE = re.compile(r"\bhouse[ \t]*(?:#[ \t]*)?(\d{1,6})(?!\d)")
_LEADING_NUMBER = re.compile(r"^[ \t|*(\[#]*(\d{1,6})\b", re.MULTILINE)


class ZebraKnobs(Knobs):
    """Override the difficulty table's size (None: the table's)."""

    houses: int | None = Field(None, ge=2, le=MAX_HOUSES)
    attributes: int | None = Field(None, ge=2, le=MAX_ATTRIBUTES)


class Zebra(PuzzleFamily):
    name = "zebra"
    description = "Einstein / zebra puzzles: who lives where, from positional and identity clues"
    difficulty_knobs = (
        "difficulty 1..9 = (houses, attributes): "
        + ", ".join(f"{d}: {h}x{a}" for d, (h, a) in LEVELS.items())
        + f"; params: houses (2..{MAX_HOUSES}), attributes (2..{MAX_ATTRIBUTES}) override the table"
    )
    min_difficulty = 1
    max_difficulty = max(LEVELS)
    Knobs = ZebraKnobs

    def generate(self, difficulty: int, rng: random.Random, **params: Any) -> dict[str, Any]:
        knobs = self.knobs(params)
        if isinstance(difficulty, bool) or not isinstance(difficulty, int) or difficulty not in LEVELS:
            raise ValueError(f"zebra: difficulty must be an integer in 1..{max(LEVELS)}, got {difficulty!r}")
        n, m = LEVELS[difficulty]
        n, m = knobs.houses or n, knobs.attributes or m

        keys = ["name", *rng.sample(sorted(k for k in ATTRIBUTES if k != "name"), m - 1)]
        # grid[a][h] = value index (into values[a]) of attribute a in house h
        values = [rng.sample(ATTRIBUTES[k][2], n) for k in keys]
        grid = [rng.sample(range(n), n) for _ in keys]
        pos = [[0] * n for _ in keys]
        for a in range(m):
            for h, v in enumerate(grid[a]):
                pos[a][v] = h
        base = _base_cnf(n, m)
        blocking = [-_var(n, a, grid[a][h], h) for a in range(m) for h in range(n)]

        def unique(clues: Sequence[tuple]) -> bool:
            cnf = base + [c for clue in clues for c in _cnf(clue, n)] + [blocking]
            return pycosat.solve(cnf) == "UNSAT"

        clues: list[tuple] = []
        seen: set[tuple] = set()
        while not unique(clues):
            clue = _random_clue(rng, n, m, grid)
            if clue not in seen:
                seen.add(clue)
                clues.append(clue)
        for clue in rng.sample(clues, len(clues)):  # drop what is not needed
            rest = [c for c in clues if c != clue]
            if unique(rest):
                clues = rest
        rng.shuffle(clues)

        labels = [ATTRIBUTES[k][0] for k in keys]
        houses = [[values[a][grid[a][h]] for a in range(m)] for h in range(n)]
        described = [_sentence(c, keys, values) for c in clues]
        question = (
            f"There are {n} houses in a row, numbered 1 to {n} from left to right. Each house is occupied by a "
            "different person, and no two people share a value of any attribute:\n"
            + "".join(f"- {labels[a]}: {', '.join(values[a])}\n" for a in range(m))
            + "\nClues:\n"
            + "".join(f"{i}. {s}\n" for i, s in enumerate(described, 1))
            + "\nWho lives where? Answer with one line per house, values in the order of the attributes above:\n"
            + "House 1: "
            + ", ".join(f"<{label.lower()}>" for label in labels)
        )
        answer = {"attributes": labels, "houses": houses}
        return {
            "question": question,
            "answer": answer,
            "houses": n,
            "attributes": labels,
            "clues": described,
            "constraints": [_as_json(c, labels, values) for c in clues],
            "solution": houses,
        }

    def parse_answer(self, raw: Any) -> dict[str, Any]:
        """Canonical `{"attributes": [labels], "houses": [[value per attribute] per house]}`."""
        raw = from_json_text(raw)
        if isinstance(raw, Mapping) and "houses" not in raw and isinstance(raw.get("answer"), (Mapping, str)):
            return self.parse_answer(raw["answer"])
        if not isinstance(raw, Mapping) or not isinstance(raw.get("houses"), list):
            raise ValueError("answer: expected {attributes: [...], houses: [[...], ...]}")
        houses = raw["houses"]
        attributes = raw.get("attributes")
        n = len(houses)
        if not 1 <= n <= 20 or not all(isinstance(h, list) and h for h in houses):
            raise ValueError("answer: houses must be 1..20 non-empty lists")
        m = len(houses[0])
        if attributes is None:
            attributes = [f"attribute {a + 1}" for a in range(m)]
        if not isinstance(attributes, list) or len(attributes) != m or any(len(h) != m for h in houses):
            raise ValueError(f"answer: every house needs one value per attribute ({m})")
        flat = [v for h in houses for v in h]
        if not all(isinstance(v, str) and v.strip() and len(v) <= 60 for v in flat):
            raise ValueError("answer: values must be non-empty strings")
        if len({v.strip().lower() for v in flat}) != len(flat):
            raise ValueError("answer: every value must be distinct (across houses and attributes)")
        return {
            "attributes": [str(a) for a in attributes],
            "houses": [[v.strip() for v in h] for h in houses],
        }

    def reference_text(self, answer: Any) -> str:
        answer = self.parse_answer(answer)
        return "\n".join(f"House {h}: {', '.join(values)}" for h, values in enumerate(answer["houses"], 1))

    def verify(self, completion: str, answer: Any) -> Verdict:
        if not (isinstance(answer, dict) and "houses" in answer):
            answer = self.parse_answer(answer)
        block = answer_block(completion)
        if block.answer is None:
            return Verdict(block.format_ok, 0.0, False, block.problem)
        houses = answer["houses"]
        key = _compiled(tuple(v.lower() for h in houses for v in h), len(houses[0]))
        return _judge(block.format_ok, block.answer.lower(), key, len(houses))


# -- generation helpers ----------------------------------------------------------------------


def _var(n: int, a: int, v: int, h: int) -> int:
    """SAT variable: attribute a has value v in house h (1-based for the solver)."""
    return 1 + (a * n + v) * n + h


@functools.lru_cache(maxsize=64)
def _base_cnf(n: int, m: int) -> list[list[int]]:
    """Per attribute: every value in exactly one house, every house exactly one value."""
    cnf: list[list[int]] = []
    for a in range(m):
        for v in range(n):
            cells = [_var(n, a, v, h) for h in range(n)]
            cnf.append(cells)
            cnf += [[-x, -y] for i, x in enumerate(cells) for y in cells[i + 1 :]]
        for h in range(n):
            cells = [_var(n, a, v, h) for v in range(n)]
            cnf.append(cells)
            cnf += [[-x, -y] for i, x in enumerate(cells) for y in cells[i + 1 :]]
    return cnf


def _random_clue(rng: random.Random, n: int, m: int, grid: list[list[int]]) -> tuple:
    """A true clue: (kind, (a, v), (a, v) | house)."""
    kind = rng.choices(_KINDS, _WEIGHTS)[0]
    if kind == "gap" and n < 3:
        kind = "next"

    def item(h: int, exclude: int = -1) -> tuple[int, int]:
        a = rng.choice([a for a in range(m) if a != exclude])
        return (a, grid[a][h])

    if kind in ("at", "not_at"):
        h = rng.randrange(n)
        x = item(h)
        return (kind, x, h if kind == "at" else rng.choice([k for k in range(n) if k != h]))
    if kind == "same":
        h = rng.randrange(n)
        x = item(h)
        return (kind, x, item(h, exclude=x[0]))
    if kind == "not_same":
        h1, h2 = rng.sample(range(n), 2)
        x = item(h1)
        return (kind, x, item(h2, exclude=x[0]))
    if kind == "left":
        h = rng.randrange(n - 1)
        return (kind, item(h), item(h + 1))
    if kind == "before":
        h1, h2 = sorted(rng.sample(range(n), 2))
        return (kind, item(h1), item(h2))
    step = 1 if kind == "next" else 2
    h = rng.randrange(n - step)
    pair = [item(h), item(h + step)]
    rng.shuffle(pair)
    return (kind, pair[0], pair[1])


def _cnf(clue: tuple, n: int) -> list[list[int]]:
    kind, (a1, v1), other = clue

    def x(h: int) -> int:
        return _var(n, a1, v1, h)

    if kind == "at":
        return [[x(other)]]
    if kind == "not_at":
        return [[-x(other)]]
    a2, v2 = other

    def y(h: int) -> int:
        return _var(n, a2, v2, h)

    hs = range(n)
    if kind == "same":
        return [c for h in hs for c in ([-x(h), y(h)], [x(h), -y(h)])]
    if kind == "not_same":
        return [[-x(h), -y(h)] for h in hs]
    if kind == "left":  # x directly left of y
        return [[-x(h)] + ([y(h + 1)] if h + 1 < n else []) for h in hs] + [
            [-y(h)] + ([x(h - 1)] if h > 0 else []) for h in hs
        ]
    if kind == "before":  # x somewhere left of y
        return [[-x(h)] + [y(k) for k in range(h + 1, n)] for h in hs] + [
            [-y(h)] + [x(k) for k in range(h)] for h in hs
        ]
    step = 1 if kind == "next" else 2
    return [[-x(h)] + [y(k) for k in (h - step, h + step) if 0 <= k < n] for h in hs] + [
        [-y(h)] + [x(k) for k in (h - step, h + step) if 0 <= k < n] for h in hs
    ]


def _as_json(clue: tuple, labels: list[str], values: list[list[str]]) -> list[Any]:
    """A clue as data: [kind, [attribute, value], [attribute, value] or house number (1-based)]."""
    kind, (a1, v1), other = clue
    second = other + 1 if isinstance(other, int) else [labels[other[0]], values[other[0]][other[1]]]
    return [kind, [labels[a1], values[a1][v1]], second]


def _sentence(clue: tuple, keys: list[str], values: list[list[str]]) -> str:
    kind, (a1, v1), other = clue

    def who(a: int, v: int) -> str:
        return ATTRIBUTES[keys[a]][1].format(v=values[a][v])

    x = who(a1, v1)
    if kind == "at":
        s = f"{x} lives in house {other + 1}."
    elif kind == "not_at":
        s = f"{x} does not live in house {other + 1}."
    else:
        y = who(*other)
        s = {
            "same": f"{x} is {y}.",
            "not_same": f"{x} is not {y}.",
            "left": f"{x} lives directly left of {y}.",
            "before": f"{x} lives somewhere to the left of {y}.",
            "next": f"{x} and {y} live next to each other.",
            "gap": f"There is one house between {x} and {y}.",
        }[kind]
    return s[0].upper() + s[1:]


# -- verification helpers --------------------------------------------------------------------
class _Key:
    __slots__ = ("cell", "pattern")

    def __init__(self, flat: tuple[str, ...], m: int) -> None:
        self.cell = {v: (i // m, i % m) for i, v in enumerate(flat)}  # value -> (house, attribute)
        alt = "|".join(re.escape(v) for v in sorted(flat, key=len, reverse=True))
        self.pattern = re.compile(rf"(?<![\w-])(?:{alt})(?![\w-])")


@functools.lru_cache(maxsize=1024)
def _compiled(flat: tuple[str, ...], m: int) -> _Key:
    return _Key(flat, m)


def _segments(text: str, n: int) -> list[tuple[int, str]] | str:
    """(house index, its text) from "House k: ..." markers, else from lines starting with k."""
    marks = [(int(mm.group(1)), mm.end(), mm.start()) for mm in _HOUSE.finditer(text)]
    if not marks:
        marks = [(int(mm.group(1)), mm.end(), mm.start()) for mm in _LEADING_NUMBER.finditer(text)]
    if not marks:
        return "no 'House k:' lines"
    out = []
    for i, (k, start, _) in enumerate(marks):
        if not 1 <= k <= n:
            return f"there is no house {k}"
        end = marks[i + 1][2] if i + 1 < len(marks) else len(text)
        out.append((k - 1, text[start:end]))
    return out


def _judge(format_ok: bool, text: str, key: _Key, n: int) -> Verdict:
    m = len(key.cell) // n
    segments = _segments(text, n)
    if isinstance(segments, str):
        return Verdict(format_ok, 0.0, False, segments)
    given: dict[tuple[int, int], int] = {}  # (house, attribute) -> house the value belongs to
    placed: dict[str, int] = {}  # value -> house it was given
    for house, segment in segments:
        for mm in key.pattern.finditer(segment):
            value = mm.group(0)
            true_house, attribute = key.cell[value]
            if placed.setdefault(value, house) != house:
                return Verdict(format_ok, 0.0, False, f"hedged: {value} placed in two houses")
            if given.setdefault((house, attribute), true_house) != true_house:
                return Verdict(
                    format_ok, 0.0, False, f"hedged: two values of one attribute in house {house + 1}"
                )
    right = sum(1 for (house, _), true_house in given.items() if house == true_house)
    total = n * m
    if len(given) < total:
        return Verdict(format_ok, right / total, False, f"incomplete: {len(given)}/{total} cells")
    if right == total:
        return Verdict(format_ok, 1.0, True, "correct")
    return Verdict(format_ok, right / total, True, f"wrong: {right}/{total} cells right")
