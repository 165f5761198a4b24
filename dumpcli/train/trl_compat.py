"""Which TRL versions dumpcli runs on, and the private parts of GRPOTrainer it relies on.

`CurriculumGRPOTrainer` (train/trainer.py) overrides and calls private GRPOTrainer methods and
reads attributes GRPOTrainer sets in `__init__`. TRL changes these without notice (e.g.
`_get_per_token_logps_and_entropies` returns 3 values only since TRL 1.7), so the range below is
the versions the test suite has passed on, not a guess.

`SUPPORTED` is the one place the range lives. pyproject's `trl` dependency and the README say the
same, and tests/test_trl_compat.py checks both, plus every member in `METHODS`, `ATTRIBUTES` and
`OUTPUT_KEYS` on the installed TRL. So a TRL upgrade that breaks the trainer fails in CI, not in
a user's run.

`dump train` and `dump compare` call `check_installed()` first. A TRL outside the range is a
setup error (exit 2), raised before any data is prepared. `DUMP_ALLOW_UNSUPPORTED_TRL=1` turns it
into a warning, but the private members must still have the expected signatures.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
from typing import Any

from dumpcli.errors import DumpError

SUPPORTED = ">=1.7.1,<1.17"
TESTED = ("1.7.1", "1.16.0")  # full test suite passed (1.16.0 is what CI installs)
ALLOW_ENV = "DUMP_ALLOW_UNSUPPORTED_TRL"

# GRPOTrainer methods the trainer overrides or calls -> the parameters it relies on, in order
# (after self). _get_per_token_logps_and_entropies must return (logps, entropies, aux_loss), and
# compute_loss must compute the policy's log-probs through it (the curator captures them there).
METHODS: dict[str, tuple[str, ...]] = {
    "_prepare_inputs": ("generation_batch",),  # overridden
    "_generate_and_score_completions": ("inputs",),  # overridden; an extra key it adds reaches compute_loss
    "_save_checkpoint": ("model", "trial"),  # overridden
    "compute_loss": ("model", "inputs"),  # overridden
    "_get_per_token_logps_and_entropies": (  # overridden, and called with batch_size by keyword
        "model",
        "input_ids",
        "attention_mask",
        "logits_to_keep",
        "batch_size",
    ),
    "_get_output_dir": ("trial",),  # called (transformers.Trainer)
}
# set in GRPOTrainer.__init__, read by the trainer (_metrics["train"] must be a defaultdict(list))
ATTRIBUTES = ("_step", "_buffered_inputs", "_metrics", "num_generations", "num_iterations")
# keys of _generate_and_score_completions's output the trainer reads
OUTPUT_KEYS = ("advantages", "prompt_ids", "prompt_mask", "completion_ids", "completion_mask")


class UnsupportedTRL(DumpError):
    """The installed TRL is outside SUPPORTED (or lacks what the trainer needs)."""

    exit_code = 2


def installed_version() -> str | None:
    try:
        return importlib.metadata.version("trl")
    except importlib.metadata.PackageNotFoundError:
        return None


def is_supported(version: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) in SpecifierSet(SUPPORTED, prereleases=True)
    except InvalidVersion:
        return False


def signature_problems(trainer_class: Any) -> list[str]:
    """What in `trainer_class` (GRPOTrainer) does not match METHODS; [] when all is there."""
    problems = []
    for name, expected in METHODS.items():
        method = getattr(trainer_class, name, None)
        if not callable(method):
            problems.append(f"GRPOTrainer.{name} is missing")
            continue
        params = list(inspect.signature(method).parameters)[1:]  # without self
        if tuple(params[: len(expected)]) != expected:
            problems.append(f"GRPOTrainer.{name}{tuple(params)}: expected parameters {expected} first")
    return problems


def check_installed(warn: Any = None) -> None:
    """Refuse (exit 2) a TRL outside SUPPORTED, before any work; with DUMP_ALLOW_UNSUPPORTED_TRL=1
    call `warn(message)` instead, then still check the private members' signatures."""
    version = installed_version()
    if version is None:
        raise UnsupportedTRL(f"TRL is not installed: pip install 'trl{SUPPORTED}'")
    if is_supported(version):
        return
    message = (
        f"TRL {version} is installed; dumpcli supports trl{SUPPORTED} (tested: {', '.join(TESTED)}). "
        f"Install one: pip install 'trl{SUPPORTED}'"
    )
    if os.environ.get(ALLOW_ENV) != "1":
        raise UnsupportedTRL(f"{message}, or set {ALLOW_ENV}=1 to try this one anyway")
    from trl import GRPOTrainer

    problems = signature_problems(GRPOTrainer)
    if problems:
        raise UnsupportedTRL(f"{message}. This TRL cannot work: " + "; ".join(problems))
    if warn is not None:
        warn(f"{message}. Going on because {ALLOW_ENV}=1")
