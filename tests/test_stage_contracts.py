"""The stages depend on each other one way: no import circle, each stage module imports alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dumpcli"

# one module per stage, plus the low-level modules they share
STAGES = (
    "dumpcli.cli",
    "dumpcli.run_folder",
    "dumpcli.data.prepare",
    "dumpcli.data.prepared",
    "dumpcli.data.ensure",
    "dumpcli.model",
    "dumpcli.train.config",
    "dumpcli.train.curriculum",
    "dumpcli.train.trainer",
    "dumpcli.train.resume",
    "dumpcli.train.dry_run",
    "dumpcli.train.run",
    "dumpcli.evaluate",
    "dumpcli.report",
    "dumpcli.compare",
)


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (module level, in functions and methods), except those
    under `if TYPE_CHECKING:`, which never run."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            stack.extend(getattr(node, "orelse", []))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the dumpcli modules it imports.

    Edges that count: every import that runs (top level or inside a function: a function-level
    import that closes a loop is still a loop, only hidden by import order). `from a.b import c`
    is an edge to `a.b.c` when that is a module, else to `a.b`. Importing a module also runs its
    parent packages' `__init__`, so an edge to `a.b.c` adds edges to `a.b` and `a` (the root
    `dumpcli/__init__.py` imports nothing)."""
    names = module_names()
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in names else base for a in node.names]
            for target in targets:
                while target and target not in names:
                    target = target.rpartition(".")[0]
                while target:
                    if target != name:
                        graph[name].add(target)
                    target = target.rpartition(".")[0]
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_imports_and_would_find_a_circle():
    graph = import_graph()
    assert "dumpcli.evaluate" in graph["dumpcli.train.run"]  # imported inside train()
    assert "dumpcli.train" in graph["dumpcli.train.run"]  # its package's __init__ runs first
    assert cycles({**graph, "dumpcli.evaluate": graph["dumpcli.evaluate"] | {"dumpcli.train.run"}})


def test_no_stage_module_imports_a_module_that_imports_it_back():
    assert set(STAGES) <= set(module_names())
    on_a_circle = [c for c in cycles(import_graph()) if set(c) & set(STAGES)]
    assert on_a_circle == []


def _inside_one_package(circle: list[str]) -> bool:
    """A package whose `__init__` imports its own submodules: importing a submodule runs the
    `__init__` first, so the graph has a circle, one that no import order can break."""
    return any(all(m == c or m.startswith(c + ".") for m in circle) for c in circle)


def test_no_module_anywhere_imports_a_module_that_imports_it_back():
    """Not only the stages: recipe <-> data/sources/base (for RecipeError) and
    schedulers/registry <-> selector (to validate a proposal) were circles closed inside a function."""
    assert [c for c in cycles(import_graph()) if not _inside_one_package(c)] == []


# packages that are one stage or one registry: outside modules see each as a whole
PACKAGES = ("dumpcli.train", "dumpcli.schedulers", "dumpcli.puzzles")


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The import graph with each of PACKAGES (and everything under it) as one node."""

    def node(m: str) -> str:
        return next((p for p in PACKAGES if m == p or m.startswith(p + ".")), m)

    out: dict[str, set[str]] = {}
    for m, targets in graph.items():
        out.setdefault(node(m), set()).update(node(t) for t in targets if node(t) != node(m))
    return out


def test_no_stage_package_and_another_module_import_each_other():
    """train/run.py evaluates during training (evaluate.py) and evaluate.py loaded models through
    dumpcli/train/model.py: the train stage and eval each imported the other. Model loading is
    shared (dumpcli/model.py), so `dump eval` depends on no part of the train stage."""
    assert cycles(package_graph(import_graph())) == []
    assert "dumpcli.train" not in package_graph(import_graph())["dumpcli.evaluate"]


def test_only_dump_prepare_imports_the_data_builder():
    """train, eval and compare read prepared data through data/prepared.py; the builder
    (data/prepare.py) is imported by `dump prepare` and, when data must be built, data/ensure.py."""
    graph = import_graph()
    importers = {m for m, targets in graph.items() if "dumpcli.data.prepare" in targets}
    assert importers == {"dumpcli.cli", "dumpcli.data.ensure"}


FRESH_IMPORTS = """
import importlib, sys, traceback
import torch, transformers, trl  # noqa: F401  (third-party modules cannot close a dumpcli circle)
failed = 0
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "dumpcli" or m.startswith("dumpcli.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed += 1
        print(f"--- import {name}"); traceback.print_exc(limit=3)
sys.exit(failed)
"""


def test_each_stage_module_imports_alone_in_a_fresh_interpreter():
    """A fresh interpreter imports each stage module with no other dumpcli module loaded before it
    (all of dumpcli is dropped from sys.modules between modules), so an import circle hidden by
    the order in which the CLI happens to import things fails here. torch, transformers and trl
    are imported once up front: one interpreter per module would import them 12 times."""
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORTS, *STAGES], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
