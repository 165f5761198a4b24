"""Prepared data as `dump prepare` leaves it in the cache: where it lives, whether it is current,
its manifest and its splits. The one reader of prepared data: `train`, `eval` and `compare` read
through this module and never import the builder (data/prepare.py), which imports this one.

    CACHE/data/<key>/      (key: the recipe's data section and folder, see `data_location`)
      manifest.json        counts, inputs (with sizes and hashes), distributions, splits
      rejects.jsonl        records refused with --skip-invalid, with their reason
      parts.json           the Arrow files that hold the rows, in row order
      train.idx.npy        the rows of each split (indices into the parts' rows)
      test.idx.npy

OUTPUT/manifest.json and OUTPUT/rejects.jsonl are copies published into the output folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson

from dumpcli import __version__
from dumpcli.data.sources.base import Input
from dumpcli.errors import DataError, DumpError
from dumpcli.io import atomic_path, read_json, write_json, xxh3_file
from dumpcli.recipe import Recipe, RecipeError

MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"
SPLITS = ("train", "test")
PARTS = "parts.json"  # the Arrow files that hold the rows, in row order


def cache_root() -> Path:
    return Path(os.environ.get("DUMP_CACHE_DIR", Path.home() / ".cache" / "dumpcli"))


def data_location(recipe: Recipe) -> Path:
    """The prepared data of a recipe: `CACHE/data/<key>/` with train/, test/, manifest.json and
    rejects.jsonl, committed as one folder. The key hashes the data section (with the seed) and
    the recipe's folder (relative input paths resolve against it), so every run and every
    comparison of a recipe reads the same data, with nothing copied or linked into run folders."""
    key = hashlib.sha256(
        orjson.dumps({"data": recipe.data_hash(), "base": str(recipe.base_dir.resolve())})
    ).hexdigest()[:16]
    return cache_root() / "data" / key


def is_prepared(recipe: Recipe) -> bool:
    """True if the data cache holds data built from this recipe's data section and the same
    inputs (each input file unchanged by size + mtime, or else by its xxh3-128; same set of inputs;
    datasets and generators with the same identity)."""
    where = data_location(recipe)
    try:
        manifest = read_json(where / MANIFEST)
    except (OSError, ValueError):
        return False
    if manifest.get("data_hash") != recipe.data_hash() or manifest.get("tool_version") != __version__:
        return False
    if not (where / PARTS).is_file() or not all((where / f"{s}.idx.npy").is_file() for s in SPLITS):
        return False
    try:
        current = [item for i, s in enumerate(recipe.data.sources) for item in s.build(i, recipe).inputs()]
    except (RecipeError, DumpError, KeyError, ImportError, OSError):
        return False
    recorded_inputs = manifest.get("inputs", [])
    if len(recorded_inputs) != len(current):
        return False
    return all(_same_input(item, rec, recipe) for item, rec in zip(current, recorded_inputs, strict=True))


def _same_input(item: Input, rec: dict[str, Any], recipe: Recipe) -> bool:
    if rec.get("kind") != item.kind or rec.get("source") != recipe.data.sources[item.source].name:
        return False
    if any(rec.get(k) != v for k, v in item.identity.items()):
        return False
    if item.path is None:
        return True
    if str(recipe.resolve(rec["path"]).resolve()) != str(item.path.resolve()):
        return False
    try:
        st = item.path.stat()
    except OSError:
        return False
    if st.st_size != rec.get("size"):
        return False
    return st.st_mtime_ns == rec.get("mtime_ns") or xxh3_file(item.path) == rec.get("xxh3_128")


def load_manifest(recipe_or_output_dir: Recipe | str | Path) -> dict:
    """A recipe's manifest (the one committed with its data), or OUTPUT_DIR/manifest.json."""
    if isinstance(recipe_or_output_dir, Recipe):
        path = data_location(recipe_or_output_dir) / MANIFEST
    else:
        path = Path(recipe_or_output_dir) / MANIFEST
    try:
        return read_json(path)
    except FileNotFoundError:
        if isinstance(recipe_or_output_dir, Recipe):  # named as the user knows it
            path = recipe_or_output_dir.output_path / MANIFEST
        raise DataError(f"{path}: not found; run `dump prepare RECIPE` first") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable manifest ({e}); run `dump prepare RECIPE --force`") from None


