"""Answers that are a short sequence of items (digits, numbers, words): the parsing and the
positional partial credit shared by the sequence families (sorting, addition, parity).

A sequence answer is the items separated by spaces, commas or semicolons, optionally inside one
pair of brackets, after a few words that name it and before a final period: "1 2 3", "1, 2, 3",
"1; 2; 3", "[1, 2, 3]", "The answer is 1, 2, 3.", "Answer: [1, 2, 3]". Anything else inside the
answer block (a word such as "or", a second list, an explanation, a question mark, a lead-in that
doubts: "The answer is maybe ...") makes it unreadable: a hedge such as "1 2 3 or 1 3 2" gets no
credit, under any reward scheme.

Partial credit (the `partial` reward) is positional:
    credit = #{i : given[i] == reference[i]} / max(len(given), len(reference))
so padding ("1 2 3 3 3") and missing items both cost, and only the exact answer scores 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from dumpcli.puzzles.answer import answer_block, visible_text
from dumpcli.puzzles.base import Verdict

MAX_ITEMS = 256  # far beyond any difficulty; a longer answer is not read
_SEPARATORS = re.compile(r"[\s,;]+")
# A few words that name the answer: "The answer is", "The parity is:", "Answer:", "Sorted ="
_LEAD_IN = re.compile(
    r"(?:[a-z]+\s+){0,5}?(?:(?:is|are)\b|=)\s*:?\s*|(?:[a-z]+\s+){0,5}?[a-z]+\s*[:=]\s*", re.I
)
_DOUBT = frozenset(
    "not maybe perhaps possibly probably likely either or unless if whether guess approximately about "
    "cannot unsure unclear unknown".split()
)


def answer_body(text: str) -> str | None:
    """The answer without the words that name it (`_LEAD_IN`) and a final period; None when those
    words doubt it ("The answer is not", "Maybe it is")."""
    text = visible_text(text).strip()  # a zero-width character would hide a word from the check
    lead = _LEAD_IN.match(text)
    if lead is not None:
        if _DOUBT.intersection(lead.group(0).lower().replace(":", " ").replace("=", " ").split()):
            return None
        text = text[lead.end() :]
    return text.rstrip(".!").strip()


def split_items(text: str, item: re.Pattern[str]) -> list[str] | None:
    """The items of a sequence answer, or None when it is not exactly a sequence of `item`s."""
    body = answer_body(text)
    return None if body is None else items_of(body, item)


def items_of(text: str, item: re.Pattern[str]) -> list[str] | None:
    """The items of an answer's body (`answer_body`), or None when it is not exactly a sequence."""
    if len(text) >= 2 and (text[0], text[-1]) in (("[", "]"), ("(", ")")):
        text = text[1:-1]
    parts = [p for p in _SEPARATORS.split(text) if p]
    if not parts or len(parts) > MAX_ITEMS or not all(item.fullmatch(p) for p in parts):
        return None
    return parts


def positional_credit(given: Sequence[object], reference: Sequence[object]) -> float:
    """Fraction of positions right, over the longer of the two sequences (1.0 only when equal)."""
    longest = max(len(given), len(reference))
    if longest == 0:
        return 1.0
    return sum(g == r for g, r in zip(given, reference, strict=False)) / longest


def judge_sequence(
    completion: str,
    reference: Sequence[str],
    item: re.Pattern[str],
    read: Callable[[str], list[str] | None] | None = None,
) -> Verdict:
    """Verdict of a completion whose answer should be the sequence `reference`; `read` turns the
    answer block into items (default: `split_items` with `item`)."""
    block = answer_block(completion)
    if block.answer is None:
        return Verdict(block.format_ok, 0.0, False, block.problem)
    given = split_items(block.answer, item) if read is None else read(block.answer)
    if given is None:
        return Verdict(block.format_ok, 0.0, False, f"not a plain sequence: {block.answer[:40]!r}")
    given = [g.lower() for g in given]
    credit = positional_credit(given, [r.lower() for r in reference])
    if credit >= 1.0:
        return Verdict(block.format_ok, 1.0, True, "correct")
    return Verdict(block.format_ok, credit, True, f"{credit:.0%} of positions right")
