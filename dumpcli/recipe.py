"""The YAML recipe shared by every command: pydantic models, loading, `--set` overrides.

One file describes a run end to end (data, model, warm start, training, eval), so that
`prepare`, `train`, `eval`, `report` and `compare` all agree on what they are looking at.
Errors are reported as `RecipeError` naming the YAML path; the CLI turns them into exit 2.
"""

from __future__ import annotations

import copy
import glob
import hashlib
import os
import re
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from dumpcli.data.fields import MAX_ANSWER_CHARS, MAX_PROMPT_CHARS
from dumpcli.data.sources import PLUGIN, SPECS, SourceSpec
from dumpcli.data.sources.base import DifficultyRule, FieldMap, Strict
from dumpcli.errors import DumpError, RecipeError
from dumpcli.grpo import check_grpo

__all__ = ["DifficultyRule", "FieldMap", "Recipe", "RecipeError", "SourceSpec", "Strict", "load_recipe"]


MAX_NODES = 100_000  # values in a recipe with every alias expanded; real recipes have hundreds
MAX_RECIPE_BYTES = 1 << 20  # a recipe file's size; real recipes are a few KB (checked before parsing)


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that also reads `1e-6` as a float (YAML 1.1 wants `1.0e-6`; learning rates
    are written the short way and would otherwise arrive in GRPOConfig as strings), and refuses a
    key written twice in one mapping (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` keys may be overridden on purpose
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in first:
                        raise DuplicateKeyError(key, first[key] + 1, key_node.start_mark)
                    first[key] = key_node.start_mark.line
                except TypeError:
                    continue  # an unhashable key: SafeConstructor reports it
        return super().construct_mapping(node, deep=deep)


class DuplicateKeyError(yaml.constructor.ConstructorError):
    def __init__(self, key: Any, first_line: int, mark: yaml.Mark) -> None:
        super().__init__(None, None, f"duplicate key {key!r} (first given on line {first_line})", mark)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def safe_load(text: str) -> Any:
    """yaml.safe_load with floats like 1e-6 (no arbitrary objects: SafeLoader underneath)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


class DataSpec(Strict):
    sources: list[SourceSpec]
    distribution: list[Literal["source", "difficulty"]] = Field(
        default_factory=lambda: ["source", "difficulty"]
    )
    prompt_template: str = "think_answer"
    dedup: bool = True
    max_prompt_chars: int = Field(MAX_PROMPT_CHARS, gt=0)  # a longer prompt is a rejected record
    max_answer_chars: int = Field(MAX_ANSWER_CHARS, gt=0)  # the answer as JSON, once the verifier read it

    @model_validator(mode="after")
    def _unique_names(self) -> DataSpec:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique, repeated: {', '.join(dupes)}")
        if not self.sources:
            raise ValueError("give at least one source")
        if not self.distribution:
            raise ValueError("distribution needs at least one of source, difficulty")
        return self


class LoraSpec(Strict):
    r: int = Field(16, gt=0)
    alpha: int = Field(32, gt=0)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | str = "all-linear"


class TinyModelSpec(Strict):
    """Shape of the built-in CPU model (`model.name_or_path: tiny`)."""

    hidden_size: int = Field(128, gt=0)
    num_layers: int = Field(2, gt=0)
    num_heads: int = Field(4, gt=0)
    intermediate_size: int = Field(256, gt=0)
    max_vocab: int = Field(2000, gt=10)


class ModelSpec(Strict):
    name_or_path: str = "tiny"
    trust_remote_code: bool = False
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    lora: LoraSpec | None = None
    tiny: TinyModelSpec = Field(default_factory=TinyModelSpec)


class WarmupSpec(Strict):
    """Optional SFT cold start on the train split's reference answers."""

    steps: int = Field(0, ge=0)
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(16, gt=0)


class SchedulerSpec(Strict):
    """`name` picks the scheduler; the other keys are its options (checked by the scheduler)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    name: str = "ucb"

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class RewardFunctionSpec(Strict):
    """A reward function of the user's code, `f(prompts, completions, **kwargs) -> list[float]`
    (TRL's reward-callable convention), by import path, and its weight in the sum."""

    function: str
    weight: float = Field(1.0, allow_inf_nan=False)


class RewardSpec(Strict):
    """The reward GRPO trains on: weight * scheme(verdict) + sum_i functions[i].weight *
    functions[i](...), TRL's weighted sum over `reward_funcs` (a None from a function counts 0;
    `weight: 0` trains on the functions alone). The verifier's verdict stays the success signal."""

    scheme: Literal["dump", "binary", "partial"] = "dump"
    weight: float = Field(1.0, allow_inf_nan=False)
    functions: list[RewardFunctionSpec] = Field(default_factory=list)

    def weights(self) -> list[float]:
        """TRL's `reward_weights`, in the order of `reward_funcs`: the scheme's, then the functions'."""
        return [self.weight, *(f.weight for f in self.functions)]


class FilterSpec(Strict):
    """Dynamic sampling (see dumpcli/train/filters.py): drop groups of completions that teach nothing
    (`zero_variance: drop`, DAPO) or whose success rate is outside `band`, and generate more rounds,
    at most `max_rounds` generations per step, the first included."""

    zero_variance: Literal["keep", "drop"] = "keep"
    band: tuple[float, float] | None = None
    max_rounds: int = Field(4, ge=1, le=64)

    @model_validator(mode="after")
    def _band_in_unit(self) -> FilterSpec:
        if self.band is not None:
            lo, hi = self.band
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"band must be [lo, hi] with 0 <= lo <= hi <= 1, got [{lo}, {hi}]")
        return self

    @property
    def active(self) -> bool:
        return self.zero_variance == "drop" or self.band is not None


class BudgetSpec(Strict):
    """Stop training once the run has generated this many completions or completion tokens
    (whichever comes first; see dumpcli/train/compute.py), so runs whose steps cost different
    amounts of generation are compared at equal cost. `train.grpo.max_steps` still caps the run."""

    completions: int | None = Field(None, gt=0)
    tokens: int | None = Field(None, gt=0)

    @property
    def active(self) -> bool:
        return self.completions is not None or self.tokens is not None


ROLLOUT_FIELDS = {  # which train.rollouts fields each method reads (the others must stay unset)
    "none": set(),
    "skip": {"p_easy", "p_hard", "target_zero_variance", "p_step", "p_min", "p_max", "pool_factor"},
    "screen": {"k_screen", "band", "max_rounds"},
    "budget": {"min_per_prompt", "max_per_prompt", "min_history", "alpha"},
}


class RolloutsSpec(Strict):
    """How many completions each drawn prompt gets (see dumpcli/train/rollouts.py for the rules and
    their sources): `skip` (GRESO) skips a prompt before generating when its latest groups were all
    right or all wrong; `screen` (SPEED-RL) generates `k_screen` completions first and the rest of the
    group only where the screen's success rate is strictly inside `band`; `budget` (Knapsack RL)
    shares the step's completions between the drawn prompts by their predicted success rates."""

    method: Literal["none", "skip", "screen", "budget"] = "none"
    # skip (GRESO's defaults)
    p_easy: float = Field(0.5, gt=0, lt=1, description="exploration probability of all-right prompts")
    p_hard: float = Field(0.5, gt=0, lt=1, description="exploration probability of all-wrong prompts")
    target_zero_variance: float = Field(0.25, gt=0, lt=1, description="share of groups aimed at")
    p_step: float = Field(0.01, gt=0, lt=1, description="change of p_easy / p_hard a step")
    p_min: float = Field(0.05, gt=0, lt=1)
    p_max: float = Field(0.95, gt=0, lt=1)
    pool_factor: int = Field(4, ge=1, le=64, description="prompts drawn per prompt generated")
    # screen (SPEED-RL's rule)
    k_screen: int = Field(4, ge=1, description="completions of the screen (< num_generations)")
    band: tuple[float, float] = (0.0, 1.0)
    max_rounds: int = Field(4, ge=1, le=64, description="screening rounds a step at most")
    # budget (Knapsack RL's defaults)
    min_per_prompt: int = Field(2, ge=1)
    max_per_prompt: int = Field(128, ge=1)
    min_history: int = Field(8, ge=1, description="completions seen before a prompt's rate is trusted")
    alpha: float = Field(0.9, gt=0, lt=1, description="confidence of the cost estimate")

    @model_validator(mode="after")
    def _coherent(self) -> RolloutsSpec:
        stray = sorted(
            f for f in self.model_fields_set if f != "method" and f not in ROLLOUT_FIELDS[self.method]
        )
        if stray:
            uses = {f: m for m, fields in ROLLOUT_FIELDS.items() for f in fields}
            raise ValueError(
                "; ".join(f"{f} belongs to method {uses[f]!r}" for f in stray)
                + f" (this recipe's method is {self.method!r})"
            )
        lo, hi = self.band
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"band must be [lo, hi] with 0 <= lo < hi <= 1, got [{lo}, {hi}]")
        if self.p_min > self.p_max:
            raise ValueError(f"p_min ({self.p_min}) must be <= p_max ({self.p_max})")
        if self.min_per_prompt > self.max_per_prompt:
            raise ValueError(
                f"min_per_prompt ({self.min_per_prompt}) must be <= max_per_prompt ({self.max_per_prompt})"
            )
        return self

    @property
    def active(self) -> bool:
        return self.method != "none"


class TrainSpec(Strict):
    seed: int | None = None  # training seed (prompt draws, sampling); defaults to the recipe seed
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    reward: RewardSpec = Field(default_factory=RewardSpec)
    grpo: dict[str, Any] = Field(default_factory=dict)
    filter: FilterSpec = Field(default_factory=FilterSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    rollouts: RolloutsSpec = Field(default_factory=RolloutsSpec)
    eval_every: int = Field(0, ge=0)
    save_steps: int = Field(0, ge=0)


class SampledEvalSpec(Strict):
    """A second pass of every evaluation that samples instead of decoding greedily: its
    `sampled_accuracy` (pass@1 at this temperature, the mean over `n` samples per problem) is
    the success rate of the policy GRPO actually trains, next to the greedy accuracy."""

    temperature: float = Field(1.0, gt=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(4, gt=0)


class EvalSpec(Strict):
    max_per_distribution: int | None = Field(None, gt=0)
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, gt=0)
    pass_k: list[int] = Field(default_factory=lambda: [1])
    batch_size: int = Field(32, gt=0)
    max_new_tokens: int = Field(256, gt=0)
    backend: Literal["hf", "vllm"] = "hf"
    sampled: SampledEvalSpec | None = None

    def sampled_spec(self) -> EvalSpec | None:
        """The EvalSpec of the sampled pass (None when `sampled` is not set)."""
        if self.sampled is None:
            return None
        return self.model_copy(
            update={
                "temperature": self.sampled.temperature,
                "top_p": self.sampled.top_p,
                "n": self.sampled.n,
                "pass_k": [1],
                "sampled": None,
            }
        )

    @model_validator(mode="after")
    def _k_le_n(self) -> EvalSpec:
        bad = [k for k in self.pass_k if k < 1 or k > self.n]
        if bad:
            raise ValueError(f"pass_k values must be in 1..n (n={self.n}), got {bad}")
        return self


class CompareVariant(Strict):
    """A named run setting for `dump compare --schedulers NAME`: a scheduler with its options, and
    optionally dynamic sampling (`train.filter`) and rollouts per prompt (`train.rollouts`)."""

    scheduler: SchedulerSpec
    filter: FilterSpec | None = None
    rollouts: RolloutsSpec | None = None


class CompareSpec(Strict):
    variants: dict[str, CompareVariant] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> CompareSpec:
        bad = [n for n in self.variants if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", n)]
        if bad:
            raise ValueError(
                f"variant names are used as folder names: letters, digits, _ . + - only, got {bad}"
            )
        return self


class Recipe(Strict):
    name: str = "run"
    seed: int = 0
    output_dir: str = "runs/run"
    data: DataSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    warmup: WarmupSpec = Field(default_factory=WarmupSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    compare: CompareSpec = Field(default_factory=CompareSpec)

    # set by load_recipe: where relative paths resolve and what the file said
    _base_dir: Path = Path(".")
    _source_file: Path | None = None

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def output_path(self) -> Path:
        return resolve_path(self.output_dir, self._base_dir)

    def data_hash(self) -> str:
        """Hash of what determines the prepared data (seed + data section)."""
        return _hash({"seed": self.seed, "data": self.data.model_dump(mode="json")})

    def recipe_hash(self) -> str:
        return _hash(self.model_dump(mode="json"))

    def resolve(self, path: str) -> Path:
        return resolve_path(path, self._base_dir)


def _hash(obj: Any) -> str:
    return hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def resolve_path(path: str | Path, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p)


# ---------------------------------------------------------------- loading


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a","b","c"], value), value parsed as YAML (so 3, true, [1,2] work)."""
    if "=" not in text:
        raise RecipeError(f"--set {text!r}: expected key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise RecipeError(f"--set {text!r}: expected key.path=value")
    try:
        value = safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise RecipeError(f"--set {text!r}: value is not valid YAML: {e}") from e
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set` overrides to the raw YAML mapping. List items by index: data.sources.0.name=x."""
    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node: Any = out
        for i, part in enumerate(path[:-1]):
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise RecipeError(
                        f"--set {text!r}: {'.'.join(path[:i])}: no list item {part} (it has {len(node)})"
                    )
                node = node[int(part)]
            elif isinstance(node, dict):
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            else:
                raise RecipeError(f"--set {text!r}: {'.'.join(path[:i]) or 'recipe'} is not a mapping")
        last = path[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise RecipeError(
                    f"--set {text!r}: {'.'.join(path[:-1])}: no list item {last} (it has {len(node)})"
                )
            node[int(last)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise RecipeError(f"--set {text!r}: {'.'.join(path[:-1])} is not a mapping")
    return out


_TYPE_TAG = re.compile(r"^(int|str|float|bool|none|function-.*|.*\[.*\])$")


def _format_validation_error(err: ValidationError, origin: str, overridden: list[tuple[str, str | None]] | None = None) -> str:
    """One line per YAML path. Union members (`int | str`) come back from pydantic as one error
    per member with the type as an extra path part; fold them into one line."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for e in err.errors():
        parts = [str(p) for p in e["loc"]]
        if len(parts) > 3 and parts[:2] == ["data", "sources"] and parts[3] == PLUGIN:
            parts.pop(3)  # a kind from the user's code: its Spec's message names the keys
        elif len(parts) > 3 and parts[:2] == ["data", "sources"] and parts[3] in SPECS:
            kind = parts.pop(3)  # the union's tag: not a YAML key
            owners = [f"`{o.key}:`" for o in SPECS.values() if parts[-1] in o.model_fields]
            if e["type"] == "extra_forbidden" and owners and len(parts) == 4:
                msg = f"only for {' or '.join(owners)} sources (this one has `{SPECS[kind].key}:`)"
                e = {**e, "msg": msg, "type": "unknown_for_kind"}
        while parts and _TYPE_TAG.match(parts[-1]) and len(parts) > 1:
            parts.pop()
        loc = ".".join(p for p in parts if not p.startswith("function-"))
        grouped.setdefault(loc, []).append(e)
    lines = []
    for loc, errs in grouped.items():
        msgs: list[str] = []
        for e in errs:
            msg = e["msg"]
            if e["type"] == "extra_forbidden":
                msg = "unknown key"
            elif e["type"] == "unknown_for_kind":
                msg = e["msg"]
            elif e["type"] == "missing":
                msg = "required key is missing"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            if msgs and msg.startswith("Input should be "):
                msg = msg[len("Input should be ") :]
            if msg not in msgs:
                msgs.append(msg)
        first = errs[0]
        quiet = first["type"] in (
            "extra_forbidden",
            "missing",
            "unknown_for_kind",
            "source_kind",
        ) or isinstance(first.get("input"), dict)
        got = "" if quiet else f" (got {_short(first.get('input'))})"
        where = loc or "recipe"
        note = _from_override("", loc, overridden or []) if loc else ""
        lines.append(f"{where}: {' or '.join(msgs)}{got}{note}")
    return f"{origin}: invalid recipe\n  " + "\n  ".join(lines)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_recipe(
    path: str | Path,
    overrides: list[str] | None = None,
    check_files: bool = True,
    flags: dict[str, str] | None = None,
    check_extras: bool = False,
) -> Recipe:
    """Read, override, validate. Raises RecipeError with a one-screen message. `flags` names the
    command-line option an override came from (`{"train.scheduler={name: x}": "--scheduler x"}`),
    for the messages; any other override came from `--set`. `check_extras`: a valid recipe that
    needs an optional extra that is not installed raises DumpError (see `missing_extras`)."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        raw = safe_load(_read_bounded(path))
    except DuplicateKeyError as e:
        raise RecipeError(f"{path}:{e.problem_mark.line + 1}: {e.problem}") from None
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from e
    except UnicodeDecodeError as e:
        raise RecipeError(f"{path}: not UTF-8 text: {e}") from e
    except RecursionError:
        raise RecipeError(f"{path}: not valid YAML: nested too deeply") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides or [])
    _check_size(raw, str(path))
    keys = [(o.split("=", 1)[0].strip(), (flags or {}).get(o)) for o in overrides or []]
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as e:
        raise RecipeError(_format_validation_error(e, str(path), keys)) from None
    recipe._base_dir = path.resolve().parent
    recipe._source_file = path.resolve()
    _check_semantics(recipe, str(path), check_files, keys, check_extras)
    return recipe


def _read_bounded(path: Path) -> str:
    """The recipe's text, refused by its size before any of it is parsed (YAML parsing of a
    100 MB file takes a minute and a gigabyte). At most MAX_RECIPE_BYTES + 1 bytes are read, so
    a file that grows, or reports no size, is bounded too."""
    with open(path, "rb") as f:
        data = f.read(MAX_RECIPE_BYTES + 1)
    if len(data) > MAX_RECIPE_BYTES:
        size = max(path.stat().st_size, len(data))
        raise RecipeError(
            f"{path}: the file is {size:,} bytes; a recipe may be at most {MAX_RECIPE_BYTES:,} bytes "
            "(real recipes are a few KB: is this the recipe file?)"
        )
    return data.decode("utf-8")


def _check_size(raw: dict[str, Any], origin: str) -> None:
    """Refuse a recipe whose YAML aliases expand past MAX_NODES values (an "alias bomb": a few
    lines of nested `&a [*b, *b, ...]` make billions). PyYAML shares an aliased value instead of
    copying it, so loading is cheap; what would blow up is every later dump, hash or print. The
    expanded size is counted once per shared value: size(x) = 1 + sum of its items' sizes."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    shared = False  # some value is reached twice: an alias

    def size(value: Any) -> int:
        nonlocal shared
        if not isinstance(value, (dict, list)):
            return 1
        key = id(value)
        if key in sizes:
            shared = True
            return sizes[key]
        if key in open_:
            raise RecipeError(f"{origin}: a YAML alias refers to a mapping or list that contains it")
        open_.add(key)
        total = 1 + sum(map(size, value.values() if isinstance(value, dict) else value))
        open_.discard(key)
        sizes[key] = total
        return total

    try:
        total = size(raw)
    except RecursionError:
        raise RecipeError(f"{origin}: nested too deeply") from None
    if total > MAX_NODES and not shared:
        raise RecipeError(f"{origin}: the recipe holds {total:,} values; at most {MAX_NODES:,} are allowed")
    if total > MAX_NODES:
        raise RecipeError(
            f"{origin}: the recipe holds {total:,} values once its YAML aliases (*name) are expanded; "
            f"at most {MAX_NODES:,} are allowed"
        )


