"""Bounded time on hostile completions: 1 MB inputs and regex-backtracking bait, for every verifier.

The battery runs in a subprocess with a generous watchdog, so a catastrophic regex fails the test
instead of hanging it (the battery itself takes about a second; timings are in BENCHMARKS.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

BATTERY = r"""
import json, time
from dumpcli.puzzles.registry import get_verifier
from dumpcli.puzzles.knights_knaves import NAMES

MB = 1_000_000
K = 19_000  # just under the answer-block cap
wrap = lambda block: "<think>x</think><answer>" + block + "</answer>"
inputs = {
    "many think tags": "<think>" * (MB // 7),
    "many answer tags": "<answer>" * (MB // 16) + "</answer>" * (MB // 18),
    "mixed-case tags": "<ThInK><AnSwEr>" * (MB // 15),
    "angle brackets": "<" * MB,
    "huge answer block": wrap("Zoey is a knight " * (MB // 17)),
    "long word then spaces": wrap("zoey" + " " * K + "!"),
    "spaces then role": wrap(" " * K + "knight"),
    "repeated is": wrap("is " * (K // 3) + "knigh"),
    "repeated is a": wrap("zoey is a " * (K // 10)),
    "many assignments": wrap("zoey is a knight " * (K // 17)),
    "separators": wrap("zoey" + ":" * K + "knigh"),
    "one long word": wrap("a" * K + " knight"),
    "house and spaces": wrap("house" + " " * K + "x"),
    "house house": wrap("house " * (K // 6)),
    "blank lines": wrap("\n" * K + "1"),
    "table pipes": wrap("|" * K),
    "parentheses": wrap("(" * K),
    "long sum": wrap("1+" * (K // 2) + "1"),
    "nested under cap": wrap("(" * 240 + "1" + ")" * 240),
    "digits": wrap("9" * K),
    "many knight words": wrap("knight " * (K // 7)),
    "many groups": wrap("ava and aria are knights, ava and aria are knaves. " * (K // 50)),
    "long name list": wrap("ava, " * (K // 5) + "and aria are knights"),
    "many synonyms": wrap("ava always lies and aria tells the truth " * (K // 41)),
    "repeated negation": wrap("is not " * (K // 7) + "honest"),
    "zero-width characters": wrap("k\u200b" * (K // 2) + "night"),
    "many equals": wrap("1 = " * (K // 4)),
}
answers = {
    "knights_knaves": {"names": NAMES[:16], "solution": [True, False] * 8},
    "zebra": {"attributes": ["Name", "Pet"], "houses": [["Alice", "cat"], ["Bob", "dog"]]},
    "countdown": {"numbers": [1, 2, 3], "target": 6},
    "exact": "42",
}
out = {}
for label, text in inputs.items():
    for name, answer in answers.items():
        start = time.perf_counter()
        verdict = get_verifier(name).verify(text, answer)
        out[f"{label} / {name}"] = [verdict.answer_score, time.perf_counter() - start]
print(json.dumps(out))
"""


def test_every_verifier_is_fast_and_gives_nothing_on_hostile_input() -> None:
    run = subprocess.run(
        [sys.executable, "-c", BATTERY], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout)
    assert len(results) == 27 * 4
    credited = {k: v for k, v in results.items() if v[0] > 0}
    assert credited == {}
