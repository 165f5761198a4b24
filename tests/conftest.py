"""Shared fixtures: write recipes and input files into tmp_path; a tiny puzzle family."""

from __future__ import annotations

import importlib.machinery
import random
import sys
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from dumpcli.puzzles.base import PuzzleFamily, Verdict

# ----------------------------------------------------------------------------- shared helpers
# (plain functions: `from conftest import read_jsonl, save_recipe, wrap`)


def save_recipe(folder: Path, recipe: dict[str, Any], name: str = "recipe.yaml") -> Path:
    """Write a recipe (a dict, e.g. helpers.tiny_train_recipe()) as YAML; returns its path."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file; unlike dumpcli.io.read_jsonl, a torn line fails the test."""
    return [orjson.loads(line) for line in Path(path).read_bytes().splitlines() if line.strip()]


def wrap(text: str, think: str = "x") -> str:
    """A completion in the reasoning format the verifiers expect, answering `text`."""
    return f"<think>{think}</think><answer>{text}</answer>"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in tmp_path (messages show input paths relative to the working directory);
    a module opts in with `pytestmark = pytest.mark.usefixtures("in_tmp")`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    """write_recipe(data=..., name="recipe.yaml", **top_level) -> path of a YAML recipe in tmp_path.

    `output_dir` defaults to "out" (relative, so it resolves against tmp_path)."""

    def write(data: dict[str, Any] | None = None, name: str = "recipe.yaml", **top: Any) -> Path:
        body: dict[str, Any] = {"name": "test", "seed": 0, "output_dir": "out", **top}
        if data is not None:
            body["data"] = data
        return save_recipe(tmp_path, body, name)

    return write


def jsonl_bytes(records: Iterable[Any]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """write_jsonl("data/a.jsonl", [records...]) -> path; or raw=b"..." for exact bytes."""

    def write(name: str, records: Iterable[Any] = (), raw: bytes | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw if raw is not None else jsonl_bytes(records))
        return path

    return write


class ToyFamily(PuzzleFamily):
    """Sums of two numbers below `span` (so the number of distinct puzzles is bounded)."""

    name = "toy"
    description = "a + b"
    difficulty_knobs = "difficulty = level, shown in the question"
    min_difficulty = 1
    max_difficulty = 9

    def generate(self, difficulty: int, rng: random.Random, span: int = 1000) -> dict[str, Any]:
        a, b = rng.randrange(span), rng.randrange(span)
        return {"question": f"Level {difficulty}: what is {a} + {b}?", "answer": a + b, "a": a, "b": b}

    def parse_answer(self, raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise ValueError(f"answer: expected an integer, got {type(raw).__name__}")
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"answer: {raw!r} is not an integer") from None

    def verify(self, completion: str, answer: Any) -> Verdict:
        ok = completion.strip() == str(answer)
        return Verdict(True, float(ok), True, "correct" if ok else "wrong")


def register_family(monkeypatch: pytest.MonkeyPatch, family: type[PuzzleFamily]) -> None:
    """Register a test's puzzle family (and its verifier) under its `name` for the test's duration."""
    from dumpcli.puzzles import registry

    module_name = f"dumpcli_test_{family.name}"
    module = types.ModuleType(module_name)
    module.__spec__ = importlib.machinery.ModuleSpec(module_name, None)
    module.Family = family
    monkeypatch.setitem(sys.modules, module_name, module)
    monkeypatch.setitem(registry._FAMILIES, family.name, f"{module_name}:Family")
    monkeypatch.setattr(registry, "_cache", {})


@pytest.fixture
def toy_family(monkeypatch: pytest.MonkeyPatch) -> type[ToyFamily]:
    """Register ToyFamily as puzzle family and verifier "toy" for the duration of a test."""
    register_family(monkeypatch, ToyFamily)
    return ToyFamily


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prepared data and warm starts go to a cache (DUMP_CACHE_DIR); each test gets its own."""
    monkeypatch.setenv("DUMP_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def hf_chat_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An HF model folder with a BPE tokenizer, a Qwen-style chat template and no pad token
    (built once per session; tests copy it before changing anything in it)."""
    from hf_folders import build_folder

    return build_folder(tmp_path_factory.mktemp("hf") / "chat", chat_template=True)


@pytest.fixture(scope="session")
def hf_base_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same kind of folder without a chat template: a base model."""
    from hf_folders import build_folder

    return build_folder(tmp_path_factory.mktemp("hf") / "base", chat_template=False)
