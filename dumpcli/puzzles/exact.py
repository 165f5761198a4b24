"""Exact match for file sources with free-text answers (math results, short answers).

The last <answer> block and the reference are normalised (case, whitespace, surrounding `$`,
`\\boxed{...}`, a trailing period) and compared; two numbers ("1,000" and "1000.0", "1/2" and
"0.5", "4.2e1" and "42") are compared as numbers. All or nothing: answer_score is 1.0 or 0.0.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import orjson

from dumpcli.puzzles.answer import answer_block
from dumpcli.puzzles.base import Verdict, Verifier

MAX_REFERENCE = 10_000
_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")
_RATIO = re.compile(r"([+-]?\d+)\s*/\s*(\d+)")
_SCIENTIFIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)[eE]([+-]?\d{1,3})")  # 4.2e1; |exponent| < 1000


def normalise(text: str) -> str:
    """Casefolded, single-spaced, without wrappers (`$..$`, `\\boxed{..}`, `\\text{..}`, quotes, final '.')."""
    s = _SPACES.sub(" ", text).strip()
    for _ in range(4):  # peel nested wrappers, a few layers at most
        before = s
        if s.startswith("\\boxed{") and s.endswith("}"):
            s = s[len("\\boxed{") : -1].strip()
        if s.startswith("\\text{") and s.endswith("}"):
            s = s[len("\\text{") : -1].strip()
        if len(s) >= 2 and s[0] == s[-1] and s[0] in "$\"'`":
            s = s[1:-1].strip()
        s = s.rstrip(".").strip()
        if s == before:
            break
    return s.casefold()


def as_number(text: str) -> Fraction | None:
    """A number if the whole text is one ("1,000", "-2.5", "3/4", "4.2e1"), else None."""
    if len(text) > 200:  # also keeps int() under Python's 4300-digit limit
        return None
    if _NUMBER.fullmatch(text):
        return Fraction(text.replace(",", ""))
    if _SCIENTIFIC.fullmatch(text):
        return Fraction(text)
    m = _RATIO.fullmatch(text)
    if m and int(m.group(2)) != 0:
        return Fraction(int(m.group(1)), int(m.group(2)))
    return None


def reference_as_text(raw: Any) -> str:
    """A reference answer from a record as stripped text: numbers as their decimal text, the JSON
    text of a string decoded; refuses booleans, nulls and other types (shared with `math`)."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, bool) or raw is None:
        raise ValueError(f"answer: expected text or a number, got {raw!r}")
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            raise ValueError(f"answer: {raw} is not a usable number")
        return str(int(raw)) if raw.is_integer() else repr(raw)
    if not isinstance(raw, str):
        raise ValueError(f"answer: expected text or a number, got {type(raw).__name__}")
    text = raw.strip()
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:  # a JSON-encoded string
        try:
            decoded = orjson.loads(text)
        except orjson.JSONDecodeError:
            decoded = None
        if isinstance(decoded, str):
            text = decoded.strip()
    return text


def bounded_reference(text: str, limit: int) -> str:
    """A reference that is neither empty nor longer than `limit` characters (else ValueError)."""
    if not text:
        raise ValueError("answer: empty")
    if len(text) > limit:
        raise ValueError(f"answer: longer than {limit} characters")
    return text


class ExactMatch(Verifier):
    name = "exact"

    def parse_answer(self, raw: Any) -> str:
        """Canonical answer: the reference as a string (numbers become their decimal text)."""
        return bounded_reference(reference_as_text(raw), MAX_REFERENCE)

    def reference_text(self, answer: Any) -> str:
        return self.parse_answer(answer)

    def verify(self, completion: str, answer: Any) -> Verdict:
        reference = normalise(self.parse_answer(answer))
        block = answer_block(completion)
        if block.answer is None:
            return Verdict(block.format_ok, 0.0, False, block.problem)
        given = normalise(block.answer)
        if given == reference:
            return Verdict(block.format_ok, 1.0, True, "correct")
        a, b = as_number(given), as_number(reference)
        if a is not None and a == b:
            return Verdict(block.format_ok, 1.0, True, "correct")
        return Verdict(block.format_ok, 0.0, True, f"expected {reference[:40]!r}, got {given[:40]!r}")
