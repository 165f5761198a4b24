"""`reasoning_gym` verifier: a reasoning-gym task's own `score_answer`, inside our guards.

The reference (from a `reasoning_gym:` source) is `{"task", "answer", "metadata"}`: what the
task's scorer needs, with the task's name. Guards around the scorer:

- bounded time: it runs in a spawned worker process with a deadline (`guard.BoundedWorker`);
- no credit for padding: reasoning-gym's default scorer gives `len(oracle)/len(answer)` to any
  answer that contains the oracle ("The answer is 4, or 5" scores > 0); an answer that contains
  the reference but is not it scores 0 unless the task's scorer gives it full credit;
- no credit for hedges ("4 or 5", "either ...") unless the reference itself reads that way;
- answers longer than `MAX_ANSWER` (or 4x the reference) are not scored.
Full credit is a score >= 1; a task's own partial credit (below 1) is kept otherwise.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson

from dumpcli.puzzles.answer import answer_block
from dumpcli.puzzles.base import Verdict, Verifier
from dumpcli.puzzles.guard import BoundedWorker

MAX_ANSWER = 2_000
DEADLINE = 20.0  # seconds for one score_answer call
_HEDGE = re.compile(r"(?<![a-z])(?:or|either|maybe|possibly|perhaps)(?![a-z])", re.IGNORECASE)
_scorers: dict[str, Any] = {}


def score(task: str, given: str, entry: dict[str, Any]) -> float:
    """In the worker: the task's scorer (made once per task)."""
    if task not in _scorers:
        import reasoning_gym

        _scorers[task] = reasoning_gym.get_score_answer_fn(task)
    return float(_scorers[task](given, entry))


def _warm() -> None:
    import reasoning_gym  # noqa: F401


_WORKER = BoundedWorker(_warm)


@functools.lru_cache(maxsize=16384)
def _judge(task: str, given: str, entry_json: str) -> float | None:
    try:
        finished, value = _WORKER.run(score, (task, given, orjson.loads(entry_json)), DEADLINE)
    except Exception:  # noqa: BLE001 - a scorer that fails on odd input gives no credit
        return 0.0
    return value if finished else None


class ReasoningGymAnswer(Verifier):
    name = "reasoning_gym"

    def parse_answer(self, raw: Any) -> dict[str, Any]:
        if isinstance(raw, (str, bytes)):
            try:
                raw = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ValueError("answer: expected {task, answer, metadata} as JSON") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("task"), str):
            raise ValueError("answer: expected {task, answer, metadata} from a reasoning_gym source")
        answer = raw.get("answer")
        if not isinstance(answer, str):
            answer = "" if answer is None else str(answer)
        metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        return {"task": raw["task"], "answer": answer, "metadata": metadata}

    def reference_text(self, answer: Any) -> str:
        return self.parse_answer(answer)["answer"]

    def verify(self, completion: str, answer: Any) -> Verdict:
        ref = self.parse_answer(answer)
        oracle = ref["answer"].strip()
        block = answer_block(completion)
        if block.answer is None:
            return Verdict(block.format_ok, 0.0, False, block.problem)
        given = block.answer
        if len(given) > max(MAX_ANSWER, 4 * len(oracle)):
            return Verdict(block.format_ok, 0.0, False, "answer too long")
        if _HEDGE.search(given) and not _HEDGE.search(oracle):
            return Verdict(block.format_ok, 0.0, True, f"hedged: {given[:40]!r}")
        entry = {"question": "", "answer": ref["answer"], "metadata": ref["metadata"]}
        value = _judge(ref["task"], given, orjson.dumps(entry, default=str).decode())
        if value is None:
            return Verdict(block.format_ok, 0.0, True, f"scoring took over {DEADLINE:.0f} s")
        if value >= 1.0:
            return Verdict(block.format_ok, 1.0, True, "correct")
        if oracle and oracle in given:
            return Verdict(block.format_ok, 0.0, True, f"padded: contains {oracle[:30]!r} but is not it")
        value = min(max(value, 0.0), 1.0)
        detail = "partly correct" if value > 0 else f"expected {oracle[:40]!r}, got {given[:40]!r}"
        return Verdict(block.format_ok, value, True, detail)
