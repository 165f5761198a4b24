"""The starting policy: build (tiny) or load (HF) the model, then an optional SFT warm start on
the train split's reference answers with TRL's SFTTrainer.

The result is cached under a key of everything that determines it (data, model, warm-up
settings, seed), so `dump compare` starts every scheduler and seed from the same weights.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from dumpcli import __version__
from dumpcli.data.prepared import cache_root
from dumpcli.io import atomic_path
from dumpcli.model import (
    is_tiny,
    load_pretrained,
    model_identity,
    resolve_model_path,
    torch_dtype,
)
from dumpcli.puzzles.registry import get_verifier
from dumpcli.recipe import Recipe, _hash


def data_fingerprint(*splits: Any) -> str:
    """Hash of the prepared problems and answers themselves: a generator or prepare change that
    alters the data must not reuse a warm start trained on the old data."""
    from dumpcli.data.prepared import split_column

    h = hashlib.sha256()
    for split in splits:
        for column in ("id", "answer"):
            for value in split_column(split, column):
                h.update(value.encode())
                h.update(b"\0")
    return h.hexdigest()[:16]


def warm_start_key(recipe: Recipe, fingerprint: str) -> str:
    return _hash(
        {
            "version": __version__,
            "data": recipe.data_hash(),
            "fingerprint": fingerprint,
            "model": recipe.model.model_dump(mode="json", exclude={"lora"}),
            "model_files": model_identity(recipe.model, recipe.base_dir),
            "warmup": recipe.warmup.model_dump(mode="json"),
            "seed": recipe.seed,
        }
    )


def reference_completion(row: dict[str, Any]) -> str:
    """What the SFT warm start teaches: the answer format with the reference answer inside."""
    verifier = get_verifier(row["verifier"])
    text = verifier.reference_text(orjson.loads(row["answer"]))
    return f"<think> </think> <answer> {text} </answer>"


def _sft_dataset(train: Any) -> Any:
    def to_example(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "prompt": row["prompt"],
            "completion": [{"role": "assistant", "content": reference_completion(row)}],
        }

    return train.map(to_example, remove_columns=train.column_names)


def prepare_policy(recipe: Recipe, train: Any, test: Any, console: Console) -> Path:
    """Directory holding the starting model and tokenizer (built, warmed and cached on first use).

    Under `accelerate launch` / torchrun every rank takes part in the SFT (it is a data-parallel
    run like any other, with the per-device batch divided by the number of ranks so the result
    does not depend on it); rank 0 saves, the others wait and then read the saved copy.
    """
    from accelerate import PartialState

    state = PartialState()
    target = cache_root() / "warmstart" / warm_start_key(recipe, data_fingerprint(train, test))
    if _is_model_dir(target):
        console.print(f"warm start: reusing {target}")
        return target
    if not is_tiny(recipe.model) and recipe.warmup.steps == 0:
        # an HF id or dir used as is (a dir by its absolute path: run.json must name it from anywhere)
        return Path(resolve_model_path(recipe.model.name_or_path, recipe.base_dir))
    model, tokenizer = _initial_policy(recipe, train, test)
    if recipe.warmup.steps > 0:
        console.print(f"warm start: SFT for {recipe.warmup.steps} steps on reference answers")
        scratch = target.parent / f".sft-{target.name}-rank{state.process_index}"
        model = _run_sft(recipe, model, tokenizer, train, scratch, console, state.num_processes)
        shutil.rmtree(scratch, ignore_errors=True)
    if state.is_main_process:
        with atomic_path(target, is_dir=True) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        console.print(f"warm start: saved {target}")
    state.wait_for_everyone()
    return target


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").exists() or (path / "adapter_config.json").exists()


def _initial_policy(recipe: Recipe, train: Any, test: Any) -> tuple[Any, Any]:
    if not is_tiny(recipe.model):
        return load_pretrained(recipe.model.name_or_path, recipe)
    from dumpcli.data.templates import TEMPLATES
    from dumpcli.train.tiny import build_model, build_tokenizer

    def texts() -> Any:
        for split in (train, test):
            for row in split:
                for message in row["prompt"]:
                    yield message["content"]
                yield reference_completion(row)
        for render in TEMPLATES.values():
            for message in render(""):
                yield message["content"]

    tokenizer = build_tokenizer(texts(), max_vocab=recipe.model.tiny.max_vocab)
    return build_model(tokenizer, recipe.model.tiny, seed=recipe.seed), tokenizer


def _run_sft(
    recipe: Recipe, model: Any, tokenizer: Any, train: Any, out: Path, console: Console, world: int = 1
) -> Any:
    import torch
    from trl import SFTConfig, SFTTrainer

    from dumpcli.train.progress import RichProgress

    cpu = not torch.cuda.is_available()
    args = SFTConfig(
        output_dir=str(out),
        max_steps=recipe.warmup.steps,
        per_device_train_batch_size=max(1, recipe.warmup.batch_size // world),
        learning_rate=recipe.warmup.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=min(20, recipe.warmup.steps // 10),
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        seed=recipe.seed,
        data_seed=recipe.seed,
        use_cpu=cpu,
        bf16=not cpu and torch_dtype(recipe.model) == torch.bfloat16,
        disable_tqdm=True,
        max_length=2048,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=_sft_dataset(train),
        processing_class=tokenizer,
        peft_config=None,
        callbacks=[RichProgress(console, "warm start")],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    trainer.train()
    return trainer.model
