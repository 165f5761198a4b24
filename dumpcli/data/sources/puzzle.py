"""`puzzle:` a built-in family (dumpcli.puzzles): `difficulties`, `*_per_difficulty`, `params`."""

from __future__ import annotations

import inspect
import random
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from dumpcli.data.sources.base import Input, Level, Plan, Source, SourceSpecBase, recorded


class Spec(SourceSpecBase):
    key = "puzzle"

    kind: Literal["puzzle"] = "puzzle"
    puzzle: str
    difficulties: list[int]
    train_per_difficulty: int = Field(0, ge=0)
    test_per_difficulty: int = Field(0, ge=0)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _counts(self) -> Spec:
        if not self.difficulties:
            raise ValueError("a puzzle source needs `difficulties: [...]`")
        if self.train_per_difficulty + self.test_per_difficulty == 0:
            raise ValueError("set train_per_difficulty and/or test_per_difficulty")
        return self

    def verifier_name(self) -> str:
        return self.verifier or self.puzzle

    def problems(self) -> list[tuple[str, str]]:
        """(YAML path under the source, problem) for difficulties out of the family's range and
        bad generator knobs: checked when the recipe is loaded, before anything is generated."""
        from dumpcli.puzzles import registry

        family = registry.get_family(self.puzzle)
        lo, hi = family.min_difficulty, family.max_difficulty
        out = []
        bad = [d for d in self.difficulties if not lo <= d <= hi]
        if bad:
            out.append((".difficulties", f"{bad} outside {self.puzzle}'s range {lo}..{hi}"))
        out.extend(
            (f".params.{knob}" if knob else ".params", msg) for knob, msg in family.check_params(self.params)
        )
        return out

    def build(self, index: int, recipe: Any) -> PuzzleSource:
        return PuzzleSource(self, index, recipe)


def family_file(name: str) -> Path:
    from dumpcli.puzzles import registry

    return Path(inspect.getfile(type(registry.get_family(name)))).resolve()


class PuzzleSource(Source):
    spec: Spec
    generated = True

    def inputs(self) -> list[Input]:
        path = family_file(self.spec.puzzle)
        return [
            Input(
                self.index, "generator", path.name, path=path, recorded=recorded(path, self.recipe.base_dir)
            )
        ]

    def levels(self) -> list[Level]:
        from dumpcli.data.fields import stable_seed
        from dumpcli.puzzles import registry

        spec = self.spec
        family = registry.get_family(spec.puzzle)
        for path, message in spec.problems():
            raise self.recipe_error(path, message)

        def draws(d: int) -> Any:
            rng = random.Random(stable_seed(self.recipe.seed, spec.name, d))
            while True:
                yield family.generate(d, rng, **spec.params)

        return [
            Level(
                str(d),
                spec.train_per_difficulty,
                spec.test_per_difficulty,
                lambda d=d: draws(d),
                f"{spec.name} (puzzle {spec.puzzle}, difficulty {d})",
            )
            for d in spec.difficulties
        ]

    def plan(self) -> Plan:
        s = self.spec
        return Plan(
            [(self.dist_name(str(d)), s.train_per_difficulty, s.test_per_difficulty) for d in s.difficulties]
        )
