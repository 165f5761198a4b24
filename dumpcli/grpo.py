"""`train.grpo`: dumpcli's GRPOConfig defaults and the recipe-load check of what a recipe sets.

A wrong value here used to surface late: `learning_rate: fast` or `max_completion_length: 0`
crashed inside TRL after the data was prepared and the warm start trained, `max_steps: -5`
silently meant "3 epochs". `check_grpo` runs when the recipe is loaded, before any work:

- every key must be a `trl.GRPOConfig` field, and its value of that field's type, read from the
  dataclass fields and their type hints (so a TRL upgrade that adds or retypes a field is
  followed without a hand list);
- the numeric knobs that matter must be in range (`RANGES`; NaN and infinities are refused), and
  the string knobs TRL checks only mid-run must be one of their values (`CHOICES`);
- keys dumpcli sets itself (`OWNED`) are refused rather than silently overwritten;
- the generation batch must hold whole groups: completions per generation
  = per_device_train_batch_size x processes x steps_per_generation (or generation_batch_size)
  must be a multiple of num_generations, for this launch's process count (WORLD_SIZE).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import os
import types
import typing
from collections.abc import Mapping
from typing import Any

# Defaults that make sense on any machine; anything in `train.grpo` wins.
GRPO_DEFAULTS: dict[str, Any] = {
    "num_generations": 8,
    "per_device_train_batch_size": 16,
    "learning_rate": 1e-6,
    "max_steps": 200,
    "max_completion_length": 256,
    "temperature": 1.0,
    "beta": 0.0,
    "logging_steps": 1,
    "report_to": "none",
    "disable_tqdm": True,
    "log_completions": False,
    "dataloader_num_workers": 0,
    "save_only_model": False,
}

# field -> (lowest, lowest allowed?, highest, highest allowed?); None = no bound on that side
RANGES: dict[str, tuple[float | None, bool, float | None, bool]] = {
    "learning_rate": (0, False, None, False),
    "max_steps": (1, True, None, False),  # dumpcli trains a step budget; TRL's -1 means epochs
    "num_generations": (2, True, None, False),  # an advantage needs a group of 2 or more
    "per_device_train_batch_size": (1, True, None, False),
    "gradient_accumulation_steps": (1, True, None, False),
    "steps_per_generation": (1, True, None, False),
    "generation_batch_size": (1, True, None, False),
    "num_iterations": (1, True, None, False),
    "max_completion_length": (1, True, None, False),
    "temperature": (0, False, None, False),
    "top_p": (0, False, 1, True),
    "top_k": (0, True, None, False),
    "min_p": (0, True, 1, True),
    "repetition_penalty": (0, False, None, False),
    "beta": (0, True, None, False),
    "epsilon": (0, True, None, False),
    "epsilon_high": (0, True, None, False),
    "delta": (0, False, None, False),
    "warmup_steps": (0, True, None, False),
    "warmup_ratio": (0, True, 1, True),
    "weight_decay": (0, True, None, False),
    "max_grad_norm": (0, True, None, False),
    "adam_beta1": (0, True, 1, False),
    "adam_beta2": (0, True, 1, False),
    "adam_epsilon": (0, True, None, False),
    "logging_steps": (0, False, None, False),
    "save_steps": (0, False, None, False),
    "vllm_gpu_memory_utilization": (0, False, 1, True),
    "vllm_tensor_parallel_size": (1, True, None, False),
}
# string knobs TRL reads only inside the training loop (a bad one fails after prepare + warm start)
CHOICES: dict[str, tuple[Any, ...]] = {
    "loss_type": ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"),
    "scale_rewards": ("group", "batch", "none", True, False),
    "importance_sampling_level": ("token", "sequence"),
    "vllm_mode": ("colocate", "server"),
}
# set by dumpcli from the rest of the recipe; a value here would be overwritten
OWNED = {
    "output_dir": "the run folder is the recipe's top-level `output_dir`",
    "seed": "set `train.seed` (or the top-level `seed`)",
    "reward_weights": "set `train.reward.weight` and each `train.reward.functions` item's `weight`",
}


@functools.lru_cache(maxsize=1)
def grpo_fields() -> dict[str, tuple[Any, Any]]:
    """GRPOConfig's init fields: name -> (type hint, default) (imports trl: call only when needed)."""
    from trl import GRPOConfig

    hints = typing.get_type_hints(GRPOConfig)
    return {f.name: (hints.get(f.name, Any), f.default) for f in dataclasses.fields(GRPOConfig) if f.init}


def check_grpo(grpo: Mapping[str, Any], world_size: int | None = None) -> list[str]:
    """Problems with `train.grpo`, one line each, as `train.grpo.KEY: expected ..., got ...`."""
    if not grpo:
        return []
    fields = grpo_fields()
    problems: list[str] = []
    for key, value in grpo.items():
        where = f"train.grpo.{key}"
        if key not in fields:
            removed = " (removed in TRL 1.x)" if key == "max_prompt_length" else ""
            problems.append(f"{where}: not a trl.GRPOConfig field{removed}")
        elif key in OWNED:
            problems.append(f"{where}: set by dumpcli: {OWNED[key]}")
        else:
            problem = check_value(key, value, *fields[key])
            if problem:
                problems.append(f"{where}: {problem}")
    if not problems:
        problems.extend(_check_batch({**GRPO_DEFAULTS, **grpo}, world_size or _world_size()))
    return problems


