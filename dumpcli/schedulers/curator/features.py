"""Features the Actor-Curator network reads from a candidate problem.

Two text front-ends, both mapping a problem to something the curator network can embed:

- `HashedFeatures` (default, CPU, no model): the set of hashed word uni/bi-grams of the prompt text
  (the "hashing trick"), plus hashed buckets of the source and the difficulty and, when the
  difficulty is a number, its value. Hashes are stable (CRC-32 of the token, then a 64-bit FNV-style
  combination for n-grams), never Python's salted `hash()`, so every process and every resumed run
  maps a problem to the same buckets. Unseen words, sources and difficulties still land in a bucket,
  which is what lets the curator generalise to problems it never selected.
- `EncoderFeatures` (`encoder: <HF model id or local dir>`): a frozen Hugging Face encoder, mean-pooled
  over the prompt tokens, computed once per problem and cached (the encoder is frozen, so the
  embedding of a problem never changes).

Both cache per-problem features in a bounded LRU keyed by (problem_id, source, difficulty): the
candidate pool of each step is drawn from the same problem bank, so most problems recur.
"""

from __future__ import annotations

import inspect
import math
import re
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dumpcli.errors import DumpError
from dumpcli.schedulers.selector import Candidate

_TOKEN = re.compile(r"\w+|[^\w\s]")
_FNV_PRIME = np.uint64(0x100000001B3)
_MASK_SHIFT = np.uint64(29)


def tokenize(text: str) -> list[str]:
    """Lower-cased words, numbers, and each punctuation mark on its own."""
    return _TOKEN.findall(text.lower())


def stable_hash(value: str, salt: str = "") -> int:
    """CRC-32 of salt + value: the same on every machine, process and Python version."""
    return zlib.crc32((salt + "\x1f" + value).encode("utf-8"))


class _TokenHashes(dict):
    """token -> CRC-32, memoised (a corpus repeats a small vocabulary); emptied past 2^20 entries."""

    def __missing__(self, token: str) -> int:
        if len(self) >= 1 << 20:
            self.clear()
        value = self[token] = zlib.crc32(token.encode("utf-8"))
        return value


_TOKEN_HASHES = _TokenHashes()


