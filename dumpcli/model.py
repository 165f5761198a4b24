"""Loading the policy: the built-in tiny model, an HF id or a local directory, optionally LoRA.

Shared by `train`, `eval` and `compare` (no stage of its own: it imports no other stage)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from dumpcli.errors import DumpError
from dumpcli.recipe import ModelSpec, Recipe

# For base models that ship no chat template: one `role: text` line per message, the prompt ending
# in `assistant:`. An assistant turn ends with the EOS token, so the SFT warm start (which adds no
# EOS to conversational data: it relies on the template) teaches the model to stop.
PLAIN_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
_TURN_PROBE = "dumpcli-end-of-turn-probe"
HF_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def is_tiny(spec: ModelSpec) -> bool:
    return spec.name_or_path == "tiny"


def resolve_model_path(name_or_path: str | Path, base: Path) -> str:
    """A relative model dir resolves against the recipe's folder (like every path in a recipe),
    else against the working directory; anything that is not a directory is an HF id."""
    p = Path(name_or_path).expanduser()
    if p.is_absolute():
        return str(p)
    if (base / p).is_dir():
        return str(base / p)
    if p.is_dir():  # absolute, so run.json and adapter configs name it from any directory
        return str(p.resolve())
    return str(p)


def model_identity(spec: ModelSpec, base: Path) -> dict[str, Any]:
    """What tells one starting model from another, cheaply (for the warm-start cache key): the
    resolved directory and its files' names, sizes and mtimes (two recipes that both say
    `name_or_path: model` name two models; a folder overwritten with new weights is a new model),
    or a hub id (not its cached snapshot: the first run computes the key before it downloads).
    Never reads the weights."""
    if is_tiny(spec):
        return {"kind": "tiny"}
    local = Path(resolve_model_path(spec.name_or_path, base))
    if local.is_dir():
        files = sorted(
            (f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in local.iterdir() if f.is_file()
        )
        return {"kind": "dir", "path": str(local.resolve()), "files": files}
    return {"kind": "hub", "id": spec.name_or_path}


def _looks_like_path(name: str) -> bool:
    # an HF id is `name` or `namespace/name`; anything else with a slash, or ./ ~/ /, is a path
    return name.startswith((".", "~", "/")) or name.count("/") > 1 or "\\" in name


def describe_model_source(spec: ModelSpec, base: Path) -> dict[str, Any]:
    """Where the weights would come from, without loading or downloading anything (--dry-run).

    `kind` is one of: built-in tiny, local directory, hub id, invalid (not a directory and
    not a well-formed hub id: a recipe error). `available` says whether the weights are here
    already (a local dir with a config, or the id in the local HF cache)."""
    if is_tiny(spec):
        return {
            "kind": "built-in tiny",
            "available": True,
            "detail": "tokenizer + random init built from the data",
        }
    name = spec.name_or_path
    local = Path(resolve_model_path(name, base))
    if local.is_dir():
        found = [f for f in ("config.json", "adapter_config.json") if (local / f).exists()]
        return {
            "kind": "local directory",
            "available": bool(found),
            "detail": f"{local}" + ("" if found else " (no config.json or adapter_config.json in it)"),
        }
    if _looks_like_path(name):
        return {"kind": "local directory", "available": False, "detail": f"{local} does not exist here"}
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError as e:
        return {
            "kind": "invalid",
            "available": False,
            "detail": f"{name!r} is neither a directory nor a hub id: {e}",
        }
    available = False
    try:
        from huggingface_hub import try_to_load_from_cache

        available = any(
            isinstance(try_to_load_from_cache(name, f), str) for f in ("config.json", "adapter_config.json")
        )
    except Exception:  # noqa: BLE001 - any cache lookup error means "not cached"
        available = False
    return {
        "kind": "hub id",
        "available": available,
        "detail": "in the local HF cache"
        if available
        else f"not cached here (`hf download {name}` fetches it)",
    }


def torch_dtype(spec: ModelSpec) -> Any:
    import torch

    if spec.dtype == "auto":
        return (
            torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
        )
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[spec.dtype]


def load_pretrained(path_or_id: str | Path, recipe: Recipe) -> tuple[Any, Any]:
    """Model + tokenizer from an HF id or directory (a checkpoint of ours, or a LoRA adapter dir)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()  # Rich draws the progress; no tqdm bars for loading weights

    spec = recipe.model
    if str(path_or_id) == spec.name_or_path:  # the recipe's own model: a dir relative to the recipe
        path_or_id = resolve_model_path(path_or_id, recipe.base_dir)
    path = Path(path_or_id)
    kwargs = {"trust_remote_code": spec.trust_remote_code, "dtype": torch_dtype(spec)}
    try:
        if (path / "adapter_config.json").exists():
            from peft import AutoPeftModelForCausalLM

            _check_adapter_base(path)
            # trainable: `--resume` of a LoRA run continues training this adapter (eval sets eval mode)
            model = AutoPeftModelForCausalLM.from_pretrained(str(path), is_trainable=True, **kwargs)
        else:
            model = AutoModelForCausalLM.from_pretrained(str(path_or_id), **kwargs)
        tokenizer = load_tokenizer(path_or_id, spec.trust_remote_code)
    except OSError as e:
        raise DumpError(
            f"cannot load model {str(path_or_id)!r}: {e}\n"
            "  (no network here? use a local directory, or model.name_or_path: tiny)"
        ) from None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.generation_config
    config.eos_token_id = stop_token_ids(config.eos_token_id, tokenizer)
    config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def stop_token_ids(declared: int | list[int] | None, tokenizer: Any) -> list[int]:
    """Every token that ends a completion: what the model's generation config declares, the
    tokenizer's EOS, and the token its chat template closes an assistant turn with.

    A Qwen base release ships a chat template whose turns end in `<|im_end|>` while its EOS is
    `<|endoftext|>`: a model warm-started on that template learns to say `<|im_end|>` when it is
    done, and generation that stops only at EOS would run to `max_completion_length` every time.
    TRL's GRPOTrainer, the eval and vLLM all read this list from the generation config."""
    ids = [declared] if isinstance(declared, int) else list(declared or [])
    for extra in (tokenizer.eos_token_id, end_of_turn_id(tokenizer)):
        if extra is not None and extra not in ids:
            ids.append(extra)
    return ids


