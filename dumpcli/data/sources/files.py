"""`files:` JSONL, JSONL.gz, Parquet or CSV files (globs), mapped by `fields:` and `difficulty:`."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dumpcli.data.sources.base import (
    TEST,
    TO_SPLIT,
    TRAIN,
    DifficultyRule,
    FieldMap,
    Input,
    Plan,
    Source,
    SourceSpecBase,
    display,
    recorded,
)

# what `dump prepare` / `dump train` write into output_dir: never read back as input
OWN_OUTPUTS = ("manifest.json", "rejects.jsonl", "curriculum.jsonl", "eval.jsonl", "train_log.jsonl")


class Spec(SourceSpecBase):
    key = "files"

    kind: Literal["files"] = "files"
    files: list[str]
    test_files: list[str] | None = None
    format: Literal["auto", "jsonl", "parquet", "csv"] = "auto"
    fields: FieldMap = Field(default_factory=FieldMap)
    difficulty: DifficultyRule | None = None
    test_fraction: float | None = Field(None, ge=0.0, lt=1.0)

    @field_validator("files", "test_files", mode="before")
    @classmethod
    def _one_pattern_is_a_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_split_rule(self) -> Spec:
        if self.test_files is not None and self.test_fraction is not None:
            raise ValueError("give test_files or test_fraction, not both")
        return self

    def build(self, index: int, recipe: Any) -> FilesSource:
        return FilesSource(self, index, recipe)


def format_of(path: Path, declared: str) -> str | None:
    if declared != "auto":
        return declared
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    return None


def is_own_output(path: Path, out: Path) -> bool:
    """A file prepare or train wrote into output_dir (a glob over a folder that holds it would
    otherwise read it back: rejects.jsonl becoming input on the second run)."""
    try:
        rel = path.resolve().relative_to(out.resolve())
    except ValueError:
        return False
    if len(rel.parts) == 1:
        return rel.name in OWN_OUTPUTS
    return rel.parts[0] == "compare" or rel.parts[0].startswith("checkpoint-")


class FilesSource(Source):
    spec: Spec

    def expand(self, key: str) -> list[Path]:
        """Files matched by `files` / `test_files` globs, sorted, each once (a pattern that matches
        nothing is a recipe error: usually a typo or a missing download)."""
        out: list[Path] = []
        for j, pattern in enumerate(getattr(self.spec, key) or []):
            full = self.recipe.resolve(pattern)
            found = sorted(
                Path(p)
                for p in glob.glob(str(full), recursive=True)
                if os.path.isfile(p) and not is_own_output(Path(p), self.recipe.output_path)
            )
            if not found:
                raise self.recipe_error(
                    f".{key}.{j}", f"no file matches {pattern!r} (looked for {os.path.normpath(full)})"
                )
            out.extend(p for p in found if p not in out)
        return out

    def inputs(self) -> list[Input]:
        train, test = self.expand("files"), self.expand("test_files")
        both = sorted(set(train) & set(test))
        if both:
            raise self.recipe_error(".test_files", f"{display(both[0])} is also in files")
        group = TO_SPLIT if self.spec.test_fraction else TRAIN
        items = []
        for paths, g in ((train, group), (test, TEST)):
            for p in paths:
                kind = format_of(p, self.spec.format)
                if kind is None:
                    raise self.recipe_error(
                        ".format", f"cannot tell the format of {p.name!r}; set format: jsonl, parquet or csv"
                    )
                items.append(
                    Input(self.index, kind, display(p), g, path=p, recorded=recorded(p, self.recipe.base_dir))
                )
        return items

    def rows(self, item: Input) -> Iterator[tuple[int, Any, Any]]:
        from dumpcli.data.readers import iter_csv, iter_jsonl, iter_parquet

        assert item.path is not None
        if item.kind == "jsonl":
            return iter_jsonl(item.path)
        if item.kind == "csv":
            return iter_csv(item.path)
        return iter_parquet(item.path)

    def plan(self) -> Plan:
        from dumpcli.data.readers import count_records

        plan = Plan(unknown=True)
        for key in ("files", "test_files"):
            for j, pattern in enumerate(getattr(self.spec, key) or []):
                full = str(self.recipe.resolve(pattern))
                found = sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
                if not found:
                    plan.missing.append(
                        f"{self.where}.{key}.{j}: no file matches {pattern!r} (looked for {full})"
                    )
                plan.files.extend({"path": p, "records": count_records(Path(p))} for p in found)
        return plan
