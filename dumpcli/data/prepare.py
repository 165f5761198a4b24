"""`dump prepare`: every source -> validated, tagged, split, deduplicated Arrow data in the cache.

The stages: each source (dumpcli/data/sources/) yields records one at a time (files: JSONL,
Parquet, CSV; `hf` datasets) or problems per difficulty (generators); clean JSONL files are read
column-wise (fastpath.py: pyarrow parses, pyarrow.compute and numpy check and tag), everything
else record by record (ingest.py, in worker processes for big JSONL files); staging.py writes the
accepted rows in their final form (Arrow IPC stream files that `datasets.Dataset.from_file`
memory-maps) and keeps ~23 bytes a row in memory; this module decides dedup and the split with
numpy on those arrays and writes each split as its list of rows (prepared.py, the one reader of
prepared data, selects them with `load_split`),
then the manifest, all in a staging folder committed by one rename (see `_commit`), and a
summary. Input files are hashed (xxh3-128, for the manifest and staleness checks) on a thread
while they are parsed.

A row: `id` (xxh3-64 of the normalised question, seeded by the source: 16 hex digits), `source`,
`difficulty`, `distribution`, `prompt` (chat messages, the template applied), `answer` (JSON of
the verifier's canonical answer), `verifier`, `meta` (JSON: where the record came from,
`{"file": ..., "line": N}`, or a generated problem's other fields).

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
import errno
import gc
import os
import random
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dumpcli import __version__
from dumpcli.data import fastpath, ingest
from dumpcli.data.fields import (
    Reject,
    compile_difficulty,
    natural_key,
    question_id,
    source_seed,
    stable_seed,
)
from dumpcli.data.prepared import (
    MANIFEST,
    PARTS,
    REJECTS,
    SPLITS,
    cache_root,
    data_location,
    is_prepared,
    load_manifest,
    publish,
)
from dumpcli.data.readers import chunk_bounds, count_parquet_rows, iter_jsonl
from dumpcli.data.sources.base import GROUP_NAMES, TEST, TO_SPLIT, TRAIN, Input, Source, display
from dumpcli.data.staging import Dists, Stage
from dumpcli.errors import DataError
from dumpcli.io import atomic_path, jsonl_writer, write_json, xxh3_file
from dumpcli.recipe import Recipe, RecipeError

STAGING = ".staging-"  # prefix of build folders in the data cache (removed when their lock is free)

# ---------------------------------------------------------------- public API


def prepare(
    recipe: Recipe, *, skip_invalid: bool = False, force: bool = False, console: Console | None = None
) -> dict:
    """Build the recipe's data (see `data_location`) and OUTPUT/manifest.json; return the manifest.

    A no-op (says "up to date") when the manifest matches the recipe's data section and the
    inputs are unchanged, unless `force`. A previous build that rejected records does not count
    as up to date for a run without --skip-invalid (that run must report the bad record)."""
    console = console or Console()
    out = recipe.output_path
    _check_output_dir(recipe)
    if not force and is_prepared(recipe):
        manifest = load_manifest(recipe)
        if skip_invalid or not manifest["counts"]["rejected"]:
            publish(recipe, manifest, skip_invalid)
            console.print(
                f"[green]up to date[/]: {escape(display(out.resolve()))} (inputs and recipe unchanged; --force rebuilds)",
                highlight=False,
            )
            return manifest
    try:
        return _Build(recipe, skip_invalid=skip_invalid, console=console, force=force).run()
    except OSError as e:  # disk full, permissions, a path that became a file: one message
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR):
            raise RecipeError(
                f"{_where(recipe)}: cannot write the prepared data: {e.strerror} ({e.filename or ''}); "
                "free space or choose another output_dir / DUMP_CACHE_DIR"
            ) from None
        raise


def _check_output_dir(recipe: Recipe) -> None:
    """output_dir must be a folder this user can write (a file, a read-only or unwritable folder
    is a recipe error, exit 2, before any work)."""
    out = recipe.output_path
    for path, what in ((out, "output_dir"), (cache_root() / "data", "the data cache (DUMP_CACHE_DIR)")):
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".dump-write-test-", dir=path)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            reason = "is a file, not a folder" if path.exists() and not path.is_dir() else e.strerror
            raise RecipeError(
                f"{_where(recipe)}: invalid recipe\n  "
                + (f"output_dir: {display(path)}" if what == "output_dir" else f"{what}: {path}")
                + f": cannot write there ({reason})"
            ) from None


def _provenance(item: Input) -> str:
    """The start of each row's `meta`: where the record came from, as the manifest's inputs name
    it (`{"file":"data/a.jsonl","line":12}`; Parquet, CSV and `hf` rows count from 0, as
    `datasets` does). The record itself is not copied: the input file still holds it."""
    if item.kind == "hf":
        where = {"dataset": item.recorded, "split": item.identity.get("split_name")}
    else:
        where = {"file": item.recorded}
    return orjson.dumps(where).decode()[:-1] + (',"line":' if item.kind == "jsonl" else ',"row":')


def _where(recipe: Recipe) -> str:
    return str(recipe._source_file) if recipe._source_file else "recipe"


# ---------------------------------------------------------------- the build


class _Build:
    """One run: read every input, decide dedup and split, write data + manifest, summarise."""

    def __init__(self, recipe: Recipe, *, skip_invalid: bool, console: Console, force: bool = False):
        self.recipe = recipe
        self.force = force
        self.skip_invalid = skip_invalid
        self.console = console
        self.out = recipe.output_path
        self.sources = recipe.data.sources
        self.runtime: list[Source] = [s.build(i, recipe) for i, s in enumerate(self.sources)]
        self.dists = Dists(list(recipe.data.distribution))
        self.read = 0
        self.reasons: Counter[str] = Counter()
        self.rejected_by_dist: Counter[int] = Counter()
        self.rejected_unknown: Counter[int] = Counter()  # by source: rejected before the difficulty was known
        self.inputs: list[Input] = []
        self.warnings: list[str] = []
        self._rejects: IO[bytes] | None = None
        self.verifiers = [self._verifier_name(i, s) for i, s in enumerate(self.sources)]

    # -- setup

    def _verifier_name(self, i: int, src: Any) -> str:
        from dumpcli.puzzles import registry

        name = src.verifier_name()
        if not registry.known(name):
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
        for source in self.runtime:
            self.inputs.extend(source.inputs())

    # -- run

    def run(self) -> dict:
        from filelock import FileLock

        self._plan()
        where = data_location(self.recipe)
        root = where.parent
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / f"{where.name}.lock")):  # one build of a data set at a time
            if not self.force and is_prepared(self.recipe):  # another process built it meanwhile
                manifest = load_manifest(self.recipe)
                if self.skip_invalid or not manifest["counts"]["rejected"]:
                    publish(self.recipe, manifest, self.skip_invalid)
                    return manifest
            _remove_dead_staging(root)
            staging = root / f"{STAGING}{where.name}-{os.getpid()}-{secrets.token_hex(4)}"
            lock = FileLock(str(staging) + ".lock")
            lock.acquire()  # before the folder exists: a cleaner never sees it unlocked
            try:
                staging.mkdir()
                manifest = self._build(staging, where)
                _commit(staging, where)
            finally:
                if staging.exists():
                    shutil.rmtree(staging)
                lock.release()
                Path(str(staging) + ".lock").unlink(missing_ok=True)
        publish(self.recipe, manifest, self.skip_invalid)
        self._summary(manifest)
        return manifest

    def _build(self, tmp: Path, where: Path) -> dict:
        """Everything into the staging folder `tmp`: train/, test/, rejects.jsonl, manifest.json."""
        rejects_path = tmp / REJECTS
        stage = Stage(
            tmp,
            [s.name for s in self.sources],
            template=self.recipe.data.prompt_template,
            verifiers=self.verifiers,
            dist_keys=list(self.recipe.data.distribution),
        )
        was_enabled = gc.isenabled()
        gc.disable()  # the hot loop allocates millions of short-lived objects and no cycles
        try:
            if self.skip_invalid:
                with open(rejects_path, "wb") as rf:
                    self._rejects = rf  # workers' reject files are copied in as bytes
                    self._reject_writer = jsonl_writer(rf, default=str)
                    self._read_all(stage)
            else:
                self._read_all(stage)
        finally:
            stage.close()
            if was_enabled:
                gc.enable()
        plan = self._decide(stage)
        self.plan = plan
        if plan["accepted"] == 0:
            self._nothing_accepted(rejects_path)
        self._write_splits(stage, plan, tmp)
        manifest = self._manifest(plan, where)
        write_json(tmp / MANIFEST, manifest)
        return manifest

    def _nothing_accepted(self, rejects: Path) -> None:
        """No data to commit. OUTPUT/manifest.json and rejects.jsonl then describe this run (its
        counts, no data), so the two always agree; the data of earlier builds is left alone."""
        rejected = sum(self.reasons.values())
        shown = self.out / REJECTS
        if self.skip_invalid:
            with atomic_path(shown) as tmp:
                shutil.copyfile(rejects, tmp)
            failed = {
                "tool_version": __version__,
                "data_hash": self.recipe.data_hash(),
                "data_dir": None,
                "error": "no record was accepted",
                "counts": {
                    "read": self.read,
                    "accepted": 0,
                    "rejected": rejected,
                    "duplicates": 0,
                    "test_overlap_removed_from_train": 0,
                },  # fmt: skip
                "rejected": dict(self.reasons.most_common()),
                "splits": {"train": 0, "test": 0},
                "skip_invalid": True,
            }
            write_json(self.out / MANIFEST, failed)
        raise DataError(
            f"no record was accepted ({self.read} read, {rejected} rejected"
            + (f"; see {display(shown)}" if self.skip_invalid else "")
            + ")"
        )

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
        self._reject_writer.write(ingest.reject_row(job, pos, raw, r))

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
            and item.path is not None
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
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="dump-hash") as hasher,
        ):
            digests = [hasher.submit(xxh3_file, item.path) if item.path else None for item in self.inputs]
            try:
                for item in self.inputs:
                    self._read_input(stage, item, progress, pool if item in big else None)
            except BaseException:
                for d in digests:
                    if d is not None:
                        d.cancel()
                raise
            for item, digest in zip(self.inputs, digests, strict=True):
                item.digest = digest.result() if digest is not None else ""

    def _verifier(self, i: int) -> Any:
        from dumpcli.puzzles import registry

        return registry.get_verifier(self.verifiers[i])

    def _job(self, item: Input) -> ingest.FileJob:
        i = item.source
        src = self.sources[i]
        try:
            compile_difficulty(src.difficulty, item.recorded)
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
            path=str(item.path) if item.path else "",
            label=item.label,
            recorded=item.recorded,
            group=item.group,
            skip_invalid=self.skip_invalid,
            template=self.recipe.data.prompt_template,
            verifiers=self.verifiers,
            dist_keys=list(self.recipe.data.distribution),
            provenance=_provenance(item),
            max_prompt_chars=self.recipe.data.max_prompt_chars,
            max_answer_chars=self.recipe.data.max_answer_chars,
        )

    def _read_input(self, stage: Stage, item: Input, progress: Progress, pool: Any) -> None:
        source = self.runtime[item.source]
        if source.generated:
            self._generate(stage, item, source, progress)
            return
        job = self._job(item)
        i, name = item.source, source.spec.name

        def reject(pos: str, raw: Any, r: Reject, dist: int | None) -> None:
            self._reject(job, pos, raw, r, dist)

        if item.kind == "jsonl":
            assert item.path is not None
            total = item.path.stat().st_size
            task = progress.add_task(f"{name}: {item.path.name} (bytes)", total=total)
            columnwise = (
                fastpath.stage_jsonl(job, stage, self.dists, self._verifier(i)) if fastpath.ENABLED else None
            )
            if columnwise is not None:
                item.records = columnwise
            elif pool is not None:
                advance = lambda k: progress.advance(task, k)  # noqa: E731
                item.records = self._read_parallel(stage, job, pool, advance, self.inputs.index(item))
            else:
                rows = iter_jsonl(item.path, lambda k: progress.advance(task, k))
                item.records = ingest.stage_records(
                    job, rows, stage, lambda d: self.dists.get(i, name, d), reject
                )
        else:
            total = self._rows(item)
            task = progress.add_task(f"{name}: {item.label} (rows)", total=total)
            item.records = ingest.stage_records(
                job, source.rows(item), stage, lambda d: self.dists.get(i, name, d), reject
            )
        self.read += item.records
        progress.update(task, completed=total)
        if item.records == 0:
            msg = f"{job.label}: empty " + ("file" if item.path else "dataset") + " (no records)"
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
        futures = []
        lines_before = 0  # each worker numbers the lines of its chunk from there
        with open(job.path, "rb") as f:
            for k, (a, b) in enumerate(chunk_bounds(Path(job.path), ingest.CHUNK_BYTES)):
                chunk = replace(
                    job,
                    start=a,
                    end=b,
                    lines_before=lines_before,
                    part=str(stage.directory / f".chunk-{tag}-{k}.arrow"),
                    rejects=str(stage.directory / f".rejects-{k}.jsonl"),
                )  # fmt: skip
                futures.append((chunk, pool.submit(ingest.read_chunk, chunk)))
                lines_before += f.read(b - a).count(b"\n")
        records = 0
        for chunk, future in futures:
            res = future.result()
            dist_map = np.array([self.dists.get(i, name, d) for d in res["difficulties"]], dtype=np.int32)
            if res["first_error"] is not None:
                line, message = res["first_error"]
                raise DataError(f"{job.label}:{line}: {message}")
            stage.append_part(res, dist_map, i, job.group)
            for reason, n in res["reasons"].items():
                self.reasons[reason] += n
            for d, n in res["rejected_by_dist"].items():
                self.rejected_by_dist[int(dist_map[int(d)])] += n
            self.rejected_unknown[i] += res["rejected_unknown"]
            if self.skip_invalid:
                assert self._rejects is not None
                with open(chunk.rejects, "rb") as f:
                    shutil.copyfileobj(f, self._rejects)
                os.unlink(chunk.rejects)
            records += res["records"]
            advance(chunk.end - chunk.start)  # type: ignore[operator]
        return records

    def _rows(self, item: Input) -> int | None:
        if item.kind == "hf":
            return item.identity.get("rows")
        if item.kind != "parquet":
            return None
        assert item.path is not None
        try:
            return count_parquet_rows(item.path)
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise DataError(f"{item.label}: not a readable Parquet file: {e}") from None

    def _generate(self, stage: Stage, item: Input, source: Source, progress: Progress) -> None:
        """Problems from a generator source: unique by id within the source; the first
        `test_per_difficulty` of each difficulty go to test, the next ones to train."""
        from dumpcli.puzzles import registry

        i = item.source
        src = self.sources[i]
        levels = source.levels()
        verifier_name = self.verifiers[i]
        reparse = verifier_name != src.default_verifier and verifier_name != getattr(src, "puzzle", None)
        verifier = registry.get_verifier(verifier_name)
        task = progress.add_task(f"{src.name}: {item.label}", total=sum(lv.train + lv.test for lv in levels))
        made_total = 0
        repeats_total = 0
        seed = source_seed(src.name)
        for level in levels:
            d = level.difficulty
            per = level.train + level.test
            dist = self.dists.get(i, src.name, d)
            seen: set[int] = set()
            repeats = 0
            max_repeats = max(100, per)
            context = level.context
            draws = level.draws()
            while len(seen) < per:
                try:
                    puzzle = next(draws)
                except StopIteration:
                    raise DataError(
                        f"{context}: only {len(seen)} distinct problems after {repeats} repeats; "
                        f"lower train_per_difficulty/test_per_difficulty (asked {per})"
                    ) from None
                except (ValueError, TypeError, AssertionError) as e:
                    raise DataError(f"{context}: cannot generate: {e}") from None
                question = puzzle.get("question") if isinstance(puzzle, dict) else None
                if not isinstance(question, str) or not question.strip() or "answer" not in puzzle:
                    raise DataError(f"{context}: the generator returned no question text or no answer")
                digest = question_id(question, seed)
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
                    answer = orjson.dumps(answer_obj, default=str)
                except (ValueError, TypeError) as e:
                    raise DataError(
                        f"{context}: verifier '{verifier_name}' cannot use the answer: {e}"
                    ) from None
                meta = orjson.dumps(
                    {k: v for k, v in puzzle.items() if k not in ("question", "answer")}, default=str
                ).decode()
                group = TEST if len(seen) <= level.test else TRAIN
                stage.add(i, dist, group, question, question, d, answer, meta)
                progress.advance(task)
            made_total += len(seen)
            repeats_total += repeats
        item.records = made_total
        item.regenerated = repeats_total
        self.read += made_total

    # -- dedup + split

    def _decide(self, stage: Stage) -> dict[str, Any]:
        n = stage.rows
        ids = np.frombuffer(stage.ids, dtype=np.uint64) if n else np.zeros(0, np.uint64)
        qhash = np.frombuffer(stage.qhash, dtype=np.uint64) if n and stage.cross_source else ids
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
                fraction = getattr(self.sources[s], "test_fraction", None) or 0.0
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
        """The staged parts already hold every accepted row in its final form (Arrow IPC
        stream files that `datasets.Dataset.from_file` memory-maps); a split is the list of its
        rows (`SPLIT.idx.npy`), so nothing is copied a second time. `load_split` opens them;
        here pyarrow reads them through once as a check."""
        import pyarrow as pa

        parts = [p.name for p in stage.parts]
        for split in SPLITS:
            np.save(tmp / f"{split}.idx.npy", plan[f"{split}_idx"].astype(np.int64))
        write_json(tmp / PARTS, {"parts": parts, "rows": stage.rows})
        n = 0
        for part in parts:
            with pa.memory_map(str(tmp / part)) as source:
                n += sum(batch.num_rows for batch in pa.ipc.open_stream(source))
        if n != stage.rows:
            raise DataError(f"internal error: the data has {n} rows, expected {stage.rows}")

    # -- manifest + summary

    def _order(self) -> list[int]:
        """Distributions easy -> hard: natural sort of difficulty, then source order in the recipe."""
        by_difficulty = "difficulty" in self.dists.keys

        def key(d: int) -> tuple[Any, ...]:
            diff = natural_key(self.dists.difficulties[d][0]) if by_difficulty else ()
            return (diff, min(self.dists.sources[d]))

        return sorted(range(len(self.dists.names)), key=key)

    def _manifest(self, plan: dict[str, Any], where: Path) -> dict[str, Any]:
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
            entry: dict[str, Any] = {
                "path": item.recorded or item.label,
                "source": self.sources[item.source].name,
                "kind": item.kind,
                "split": GROUP_NAMES[item.group],
                "records": item.records,
                **item.identity,
            }
            if item.path is not None:
                st = item.path.stat()
                entry.update(xxh3_128=item.digest, size=st.st_size, mtime_ns=st.st_mtime_ns)
            if self.runtime[item.source].generated:
                entry["regenerated"] = item.regenerated
            inputs.append(entry)
        rejected = sum(self.reasons.values())
        return {
            "tool_version": __version__,
            "recipe": str(self.recipe._source_file) if self.recipe._source_file else None,
            "recipe_hash": self.recipe.recipe_hash(),
            "data_hash": self.recipe.data_hash(),
            "data_dir": str(where),
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

    def _summary(self, manifest: dict[str, Any]) -> None:
        plan = self.plan
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
                f"  every rejected record and why: {escape(display(self.out / REJECTS))}", highlight=False
            )
        for w in self.warnings:
            self.console.print(f"[yellow]warning[/]: {escape(w)}", highlight=False)
        self.console.print(
            f"wrote train and test to the data cache, {escape(manifest['data_dir'])}, and "
            f"{escape(display(self.out.resolve() / MANIFEST))}",
            highlight=False,
        )


# ---------------------------------------------------------------- committing


def _commit(staging: Path, where: Path) -> None:
    """Data, rejects and manifest become current together: one rename of the staging folder (the
    previous build is first renamed aside, then removed). A crash at any point leaves either the
    old build or the new one, never a mix, and only folders of the data cache's own naming."""
    if where.exists():
        aside = Path(tempfile.mkdtemp(prefix=f"{STAGING}{where.name}-old-", dir=where.parent))
        aside.rmdir()
        where.rename(aside)
        staging.rename(where)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        staging.rename(where)


def _remove_dead_staging(root: Path) -> None:
    """Staging folders left by a build that was killed (kill -9, power loss): their lock file is
    free. Only names this module makes (`.staging-*` in the data cache) are considered."""
    from filelock import FileLock, Timeout

    for path in root.glob(f"{STAGING}*"):
        if path.name.endswith(".lock") or not path.is_dir():
            continue
        lock = FileLock(str(path) + ".lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue  # another build is using it
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            lock.release()
            Path(str(path) + ".lock").unlink(missing_ok=True)
