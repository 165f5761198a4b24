"""`reasoning_gym:` any reasoning-gym task by name (optional: pip install 'dumpcli[reasoning-gym]').

`config` holds the task's knobs; `difficulties` gives one distribution per setting, either one
knob over values (`{knob: max_terms, values: [2, 4, 8]}`, labelled by the value) or a list of knob
settings (`[{min_terms: 2, max_terms: 2}, {...}]`, labelled 1, 2, ... in the order given). Each
setting is a reasoning-gym dataset with its own seed (from the recipe seed, the source name and
the label); problems are drawn from it in order, repeats skipped, as for built-in puzzles.
Scored by the `reasoning_gym` verifier: the task's own `score_answer`, inside our guards.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from dumpcli.data.sources.base import Input, Level, Plan, Source, SourceSpecBase, Strict, recorded

INSTALL = "pip install 'dumpcli[reasoning-gym]'"
RESERVED = ("seed", "size")  # set by prepare


class KnobValues(Strict):
    knob: str
    values: list[Any] = Field(min_length=1)


class Spec(SourceSpecBase):
    key = "reasoning_gym"
    default_verifier = "reasoning_gym"

    kind: Literal["reasoning_gym"] = "reasoning_gym"
    reasoning_gym: str
    config: dict[str, Any] = Field(default_factory=dict)
    difficulties: KnobValues | list[dict[str, Any]] | None = None
    train_per_difficulty: int = Field(0, ge=0)
    test_per_difficulty: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _counts(self) -> Spec:
        if self.train_per_difficulty + self.test_per_difficulty == 0:
            raise ValueError("set train_per_difficulty and/or test_per_difficulty")
        if isinstance(self.difficulties, list) and not self.difficulties:
            raise ValueError("difficulties: give at least one knob setting")
        return self

    def settings(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(label, YAML path, knobs) per distribution."""
        d = self.difficulties
        if d is None:
            return [("0", ".config", dict(self.config))]
        if isinstance(d, KnobValues):
            return [
                (str(v), f".difficulties.values.{i}", {**self.config, d.knob: v})
                for i, v in enumerate(d.values)
            ]
        return [(str(i + 1), f".difficulties.{i}", {**self.config, **s}) for i, s in enumerate(d)]

    def build(self, index: int, recipe: Any) -> ReasoningGymSource:
        return ReasoningGymSource(self, index, recipe)


def require() -> Any:
    from dumpcli.errors import DumpError

    if importlib.util.find_spec("reasoning_gym") is None:
        raise DumpError(f"a reasoning_gym source needs reasoning-gym, which is not installed: {INSTALL}")
    import reasoning_gym

    return reasoning_gym


class ReasoningGymSource(Source):
    spec: Spec
    generated = True

    def _task(self) -> tuple[Any, Any]:
        rg = require()
        task = self.spec.reasoning_gym
        if task not in rg.factory.DATASETS:
            known = sorted(rg.factory.DATASETS)
            close = [k for k in known if task.replace("-", "_") in k or k in task][:5]
            raise self.recipe_error(
                ".reasoning_gym",
                f"unknown task {task!r}"
                + (
                    f" (did you mean {', '.join(close)}?)"
                    if close
                    else f" ({len(known)} tasks, e.g. {', '.join(known[:5])})"
                ),
            )
        return rg.factory.DATASETS[task]

    def inputs(self) -> list[Input]:
        from importlib.metadata import version

        dataset_cls, _ = self._task()
        path = Path(inspect.getfile(dataset_cls)).resolve()
        identity = {"task": self.spec.reasoning_gym, "version": version("reasoning-gym")}
        return [
            Input(
                self.index,
                "reasoning_gym",
                f"reasoning_gym:{self.spec.reasoning_gym}",
                path=path,
                identity=identity,
                recorded=recorded(path, self.recipe.base_dir),
            )
        ]

    def levels(self) -> list[Level]:
        import dataclasses

        from dumpcli.data.fields import stable_seed

        rg = require()
        spec = self.spec
        _, config_cls = self._task()
        knobs = [f.name for f in dataclasses.fields(config_cls) if f.name not in RESERVED]
        per = spec.train_per_difficulty + spec.test_per_difficulty
        size = per + max(100, per) + 1  # enough draws for the repeats a level may skip
        self._check_knobs(knobs)
        levels = []
        for label, where, config in spec.settings():
            seed = stable_seed(self.recipe.seed, spec.name, label) % (2**31)
            try:
                dataset = rg.create_dataset(spec.reasoning_gym, seed=seed, size=size, **config)
            except (TypeError, ValueError, AssertionError) as e:
                raise self.recipe_error(where, f"{spec.reasoning_gym} rejects {config}: {e}") from None
            levels.append(
                Level(
                    label,
                    spec.train_per_difficulty,
                    spec.test_per_difficulty,
                    lambda dataset=dataset: self._draws(dataset, size),
                    f"{spec.name} (reasoning_gym {spec.reasoning_gym}, difficulty {label})",
                )
            )
        return levels

    def _check_knobs(self, knobs: list[str]) -> None:
        """Every knob named must be one of the task's config fields (a typo is an error, not a default)."""
        spec = self.spec
        named: list[tuple[str, list[str]]] = [(".config", list(spec.config))]
        if isinstance(spec.difficulties, KnobValues):
            named.append((".difficulties.knob", [spec.difficulties.knob]))
        elif spec.difficulties:
            named += [(f".difficulties.{i}", list(s)) for i, s in enumerate(spec.difficulties)]
        for where, names in named:
            unknown = [k for k in names if k not in knobs]
            if unknown:
                raise self.recipe_error(
                    where, f"{spec.reasoning_gym} has no knob {unknown[0]!r} (knobs: {', '.join(knobs)})"
                )

    def _draws(self, dataset: Any, size: int) -> Any:
        task = self.spec.reasoning_gym
        scored_here = self.spec.verifier_name() == "reasoning_gym"
        for i in range(size):
            entry = dataset[i]
            answer = (
                {"task": task, "answer": entry["answer"], "metadata": entry.get("metadata", {})}
                if scored_here
                else entry["answer"]
            )
            yield {"question": entry["question"], "answer": answer, "metadata": entry.get("metadata", {})}

    def plan(self) -> Plan:
        s = self.spec
        return Plan(
            [
                (self.dist_name(label), s.train_per_difficulty, s.test_per_difficulty)
                for label, _, _ in s.settings()
            ]
        )