def _check_semantics(
    recipe: Recipe,
    origin: str,
    check_files: bool,
    overridden: list[tuple[str, str | None]],
    check_extras: bool = False,
) -> None:
    """Checks that need the registries or the file system."""
    from dumpcli.puzzles import registry as puzzles
    from dumpcli.schedulers import registry as schedulers

    problems: list[str] = []
    for i, src in enumerate(recipe.data.sources):
        where = f"data.sources.{i}"
        if src.kind == "puzzle" and not puzzles.known(src.puzzle):
            planned = src.puzzle in getattr(puzzles, "_FAMILIES", {})
            problems.append(
                f"{where}.puzzle: puzzle family {src.puzzle!r} "
                + ("is not available in this version yet" if planned else "is unknown")
                + f" (available: {', '.join(puzzles.names()) or 'none yet'})"
            )
        elif src.kind == "puzzle" and (problem := puzzles.problem(src.puzzle, family=True)):
            problems.append(f"{where}.puzzle: {problem}")  # a plug-in that does not load
        elif src.kind == "puzzle":
            problems.extend(f"{where}{path}: {message}" for path, message in src.problems())
        if src.verifier is not None and not puzzles.known(src.verifier):
            problems.append(
                f"{where}.verifier: unknown verifier {src.verifier!r} "
                f"(available: {', '.join(puzzles.verifier_names())})"
            )
        elif src.verifier is not None and (problem := puzzles.problem(src.verifier)):
            problems.append(f"{where}.verifier: {problem}")
        if check_files and src.kind == "files":
            for key in ("files", "test_files"):
                for j, pattern in enumerate(getattr(src, key) or []):
                    full = str(recipe.resolve(pattern))
                    if not any(Path(p).is_file() for p in glob.glob(full, recursive=True)):
                        shown = os.path.normpath(full)
                        problems.append(
                            f"{where}.{key}.{j}: no file matches {pattern!r} (looked for {shown})"
                        )
    if recipe.data.prompt_template not in _template_names():
        problems.append(
            f"data.prompt_template: unknown template {recipe.data.prompt_template!r} "
            f"(available: {', '.join(_template_names())})"
        )
    checked = [("train.scheduler", recipe.train.scheduler)]
    checked += [(f"compare.variants.{n}.scheduler", v.scheduler) for n, v in recipe.compare.variants.items()]
    for where, sched in checked:
        if problem := schedulers.problem(sched.name):
            problems.append(f"{where}.name: {problem}")
        else:
            keys = {*schedulers.get_class(sched.name).Options.model_fields, *sched.options()}
            for msg in schedulers.check_options(sched.name, sched.options()):
                key = msg.split(":", 1)[0]  # an option's own problem, or one across options
                problems.append(f"{where}.{msg}" if key in keys else f"{where}: {msg}")
    problems.extend(_reward_problems(recipe.train.reward))
    if not problems and check_extras and missing_extras(recipe):
        raise DumpError("; ".join(missing_extras(recipe)))
    if not problems:  # train.grpo is checked against trl.GRPOConfig: importing trl (and torch)
        problems.extend(check_grpo(recipe.train.grpo))  # takes seconds, so what is cheap comes first
    if problems:
        lines = [_from_override(p, p.split(":", 1)[0], overridden) for p in problems]
        raise RecipeError(f"{origin}: invalid recipe\n  " + "\n  ".join(lines))


