"""The model card TRL writes into the run folder (OUTPUT/README.md) at every checkpoint save.

Two things change, nothing else: the card is written only where nothing is in its place (a user's
README.md is never replaced, a symbolic link never written through: `io.write_new`), and it names
the real base model. TRL takes the base from the loaded model's config, which for a dumpcli run is
the warm start's folder in the cache, and a local folder makes TRL write "fine-tuned version of
[None]"; the recipe's `model.name_or_path` is what the run started from.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dumpcli.io import write_new
from dumpcli.run_folder import MODEL_CARD

_NONE_BASE = "[None](https://huggingface.co/None)"


def base_model_text(identity: dict[str, Any]) -> tuple[str, str | None]:
    """(how the card names the base model, its hub id or None), from `model.model_identity`: an HF
    id links to its page; a local folder and the built-in tiny model are named as they are."""
    if identity.get("kind") == "hub":
        return f"[{identity['id']}](https://huggingface.co/{identity['id']})", identity["id"]
    if identity.get("kind") == "dir":
        return f"the local model `{identity['path']}`", None
    return "dumpcli's built-in tiny model (`model.name_or_path: tiny`)", None


def fix_card(text: str, base: str, hub_id: str | None, final_checkpoint: Path) -> str:
    """TRL's card with the base model named and the quick start loading the run's final checkpoint."""
    text = text.replace(_NONE_BASE, base)
    if hub_id is not None and not re.search(r"^base_model:", text, flags=re.M) and text.startswith("---\n"):
        text = f"---\nbase_model: {hub_id}\n" + text[len("---\n") :]
    return text.replace('model="None"', f'model="{final_checkpoint}"')


def write_model_card(
    output_dir: Path,
    render: Callable[[Path], None],
    base_model: dict[str, Any],
    final_checkpoint: Path,
) -> bool:
    """`base_model`: `model.model_identity` of the recipe's model. `render(folder)` writes TRL's card into `folder`/README.md (a temporary folder here); the
    fixed card goes to `output_dir`/README.md only if nothing is there. Returns whether it was."""
    target = Path(output_dir) / MODEL_CARD
    if target.exists() or target.is_symlink():
        return False  # cheap early out: a card is written once per run folder
    with tempfile.TemporaryDirectory(prefix=".model-card.", dir=output_dir) as tmp:
        render(Path(tmp))
        rendered = Path(tmp) / MODEL_CARD
        if not rendered.is_file():
            return False
        base, hub_id = base_model_text(base_model)
        text = fix_card(rendered.read_text(encoding="utf-8"), base, hub_id, final_checkpoint)
    return write_new(target, text.encode("utf-8"))
