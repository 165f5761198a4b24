"""Loading the policy: the built-in tiny model, an HF id or a local directory, optionally LoRA."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from dumpcli.errors import DumpError
from dumpcli.recipe import ModelSpec, Recipe

# for base models that ship no chat template
PLAIN_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
HF_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def is_tiny(spec: ModelSpec) -> bool:
    return spec.name_or_path == "tiny"


def describe_model_source(spec: ModelSpec, base: Path) -> dict[str, Any]:
    """Where the weights would come from, without loading them (for --dry-run)."""
    if is_tiny(spec):
        return {
            "kind": "built-in tiny",
            "available": True,
            "detail": "tokenizer + random init built from the data",
        }
    local = base / spec.name_or_path if not Path(spec.name_or_path).is_absolute() else Path(spec.name_or_path)
    if local.is_dir():
        ok = (local / "config.json").exists() or (local / "adapter_config.json").exists()
        return {"kind": "local directory", "available": ok, "detail": str(local)}
    if not HF_ID.match(spec.name_or_path):
        return {
            "kind": "invalid",
            "available": False,
            "detail": f"{spec.name_or_path!r} is neither a dir nor an HF id",
        }
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(spec.name_or_path, "config.json")
        available = isinstance(cached, str)
    except Exception:  # noqa: BLE001 - any hub error means "not cached"
        available = False
    return {
        "kind": "hub id",
        "available": available,
        "detail": "in the local HF cache" if available else "not cached",
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

    spec = recipe.model
    path = Path(path_or_id)
    kwargs = {"trust_remote_code": spec.trust_remote_code, "dtype": torch_dtype(spec)}
    try:
        if (path / "adapter_config.json").exists():
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(str(path), **kwargs)
        else:
            model = AutoModelForCausalLM.from_pretrained(str(path_or_id), **kwargs)
        tokenizer = load_tokenizer(path_or_id, spec.trust_remote_code)
    except OSError as e:
        raise DumpError(
            f"cannot load model {str(path_or_id)!r}: {e}\n"
            "  (no network here? use a local directory, or model.name_or_path: tiny)"
        ) from None
    return model, tokenizer


def load_tokenizer(path_or_id: str | Path, trust_remote_code: bool = False) -> Any:
    """The tokenizer of a model dir or id, left-padded, with a chat template.

    A bare `tokenizers` tokenizer (ours: the tiny model's word-level one) must be loaded as such:
    AutoTokenizer would pick the tokenizer class of the model type (Qwen2's BPE pre-tokeniser)
    and silently map most words to nothing.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config = Path(path_or_id) / "tokenizer_config.json"
    bare = config.exists() and orjson.loads(config.read_bytes()).get("tokenizer_class") in (
        "TokenizersBackend",
        "PreTrainedTokenizerFast",
    )
    if bare:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(str(path_or_id))
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(path_or_id), trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if tokenizer.chat_template is None:
        tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
    return tokenizer


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
