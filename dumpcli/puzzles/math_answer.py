"""`math` verifier: final answers compared by `math-verify` (LaTeX, \\boxed, plain numbers, sets,
intervals, percentages, units), binary credit.

References are canonicalised when data is prepared: GSM8K's `... #### 1,234` becomes `1234`, a
MATH-style worked solution becomes the content of its last `\\boxed{...}`. The completion's last
<answer> block (the shared format rule) is parsed and compared with `math_verify.verify`.

Bounded time on any input: math-verify's own timeouts (`parsing_timeout`, `timeout_seconds`) use
`signal.alarm`, which works only on a main thread and cannot interrupt a long C-level step (a big
integer power). So every check runs in a spawned one-process pool (`guard.BoundedWorker`) where
math-verify's timeouts are on, and the caller also waits at most `CHECK_DEADLINE` seconds; a
worker that overruns is terminated and replaced, and the answer scores 0. This works from any thread and any process.

Only an unhedged final answer counts (`_uncommitted`): a hedge or doubt word ("2 or 3",
`\\boxed{2} \\text{ unless it is } 3`, "probably 2"), an approximation (`x \\approx 2`), a negation
(`x \\neq 3`), a question mark ("2?"), and a number or a second box after the boxed answer
(`\\boxed{2}, but 3 also works`) score 0, unless the reference itself holds that word or sign.
An equation counts only when it is true and its right side is the answer: every side with a
digit in it must equal the reference ("1 + 1 = 2", not "3 = 2"); a side without digits is a name
("x = 2"). A reference that is itself an equation is compared as a whole.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from dumpcli.puzzles.answer import answer_block
from dumpcli.puzzles.base import Verdict, Verifier
from dumpcli.puzzles.exact import bounded_reference, reference_as_text
from dumpcli.puzzles.guard import BoundedWorker

MAX_REFERENCE = 2_000
MAX_ANSWER = 1_000  # a final answer longer than this is not a final answer; not parsed
MAX_SIDES = 4  # of an equation ("x = 1 + 1 = 2" has 3); a longer chain is not a final answer
MV_TIMEOUT = 3  # seconds, math-verify's own per-parse / per-comparison limit (in the worker)
CHECK_DEADLINE = 20.0  # seconds the caller waits for one check before killing the worker
_HEDGE = re.compile(
    r"(?<![\\a-z])(?:or|either|maybe|possibly|perhaps|probably|likely|unless|except|approx|approximately"
    r"|about|around|roughly|nearly|almost|guess|unsure|not|if|whether|assuming)(?![a-z])"
    r"|\\(?:approx|sim|simeq|thickapprox|thicksim|neq|ne)(?![a-z])|[?\u2248\u2243\u223c\u2260]",
    re.IGNORECASE,
)
_EQUALS = re.compile(r"(?<![<>!:=\\])=(?!=)")  # not <=, >=, !=, :=, ==
_GSM8K = "####"


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` / `\\fbox{...}` (braces matched), or None."""
    span = _last_box(text)
    return None if span is None else text[span[1] : span[2]].strip()


