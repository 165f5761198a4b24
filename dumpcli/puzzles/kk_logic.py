"""The knights-and-knaves statement notation of DUMP / Logic-RL, evaluated over all assignments at once.

A statement is a nested tuple: `('telling-truth', i)` (person i is a knight), `('lying', i)`
(person i is a knave), `('not', s)`, `('and', s1, s2, ...)`, `('or', s1, s2, ...)`,
`('->', a, b)`, `('<=>', a, b)`. A puzzle is one statement per person; person i says statement i.

Evaluation is over bit masks: an assignment of n people is an integer a in [0, 2^n) (person i is a
knight iff bit i of a is set), and a *set* of assignments is a Python int of 2^n bits. Each
connective is then one big-integer bitwise operation over all 2^n assignments at once, with no
Python loop per assignment. (Python ints beat numpy arrays here: at 16 people an AND over 65536
assignments is ~2 us as an int, ~7 us as a packed uint64 array, ~13 us as a bool array.)
A person is consistent iff their statement's truth equals their being a knight; the solutions are
the assignments where every person is consistent.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Sequence
from typing import Any

Statement = tuple[Any, ...]

LEAVES = ("telling-truth", "lying")
BINARY = ("->", "<=>")
VARIADIC = ("and", "or")
MAX_PEOPLE = 20  # 2^20 assignments = a 128 KiB mask; beyond that generation gets slow
MAX_TEXT = 200_000  # characters of a statements string we agree to parse
MAX_DEPTH = 32


@functools.lru_cache(maxsize=MAX_PEOPLE + 1)
def masks(n: int) -> tuple[int, tuple[int, ...]]:
    """(all assignments, per person the set of assignments where that person is a knight)."""
    if not 1 <= n <= MAX_PEOPLE:
        raise ValueError(f"number of people must be 1..{MAX_PEOPLE}, got {n}")
    size = 1 << n
    full = (1 << size) - 1
    knights = []
    for i in range(n):
        half = 1 << i
        block = ((1 << half) - 1) << half  # period 2^(i+1): 2^i assignments without bit i, then 2^i with
        knights.append(block * (full // ((1 << (2 * half)) - 1)))  # repeated over all 2^n
    return full, tuple(knights)


def evaluate(s: Statement, knights: Sequence[int], full: int) -> int:
    """The set of assignments in which statement `s` is true."""
    op = s[0]
    if op == "telling-truth":
        return knights[s[1]]
    if op == "lying":
        return full ^ knights[s[1]]
    if op == "not":
        return full ^ evaluate(s[1], knights, full)
    if op == "and":
        out = full
        for c in s[1:]:
            out &= evaluate(c, knights, full)
        return out
    if op == "or":
        out = 0
        for c in s[1:]:
            out |= evaluate(c, knights, full)
        return out
    if op == "->":
        return (full ^ evaluate(s[1], knights, full)) | evaluate(s[2], knights, full)
    if op == "<=>":
        return full ^ (evaluate(s[1], knights, full) ^ evaluate(s[2], knights, full))
    raise ValueError(f"unknown connective {op!r}")


def consistent(statements: Sequence[Statement], n: int | None = None) -> int:
    """The set (bit mask) of assignments in which every person's statement matches their role."""
    n = len(statements) if n is None else n
    full, knights = masks(n)
    mask = full
    for i, s in enumerate(statements):
        mask &= full ^ (evaluate(s, knights, full) ^ knights[i])
        if not mask:
            break
    return mask


def decode(assignment: int, n: int) -> list[bool]:
    """Assignment index -> roles (True = knight)."""
    return [bool(assignment >> i & 1) for i in range(n)]


def solutions(statements: Sequence[Statement], limit: int = 16) -> list[list[bool]]:
    """Up to `limit` consistent assignments, in increasing index order."""
    n = len(statements)
    mask = consistent(statements, n)
    out = []
    while mask and len(out) < limit:
        low = mask & -mask
        out.append(decode(low.bit_length() - 1, n))
        mask ^= low
    return out


def unique_solution(statements: Sequence[Statement]) -> list[bool] | None:
    """The solution if there is exactly one, else None."""
    mask = consistent(statements)
    if mask and not mask & (mask - 1):
        return decode(mask.bit_length() - 1, len(statements))
    return None


def to_text(statements: Sequence[Statement]) -> str:
    """DUMP's string form: the Python repr of the tuple of statements."""
    return repr(tuple(statements))


def parse(text: Any, n: int | None = None) -> tuple[Statement, ...]:
    """Parse and validate DUMP's statements string (or an already-built sequence).

    Uses `ast.literal_eval` (literals only, never executes code) on a bounded input.
    """
    if isinstance(text, str):
        if len(text) > MAX_TEXT:
            raise ValueError(f"statements: longer than {MAX_TEXT} characters")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
            raise ValueError(f"statements: not a tuple literal ({type(e).__name__})") from None
    else:
        value = text
    if not isinstance(value, (tuple, list)) or not value:
        raise ValueError("statements: expected a non-empty tuple, one statement per person")
    people = len(value) if n is None else n
    if len(value) != people:
        raise ValueError(f"statements: {len(value)} statements for {people} people")
    if people > MAX_PEOPLE:
        raise ValueError(f"statements: at most {MAX_PEOPLE} people supported, got {people}")
    return tuple(_check(s, people, 0) for s in value)


def _check(s: Any, n: int, depth: int) -> Statement:
    if depth > MAX_DEPTH:
        raise ValueError(f"statements: nested deeper than {MAX_DEPTH}")
    if not isinstance(s, (tuple, list)) or not s or not isinstance(s[0], str):
        raise ValueError(f"statements: expected (connective, ...), got {str(s)[:60]!r}")
    op = s[0]
    if op in LEAVES:
        if len(s) != 2 or type(s[1]) is not int or not 0 <= s[1] < n:
            raise ValueError(f"statements: ({op!r}, i) needs a person index 0..{n - 1}, got {str(s)[:60]!r}")
        return (op, s[1])
    args = tuple(_check(c, n, depth + 1) for c in s[1:])
    if op == "not" and len(args) == 1:
        return (op, *args)
    if op in BINARY and len(args) == 2:
        return (op, *args)
    if op in VARIADIC and len(args) >= 2:
        return (op, *args)
    raise ValueError(f"statements: bad connective or arity {op!r} with {len(args)} operand(s)")


def depth_of(s: Statement) -> int:
    """Nesting depth: a leaf is 1, ('and', leaf, leaf) is 2 (DUMP's puzzles are depth <= 2)."""
    if s[0] in LEAVES:
        return 1
    return 1 + max(depth_of(c) for c in s[1:])