def check_value(key: str, value: Any, hint: Any, default: Any = None) -> str | None:
    """Why `value` does not fit GRPOConfig field `key` (None if it does). A ranged knob may be
    null only where TRL's own default is null (`max_completion_length: null` is not "no limit")."""
    if key in CHOICES:
        allowed = CHOICES[key]
        if not any(value == c and type(value) is type(c) for c in allowed):
            return f"expected one of {', '.join(_yaml(c) for c in allowed)}, got {_got(value)}"
        return None
    bounds = RANGES.get(key)
    if bounds and default is not None:
        hint = _without_none(hint)
    fits = _matches(value, hint)
    if fits and bounds and _is_number(value):
        fits = math.isfinite(value) and _in_range(value, bounds)
    return None if fits else f"expected {_expected(hint, bounds)}, got {_got(value)}"


def _expected(hint: Any, bounds: tuple[float | None, bool, float | None, bool] | None) -> str:
    """'a number > 0', 'an integer >= 1 (or null)', 'true or false', ..."""
    if bounds is None:
        return describe(hint)
    inner = _without_none(hint)
    return f"{describe(inner)}{_range_text(bounds)}" + (" (or null)" if inner is not hint else "")


def _union_args(hint: Any) -> tuple[Any, ...]:
    """The members of a Union hint; `SomeEnum | str` is SomeEnum (the str is for TRL's CLI)."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return ()
    args = typing.get_args(hint)
    if str in args and any(isinstance(a, type) and issubclass(a, enum.Enum) for a in args):
        args = tuple(a for a in args if a is not str)
    return args


def _without_none(hint: Any) -> Any:
    args = _union_args(hint)
    if type(None) not in args:
        return hint
    rest = tuple(a for a in args if a is not type(None))
    return rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007


def _check_batch(kw: Mapping[str, Any], world: int) -> list[str]:
    """TRL's batch arithmetic (GRPOConfig.__post_init__), checked before TRL sees it."""
    generations, per_device = kw["num_generations"], kw["per_device_train_batch_size"]
    gbs, spg = kw.get("generation_batch_size"), kw.get("steps_per_generation")
    if not isinstance(generations, int) or not isinstance(per_device, int):
        return []  # null: TRL's to refuse
    if gbs is not None and spg is not None:
        return ["train.grpo: set generation_batch_size or steps_per_generation, not both"]
    micro = per_device * world
    if gbs is not None:
        if gbs % micro:
            return [
                f"train.grpo.generation_batch_size: {gbs} is not a multiple of per_device_train_batch_size "
                f"({per_device}) x {world} process(es)"
            ]
        how = f"generation_batch_size {gbs}"
    else:
        spg = spg or kw.get("gradient_accumulation_steps", 1)
        gbs = micro * spg
        how = f"per_device_train_batch_size {per_device} x {world} process(es) x steps_per_generation {spg}"
    if gbs % generations:
        return [
            f"train.grpo.num_generations: {generations} does not divide the {gbs} completions of a "
            f"generation ({how}): every prompt needs its whole group"
        ]
    return []


def _world_size() -> int:
    """Processes of this launch, as torchrun / accelerate launch set them (1 when not launched)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


# -------------------------------------------------------------------- types from the type hints


def _matches(value: Any, hint: Any) -> bool:
    """Does a YAML value fit a type hint? Types this does not know (a config object) are TRL's to
    check; an Enum takes its members' values (that is how YAML writes them)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if hint is type(None) or hint is None:
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in _union_args(hint))
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in typing.get_args(hint))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return _is_number(value)
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return isinstance(value, hint) or value in {m.value for m in hint}
    if hint in (list, tuple) or origin in (list, tuple):
        args = typing.get_args(hint)
        return isinstance(value, (list, tuple)) and (not args or all(_matches(v, args[0]) for v in value))
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    return True


def describe(hint: Any) -> str:
    """A type hint in words: 'a number', 'an integer or null', 'one of linear, cosine, ...'."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = _union_args(hint)
        parts = [describe(a) for a in args if a is not type(None)]
        if type(None) in args:
            parts.append("null")
        return " or ".join(dict.fromkeys(parts))
    if origin is typing.Literal:
        return "one of " + ", ".join(_yaml(a) for a in typing.get_args(hint))
    words = {bool: "true or false", int: "an integer", float: "a number", str: "text", type(None): "null"}
    if hint in words:
        return words[hint]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in hint)
    if hint in (list, tuple) or origin in (list, tuple):
        args = typing.get_args(hint)
        return f"a list of {describe(args[0])}" if args else "a list"
    if hint is dict or origin is dict:
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _range_text(bounds: tuple[float | None, bool, float | None, bool] | None) -> str:
    if bounds is None:
        return ""
    low, low_in, high, high_in = bounds
    if low is not None and high is not None:
        return f" in {'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"
    if low is not None:
        return f" {'>=' if low_in else '>'} {low:g}"
    return f" {'<=' if high_in else '<'} {high:g}" if high is not None else ""


def _in_range(value: float, bounds: tuple[float | None, bool, float | None, bool]) -> bool:
    low, low_in, high, high_in = bounds
    if low is not None and (value < low or (value == low and not low_in)):
        return False
    return not (high is not None and (value > high or (value == high and not high_in)))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _got(value: Any) -> str:
    """A value as the recipe wrote it: null, true, 'text', [1, 2] (cut at 60 characters)."""
    text = "null" if value is None else _yaml(value) if isinstance(value, bool) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _yaml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