def _last_box(text: str) -> tuple[int, int, int] | None:
    """(where the last `\\boxed`/`\\fbox` starts, where its content starts, its closing brace)."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return start, i + 1, j
    return None


def _uncommitted(reference: str, given: str) -> str | None:
    """Why `given` is not one committed final answer (see the module's docstring), or None."""
    for m in _HEDGE.finditer(given.replace("\\text{or}", " or ")):
        if m.group(0).lower() not in reference.lower():
            return f"hedged: {m.group(0)!r}"
    box = _last_box(given)
    if box is not None:
        before, after = given[: box[0]], given[box[2] + 1 :]
        if "\\boxed" in before or "\\fbox" in before or any(c.isdigit() for c in after):
            return "more than one answer"
    return None


def _sides(reference: str, given: str) -> list[str]:
    """The sides of an equation that must equal the reference, the last one (the answer) first;
    [given] when it is no equation (or the reference is one); [] for a chain of over MAX_SIDES."""
    box = _last_box(given)
    final = given if box is None else given[box[1] : box[2]]
    if _EQUALS.search(reference) or not _EQUALS.search(final):
        return [given]
    *left, right = _EQUALS.split(final)
    if len(left) >= MAX_SIDES:  # each side is a check of its own, up to CHECK_DEADLINE
        return []
    return [right.strip(), *(side.strip() for side in left if any(c.isdigit() for c in side))]


def _parse(text: str) -> list[Any]:
    """math-verify's parse: bare text is first read as LaTeX (`(1, 2]` is an interval, not 2)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    config = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    text = text.replace("\\$", "")  # an escaped dollar is a currency sign, not math mode
    found: list[Any] = []
    if "$" not in text and "\\boxed" not in text and "\\(" not in text and "\\[" not in text:
        found = parse(f"${text}$", extraction_config=config, parsing_timeout=MV_TIMEOUT)
    return found or parse(text, extraction_config=config, parsing_timeout=MV_TIMEOUT)


def check(reference: str, given: str) -> tuple[bool, bool]:
    """(parsed, equivalent). Runs in the worker process; math-verify's timeouts are active there."""
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    from math_verify import verify

    gold, pred = _parse(reference), _parse(given)
    if not pred:
        return False, False
    if not gold:  # a reference math-verify cannot read: compare the text
        return True, reference.strip() == given.strip()
    return True, bool(verify(gold, pred, timeout_seconds=MV_TIMEOUT))


def _warm() -> bool:
    check("1", "1")
    return True


_WORKER = BoundedWorker(_warm)


@functools.lru_cache(maxsize=16384)
def _judge(reference: str, given: str) -> tuple[bool, bool] | None:
    """Cached: GRPO scores the same few final answers many times per step."""
    try:
        finished, result = _WORKER.run(check, (reference, given), CHECK_DEADLINE)
    except Exception:  # noqa: BLE001 - an error inside math-verify on odd input: no credit
        return True, False
    return result if finished else None


class MathAnswer(Verifier):
    name = "math"

    def parse_answer(self, raw: Any) -> str:
        """The reference as a short string: numbers as decimal text, GSM8K `#### 42` -> `42`, a
        worked solution with `\\boxed{..}` -> its content."""
        text = reference_as_text(raw)
        if _GSM8K in text:
            text = text.rsplit(_GSM8K, 1)[1].strip().replace(",", "")
        elif "\\boxed" in text or "\\fbox" in text:
            boxed = last_boxed(text)
            if boxed is None:
                raise ValueError("answer: a \\boxed{ without its closing brace")
            text = boxed
        return bounded_reference(text, MAX_REFERENCE)

    def reference_text(self, answer: Any) -> str:
        return self.parse_answer(answer)

    def verify(self, completion: str, answer: Any) -> Verdict:
        reference = self.parse_answer(answer)
        block = answer_block(completion)
        if block.answer is None:
            return Verdict(block.format_ok, 0.0, False, block.problem)
        given = block.answer
        if len(given) > MAX_ANSWER:
            return Verdict(block.format_ok, 0.0, False, f"answer longer than {MAX_ANSWER} characters")
        problem = _uncommitted(reference, given)
        if problem is not None:
            return Verdict(block.format_ok, 0.0, True, problem)
        sides = _sides(reference, given)
        if not sides:
            return Verdict(block.format_ok, 0.0, True, f"an equation of more than {MAX_SIDES} sides")
        for k, side in enumerate(sides):
            result = _judge(reference, side)
            if result is None:
                return Verdict(block.format_ok, 0.0, True, f"check took over {CHECK_DEADLINE:.0f} s")
            parsed, same = result
            if not parsed and k == 0:
                return Verdict(block.format_ok, 0.0, False, f"no math answer in {given[:40]!r}")
            if not same:
                what = "got" if k == 0 else "a side of the equation is"
                return Verdict(
                    block.format_ok, 0.0, True, f"expected {reference[:40]!r}, {what} {side[:40]!r}"
                )
        return Verdict(block.format_ok, 1.0, True, "correct")
