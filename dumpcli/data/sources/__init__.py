"""Source kinds, one module each. Adding a kind = one module with a `Spec` + one line here.

`SourceSpec` is the discriminated union the recipe validates `data.sources` items with: the tag
is `kind:` if given, else the kind whose key the item has (`files:`, `hf:`, `puzzle:`, ...), so a
wrong field is reported at its own YAML path (`data.sources.0.split: ...`).

A source kind of the user's own code is named with `kind:`, by import path (`kind:
"my_pkg.sources:Spec"`) or as an entry point in the group `dumpcli.sources` (`kind: my_kind`):
a subclass of `SourceSpecBase` (a pydantic model whose `kind: str` field has the name as default,
and whose `build()` returns a `Source`, see base.py). Such items are validated by that class, under
the union's tag `plugin` (dumpcli/plugins.py)."""

from __future__ import annotations

import importlib
from typing import Annotated, Any, Union

from pydantic import Discriminator, PlainValidator, Tag, ValidationError

from dumpcli import plugins
from dumpcli.data.sources.base import SourceSpecBase

KINDS = {
    "files": "dumpcli.data.sources.files",
    "hf": "dumpcli.data.sources.hf",
    "reasoning_gym": "dumpcli.data.sources.reasoning_gym",
    "puzzle": "dumpcli.data.sources.puzzle",
}
SPECS = {kind: importlib.import_module(module).Spec for kind, module in KINDS.items()}


PLUGIN = "plugin"  # the union's tag of a kind from the user's code
PROTOCOL = "a subclass of dumpcli.data.sources.base.SourceSpecBase"


def _is_plugin(kind: Any) -> bool:
    return isinstance(kind, str) and (
        plugins.is_import_path(kind) or kind in plugins.entry_points(plugins.SOURCES)
    )


def kind_of(value: Any) -> str | None:
    if not isinstance(value, dict):
        kind = getattr(value, "kind", None)
        return kind if kind in SPECS or kind is None else PLUGIN
    if "kind" in value:
        if value["kind"] in SPECS:
            return value["kind"]
        return PLUGIN if _is_plugin(value["kind"]) else None
    found = [kind for kind, spec in SPECS.items() if spec.key in value]
    return found[0] if len(found) == 1 else None


def plugin_spec(kind: str) -> type[SourceSpecBase]:
    """The Spec class of a plug-in kind (entry point name or import path); PluginError if none."""
    target = plugins.entry_points(plugins.SOURCES).get(kind, kind)
    return plugins.load_class(target, SourceSpecBase, PROTOCOL)


def _validate_plugin(value: Any) -> SourceSpecBase:
    """A `kind:` from the user's code, validated by its own Spec; its problems come back as one
    message at the item's path, each with its key (pydantic keeps no path through this hop)."""
    if isinstance(value, SourceSpecBase):
        return value
    try:
        spec = plugin_spec(value["kind"])
    except plugins.PluginError as e:
        raise ValueError(f"kind: {e}") from None
    try:
        return spec.model_validate(value)
    except ValidationError as e:
        raise ValueError(
            "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'source'}: "
                + ("unknown key" if err["type"] == "extra_forbidden" else err["msg"])
                for err in e.errors()
            )
        ) from None


SourceSpec = Annotated[
    Union[  # noqa: UP007
        tuple(
            [
                *(Annotated[spec, Tag(kind)] for kind, spec in SPECS.items()),
                Annotated[Any, PlainValidator(_validate_plugin), Tag(PLUGIN)],
            ]
        )
    ],
    Discriminator(
        kind_of,
        custom_error_type="source_kind",
        custom_error_message="give exactly one of "
        + ", ".join(f"`{s.key}:`" for s in SPECS.values())
        + " (or `kind:` with one of "
        + ", ".join(SPECS)
        + ", an installed plug-in's kind, or an import path 'my_pkg.module:Spec')",
    ),
]
