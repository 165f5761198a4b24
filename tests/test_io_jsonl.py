"""JSONL through jsonlines with orjson (dumpcli/io.py): the bytes orjson writes, the logs that
survive a kill, and a symbolic link refused."""

from __future__ import annotations

import io
import os

import numpy as np
import orjson
import pytest

from dumpcli.errors import RunFolderError
from dumpcli.io import append_jsonl, jsonl_reader, jsonl_writer, read_jsonl


def test_writer_writes_what_orjson_writes():
    rows = [{"a": 1, "é": "ü", "x": [1.5, None]}, {"b": {"c": True}}]
    buf = io.BytesIO()
    jsonl_writer(buf).write_all(rows)
    assert buf.getvalue() == b"".join(orjson.dumps(r) + b"\n" for r in rows)
    buf = io.BytesIO()
    jsonl_writer(buf, default=str).write({"path": object.__new__(type("P", (), {"__str__": lambda s: "p"}))})
    assert buf.getvalue() == b'{"path":"p"}\n'
    assert list(jsonl_reader(io.BytesIO(buf.getvalue()))) == [{"path": "p"}]


def test_log_appends_numpy_and_reads_back_past_a_torn_line(tmp_path):
    log = tmp_path / "curriculum.jsonl"
    append_jsonl(log, {"step": 0, "p": np.array([0.25, 0.75])})
    append_jsonl(log, {"step": 1, "n": np.int64(3)})
    assert log.read_bytes() == b'{"step":0,"p":[0.25,0.75]}\n{"step":1,"n":3}\n'
    with open(log, "ab") as f:
        f.write(b'\n  \n[1, 2]\nnull\n"text"\n{"step": 2, "p": [0.')  # blank, not objects, cut by a kill
    assert read_jsonl(log) == [{"step": 0, "p": [0.25, 0.75]}, {"step": 1, "n": 3}]
    assert read_jsonl(tmp_path / "missing.jsonl") == []


def test_a_log_that_is_a_symbolic_link_is_refused(tmp_path):
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(b"")
    os.symlink(outside, tmp_path / "train_log.jsonl")
    with pytest.raises(RunFolderError, match="symbolic link"):
        append_jsonl(tmp_path / "train_log.jsonl", {"step": 0})
    assert outside.read_bytes() == b""
