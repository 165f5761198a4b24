"""A tiny plug-in package, written by the tests into a folder: what a user would `pip install`.

It has the four kinds a package can register (a scheduler, a puzzle family, a verifier, a source
kind) as entry points in a `*.dist-info/entry_points.txt` beside the package, which
importlib.metadata discovers on sys.path exactly as for an installed distribution; and a reward
function a recipe names by import path. `write_plugin(folder)` returns the folder to put on
sys.path or PYTHONPATH.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = "dumpcli_demo_plugin"

FILES = {
    "__init__.py": '"""dumpcli plug-ins for the tests."""\n',
    "curriculum.py": '''
"""`fail_first`: p_d proportional to (1 - success rate of d so far) + floor."""
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from dumpcli.schedulers.base import Feedback, Options, Scheduler


class FailFirstOptions(Options):
    floor: float = Field(0.1, gt=0)


class FailFirst(Scheduler):
    name: ClassVar[str] = "fail_first"
    Options: ClassVar[type[Options]] = FailFirstOptions

    def __init__(self, distributions: Sequence[str], **kwargs: Any) -> None:
        super().__init__(distributions, **kwargs)
        self.n = np.zeros(self.k)
        self.solved = np.zeros(self.k)

    def probabilities(self) -> np.ndarray:
        rate = np.divide(self.solved, self.n, out=np.zeros(self.k), where=self.n > 0)
        w = 1.0 - rate + self.options.floor
        return w / w.sum()

    def update(self, feedback: Sequence[Feedback]) -> None:
        for f in feedback:
            self.n[self.index[f.distribution]] += 1
            self.solved[self.index[f.distribution]] += f.success

    def stats(self) -> dict[str, dict[str, float]]:
        return {d: {"n": float(self.n[i]), "solved": float(self.solved[i])} for i, d in enumerate(self.distributions)}

    def state_dict(self) -> dict[str, Any]:
        return {"n": self.n.tolist(), "solved": self.solved.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.n = np.asarray(state["n"], dtype=np.float64)
        self.solved = np.asarray(state["solved"], dtype=np.float64)


class NotAScheduler:
    pass
''',
    "puzzles.py": '''
"""`successor`: the number after n, written digit by digit."""
import re
from typing import Any

from dumpcli.puzzles.answer import from_json_text
from dumpcli.puzzles.base import Knobs, PuzzleFamily, Verdict, Verifier
from dumpcli.puzzles.sequence_answer import judge_sequence

_DIGIT = re.compile(r"\\d")


class Successor(PuzzleFamily):
    name = "successor"
    description = "The number after n"
    difficulty_knobs = "difficulty = digits of n (1..6)"
    min_difficulty = 1
    max_difficulty = 6
    Knobs = Knobs

    def generate(self, difficulty, rng, **params):
        self.knobs(params)
        low = 0 if difficulty == 1 else 10 ** (difficulty - 1)
        n = rng.randint(low, 10**difficulty - 2)
        return {"question": "After: " + " ".join(str(n)), "answer": n}

    def parse_answer(self, raw: Any) -> int:
        raw = from_json_text(raw)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"answer: expected an integer, got {raw!r}")
        return raw

    def reference_text(self, answer: Any) -> str:
        return " ".join(str(self.parse_answer(answer) + 1))

    def verify(self, completion: str, answer: Any) -> Verdict:
        return judge_sequence(completion, list(str(self.parse_answer(answer) + 1)), _DIGIT)


class Reversed(Verifier):
    """Exact match of the reversed text (a verifier with no generator)."""

    name = "reversed"

    def verify(self, completion: str, answer: Any) -> Verdict:
        from dumpcli.puzzles.answer import answer_block

        got = answer_block(completion).answer
        ok = got is not None and got.strip() == str(answer)[::-1]
        return Verdict(True, 1.0 if ok else 0.0, got is not None, "correct" if ok else "wrong")
''',
    "sources.py": '''
"""A source kind `numbers`: `count` problems 'Repeat: N' per difficulty, answers by exact match."""
import random
from typing import Any, ClassVar

from pydantic import Field

from dumpcli.data.sources.base import Input, Level, Plan, Source, SourceSpecBase


class Spec(SourceSpecBase):
    key: ClassVar[str] = "numbers"
    kind: str = "numbers"
    count: int = Field(gt=0)
    difficulties: list[int] = Field(default_factory=lambda: [1, 2])

    def build(self, index: int, recipe: Any) -> "NumbersSource":
        return NumbersSource(self, index, recipe)


class NumbersSource(Source):
    generated = True

    def inputs(self) -> list[Input]:
        return [Input(self.index, "generator", "numbers", identity={"count": self.spec.count})]

    def levels(self) -> list[Level]:
        def draws(d: int):
            rng = random.Random(d)
            while True:
                n = rng.randint(10 ** (d - 1), 10**d - 1) if d > 1 else rng.randint(0, 9)
                yield {"question": f"Repeat: {n}", "answer": str(n)}

        return [
            Level(str(d), self.spec.count, 2, lambda d=d: draws(d), f"{self.spec.name} (numbers, {d} digits)")
            for d in self.spec.difficulties
        ]

    def plan(self) -> Plan:
        return Plan([(self.dist_name(str(d)), self.spec.count, 2) for d in self.spec.difficulties])
''',
    "rewards.py": '''
"""Reward functions in TRL's convention: f(prompts, completions, **kwargs) -> list[float]."""
import os

import orjson


def bonus(prompts, completions, **kwargs):
    """1.0 for every completion, and the keywords it was given appended to $PLUGIN_LOG."""
    log = os.environ.get("PLUGIN_LOG")
    if log:
        with open(log, "ab") as f:
            f.write(orjson.dumps({"n": len(completions), "keys": sorted(kwargs)}) + b"\\n")
    return [1.0] * len(completions)


def no_kwargs(prompts, completions):
    return [0.0] * len(completions)


def broken_import():
    import not_a_module_anywhere  # noqa: F401
''',
}

ENTRY_POINTS = f"""[dumpcli.schedulers]
fail_first = {PACKAGE}.curriculum:FailFirst
not_a_scheduler = {PACKAGE}.curriculum:NotAScheduler

[dumpcli.puzzles]
successor = {PACKAGE}.puzzles:Successor

[dumpcli.verifiers]
reversed = {PACKAGE}.puzzles:Reversed

[dumpcli.sources]
numbers = {PACKAGE}.sources:Spec
"""


def write_plugin(folder: Path) -> Path:
    """The package and its dist-info (METADATA + entry_points.txt) in `folder`; returns `folder`."""
    pkg = folder / PACKAGE
    pkg.mkdir(parents=True)
    for name, text in FILES.items():
        (pkg / name).write_text(text.lstrip("\n"))
    info = folder / f"{PACKAGE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return folder
