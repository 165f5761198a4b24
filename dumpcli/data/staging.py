"""Staging for `dump prepare`: accepted rows on disk in Arrow batches, a few numbers per row in
memory, and the final rows (schema SCHEMA) built from them once the split is decided.

Memory does not grow with the size of the records: ~23 bytes a row stay in memory (id,
question hash, distribution, source, split group); the rest goes to Arrow stream files.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dumpcli.data import templates
from dumpcli.data.fields import hex_ids, question_ids, source_seed

BATCH = 8192
from dumpcli.data.sources.base import TEST, TO_SPLIT, TRAIN  # noqa: E402,F401 - split groups of staged rows

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
# the prepared rows (the data contract shared with train / eval)
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("difficulty", pa.string()),
        ("distribution", pa.string()),
        ("prompt", MESSAGES),
        ("answer", pa.string()),
        ("verifier", pa.string()),
        ("meta", pa.string()),
    ]
)


def _template_shape(name: str) -> tuple[list[str], list[str], int] | None:
    """If the template puts the question verbatim as one message's content, prompts can be built
    column-wise (no Python dict per row): (roles, fixed contents, question slot)."""
    probe = "\x00dumpcli-question\x00"
    msgs = templates.render(name, probe)
    slots = [i for i, m in enumerate(msgs) if m["content"] == probe]
    if len(slots) != 1 or any(probe in m["role"] for m in msgs):
        return None
    if any(probe in m["content"] for i, m in enumerate(msgs) if i != slots[0]):
        return None
    return [m["role"] for m in msgs], [m["content"] for m in msgs], slots[0]


@dataclass
class Dists:
    """Distributions in order of first appearance; names from recipe.data.distribution."""

    keys: list[str]
    index: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    sources: list[list[int]] = field(default_factory=list)
    difficulties: list[list[str]] = field(default_factory=list)

    def get(self, source_idx: int, source: str, difficulty: str) -> int:
        name = "/".join(source if k == "source" else difficulty for k in self.keys)
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.names)
            self.names.append(name)
            self.sources.append([])
            self.difficulties.append([])
        if source_idx not in self.sources[i]:
            self.sources[i].append(source_idx)
        if difficulty not in self.difficulties[i]:
            self.difficulties[i].append(difficulty)
        return i


class Stage:
    """Accepted rows: Arrow batches in stream files ("parts", in row order) in `directory`,
    plus per-row numbers in compact arrays (~23 bytes a row).

    Rows are appended to plain lists (the hot loop of file sources does it inline); ids and
    question hashes are computed per batch in `flush`, where the text work is column-wise.
    Worker processes stage their chunk of a file in parts of their own (`append_part`)."""

    def __init__(
        self,
        directory: Path,
        sources: list[str],
        prefix: str = "stage",
        *,
        template: str = "plain",
        verifiers: list[str] | None = None,
        dist_keys: list[str] | None = None,
    ):
        self.directory = directory
        self.prefix = prefix
        self.seeds = [source_seed(name) for name in sources]
        self.template = template
        self.shape = _template_shape(template)
        self.source_names = pa.array(sources, pa.string())
        self.verifier_names = pa.array(verifiers or ["exact"] * len(sources), pa.string())
        self.dist_keys = list(dist_keys or ["source", "difficulty"])
        # the question hash (no source) finds a test question in another source's train split;
        # with one source the id does that job (see prepare._Build._decide)
        self.cross_source = len(sources) > 1
        self.parts: list[Path] = []
        self._sink: Any = None
        self._writer: Any = None
        # per row, whole run
        self.ids = array("Q")
        self.qhash = array("Q")
        self.dist = array("i")
        self.src = array("h")
        self.group = array("b")
        # per row, current batch
        self.text: list[str] = []  # the question text the id is computed from
        self.prompt: list[Any] = []  # question text (rendered later by the template) or messages
        self.difficulty: list[str] = []
        self.answer: list[bytes] = []  # JSON text
        self.meta: list[str] = []  # JSON text
        self.rows = 0

    def add(
        self,
        src: int,
        dist: int,
        group: int,
        text: str,
        prompt: Any,
        difficulty: str,
        answer: bytes,
        meta: str,
    ) -> None:
        self.dist.append(dist)
        self.src.append(src)
        self.group.append(group)
        self.text.append(text)
        self.prompt.append(prompt)
        self.difficulty.append(difficulty)
        self.answer.append(answer)
        self.meta.append(meta)
        if len(self.text) >= BATCH:
            self.flush()

    def flush(self) -> None:
        n = len(self.text)
        if not n:
            return
        srcs = self.src[self.rows : self.rows + n]
        prompts = self.prompt
        plain = all(type(p) is str for p in prompts)  # then the texts are the prompts
        texts = pa.array(self.text, pa.string())
        if plain:
            questions, messages = texts, pa.nulls(n, MESSAGES)
        else:
            questions = pa.array([p if type(p) is str else None for p in prompts], pa.string())
            messages = pa.array([None if type(p) is str else p for p in prompts], MESSAGES)
        src = np.frombuffer(srcs, dtype=np.int16)
        ids = self._ids(texts, src)
        batch = self._final(
            src,
            hex_ids(ids),
            pa.array(self.difficulty, pa.string()),
            questions,
            messages,
            pa.array(self.answer, pa.binary()).cast(pa.string()),
            pa.array(self.meta, pa.string()),
        )
        self._write(batch)
        self.rows += n
        self.text, self.prompt, self.difficulty, self.answer, self.meta = [], [], [], [], []

    def _ids(self, texts: pa.Array, src: np.ndarray) -> np.ndarray:
        """The rows' ids (seeded by their source) and, with several sources, the question hashes
        (no source: finds a test question in another source's train split); both kept in memory."""
        present = np.unique(src).tolist()
        seeds = [self.seeds[s] for s in present] + ([0] if self.cross_source else [])
        hashes = question_ids(texts, seeds)
        ids = hashes[0]
        for s, h in zip(present[1:], hashes[1 : len(present)], strict=True):
            ids = np.where(src == s, h, ids)
        self.ids.frombytes(ids.tobytes())
        if self.cross_source:
            self.qhash.frombytes(hashes[-1].tobytes())
        return ids

    def _final(
        self,
        src: np.ndarray,
        ids: pa.Array,
        difficulty: pa.Array,
        questions: pa.Array,
        messages: pa.Array,
        answers: pa.Array,
        meta: pa.Array,
    ) -> pa.RecordBatch:
        """Rows in the prepared schema (SCHEMA): everything in a row is known when it is staged,
        so the prepared splits are these files plus the indices of their rows (no second copy)."""
        src_idx = pa.array(src.astype(np.int32))
        sources = self.source_names.take(src_idx)
        parts = [sources if k == "source" else difficulty for k in self.dist_keys]
        distribution = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "/")
        return pa.RecordBatch.from_arrays(
            [
                ids,
                sources,
                difficulty,
                distribution,
                render_prompts(self.template, questions, messages, self.shape),
                answers,
                self.verifier_names.take(src_idx),
                meta,
            ],
            schema=SCHEMA,
        )

    def _write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            path = self.directory / f"{self.prefix}-{len(self.parts)}.arrow"
            self.parts.append(path)
            self._sink = open(path, "wb")  # noqa: SIM115 - closed in close()
            self._writer = pa.ipc.new_stream(self._sink, SCHEMA)
        self._writer.write_batch(batch)  # left to the kernel's writeback (see BENCHMARKS.md)

    def add_batch(
        self,
        src: int,
        group: int,
        dist: np.ndarray,
        questions: pa.Array,
        difficulty: pa.Array,
        answers: pa.Array,
        meta: pa.Array,
    ) -> None:
        """Many rows at once, as columns (fastpath.py): plain-text prompts, after any pending rows."""
        self.flush()
        n = len(questions)
        sources = np.full(n, src, dtype=np.int16)
        ids = self._ids(questions, sources)
        self.dist.frombytes(np.asarray(dist, np.int32).tobytes())
        self.src.frombytes(sources.tobytes())
        self.group.frombytes(np.full(n, group, dtype=np.int8).tobytes())
        batch = self._final(
            sources, hex_ids(ids), difficulty, questions, pa.nulls(n, MESSAGES), answers, meta
        )
        self._write(batch)
        self.rows += n

    def mark(self) -> tuple[int, int]:
        """Where the staged rows end now (after `close`), for `rollback`."""
        assert self._writer is None and not self.text
        return self.rows, len(self.parts)

    def rollback(self, mark: tuple[int, int]) -> None:
        """Forget every row staged since `mark`."""
        self.close()
        rows, parts = mark
        for path in self.parts[parts:]:
            path.unlink(missing_ok=True)
        del self.parts[parts:]
        for arr in (self.ids, self.dist, self.src, self.group):
            del arr[rows:]
        if self.cross_source:
            del self.qhash[rows:]
        self.rows = rows

    def close(self) -> None:
        """Flush and end the current part (rows staged after this go to a new one)."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = self._sink = None

    def append_part(self, part: dict[str, Any], dist_map: np.ndarray, src: int, group: int) -> None:
        """Rows a worker staged (`ingest.read_chunk`'s result), after the rows staged so far."""
        self.close()
        n = part["rows"]
        if not n:
            Path(part["path"]).unlink(missing_ok=True)
            return
        self.parts.append(Path(part["path"]))
        self.ids.frombytes(part["ids"])
        if self.cross_source:
            self.qhash.frombytes(part["qhash"])
        self.dist.frombytes(dist_map[np.frombuffer(part["dist"], dtype=np.int32)].astype(np.int32).tobytes())
        self.src.frombytes(np.full(n, src, dtype=np.int16).tobytes())
        self.group.frombytes(np.full(n, group, dtype=np.int8).tobytes())
        self.rows += n


def render_prompts(template: str, questions: pa.Array, messages: pa.Array, shape: Any = None) -> pa.Array:
    """The prompt column: question texts rendered with the template (column-wise when the
    template allows: no Python dict per row), chat prompts kept as they are."""
    n = len(questions)
    shape = shape if shape is not None else _template_shape(template)
    if shape is not None and messages.null_count == n:
        roles, contents, slot = shape
        m = len(roles)
        pattern = np.tile(np.arange(m, dtype=np.int64), n)
        role_col = pa.array(roles, pa.string()).take(pa.array(pattern))
        pattern[slot::m] = m + np.arange(n, dtype=np.int64)
        base = pa.concat_arrays([pa.array(contents, pa.string()), questions])
        struct = pa.StructArray.from_arrays(
            [role_col, base.take(pa.array(pattern))], names=["role", "content"]
        )
        return pa.ListArray.from_arrays(pa.array(np.arange(0, (n + 1) * m, m, dtype=np.int32)), struct)
    rows = [
        templates.render(template, q) if q is not None else msgs
        for q, msgs in zip(questions.to_pylist(), messages.to_pylist(), strict=True)
    ]
    return pa.array(rows, MESSAGES)