def _from_override(problem: str, loc: str, overridden: list[tuple[str, str | None]]) -> str:
    """'train.grpo.x: ...' -> '... [from --set train.grpo.x=...]' when a --set put it there, or
    '... [from --scheduler x]' when that option did (the last override of a path wins)."""
    via = [(key, flag) for key, flag in overridden if loc == key or loc.startswith(key + ".")]
    if not via:
        return problem
    key, flag = max(via, key=lambda v: len(v[0]))  # the most specific: --set train.scheduler.x over --scheduler
    return f"{problem} [from {flag or f'--set {key}=...'}]"


def missing_extras(recipe: Recipe) -> list[str]:
    """What `dump train` needs that is not installed (an optional extra), one message each: checked
    before torch and TRL are imported, so it is said in a second, not after twenty."""
    import importlib.util

    if recipe.train.grpo.get("use_vllm") and importlib.util.find_spec("vllm") is None:
        return [
            "train.grpo.use_vllm: true needs vLLM, which is not installed: pip install 'dumpcli[vllm]'"
            " (GPU machines), or --set train.grpo.use_vllm=false"
        ]
    return []


def _reward_problems(reward: RewardSpec) -> list[str]:
    """Each user reward function imports and takes TRL's keywords; some weight is not 0."""
    from dumpcli.plugins import PluginError, check_reward_function

    problems = []
    for i, spec in enumerate(reward.functions):
        try:
            check_reward_function(spec.function)
        except PluginError as e:
            problems.append(f"train.reward.functions.{i}.function: {e}")
    if not any(reward.weights()):
        problems.append(
            "train.reward: every weight is 0 (the scheme's `weight` and each function's): nothing to learn"
        )
    return problems


def _template_names() -> list[str]:
    from dumpcli.data.templates import TEMPLATES

    return sorted(TEMPLATES)