def load_split(recipe_or_output_dir: Recipe | str | Path, split: Literal["train", "test"]):
    """The prepared split as a `datasets.Dataset` (memory-mapped, nothing copied). From an
    output folder, the data its manifest.json names."""

    if split not in SPLITS:
        raise DataError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
    if isinstance(recipe_or_output_dir, Recipe):
        where = data_location(recipe_or_output_dir)
    else:
        try:
            where = Path(read_json(Path(recipe_or_output_dir) / MANIFEST).get("data_dir") or "")
        except (OSError, ValueError):
            where = Path(recipe_or_output_dir) / "no-manifest"
    if not (where / PARTS).is_file():
        raise DataError(f"{where / split}: no prepared data; run `dump prepare RECIPE` first")
    return _open_split(where, split)


def split_column(split: Any, name: str) -> list[Any]:
    """One column of a split (from `load_split`) as a list, read column-wise with Arrow.

    `split[name]` also gives it, but `datasets` reads a dataset that selects rows (as a split
    does: a row list over the data's files) one row at a time: about 100 us a row, minutes for a
    million. Anything that is not a `datasets.Dataset` (a list of rows) is read row by row."""
    table = getattr(split, "data", None)
    if table is None or not hasattr(split, "column_names"):
        return [row[name] for row in split]
    column = table.column(name)
    indices = getattr(split, "_indices", None)  # the row list `select` made, if any
    if indices is not None:
        column = column.take(indices.column(0))
    return column.to_pylist()


def _open_rows(where: Path) -> Any:
    """Every staged row, from the data's Arrow files in order (memory-mapped)."""
    import datasets

    from dumpcli.data.staging import SCHEMA

    parts = read_json(where / PARTS)["parts"]
    if not parts:
        return datasets.Dataset.from_dict(
            {c: [] for c in SCHEMA.names}, features=datasets.Features.from_arrow_schema(SCHEMA)
        )
    tables = [datasets.Dataset.from_file(str(where / p)) for p in parts]
    return tables[0] if len(tables) == 1 else datasets.concatenate_datasets(tables)


def _open_split(where: Path, split: str) -> Any:
    """A split: the rows of the data's Arrow files (memory-mapped) its index lists, in order."""
    rows = _open_rows(where)
    index = np.load(where / f"{split}.idx.npy")
    if len(index) == rows.num_rows and (not len(index) or (index == np.arange(len(index))).all()):
        return rows
    return rows.select(index, keep_in_memory=True)


def publish(recipe: Recipe, manifest: dict, skip_invalid: bool) -> None:
    """OUTPUT/manifest.json and OUTPUT/rejects.jsonl: copies of what was committed with the data
    (rewritten when they differ, e.g. after a crash right after the commit)."""
    out = recipe.output_path
    where = Path(manifest.get("data_dir") or data_location(recipe))
    try:
        if (out / MANIFEST).is_file() and read_json(out / MANIFEST) == manifest:
            pass
        else:
            write_json(out / MANIFEST, manifest)
    except ValueError:
        write_json(out / MANIFEST, manifest)
    committed = where / REJECTS
    if committed.is_file():
        target = out / REJECTS
        if not target.is_file() or target.stat().st_size != committed.stat().st_size:
            with atomic_path(target) as tmp:
                shutil.copyfile(committed, tmp)
    elif not skip_invalid:
        _remove_own_rejects(out)


def _remove_own_rejects(out: Path) -> None:
    """An earlier --skip-invalid run's rejects.jsonl no longer describes the data (only a file
    this tool wrote: one JSON object per line with source and reason)."""
    path = out / REJECTS
    if not path.is_file() or path.is_symlink():
        return
    try:
        with open(path, "rb") as f:
            first = f.readline()
        row = orjson.loads(first) if first.strip() else {}
    except (OSError, orjson.JSONDecodeError):
        return
    if not first.strip() or (isinstance(row, dict) and {"source", "reason"} <= set(row)):
        path.unlink()
