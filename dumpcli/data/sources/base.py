"""What every source kind shares: the recipe models for fields and difficulty, the spec base
class, and the small interface the prepare engine calls.

A source kind is one module in this package with a `Spec` (a pydantic model; its `kind` field is
the tag of the discriminated union in `__init__`) whose `build()` returns a `Source`:

- `inputs()`   its identity: what it reads, for staleness checks and the manifest's `inputs`;
- `rows(item)` its records, streamed (kinds with `fields:` mapping), or `levels()` for
               generators (question/answer dicts drawn per difficulty);
- `plan()`     what `--dry-run` shows before anything is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from dumpcli.errors import RecipeError

if TYPE_CHECKING:
    from dumpcli.recipe import Recipe

TRAIN, TEST, TO_SPLIT = 0, 1, 2  # split groups of staged rows
GROUP_NAMES = {TRAIN: "train", TEST: "test", TO_SPLIT: "test_fraction"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DifficultyRule(Strict):
    """How a record's difficulty is read. Exactly one of field / regex / len_of / value.

    - `{field: extra_info.depth}`: the value of a (nested) field
    - `{regex: 'people(\\d+)', on: filename}` or `{regex: ..., on: quiz}`: first group of a
      regex searched in the file name or in a field
    - `{len_of: names}`: length of a list field
    - `{value: 3}`: a fixed value
    `map` then maps raw values to buckets (`{"Level 1": easy}`), `bins` maps numbers to
    the index of the bin they fall in (`bins: [3, 6]` -> <3: 0, 3..5: 1, >=6: 2).
    """

    field: str | None = None
    regex: str | None = None
    on: str = "filename"
    len_of: str | None = None
    value: int | str | None = None
    map: dict[str, int | str] | None = None
    bins: list[float] | None = None

    @model_validator(mode="before")
    @classmethod
    def _yaml_on_is_not_true(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML) reads the key `on` as the boolean True: `{regex: .., on: filename}`
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys_as_text(cls, v: Any) -> Any:
        # YAML reads `{1: easy}` with an int key; raw values are compared as text, so accept it
        if isinstance(v, dict):
            return {
                str(k) if isinstance(k, (int, float)) and not isinstance(k, bool) else k: x
                for k, x in v.items()
            }
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> DifficultyRule:
        given = [k for k in ("field", "regex", "len_of", "value") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of field, regex, len_of, value (got {', '.join(given) or 'none'})"
            )
        if self.regex is not None:
            try:
                compiled = re.compile(self.regex)
            except re.error as e:
                raise ValueError(f"regex {self.regex!r} does not compile: {e}") from e
            if compiled.groups < 1:
                raise ValueError(f"regex {self.regex!r} needs one capture group, e.g. 'people(\\d+)'")
        if self.map is not None and self.bins is not None:
            raise ValueError("give map or bins, not both")
        if self.bins is not None and sorted(self.bins) != self.bins:
            raise ValueError("bins must be sorted ascending")
        return self


class FieldMap(Strict):
    """Where the canonical fields live in an input record (dotted paths for nesting).

    `prompt` may hold the question text (rendered with `data.prompt_template`) or a chat list
    of `{role, content}` messages (kept as is). `answer` is given to the verifier's `parse_answer`.
    """

    prompt: str = "prompt"
    answer: str = "answer"

    @field_validator("prompt", "answer")
    @classmethod
    def _path_ok(cls, v: str) -> str:
        if not v or any(not part for part in v.split(".")):
            raise ValueError(f"{v!r}: expected a field name or a dotted path like extra_info.depth")
        return v


class SourceSpecBase(Strict):
    """Fields every source has. Subclasses add `kind: Literal[...]` and their own fields."""

    key: ClassVar[str]  # the YAML key that marks this kind when `kind:` is not written
    default_verifier: ClassVar[str] = "exact"

    name: str
    verifier: str | None = None

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", v):
            raise ValueError(f"{v!r}: use letters, digits, '_', '-', '.' only")
        return v

    def verifier_name(self) -> str:
        return self.verifier or self.default_verifier

    def build(self, index: int, recipe: Recipe) -> Source:
        raise NotImplementedError


@dataclass
class Input:
    """One thing a source reads (a file, a dataset, a generator), as the manifest records it.

    `path` is a file whose size, mtime and xxh3-128 say whether it changed (None: `identity`
    alone says it); `identity` holds the other fields that must match for the data to be current."""

    source: int
    kind: str
    label: str  # as named in messages
    group: int = TRAIN
    path: Path | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    recorded: str = ""  # as stored in the manifest's `path`
    records: int = 0
    digest: str = ""  # xxh3-128 of the file
    regenerated: int = 0


@dataclass
class Level:
    """One difficulty of a generator source: its label and where its problems come from."""

    difficulty: str
    train: int
    test: int
    draws: Any  # () -> iterator of {"question", "answer", ...}
    context: str


@dataclass
class Plan:
    """What `dump train --dry-run` can say before reading: known distributions (generators),
    files with record counts, patterns that match nothing."""

    distributions: list[tuple[str, int, int]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unknown: bool = False  # distributions known only after reading


class Source:
    """A source at run time: its spec, its position in the recipe, the recipe."""

    generated: ClassVar[bool] = False  # True: levels(), else rows()

    def __init__(self, spec: Any, index: int, recipe: Recipe) -> None:
        self.spec = spec
        self.index = index
        self.recipe = recipe
        self.where = f"data.sources.{index}"

    def recipe_error(self, path: str, message: str) -> Exception:
        origin = str(self.recipe._source_file) if self.recipe._source_file else "recipe"
        return RecipeError(f"{origin}: invalid recipe\n  {self.where}{path}: {message}")

    def inputs(self) -> list[Input]:
        raise NotImplementedError

    def rows(self, item: Input) -> Iterator[tuple[int, Any, Any]]:
        raise NotImplementedError

    def levels(self) -> list[Level]:
        raise NotImplementedError

    def plan(self) -> Plan:
        return Plan(unknown=True)

    def dist_name(self, difficulty: str) -> str:
        return "/".join(
            self.spec.name if k == "source" else difficulty for k in self.recipe.data.distribution
        )


def display(path: Path | str) -> str:
    """File name as shown in messages: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def recorded(path: Path, base: Path) -> str:
    """File name as stored in the manifest: relative to the recipe's folder when inside it."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())
