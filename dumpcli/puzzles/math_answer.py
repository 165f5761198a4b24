"""`math` verifier: final answers compared by `math-verify` (LaTeX, \\boxed, plain numbers, sets,
intervals, percentages, units), binary credit.

References are canonicalised when data is prepared: GSM8K's `... #### 1,234` becomes `1234`, a
MATH-style worked solution becomes the content of its last `\\boxed{...}`. The completion's last
<answer> block (the shared format rule) is parsed and compared with `math_verify.verify`.

Bounded time on any input: math-verify's own timeouts (`parsing_timeout`, `timeout_seconds`) use
`signal.alarm`, which works only on a main thread and cannot interrupt a long C-level step (a big
integer power). So every check runs in a spawned one-process pool (`guard.BoundedWorker`) where
math-verify's timeouts are on, and the caller also waits at most `CHECK_DEADLINE` seconds; a
worker that overruns is terminated and replaced, and the answer scores 0. This works from any thread and any process. Hedged answers ("2 or 3") score 0.
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
MV_TIMEOUT = 3  # seconds, math-verify's own per-parse / per-comparison limit (in the worker)
CHECK_DEADLINE = 20.0  # seconds the caller waits for one check before killing the worker
_HEDGE = re.compile(r"(?<![\\a-z])(?:or|either|maybe|possibly)(?![a-z])", re.IGNORECASE)
_GSM8K = "####"


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` / `\\fbox{...}` (braces matched), or None."""
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
                return text[i + 1 : j].strip()
    return None


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
        if _HEDGE.search(given.replace("\\text{or}", " or ")):
            return Verdict(block.format_ok, 0.0, True, f"hedged: {given[:40]!r}")
        result = _judge(reference, given)
        if result is None:
            return Verdict(block.format_ok, 0.0, True, f"check took over {CHECK_DEADLINE:.0f} s")
        parsed, same = result
        if not parsed:
            return Verdict(block.format_ok, 0.0, False, f"no math answer in {given[:40]!r}")
        if same:
            return Verdict(block.format_ok, 1.0, True, "correct")
        return Verdict(block.format_ok, 0.0, True, f"expected {reference[:40]!r}, got {given[:40]!r}")