def ngram_buckets(text: str, n_features: int, ngram_max: int) -> np.ndarray:
    """Sorted unique bucket ids (int32) of the word n-grams of `text`, orders 1..ngram_max.

    Each token is hashed once (CRC-32); an n-gram's hash folds its tokens' hashes with a 64-bit
    FNV-style multiply-xor seeded by the order n, so "a b" and "b a" and the unigram "a" differ.
    Presence, not counts: a word repeated in a long template does not drown the rest.
    """
    tokens = tokenize(text)
    if not tokens:
        return np.zeros(0, dtype=np.int32)
    h = np.fromiter(map(_TOKEN_HASHES.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
    parts = []
    for n in range(1, ngram_max + 1):
        m = len(tokens) - n + 1
        if m <= 0:
            break
        acc = np.full(m, np.uint64(0xCBF29CE484222325) ^ np.uint64(n), dtype=np.uint64)
        for j in range(n):
            acc = (acc ^ h[j : j + m]) * _FNV_PRIME  # uint64 arithmetic wraps (arrays never warn)
        acc ^= acc >> _MASK_SHIFT
        parts.append(acc % np.uint64(n_features))
    return np.unique(np.concatenate(parts)).astype(np.int32)


def difficulty_value(difficulty: str) -> tuple[float, float]:
    """(signed log1p of the difficulty, 1.0) when it is a number, else (0.0, 0.0).

    Lets the curator extrapolate along a numeric difficulty scale (e.g. 9 people after seeing 3..8);
    the log keeps values like 1000 in the range the MLP sees.
    """
    try:
        v = float(difficulty)
    except ValueError:
        return 0.0, 0.0
    if not math.isfinite(v):
        return 0.0, 0.0
    return math.copysign(math.log1p(abs(v)), v), 1.0


@dataclass
class Batch:
    """Network inputs for a list of candidates (text part depends on the front-end)."""

    meta: torch.Tensor  # [P, 2] int64: source bucket, difficulty bucket
    numeric: torch.Tensor  # [P, 2] float32: difficulty_value
    ids: torch.Tensor | None = None  # hashed: flat bucket ids (int64)
    offsets: torch.Tensor | None = None  # hashed: start of each candidate's ids (int64 [P])
    weights: torch.Tensor | None = None  # hashed: 1/sqrt(#ids of the candidate), per id (float32)
    embeddings: torch.Tensor | None = None  # encoder: [P, hidden] float32

    def __len__(self) -> int:
        return int(self.meta.shape[0])


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[tuple[str, str, str], Any] = OrderedDict()

    def get(self, key: tuple[str, str, str]) -> Any:
        value = self.data.get(key)
        if value is not None:
            self.data.move_to_end(key)
        return value

    def put(self, key: tuple[str, str, str], value: Any) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.size:
            self.data.popitem(last=False)


def _key(c: Candidate) -> tuple[str, str, str]:
    return (c.problem_id, c.source, c.difficulty)


class _MetaFeatures:
    """Source / difficulty buckets and the numeric difficulty, shared by both front-ends.

    Memoised per distinct value: a run has a handful of sources and difficulties.
    """

    def __init__(self, meta_buckets: int) -> None:
        self.meta_buckets = meta_buckets
        self._sources: dict[str, int] = {}
        self._difficulties: dict[str, tuple[int, float, float]] = {}

    def _source(self, source: str) -> int:
        b = self._sources.get(source)
        if b is None:
            b = self._sources[source] = stable_hash(source, "source") % self.meta_buckets
        return b

    def _difficulty(self, difficulty: str) -> tuple[int, float, float]:
        d = self._difficulties.get(difficulty)
        if d is None:
            d = (stable_hash(difficulty, "difficulty") % self.meta_buckets, *difficulty_value(difficulty))
            self._difficulties[difficulty] = d
        return d

    def meta(self, candidates: Sequence[Candidate]) -> tuple[torch.Tensor, torch.Tensor]:
        """([P, 2] int64 source and difficulty buckets, [P, 2] float32 numeric difficulty)."""
        n = len(candidates)
        src = [self._source(c.source) for c in candidates]
        diff = [self._difficulty(c.difficulty) for c in candidates]
        meta = torch.tensor([[s, d[0]] for s, d in zip(src, diff, strict=True)], dtype=torch.int64)
        numeric = torch.tensor([d[1:] for d in diff], dtype=torch.float32)
        return meta.reshape(n, 2), numeric.reshape(n, 2)


class HashedFeatures(_MetaFeatures):
    """Hashed n-gram bags (see the module docstring)."""

    def __init__(self, n_features: int, ngram_max: int, meta_buckets: int, cache_size: int) -> None:
        super().__init__(meta_buckets)
        self.n_features = n_features
        self.ngram_max = ngram_max
        self.cache = _LRU(cache_size)

    def _buckets(self, c: Candidate) -> np.ndarray:
        key = _key(c)
        ids = self.cache.get(key)
        if ids is None:
            ids = ngram_buckets(c.text, self.n_features, self.ngram_max)
            self.cache.put(key, ids)
        return ids

    def batch(self, candidates: Sequence[Candidate]) -> Batch:
        bags = [self._buckets(c) for c in candidates]
        lengths = np.fromiter((len(b) for b in bags), dtype=np.int64, count=len(bags))
        ids = np.concatenate(bags).astype(np.int64) if bags else np.zeros(0, dtype=np.int64)
        # sum / sqrt(n): the bag vector keeps a comparable norm for short and long prompts
        scale = 1.0 / np.sqrt(np.maximum(lengths, 1)).astype(np.float32)
        weights = np.repeat(scale, lengths)
        offsets = np.cumsum(lengths) - lengths
        meta, numeric = self.meta(candidates)
        return Batch(
            meta=meta,
            numeric=numeric,
            ids=torch.from_numpy(ids),
            offsets=torch.from_numpy(offsets),
            weights=torch.from_numpy(weights),
        )


def _encoder_error(name: str, detail: str) -> DumpError:
    return DumpError(
        f"train.scheduler.encoder: cannot load the curator encoder {name!r} ({detail}). "
        "Use a local model directory, or a model id already in the Hugging Face cache (or reachable "
        "online), or `encoder: hashed` (the default, no model needed)."
    )


def load_encoder(name: str) -> tuple[Any, Any]:
    """(tokenizer, model) of a Hugging Face encoder: a local directory, the local cache, then the hub.

    A path-like name that is not a directory fails at once. A hub id is first looked up in the
    local cache only, so a cached model loads without network; the online attempt loads the
    tokenizer first, so an unreachable hub costs one round of retries rather than two.
    """
    looks_local = name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().exists()
    if looks_local and not Path(name).expanduser().is_dir():
        raise _encoder_error(name, "no such model directory")
    from transformers import AutoModel, AutoTokenizer

    path = str(Path(name).expanduser()) if looks_local else name
    last: Exception | None = None
    for local_only in (True, False) if not looks_local else (True,):
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
            model = AutoModel.from_pretrained(path, local_files_only=local_only)
        except Exception as e:  # OSError, HFValidationError, ValueError...: all mean "not loadable here"
            last = e
            continue
        # a tokenizer class that does not match the saved tokenizer can encode everything to nothing
        if not tokenizer("a probe sentence")["input_ids"]:
            raise _encoder_error(name, "its tokenizer turns text into no tokens")
        return tokenizer, model
    text = str(last).strip()
    raise _encoder_error(name, text.splitlines()[0] if text else type(last).__name__)


class EncoderFeatures(_MetaFeatures):
    """Mean-pooled last hidden states of a frozen Hugging Face encoder, cached per problem."""

    def __init__(
        self,
        name: str,
        *,
        meta_buckets: int,
        cache_size: int,
        batch_size: int,
        max_length: int,
        device: str,
    ) -> None:
        super().__init__(meta_buckets)
        self.tokenizer, self.model = load_encoder(name)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model.to(self.device).eval().requires_grad_(False)
        self.batch_size = batch_size
        self.max_length = max_length
        self.hidden_size = int(self.model.config.hidden_size)
        self._token_types = "token_type_ids" in inspect.signature(self.model.forward).parameters
        self.cache = _LRU(cache_size)

    @torch.no_grad()
    def _embed(self, texts: list[str]) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                texts[i : i + self.batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            if not self._token_types:
                enc.pop("token_type_ids", None)
            hidden = self.model(**enc).last_hidden_state.float()
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)).cpu())
        return torch.cat(out)

    def batch(self, candidates: Sequence[Candidate]) -> Batch:
        rows: list[torch.Tensor | None] = [self.cache.get(_key(c)) for c in candidates]
        missing = [i for i, r in enumerate(rows) if r is None]
        if missing:
            fresh = self._embed([candidates[i].text for i in missing])
            for j, i in enumerate(missing):
                rows[i] = fresh[j].clone()
                self.cache.put(_key(candidates[i]), rows[i])
        meta, numeric = self.meta(candidates)
        emb = torch.stack(rows) if rows else torch.zeros(0, self.hidden_size)  # type: ignore[arg-type]
        return Batch(meta=meta, numeric=numeric, embeddings=emb)
