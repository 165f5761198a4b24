"""`dump train`, `dump eval` and `dump train --dry-run` from HF-format model folders (a BPE
tokenizer, no pad token; a Qwen-style chat template, or none), as a user brings their own model.

The folders are built offline by tests/hf_folders.py (session fixtures in conftest.py)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import orjson
import pytest
from conftest import read_jsonl, save_recipe
from helpers import tiny_train_recipe
from rich.console import Console
from typer.testing import CliRunner

from dumpcli.cli import app


def write_recipe(path: Path, folder: str | Path, **changes: object) -> Path:
    recipe = tiny_train_recipe(
        **{
            "model": {"name_or_path": str(folder)},
            "train.grpo.max_steps": 2,
            "train.save_steps": 0,
            "train.eval_every": 2,
            "eval.max_new_tokens": 8,
            **changes,
        }
    )
    return save_recipe(path.parent, recipe, path.name)


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def end_of_answer_token(tokenizer, prompt: list[dict], answer: str) -> int:
    """The first token after the assistant's text when a whole conversation is rendered: what the
    SFT warm start and GRPO teach the model to emit once it has answered."""
    text = tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": answer}], tokenize=False)
    tail = text.split(answer, 1)[1]
    ids = tokenizer(tail, add_special_tokens=False)["input_ids"]
    assert ids, f"nothing follows the answer in {text!r}: a model trained on it never stops"
    return ids[0]


PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who is a knight?"}]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "lora"), [("chat", False), ("chat", True), ("base", False), ("base", True)])
def test_train_eval_and_dry_run_from_a_model_folder(kind, lora, request, tmp_path):
    """Full fine-tuning after a 2-step SFT warm start, or LoRA on the folder itself (no warm
    start); then every checkpoint evaluates, and the dry run describes the folder."""
    from dumpcli.evaluate import _eos_ids
    from dumpcli.model import load_pretrained
    from dumpcli.recipe import load_recipe
    from dumpcli.train.dry_run import dry_run

    folder = request.getfixturevalue(f"hf_{kind}_folder")
    changes: dict = {}
    if lora:
        changes = {
            "model.lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
            "warmup.steps": 0,
        }
    recipe = write_recipe(tmp_path / "recipe.yaml", folder, **changes)

    cli("train", str(recipe), "--dry-run")
    planned = dry_run(load_recipe(recipe), console=Console(file=io.StringIO()))
    assert planned["model"]["kind"] == "local directory" and planned["model"]["available"]
    assert planned["tokenizer"]["chat_template"] == ("the folder's own" if kind == "chat" else "plain")
    assert planned["tokenizer"]["pad_token"] is None
    cli("train", str(recipe))
    out = tmp_path / "out"
    assert [e["step"] for e in read_jsonl(out / "eval.jsonl")] == [0, 2]
    assert [line["step"] for line in read_jsonl(out / "curriculum.jsonl")] == [0, 1]
    checkpoint = out / "checkpoint-2"
    assert (checkpoint / "adapter_config.json").exists() == lora
    run = orjson.loads((out / "run.json").read_bytes())
    if lora:
        assert run["policy_start"] == str(folder)
        adapter = orjson.loads((checkpoint / "adapter_config.json").read_bytes())
        assert adapter["base_model_name_or_path"] == str(folder)
    else:
        assert "warmstart" in run["policy_start"]

    cli("eval", str(recipe), "--run", str(out))
    scored = orjson.loads((out / "eval.json").read_bytes())["checkpoints"]
    assert sorted(v["step"] for v in scored.values()) == [0, 2]  # eval.json's keys are sorted by path

    model, tokenizer = load_pretrained(checkpoint, load_recipe(recipe))
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"  # the folder has no pad token
    assert tokenizer.padding_side == "left"
    prompt = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=False)
    if kind == "chat":
        assert prompt.endswith("<|im_start|>assistant\n")
    else:  # no chat template: plain role lines, ending where the assistant speaks
        assert prompt == "system: Be brief.\nuser: Who is a knight?\nassistant:"
    stop = end_of_answer_token(tokenizer, PROMPT, "<answer> x </answer>")
    assert stop == tokenizer.convert_tokens_to_ids("<|im_end|>" if kind == "chat" else "<|endoftext|>")
    assert stop in _eos_ids(model, tokenizer)  # evaluation stops there
    if not lora:  # what TRL's generation and vLLM read from the checkpoint
        saved = orjson.loads((checkpoint / "generation_config.json").read_bytes())["eos_token_id"]
        assert stop in ([saved] if isinstance(saved, int) else saved)

    cli("train", str(recipe), "--dry-run")
    assert dry_run(load_recipe(recipe), console=Console(file=io.StringIO()))["checkpoint"] == str(checkpoint)


@pytest.mark.slow
def test_relative_model_folders_are_told_apart(hf_chat_folder, hf_base_folder, tmp_path, monkeypatch):
    """`model.name_or_path: model` in two recipe folders names two different models: each gets
    its own warm start; run.json records where the starting policy is, whatever the working
    directory, so `dump eval --run` from elsewhere still scores step 0."""
    shutil.copytree(hf_chat_folder, tmp_path / "a" / "model")
    shutil.copytree(hf_base_folder, tmp_path / "b" / "model")
    a = write_recipe(
        tmp_path / "a" / "recipe.yaml", "model", **{"train.grpo.max_steps": 1, "train.eval_every": 0}
    )
    b = write_recipe(
        tmp_path / "b" / "recipe.yaml", "model", **{"train.grpo.max_steps": 1, "train.eval_every": 0}
    )
    monkeypatch.chdir(tmp_path)
    cli("train", str(a))
    cli("train", str(b))
    starts = [
        Path(orjson.loads((tmp_path / d / "out" / "run.json").read_bytes())["policy_start"]) for d in "ab"
    ]
    assert starts[0] != starts[1]
    templates = [
        (s / "chat_template.jinja").read_text() if (s / "chat_template.jinja").exists() else ""
        for s in starts
    ]
    assert "<|im_start|>" in templates[0] and "<|im_start|>" not in templates[1]

    no_warmup = write_recipe(
        tmp_path / "b" / "cold.yaml",
        "model",
        **{"warmup.steps": 0, "output_dir": "cold", "train.grpo.max_steps": 1},
    )
    cli("train", str(no_warmup))
    run = orjson.loads((tmp_path / "b" / "cold" / "run.json").read_bytes())
    assert run["policy_start"] == str(tmp_path / "b" / "model")
    monkeypatch.chdir(tmp_path / "a")
    cli("eval", str(no_warmup), "--run", str(tmp_path / "b" / "cold"))
    scored = orjson.loads((tmp_path / "b" / "cold" / "eval.json").read_bytes())["checkpoints"]
    assert sorted(v["step"] for v in scored.values()) == [0, 1]


def test_dry_run_stops_on_a_folder_whose_tokenizer_does_not_load(hf_chat_folder, tmp_path):
    folder = shutil.copytree(hf_chat_folder, tmp_path / "model")
    (folder / "tokenizer.json").write_text("{not json")
    recipe = write_recipe(tmp_path / "recipe.yaml", folder)
    result = CliRunner().invoke(app, ["train", str(recipe), "--dry-run"])
    assert result.exit_code == 1, result.output
    assert "cannot load the tokenizer of" in " ".join(result.output.split())
    assert "Traceback" not in result.output