def end_of_turn_id(tokenizer: Any) -> int | None:
    """The special token a chat template puts right after an assistant's text (Qwen's
    `<|im_end|>`, Llama 3's `<|eot_id|>`, Gemma's `<end_of_turn>`), or None."""
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _TURN_PROBE}]
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception:  # noqa: BLE001 - templates that reject this conversation name no end of turn
        return None
    if not isinstance(text, str) or _TURN_PROBE not in text:
        return None
    special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    for token in tokenizer(text.split(_TURN_PROBE, 1)[1], add_special_tokens=False)["input_ids"]:
        if token in special:
            return int(token)
        if tokenizer.decode([token]).strip():  # text before any special token: no end-of-turn token
            return None
    return None


def _check_adapter_base(adapter_dir: Path) -> None:
    """A LoRA checkpoint names its base model by path: say clearly when that path is gone."""
    try:
        base = orjson.loads((adapter_dir / "adapter_config.json").read_bytes()).get("base_model_name_or_path")
    except (OSError, orjson.JSONDecodeError) as e:
        raise DumpError(f"{adapter_dir / 'adapter_config.json'}: unreadable ({e})") from None
    if isinstance(base, str) and Path(base).is_absolute() and not Path(base).is_dir():
        raise DumpError(
            f"{adapter_dir}: a LoRA adapter whose base model {base} does not exist here\n"
            "  (a warm-started base lives in the dumpcli cache: set DUMP_CACHE_DIR to where the run had it;"
            " the same recipe and seed rebuild it with `dump train`)"
        )


def load_tokenizer(path_or_id: str | Path, trust_remote_code: bool = False) -> Any:
    """The tokenizer of a model dir or id, left-padded, with a chat template.

    A bare `tokenizers` tokenizer (ours: the tiny model's word-level one) must be loaded as such:
    AutoTokenizer would pick the tokenizer class of the model type (Qwen2's BPE pre-tokeniser)
    and silently map most words to nothing.
    """
    tokenizer = read_tokenizer(path_or_id, trust_remote_code)
    if tokenizer.eos_token is None:
        raise DumpError(
            f"{path_or_id}: the tokenizer has no EOS token, so generation could never end: "
            "set eos_token in its tokenizer_config.json"
        )
    if tokenizer.pad_token is None:  # left padding under an attention mask: any token will do
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if tokenizer.chat_template is None:
        tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
    return tokenizer


def read_tokenizer(path_or_id: str | Path, trust_remote_code: bool = False) -> Any:
    """The tokenizer as the folder has it (no pad token or chat template added)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config = Path(path_or_id) / "tokenizer_config.json"
    bare = config.exists() and orjson.loads(config.read_bytes()).get("tokenizer_class") in (
        "TokenizersBackend",
        "PreTrainedTokenizerFast",
    )
    if bare:
        return PreTrainedTokenizerFast.from_pretrained(str(path_or_id))
    return AutoTokenizer.from_pretrained(str(path_or_id), trust_remote_code=trust_remote_code)


def describe_tokenizer(spec: ModelSpec, base: Path) -> dict[str, Any] | None:
    """For --dry-run, from a local model directory's small files (tokenizer and generation
    config, no weights): its chat template (or the plain fallback), its pad token (or none: EOS
    pads), the tokens generation stops at, and how a prompt ends; {"error": ...} when the
    tokenizer cannot be loaded. None when not a local dir."""
    local = Path(resolve_model_path(spec.name_or_path, base))
    if is_tiny(spec) or not (local / "config.json").exists():
        return None
    from transformers import GenerationConfig

    try:
        raw = read_tokenizer(local, spec.trust_remote_code)
        tokenizer = load_tokenizer(local, spec.trust_remote_code)
    except Exception as e:  # noqa: BLE001 - whatever the folder's tokenizer raises, the dry run reports it
        return {"error": f"cannot load the tokenizer of {local}: {e}"}
    try:
        declared = GenerationConfig.from_pretrained(str(local)).eos_token_id
    except OSError:  # no generation_config.json: transformers falls back to the model config's
        declared = None
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "QUESTION"}], add_generation_prompt=True, tokenize=False
    )
    return {
        "chat_template": "plain" if raw.chat_template is None else "the folder's own",
        "pad_token": raw.pad_token,
        "eos_token": raw.eos_token,
        "stop_tokens": tokenizer.convert_ids_to_tokens(stop_token_ids(declared, tokenizer)),
        "prompt_end": prompt.split("QUESTION", 1)[-1],
    }


def lora_config(recipe: Recipe) -> Any:
    if recipe.model.lora is None:
        return None
    from peft import LoraConfig

    lo = recipe.model.lora
    return LoraConfig(
        r=lo.r,
        lora_alpha=lo.alpha,
        lora_dropout=lo.dropout,
        target_modules=lo.target_modules,
        task_type="CAUSAL_LM",
    )
