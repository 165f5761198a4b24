"""`dump prepare`: files and puzzle generators -> validated, tagged, split, deduplicated Arrow data.

The stages: readers.py yields records one at a time (JSONL, Parquet); ingest.py validates and
tags each one (in this process, or in worker processes for big JSONL files); staging.py keeps
accepted rows on disk with ~23 bytes a row in memory; this module decides dedup and the split
with numpy on those arrays, writes the final `train` / `test` datasets (`datasets.load_from_disk`
format) in one pass over the staged batches, then the manifest and a summary. Input files are
hashed (sha256, for the manifest) on a thread while they are parsed.

Counting (always true, printed in the summary and stored in the manifest):

    read = accepted + rejected + duplicates + test_overlap_removed_from_train
    accepted = rows in train + rows in test

- read: non-blank JSONL lines, Parquet rows, generated puzzles (distinct ones: a generator's
  repeats are drawn again and listed as `regenerated` in the manifest's inputs)
- rejected: records that fail validation (with --skip-invalid; otherwise the first one stops)
- duplicates: a record whose id (source + normalised question) was already kept in the same
  split group (train files, test files, or a `test_fraction` source before its split)
- test_overlap_removed_from_train: a train record whose normalised question is also in test
  (any source): dropped from train so that test stays unseen

`data.dedup: false` keeps duplicates (a train record also in test still leaves train).

Empty input files: an error (exit 1) by default, a warning with --skip-invalid.
"""

from __future__ import annotations

import datetime as _dt
import gc
import glob
import hashlib
import importlib
import inspect
import os
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import orjson
import pyarrow as pa
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dumpcli import __version__
from dumpcli.data import ingest
from dumpcli.data.fields import (
    Reject,
    compile_difficulty,
    natural_key,
    normalise,
    stable_seed,
)
from dumpcli.data.readers import chunk_bounds, count_parquet_rows, iter_jsonl, iter_parquet
from dumpcli.data.staging import SCHEMA, TEST, TO_SPLIT, TRAIN, Dists, Finisher, Stage
from dumpcli.errors import DataError
from dumpcli.io import atomic_path, read_json, sha256_file, write_json
from dumpcli.recipe import Recipe, RecipeError, SourceSpec

MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"
SPLITS = ("train", "test")

# ---------------------------------------------------------------- public API


def prepare(
    recipe: Recipe, *, skip_invalid: bool = False, force: bool = False, console: Console | None = None
) -> dict:
    """Build OUTPUT/data/{train,test} and OUTPUT/manifest.json; return the manifest.

    A no-op (says "up to date") when the manifest matches the recipe's data section and the
    input files are unchanged, unless `force`. A previous build that rejected records does not
    count as up to date for a run without --skip-invalid (that run must report the bad record)."""
    console = console or Console()
    out = recipe.output_path
    if not force and is_prepared(recipe):
        manifest = load_manifest(out)
        if skip_invalid or not manifest["counts"]["rejected"]:
            console.print(
                f"[green]up to date[/]: {escape(_display(out.resolve()))} (inputs and recipe unchanged; --force rebuilds)",
                highlight=False,
            )
            return manifest
    return _Build(recipe, skip_invalid=skip_invalid, console=console).run()


def is_prepared(recipe: Recipe) -> bool:
    """True if OUTPUT holds data built from this recipe's data section and the same inputs
    (each input file unchanged by size + mtime, or else by sha256; same set of files)."""
    out = recipe.output_path
    try:
        manifest = read_json(out / MANIFEST)
    except (OSError, ValueError):
        return False
    if manifest.get("data_hash") != recipe.data_hash() or manifest.get("tool_version") != __version__:
        return False
    if not all((out / "data" / s / "state.json").is_file() for s in SPLITS):
        return False
    try:
        current = [str(p.resolve()) for p in _input_paths(recipe)]
    except (RecipeError, KeyError, ImportError, OSError):
        return False
    recorded = manifest.get("inputs", [])
    if [str(recipe.resolve(i["path"]).resolve()) for i in recorded] != current:
        return False
    for item in recorded:
        path = recipe.resolve(item["path"])
        try:
            st = path.stat()
        except OSError:
            return False
        if st.st_size != item.get("size"):
            return False
        if st.st_mtime_ns != item.get("mtime_ns") and sha256_file(path) != item.get("sha256"):
            return False
    return True


