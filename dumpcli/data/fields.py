"""Record-level helpers for `dump prepare`: field paths, difficulty rules, ids, messages.

Everything here runs once per input record, so it is written for speed (getters and rules
compiled once per file) and every failure is a `Reject` carrying the exact text the user
sees: `field 'quiz': expected a non-empty string or a list of {role, content} messages, got null`.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable
from typing import Any

from xxhash import xxh3_64_intdigest  # a dependency of `datasets`

from dumpcli.data.sources.base import DifficultyRule


class _Missing:
    """Marker for a field that is absent (different from an explicit JSON null)."""

    def __repr__(self) -> str:
        return "missing"


MISSING: Any = _Missing()

# Defaults of the recipe's data.max_prompt_chars and data.max_answer_chars: a record over them is
# rejected (a prompt's text, a chat prompt's contents together; the answer as JSON, once the
# verifier has read it). Far above any prompt a model trains on; a 50 MB prompt is a broken record.
MAX_PROMPT_CHARS = 100_000
MAX_ANSWER_CHARS = 10_000
ROLES = ("system", "user", "assistant")  # the roles of a chat prompt's messages


class Reject(Exception):
    """One bad record. `reason` is the stable category counted in the manifest
    (`field 'quiz': expected a non-empty string`), `message` adds what was found."""

    def __init__(self, reason: str, got: str | None = None, detail: str | None = None) -> None:
        self.reason = reason
        if got is not None:
            self.message = f"{reason}, got {got}"
        elif detail is not None:
            self.message = f"{reason}: {detail}"
        else:
            self.message = reason
        super().__init__(self.message)


def describe(value: Any, limit: int = 60) -> str:
    """How a found value is shown in a message: JSON-like, short."""
    if value is MISSING:
        return "nothing (no such field)"
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        if not value.strip():
            return "an empty string" if not value else "a blank string"
        text = repr(value)
        return text if len(text) <= limit else text[: limit - 4] + "...'"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        keys = ", ".join(list(map(str, value))[:5])
        return f"an object {{{keys}{', ...' if len(value) > 5 else ''}}}"
    return type(value).__name__


def type_name(value: Any) -> str:
    """JSON name of a value's type (for 'expected a JSON object, got a list')."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


Getter = Callable[[Any], Any]


def compile_path(path: str) -> Getter:
    """`extra_info.depth` -> function(record) -> value or MISSING. Nested lookup first, then a
    literal key with the dots (a flattened column); list items by index (`prompt.0.content`)."""
    parts = path.split(".")
    if len(parts) == 1:

        def get_flat(obj: Any) -> Any:
            return obj.get(path, MISSING) if type(obj) is dict else MISSING

        return get_flat

    indices = [int(p) if re.fullmatch(r"-?\d+", p) else None for p in parts]

    def walk(obj: Any) -> Any:
        cur = obj
        for part, idx in zip(parts, indices, strict=True):
            if type(cur) is dict:
                cur = cur.get(part, MISSING)
            elif type(cur) is list and idx is not None and -len(cur) <= idx < len(cur):
                cur = cur[idx]
            else:
                return MISSING
            if cur is MISSING:
                return MISSING
        return cur

    def get_nested(obj: Any) -> Any:
        if type(obj) is not dict:
            return MISSING
        value = walk(obj)
        return obj.get(path, MISSING) if value is MISSING else value  # a flattened column "a.b"

    if len(parts) == 2 and indices == [None, None]:
        outer, inner = parts

        def get_two(obj: Any) -> Any:  # the common `extra_info.depth`, without the loop
            if type(obj) is not dict:
                return MISSING
            cur = obj.get(outer)
            if type(cur) is dict:
                value = cur.get(inner, MISSING)
                if value is not MISSING:
                    return value
            return obj.get(path, MISSING)

        return get_two
    return get_nested


# ---------------------------------------------------------------- difficulty


def difficulty_text(value: Any) -> str | None:
    """A difficulty as its decimal text (3 -> "3", 3.0 -> "3", " hard " -> "hard"); None if unusable."""
    t = type(value)
    if t is int:
        return str(value)
    if t is str:
        text = value.strip()
        return text or None
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _as_number(value: Any) -> float | None:
    if type(value) in (int, float):
        return float(value)
    if type(value) is str:
        try:
            return float(value)
        except ValueError:
            return None
    return None


