"""Source kinds, one module each. Adding a kind = one module with a `Spec` + one line here.

`SourceSpec` is the discriminated union the recipe validates `data.sources` items with: the tag
is `kind:` if given, else the kind whose key the item has (`files:`, `hf:`, `puzzle:`, ...), so a
wrong field is reported at its own YAML path (`data.sources.0.split: ...`)."""

from __future__ import annotations

import importlib
from typing import Annotated, Any, Union

from pydantic import Discriminator, Tag

KINDS = {
    "files": "dumpcli.data.sources.files",
    "hf": "dumpcli.data.sources.hf",
    "reasoning_gym": "dumpcli.data.sources.reasoning_gym",
    "puzzle": "dumpcli.data.sources.puzzle",
}
SPECS = {kind: importlib.import_module(module).Spec for kind, module in KINDS.items()}


def kind_of(value: Any) -> str | None:
    if not isinstance(value, dict):
        return getattr(value, "kind", None)
    if "kind" in value:
        return value["kind"] if value["kind"] in SPECS else None
    found = [kind for kind, spec in SPECS.items() if spec.key in value]
    return found[0] if len(found) == 1 else None


SourceSpec = Annotated[
    Union[tuple(Annotated[spec, Tag(kind)] for kind, spec in SPECS.items())],  # noqa: UP007
    Discriminator(
        kind_of,
        custom_error_type="source_kind",
        custom_error_message="give exactly one of "
        + ", ".join(f"`{s.key}:`" for s in SPECS.values())
        + " (or `kind:` with one of "
        + ", ".join(SPECS)
        + ")",
    ),
]