def ensure_prepared(recipe: Recipe, console: Console) -> dict:
    """The data a command needs: prepare it if missing or stale (saying so), else load the manifest."""
    if is_prepared(recipe):
        return load_manifest(recipe)
    console.print(
        f"[yellow]preparing data[/]: {escape(_display(recipe.output_path.resolve()))} is missing or out of date",
        highlight=False,
    )
    return prepare(recipe, console=console)


def load_manifest(recipe_or_output_dir: Recipe | str | Path) -> dict:
    out = _output_dir(recipe_or_output_dir)
    path = out / MANIFEST
    try:
        return read_json(path)
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dump prepare RECIPE` first") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable manifest ({e}); run `dump prepare RECIPE --force`") from None


def load_split(recipe_or_output_dir: Recipe | str | Path, split: Literal["train", "test"]):
    """The prepared split as a `datasets.Dataset` (memory-mapped, nothing copied)."""
    import datasets

    if split not in SPLITS:
        raise DataError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
    path = _output_dir(recipe_or_output_dir) / "data" / split
    if not (path / "state.json").is_file():
        raise DataError(f"{path}: no prepared data; run `dump prepare RECIPE` first")
    return datasets.load_from_disk(str(path))


def _output_dir(x: Recipe | str | Path) -> Path:
    return x.output_path if isinstance(x, Recipe) else Path(x)


# ---------------------------------------------------------------- inputs


def _where(recipe: Recipe) -> str:
    return str(recipe._source_file) if recipe._source_file else "recipe"


def _format_of(path: Path, declared: str, where: str) -> str:
    if declared != "auto":
        return declared
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise RecipeError(
        f"{where}.format: cannot tell the format of {path.name!r}; set format: jsonl or parquet"
    )


def _expand(recipe: Recipe, index: int, src: SourceSpec, key: str) -> list[Path]:
    """Files matched by `files` / `test_files` globs, sorted, each once (a pattern that matches
    nothing is a recipe error: usually a typo or a missing download)."""
    out: list[Path] = []
    for j, pattern in enumerate(getattr(src, key) or []):
        full = recipe.resolve(pattern)
        found = sorted(Path(p) for p in glob.glob(str(full), recursive=True) if os.path.isfile(p))
        if not found:
            raise RecipeError(
                f"{_where(recipe)}: invalid recipe\n  data.sources.{index}.{key}.{j}: "
                f"no file matches {pattern!r} (looked for {os.path.normpath(full)})"
            )
        out.extend(p for p in found if p not in out)
    return out


def _family_file(name: str) -> Path:
    from dumpcli.puzzles import registry

    return Path(inspect.getfile(type(registry.get_family(name)))).resolve()


def _input_paths(recipe: Recipe) -> list[Path]:
    """Every input in reading order: a source's files, then its test files; a puzzle source
    counts its family's module file (new code may generate different puzzles)."""
    paths: list[Path] = []
    for i, src in enumerate(recipe.data.sources):
        if src.is_generator:
            paths.append(_family_file(src.puzzle or ""))
        else:
            paths.extend(_expand(recipe, i, src, "files"))
            paths.extend(_expand(recipe, i, src, "test_files"))
    return paths


def _display(path: Path) -> str:
    """File name as shown in messages: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _recorded(path: Path, base: Path) -> str:
    """File name as stored in the manifest: relative to the recipe's folder when inside it."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


# ---------------------------------------------------------------- the build


@dataclass
class _Input:
    source: int
    path: Path
    kind: str  # jsonl | parquet | generator
    group: int
    records: int = 0
    sha256: str = ""
    regenerated: int = 0  # generators: repeated puzzles drawn again (not counted as read)


class _Build:
    """One run: read every input, decide dedup and split, write data + manifest, summarise."""

    def __init__(self, recipe: Recipe, *, skip_invalid: bool, console: Console):
        self.recipe = recipe
        self.skip_invalid = skip_invalid
        self.console = console
        self.out = recipe.output_path
        self.sources = recipe.data.sources
        self.dists = Dists(list(recipe.data.distribution))
        self.read = 0
        self.reasons: Counter[str] = Counter()
        self.rejected_by_dist: Counter[int] = Counter()
        self.rejected_unknown: Counter[int] = Counter()  # by source: rejected before the difficulty was known
        self.inputs: list[_Input] = []
        self.warnings: list[str] = []
        self._rejects: IO[bytes] | None = None
        self.verifiers = [self._verifier_name(i, s) for i, s in enumerate(self.sources)]

    # -- setup

    def _verifier_name(self, i: int, src: SourceSpec) -> str:
        from dumpcli.puzzles import registry

        name = src.verifier or (src.puzzle if src.is_generator else "exact")
        if name not in registry.verifier_names():
            raise RecipeError(
                f"{_where(self.recipe)}: invalid recipe\n  data.sources.{i}.verifier: "
                + (
                    f"{name!r} is not available"
                    if src.verifier
                    else f"not given, and the default {name!r} is not available"
                )
                + f" (available: {', '.join(registry.verifier_names()) or 'none'})"
            )
        return name

    def _plan(self) -> None:
        for i, src in enumerate(self.sources):
            if src.is_generator:
                self.inputs.append(_Input(i, _family_file(src.puzzle or ""), "generator", TRAIN))
                continue
            where = f"data.sources.{i}"
            train = _expand(self.recipe, i, src, "files")
            test = _expand(self.recipe, i, src, "test_files")
            data_dir = self.recipe.data_dir.resolve()
            for p in train + test:
                if p.resolve().is_relative_to(data_dir):
                    raise RecipeError(
                        f"{_where(self.recipe)}: invalid recipe\n  output_dir: {_display(self.recipe.data_dir)} "
                        f"is rebuilt by prepare, and holds the input {_display(p)}; choose another output_dir"
                    )
            both = sorted(set(train) & set(test))
            if both:
                raise RecipeError(
                    f"{_where(self.recipe)}: invalid recipe\n  {where}.test_files: {_display(both[0])} "
                    "is also in files"
                )
            group = TO_SPLIT if src.test_fraction else TRAIN
            for paths, g in ((train, group), (test, TEST)):
                for p in paths:
                    self.inputs.append(
                        _Input(i, p, _format_of(p, src.format, f"{_where(self.recipe)}: {where}"), g)
                    )

    # -- run

    def run(self) -> dict:
        self._plan()
        self.out.mkdir(parents=True, exist_ok=True)
        rejects_path = self.out / REJECTS
        with atomic_path(self.recipe.data_dir, is_dir=True) as tmp:
            stage = Stage(tmp, [s.name for s in self.sources])
            was_enabled = gc.isenabled()
            gc.disable()  # the hot loop allocates millions of short-lived objects and no cycles
            try:
                if self.skip_invalid:
                    with atomic_path(rejects_path) as rtmp, open(rtmp, "wb") as rf:
                        self._rejects = rf
                        self._read_all(stage)
                else:
                    self._read_all(stage)
            finally:
                stage.close()
                if was_enabled:
                    gc.enable()
            if not self.skip_invalid and rejects_path.exists():
                rejects_path.unlink()  # from an earlier --skip-invalid run; no longer describes the data
            plan = self._decide(stage)
            if plan["accepted"] == 0:
                raise DataError(
                    f"no record was accepted ({self.read} read, {sum(self.reasons.values())} rejected"
                    + (f"; see {_display(rejects_path)}" if self.skip_invalid else "")
                    + ")"
                )
            self._write_splits(stage, plan, tmp)
            stage.remove()
        manifest = self._manifest(plan)
        write_json(self.out / MANIFEST, manifest)
        self._summary(manifest, plan)
        return manifest

    def _reject(self, job: ingest.FileJob, pos: str, raw: Any, r: Reject, dist: int | None) -> None:
        if not self.skip_invalid:
            where = f"{job.label}:{pos}" if pos.isdigit() else f"{job.label}: {pos}"
            raise DataError(f"{where}: {r.message}")
        self.reasons[r.reason] += 1
        if dist is None:
            self.rejected_unknown[job.source_index] += 1
        else:
            self.rejected_by_dist[dist] += 1
        assert self._rejects is not None
        self._rejects.write(orjson.dumps(ingest.reject_row(job, pos, raw, r), default=str) + b"\n")

    def _read_all(self, stage: Stage) -> None:
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        ]
        workers = ingest.workers()
        big = [
            item
            for item in self.inputs
            if item.kind == "jsonl"
            and item.path.suffix != ".gz"
            and item.path.stat().st_size >= ingest.PARALLEL_MIN_BYTES
        ]
        # input files are hashed on another thread while they are parsed: hashlib and file
        # reads release the GIL; big JSONL files are parsed by worker processes
        with (
            ingest.pool(
                workers if big and workers > 1 else 0
            ) as pool,  # first: fork before our threads start
            Progress(*columns, console=self.console, transient=True) as progress,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="dump-sha256") as hasher,
        ):
            digests = [hasher.submit(sha256_file, item.path) for item in self.inputs]
            if pool is not None:  # this process mostly waits for the workers: import `datasets` meanwhile
                hasher.submit(importlib.import_module, "datasets")
            try:
                for item in self.inputs:
                    self._read_input(stage, item, progress, pool if item in big else None)
            except BaseException:
                for d in digests:
                    d.cancel()
                raise
            for item, digest in zip(self.inputs, digests, strict=True):
                item.sha256 = digest.result()

    def _job(self, item: _Input) -> ingest.FileJob:
        i = item.source
        src = self.sources[i]
        recorded = _recorded(item.path, self.recipe.base_dir)
        try:
            compile_difficulty(src.difficulty, recorded)
        except ValueError as e:
            raise RecipeError(
                f"{_where(self.recipe)}: invalid recipe\n  data.sources.{i}.difficulty: {e}"
            ) from None
        return ingest.FileJob(
            source_index=i,
            source=src,
            source_names=[s.name for s in self.sources],
            verifier=self.verifiers[i],
            kind=item.kind,
            path=str(item.path),
            label=_display(item.path),
            recorded=recorded,
            group=item.group,
            skip_invalid=self.skip_invalid,
        )

    def _read_input(self, stage: Stage, item: _Input, progress: Progress, pool: Any) -> None:
        src = self.sources[item.source]
        if item.kind == "generator":
            self._generate(stage, item, progress)
            return
        job = self._job(item)
        i, name = item.source, src.name

        def reject(pos: str, raw: Any, r: Reject, dist: int | None) -> None:
            self._reject(job, pos, raw, r, dist)

        if item.kind == "jsonl":
            total = item.path.stat().st_size
            task = progress.add_task(f"{name}: {item.path.name} (bytes)", total=total)
            if pool is not None:
                advance = lambda k: progress.advance(task, k)  # noqa: E731
                item.records = self._read_parallel(stage, job, pool, advance, self.inputs.index(item))
            else:
                rows = iter_jsonl(item.path, lambda k: progress.advance(task, k))
                item.records = ingest.stage_records(
                    job, rows, stage, lambda d: self.dists.get(i, name, d), reject
                )
        else:
            total = self._rows(item)
            task = progress.add_task(f"{name}: {item.path.name} (rows)", total=total)
            rows = iter_parquet(item.path, on_rows=lambda k: progress.advance(task, k))
            item.records = ingest.stage_records(
                job, rows, stage, lambda d: self.dists.get(i, name, d), reject
            )
        self.read += item.records
        progress.update(task, completed=total)
        if item.records == 0:
            msg = f"{job.label}: empty file (no records)"
            if not self.skip_invalid:
                raise DataError(msg + "; remove it from the recipe, or pass --skip-invalid to go on")
            self.warnings.append(msg)

    def _read_parallel(
        self, stage: Stage, job: ingest.FileJob, pool: Any, advance: Callable[[int], None], tag: int
    ) -> int:
        """A big JSONL file in chunks on worker processes; results are merged in file order, so
        rows, line numbers, distributions and the first error are those of a sequential read."""
        i, name = job.source_index, job.source.name
        stage.close()
        jobs = [
            replace(
                job,
                start=a,
                end=b,
                part=str(stage.directory / f".chunk-{tag}-{k}.arrow"),
                rejects=str(stage.directory / f".rejects-{k}.jsonl"),
            )  # fmt: skip
            for k, (a, b) in enumerate(chunk_bounds(Path(job.path), ingest.CHUNK_BYTES))
        ]
        records = 0
        line_offset = 0
        results = pool.map(ingest.read_chunk, jobs)
        for chunk, res in zip(jobs, results, strict=True):
            dist_map = np.array([self.dists.get(i, name, d) for d in res["difficulties"]], dtype=np.int32)
            if res["first_error"] is not None:
                line, message = res["first_error"]
                raise DataError(f"{job.label}:{line_offset + line}: {message}")
            stage.append_part(res, dist_map, i, job.group)
            for reason, n in res["reasons"].items():
                self.reasons[reason] += n
            for d, n in res["rejected_by_dist"].items():
                self.rejected_by_dist[int(dist_map[int(d)])] += n
            self.rejected_unknown[i] += res["rejected_unknown"]
            if self.skip_invalid:
                assert self._rejects is not None
                with open(chunk.rejects, "rb") as f:
                    for line_bytes in f:
                        row = orjson.loads(line_bytes)
                        row["line"] += line_offset
                        self._rejects.write(orjson.dumps(row) + b"\n")
                os.unlink(chunk.rejects)
            records += res["records"]
            line_offset += res["lines"]
            advance(chunk.end - chunk.start)  # type: ignore[operator]
        return records

    def _rows(self, item: _Input) -> int:
        try:
            return count_parquet_rows(item.path)
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise DataError(f"{_display(item.path)}: not a readable Parquet file: {e}") from None

    def _generate(self, stage: Stage, item: _Input, progress: Progress) -> None:
        """Puzzles from a built-in family: unique by id within the source; the first
        `test_per_difficulty` of each difficulty go to test, the next ones to train."""
        from dumpcli.puzzles import registry

        i = item.source
        src = self.sources[i]
        where = f"{_where(self.recipe)}: invalid recipe\n  data.sources.{i}"
        family = registry.get_family(src.puzzle or "")
        lo, hi = family.min_difficulty, family.max_difficulty
        bad = [d for d in src.difficulties or [] if not lo <= d <= hi]
        if bad:
            raise RecipeError(f"{where}.difficulties: {bad} outside {src.puzzle}'s range {lo}..{hi}")
        try:
            inspect.signature(family.generate).bind(lo, random.Random(0), **src.params)
        except TypeError as e:
            raise RecipeError(f"{where}.params: {e}") from None
        verifier_name = self.verifiers[i]
        reparse = verifier_name != src.puzzle
        verifier = registry.get_verifier(verifier_name)
        per = src.train_per_difficulty + src.test_per_difficulty
        task = progress.add_task(f"{src.name}: puzzle {src.puzzle}", total=per * len(src.difficulties or []))
        made_total = 0
        repeats_total = 0
        for d in src.difficulties or []:
            rng = random.Random(stable_seed(self.recipe.seed, src.name, d))
            dist = self.dists.get(i, src.name, str(d))
            seen: set[bytes] = set()
            repeats = 0
            max_repeats = max(100, per)
            context = f"{src.name} (puzzle {src.puzzle}, difficulty {d})"
            while len(seen) < per:
                try:
                    puzzle = family.generate(d, rng, **src.params)
                except ValueError as e:
                    raise DataError(f"{context}: cannot generate: {e}") from None
                question = puzzle.get("question") if isinstance(puzzle, dict) else None
                if not isinstance(question, str) or not question.strip() or "answer" not in puzzle:
                    raise DataError(f"{context}: the generator returned no question text or no answer")
                digest = hashlib.sha256(f"{src.name}\0{normalise(question)}".encode()).digest()[:8]
                if digest in seen:
                    repeats += 1
                    if repeats > max_repeats:
                        raise DataError(
                            f"{context}: only {len(seen)} distinct puzzles after {repeats} repeats; "
                            f"lower train_per_difficulty/test_per_difficulty (asked {per})"
                        )
                    continue
                seen.add(digest)
                try:
                    answer_obj = verifier.parse_answer(puzzle["answer"]) if reparse else puzzle["answer"]
                    answer = orjson.dumps(answer_obj)
                except (ValueError, TypeError) as e:
                    raise DataError(
                        f"{context}: verifier '{verifier_name}' cannot use the answer: {e}"
                    ) from None
                meta = orjson.dumps(
                    {k: v for k, v in puzzle.items() if k not in ("question", "answer")}, default=str
                )
                group = TEST if len(seen) <= src.test_per_difficulty else TRAIN
                stage.add(i, dist, group, question, question, str(d), answer, meta)
                progress.advance(task)
            made_total += len(seen)
            repeats_total += repeats
        item.records = made_total
        item.regenerated = repeats_total
        self.read += made_total

    # -- dedup + split

    def _decide(self, stage: Stage) -> dict[str, Any]:
        n = stage.rows
        ids = np.frombuffer(bytes(stage.id8), dtype=np.uint64) if n else np.zeros(0, np.uint64)
        if not n:
            qhash = np.zeros(0, np.int64)
        elif stage.cross_source:
            qhash = np.frombuffer(stage.qhash, dtype=np.int64)
        else:
            qhash = np.frombuffer(bytes(stage.id8), dtype=np.int64)
        dist = np.frombuffer(stage.dist, dtype=np.int32) if n else np.zeros(0, np.int32)
        src = np.frombuffer(stage.src, dtype=np.int16) if n else np.zeros(0, np.int16)
        group = np.frombuffer(stage.group, dtype=np.int8) if n else np.zeros(0, np.int8)
        keep = np.ones(n, dtype=bool)
        if self.recipe.data.dedup:
            for g in (TRAIN, TEST, TO_SPLIT):
                rows = np.flatnonzero(group == g)
                if len(rows):
                    _, first = np.unique(ids[rows], return_index=True)
                    keep[rows] = False
                    keep[rows[first]] = True
        duplicates = int(n - keep.sum())
        is_test = group == TEST
        # seeded, stratified per (source, distribution): exactly round(fraction * n) to test
        pending = np.flatnonzero(keep & (group == TO_SPLIT))
        if len(pending):
            strata = src[pending].astype(np.int64) * (len(self.dists.names) + 1) + dist[pending]
            order = np.argsort(strata, kind="stable")
            bounds = np.flatnonzero(np.diff(strata[order])) + 1
            for chunk in np.split(order, bounds):
                rows = pending[chunk]
                s, d = int(src[rows[0]]), int(dist[rows[0]])
                fraction = self.sources[s].test_fraction or 0.0
                k = int(fraction * len(rows) + 0.5)
                rng = random.Random(
                    stable_seed(self.recipe.seed, "split", self.sources[s].name, self.dists.names[d])
                )
                chosen = rng.sample(range(len(rows)), k)
                is_test[rows[chosen]] = True
        test_mask = keep & is_test
        train_mask = keep & ~is_test
        overlap_mask = train_mask & np.isin(qhash, qhash[test_mask])
        train_mask &= ~overlap_mask
        train_idx, test_idx = np.flatnonzero(train_mask), np.flatnonzero(test_mask)
        nd = len(self.dists.names)
        return {
            "train_idx": train_idx,
            "test_idx": test_idx,
            "train_by_dist": np.bincount(dist[train_idx], minlength=nd),
            "test_by_dist": np.bincount(dist[test_idx], minlength=nd),
            "accepted": len(train_idx) + len(test_idx),
            "duplicates": duplicates,
            "overlap": int(overlap_mask.sum()),
        }

    def _write_splits(self, stage: Stage, plan: dict[str, Any], tmp: Path) -> None:
        """One pass over the staged batches, each batch's kept rows to train or test.

        `datasets` writes each split's metadata (state.json, dataset_info.json) from an empty
        dataset with the final features; we then stream the rows into its data file (much faster
        than `select(...).save_to_disk`, which gathers row by row) and reload it as a check."""
        import datasets

        quiet = datasets.are_progress_bars_disabled()
        datasets.disable_progress_bars()
        try:
            features = datasets.Features.from_arrow_schema(SCHEMA)
            finisher = Finisher(
                self.recipe.data.prompt_template,
                [s.name for s in self.sources],
                self.verifiers,
                self.dists.names,
                stage,
            )
            writers: dict[str, Any] = {}
            sinks = []
            for split in SPLITS:
                target = tmp / split
                datasets.Dataset.from_dict({c: [] for c in SCHEMA.names}, features=features).save_to_disk(
                    str(target), num_shards=1
                )
                shards = read_json(target / "state.json")["_data_files"]
                assert len(shards) == 1, shards
                sink = pa.OSFile(str(target / shards[0]["filename"]), "wb")
                sinks.append(sink)
                writers[split] = pa.ipc.new_stream(sink, features.arrow_schema)
            wanted = {split: plan[f"{split}_idx"] for split in SPLITS}
            with self.console.status("writing train/test datasets"):
                start = 0
                for batch in stage.batches():
                    end = start + batch.num_rows
                    for split, idx in wanted.items():
                        lo, hi = np.searchsorted(idx, [start, end])
                        if hi > lo:
                            rows = idx[lo:hi]
                            part = batch.take(pa.array(rows - start)) if hi - lo < batch.num_rows else batch
                            writers[split].write_batch(finisher.build(part, rows))
                    start = end
            for writer in writers.values():
                writer.close()
            for sink in sinks:
                sink.close()
            for split in SPLITS:
                n = datasets.load_from_disk(str(tmp / split)).num_rows
                if n != len(wanted[split]):
                    raise DataError(f"internal error: wrote {n} {split} rows, expected {len(wanted[split])}")
        finally:
            if not quiet:
                datasets.enable_progress_bars()

    # -- manifest + summary

    def _order(self) -> list[int]:
        """Distributions easy -> hard: natural sort of difficulty, then source order in the recipe."""
        by_difficulty = "difficulty" in self.dists.keys

        def key(d: int) -> tuple[Any, ...]:
            diff = natural_key(self.dists.difficulties[d][0]) if by_difficulty else ()
            return (diff, min(self.dists.sources[d]))

        return sorted(range(len(self.dists.names)), key=key)

    def _manifest(self, plan: dict[str, Any]) -> dict[str, Any]:
        base = self.recipe.base_dir
        distributions = []
        for d in self._order():
            train, test = int(plan["train_by_dist"][d]), int(plan["test_by_dist"][d])
            if train + test == 0:
                continue
            diffs = sorted(self.dists.difficulties[d], key=natural_key)
            distributions.append(
                {
                    "name": self.dists.names[d],
                    "source": ",".join(self.sources[s].name for s in self.dists.sources[d]),
                    "difficulty": ",".join(diffs),
                    "train": train,
                    "test": test,
                    "rejected": int(self.rejected_by_dist[d]),
                }
            )
        inputs = []
        for item in self.inputs:
            st = item.path.stat()
            inputs.append(
                {
                    "path": _recorded(item.path, base),
                    "source": self.sources[item.source].name,
                    "kind": item.kind,
                    "split": {TRAIN: "train", TEST: "test", TO_SPLIT: "test_fraction"}[item.group],
                    "sha256": item.sha256,
                    "size": st.st_size,
                    "mtime_ns": st.st_mtime_ns,
                    "records": item.records,
                }
            )
            if item.kind == "generator":
                inputs[-1]["regenerated"] = item.regenerated
        rejected = sum(self.reasons.values())
        return {
            "tool_version": __version__,
            "recipe": str(self.recipe._source_file) if self.recipe._source_file else None,
            "recipe_hash": self.recipe.recipe_hash(),
            "data_hash": self.recipe.data_hash(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "prompt_template": self.recipe.data.prompt_template,
            "distribution_keys": list(self.dists.keys),
            "distributions": distributions,
            "inputs": inputs,
            "counts": {
                "read": self.read,
                "accepted": plan["accepted"],
                "rejected": rejected,
                "duplicates": plan["duplicates"],
                "test_overlap_removed_from_train": plan["overlap"],
            },
            "rejected": dict(self.reasons.most_common()),
            "splits": {"train": len(plan["train_idx"]), "test": len(plan["test_idx"])},
            "skip_invalid": self.skip_invalid,
            "warnings": self.warnings,
        }

    def _summary(self, manifest: dict[str, Any], plan: dict[str, Any]) -> None:
        table = Table()
        table.add_column("distribution")
        for col in ("train", "test", "rejected"):
            table.add_column(col, justify="right")
        for d in self._order():
            table.add_row(
                escape(self.dists.names[d]),
                str(int(plan["train_by_dist"][d])),
                str(int(plan["test_by_dist"][d])),
                str(self.rejected_by_dist[d]),
            )
        for s, count in self.rejected_unknown.items():
            table.add_row(escape(f"{self.sources[s].name} (difficulty unknown)"), "0", "0", str(count))
        c = manifest["counts"]
        table.add_section()
        table.add_row(
            "total", str(manifest["splits"]["train"]), str(manifest["splits"]["test"]), str(c["rejected"])
        )
        self.console.print(table)
        self.console.print(
            f"read {c['read']} = accepted {c['accepted']} + rejected {c['rejected']} "
            f"+ duplicates {c['duplicates']} + overlap {c['test_overlap_removed_from_train']}",
            highlight=False,
        )
        for reason, count in manifest["rejected"].items():
            self.console.print(f"  rejected {count}: {escape(reason)}", highlight=False, soft_wrap=True)
        if self.skip_invalid and c["rejected"]:
            self.console.print(
                f"  every rejected record and why: {escape(_display(self.out / REJECTS))}", highlight=False
            )
        for w in self.warnings:
            self.console.print(f"[yellow]warning[/]: {escape(w)}", highlight=False)
        self.console.print(
            f"wrote {escape(_display(self.recipe.data_dir.resolve()))}/{{train,test}} and {MANIFEST}",
            highlight=False,
        )