DifficultyFn = Callable[[Any], str]


def compile_difficulty(rule: DifficultyRule | None, file_label: str | None) -> DifficultyFn:
    """Compile a source's difficulty rule to `fn(record) -> difficulty text` (raises Reject).

    `file_label` is the path the `{regex, on: filename}` rule searches; for that rule the
    value is the same for every record of the file, so it is computed once (and a file whose
    name does not match is caught before reading, in prepare)."""
    if rule is None:
        return lambda obj: "0"
    raw_fn = _raw_difficulty(rule, file_label)
    if rule.map is not None:
        mapping = {str(k): difficulty_text(v) or str(v) for k, v in rule.map.items()}
        where = _rule_label(rule)

        def mapped(obj: Any) -> str:
            raw = raw_fn(obj)
            try:
                return mapping[raw]
            except KeyError:
                known = ", ".join(repr(k) for k in list(mapping)[:8]) + (", ..." if len(mapping) > 8 else "")
                raise Reject(f"{where}: value not in difficulty.map ({known})", got=repr(raw)) from None

        return mapped
    if rule.bins is not None:
        bins = list(rule.bins)
        where = _rule_label(rule)

        def binned(obj: Any) -> str:
            raw = raw_fn(obj)
            number = _as_number(raw)
            if number is None:
                raise Reject(f"{where}: expected a number for difficulty.bins", got=repr(raw))
            return str(bisect.bisect_right(bins, number))

        return binned
    return raw_fn


def _rule_label(rule: DifficultyRule) -> str:
    if rule.field is not None:
        return f"field '{rule.field}'"
    if rule.len_of is not None:
        return f"field '{rule.len_of}'"
    if rule.regex is not None:
        return "file name" if rule.on == "filename" else f"field '{rule.on}'"
    return "difficulty"


def _raw_difficulty(rule: DifficultyRule, file_label: str | None) -> DifficultyFn:
    if rule.value is not None:
        fixed = difficulty_text(rule.value)
        if fixed is None:
            raise ValueError(f"difficulty.value {rule.value!r} is empty")
        return lambda obj: fixed
    if rule.field is not None:
        get = compile_path(rule.field)
        reason = f"field '{rule.field}': expected a number or a non-empty string"

        def from_field(obj: Any) -> str:
            value = get(obj)
            text = difficulty_text(value)
            if text is None:
                raise Reject(reason, got=describe(value))
            return text

        return from_field
    if rule.len_of is not None:
        get = compile_path(rule.len_of)
        reason = f"field '{rule.len_of}': expected a list"

        def from_len(obj: Any) -> str:
            value = get(obj)
            if type(value) is not list:
                raise Reject(reason, got=describe(value))
            return str(len(value))

        return from_len
    assert rule.regex is not None
    pattern = re.compile(rule.regex)
    if rule.on == "filename":
        match = pattern.search(file_label or "")
        found = difficulty_text(match.group(1)) if match else None
        if found is None:
            raise ValueError(f"regex {rule.regex!r} does not match the file name {file_label!r}")
        return lambda obj: found
    get = compile_path(rule.on)
    reason = f"field '{rule.on}': expected text matching difficulty regex {rule.regex!r}"

    def from_regex(obj: Any) -> str:
        value = get(obj)
        text = value if type(value) is str else (str(value) if type(value) in (int, float) else None)
        match = pattern.search(text) if text is not None else None
        found = difficulty_text(match.group(1)) if match else None
        if found is None:
            raise Reject(reason, got=describe(value))
        return found

    return from_regex


# ---------------------------------------------------------------- ids


def normalise(text: str) -> str:
    """Lowercase and collapse whitespace runs to one space (what makes two prompts 'the same').

    Exactly `" ".join(text.lower().split())`, with a shortcut for the usual case: a printable
    string has no whitespace but plain spaces, so only double spaces need collapsing."""
    low = text.lower()
    if low.isprintable() and "  " not in low:
        return low.strip(" ")
    return " ".join(low.split())


def source_seed(source: str) -> int:
    """The seed of a source's ids: the same question in two sources gets two ids."""
    return xxh3_64_intdigest(source.encode())


