"""`hf:` a Hugging Face dataset: a Hub id (with `config`, `split`, `revision`), or a local folder
written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`. Loaded through `datasets`.

Offline it works from the HF cache (`datasets` falls back to it when the Hub is unreachable, or
with HF_HUB_OFFLINE=1) or from a local folder. `datasets` >= 4 runs no dataset scripts, so
`trust_remote_code` stays off; a recipe that sets it true gets a clear error instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

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
)
from dumpcli.errors import DataError


class Spec(SourceSpecBase):
    key = "hf"

    kind: Literal["hf"] = "hf"
    hf: str = Field(min_length=1)
    config: str | None = None
    split: str = "train"
    test_split: str | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    fields: FieldMap = Field(default_factory=FieldMap)
    difficulty: DifficultyRule | None = None
    test_fraction: float | None = Field(None, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _one_split_rule(self) -> Spec:
        if self.test_split is not None and self.test_fraction is not None:
            raise ValueError("give test_split or test_fraction, not both")
        if self.test_split is not None and self.test_split == self.split:
            raise ValueError(f"test_split {self.test_split!r} is also the train split")
        return self

    def build(self, index: int, recipe: Any) -> HFSource:
        return HFSource(self, index, recipe)


def _looks_local(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text


class HFSource(Source):
    spec: Spec

    def __init__(self, spec: Spec, index: int, recipe: Any) -> None:
        super().__init__(spec, index, recipe)
        self._loaded: dict[str, Any] = {}

    @property
    def local(self) -> Path | None:
        path = self.recipe.resolve(self.spec.hf)
        if path.is_dir():
            return path
        if _looks_local(self.spec.hf):
            raise self.recipe_error(".hf", f"no such folder {display(path)} (and not a Hub dataset id)")
        return None

    def load(self, split: str, key: str = ".split") -> Any:
        """The split as a memory-mapped `datasets.Dataset` (loaded once per run)."""
        if split in self._loaded:
            return self._loaded[split]
        import datasets

        spec = self.spec
        if spec.trust_remote_code:
            raise self.recipe_error(
                ".trust_remote_code",
                f"datasets {datasets.__version__} runs no dataset scripts; use a dataset with data "
                "files (Parquet/JSON) on the Hub, or a save_to_disk folder",
            )
        local = self.local
        if local is not None:
            try:
                ds = datasets.load_from_disk(str(local))
            except (FileNotFoundError, ValueError) as e:
                raise self.recipe_error(
                    ".hf", f"{display(local)} is not a folder written by save_to_disk ({e})"
                ) from None
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise self.recipe_error(
                        key, f"no split {split!r} in {display(local)} (it has {', '.join(ds)})"
                    )
                ds = ds[split]
            elif key == ".test_split":
                raise self.recipe_error(
                    key, f"{display(local)} holds one split (a Dataset, not a DatasetDict)"
                )
        else:
            try:
                ds = datasets.load_dataset(spec.hf, name=spec.config, split=split, revision=spec.revision)
            except ValueError as e:
                if "split" in str(e).lower():
                    raise self.recipe_error(key, f"{spec.hf}: {e}") from None
                raise self._unavailable(e) from None
            except Exception as e:  # noqa: BLE001 - network, cache and Hub errors come in many types
                raise self._unavailable(e) from None
        self._loaded[split] = ds
        return ds

    def _unavailable(self, e: Exception) -> DataError:
        import datasets

        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        return DataError(
            f"{self.where}.hf: cannot load Hub dataset {self.spec.hf!r}"
            + (f" (config {self.spec.config!r})" if self.spec.config else "")
            + f": {first}. Offline, a Hub dataset must already be in the HF cache "
            f"({datasets.config.HF_DATASETS_CACHE}); or download it once, `save_to_disk` it and "
            "point `hf:` at that folder"
        )

    def inputs(self) -> list[Input]:
        group = TO_SPLIT if self.spec.test_fraction else TRAIN
        splits = [(self.spec.split, group, ".split")]
        if self.spec.test_split is not None:
            splits.append((self.spec.test_split, TEST, ".test_split"))
        items = []
        local = self.local
        for split, g, key in splits:
            ds = self.load(split, key)
            name = display(local) if local is not None else self.spec.hf
            identity = {
                "dataset": str(local.resolve()) if local is not None else self.spec.hf,
                "config": self.spec.config,
                "split_name": split,
                "revision": self.spec.revision,
                "fingerprint": getattr(ds, "_fingerprint", None),
                "rows": ds.num_rows,
            }
            items.append(Input(self.index, "hf", f"{name}[{split}]", g, identity=identity, recorded=name))
        return items

    def rows(self, item: Input) -> Iterator[tuple[int, Any, Any]]:
        ds = self.load(item.identity["split_name"])
        row = 0
        for batch in ds.with_format("arrow").iter(batch_size=4096):
            for record in batch.to_pylist():
                yield row, None, record
                row += 1

    def plan(self) -> Plan:
        """A local folder is opened (memory-mapped) for its row counts; a Hub id is not loaded
        (the dry run touches no network)."""
        plan = Plan(unknown=True)
        try:
            if self.local is None:
                plan.files.append(
                    {"path": f"{self.spec.hf} (Hub dataset, loaded by prepare)", "records": None}
                )
                return plan
            for item in self.inputs():
                plan.files.append({"path": item.label, "records": item.identity["rows"]})
        except Exception as e:  # noqa: BLE001 - the dry run reports, prepare stops
            plan.missing.append(f"{self.where}.hf: {str(e).splitlines()[-1]}")
        return plan
