"""Prepared data on demand: `train`, `eval` and `compare` build the recipe's data when it is missing
or stale. The builder (data/prepare.py) is imported only then, so a command whose data is ready
never loads it."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from dumpcli.data.prepared import is_prepared, load_manifest, publish
from dumpcli.data.sources.base import display
from dumpcli.recipe import Recipe


def ensure_prepared(recipe: Recipe, console: Console) -> dict:
    """The data a command needs: prepare it if missing or stale (saying so), else load the manifest."""
    if is_prepared(recipe):
        manifest = load_manifest(recipe)
        publish(recipe, manifest, bool(manifest.get("skip_invalid")))
        return manifest
    console.print(
        f"[yellow]preparing data[/]: {escape(display(recipe.output_path.resolve()))} is missing or out of date",
        highlight=False,
    )
    from dumpcli.data.prepare import prepare

    return prepare(recipe, console=console)