def question_id(text: str, seed: int) -> int:
    """What identifies a question (64 bits; the `id` column shows it as 16 hex digits): xxh3-64 of
    its normalised text, seeded with `source_seed` (or 0 for the question alone)."""
    return xxh3_64_intdigest(normalise(text).encode(), seed)


def question_ids(column: Any, seeds: list[int]) -> list[Any]:
    """`question_id` of every text of an Arrow string column, for each seed: uint64 arrays.

    Arrow lowercases the column and numpy finds the rows that need more than ASCII lowercasing
    (a character that is not printable ASCII, such as a tab, a newline or an accent; two spaces
    in a row; a space at either end); only those go through `normalise`. The others are hashed
    straight from Arrow's buffer, with no Python string per row (tested equal to `question_id`)."""
    import numpy as np
    import pyarrow.compute as pc

    n = len(column)
    out = [np.empty(n, np.uint64) for _ in seeds]
    if n == 0:
        return out
    low = pc.ascii_lower(column)
    offsets = np.frombuffer(low.buffers()[1], dtype=np.int32)[low.offset : low.offset + n + 1]
    data = np.frombuffer(low.buffers()[2] or b"", dtype=np.uint8)
    slow = ~pc.ascii_is_printable(low).to_numpy(zero_copy_only=False)
    space = data == 32
    double = space[1:] & space[:-1]
    if double.any():
        slow[np.searchsorted(offsets, np.flatnonzero(double), side="right") - 1] = True
    if len(data):
        nonempty = offsets[1:] > offsets[:-1]
        slow |= nonempty & (space[np.minimum(offsets[:-1], len(data) - 1)] | space[offsets[1:] - 1])
    rows = np.flatnonzero(slow).tolist()
    texts = [normalise(t).encode() for t in column.take(rows).to_pylist()] if rows else []
    view = memoryview(data)
    bounds = offsets.tolist()
    for ids, seed in zip(out, seeds, strict=True):
        if len(rows) < n:
            ids[:] = [
                xxh3_64_intdigest(view[a:b], seed) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            ]
        if rows:
            ids[rows] = [xxh3_64_intdigest(t, seed) for t in texts]
    return out


def hex_ids(ids: Any) -> Any:
    """uint64 ids as an Arrow column of 16 hex digits each (one `bytes.hex` for the batch)."""
    import numpy as np
    import pyarrow as pa

    text = ids.astype(">u8").tobytes().hex().encode()
    offsets = np.arange(0, 16 * len(ids) + 1, 16, dtype=np.int32)
    return pa.StringArray.from_buffers(len(ids), pa.py_buffer(offsets), pa.py_buffer(text))


def stable_seed(*parts: Any) -> int:
    """A 64-bit seed from text parts (Python's hash() changes between runs)."""
    return int.from_bytes(hashlib.sha256("\0".join(map(str, parts)).encode()).digest()[:8], "big")


# ---------------------------------------------------------------- prompts


def check_messages(value: list[Any], field: str) -> tuple[list[dict[str, str]], str]:
    """A chat prompt: non-empty list of {role, content} with text, each role one of ROLES (a chat
    template knows no other). Returns (messages, id text)."""
    reason = f"field '{field}': expected a non-empty string or a list of {{role, content}} messages"
    if not value:
        raise Reject(reason, got="an empty list")
    messages = []
    for i, m in enumerate(value):
        if type(m) is not dict:
            raise Reject(reason, got=f"item {i}: {describe(m)}")
        role, content = m.get("role", MISSING), m.get("content", MISSING)
        if role not in ROLES:
            raise Reject(
                f"field '{field}': a message's role must be one of {', '.join(ROLES)}",
                got=f"item {i}: {describe(role)}",
            )
        if type(content) is not str:
            raise Reject(reason, got=f"item {i}: content {describe(content)}")
        messages.append({"role": role, "content": content})
    text = "\n".join(m["content"] for m in messages)
    if not text.strip():
        raise Reject(reason, got="messages with no text")
    return messages, text


def natural_key(text: str) -> tuple[tuple[int, Any], ...]:
    """Sort "2" < "10" < "easy": digits compare as numbers."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p)
