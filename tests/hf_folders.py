"""Small HF-format causal LM folders built offline, as a user would bring them.

Each is what `save_pretrained` writes for a real model: a Qwen2 config and random weights, a
byte-level BPE tokenizer trained with `tokenizers` on knights-and-knaves text (so puzzles
tokenize into a few hundred tokens, not bytes), and no pad token, as many released models ship.
`chat` gets a Qwen-style chat template (`<|im_start|>role\\n...<|im_end|>`) and, like Qwen's base
releases that ship one, the EOS `<|endoftext|>`: the end of an assistant turn (`<|im_end|>`) is not
the tokenizer's EOS. `base` has no chat template at all.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

QWEN_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def puzzle_texts(n: int = 64) -> Iterator[str]:
    """What the tokenizer learns from: knights-and-knaves questions, every prompt template's
    wording, role names and the answer format."""
    from dumpcli.data.templates import TEMPLATES
    from dumpcli.puzzles.registry import get_family

    family = get_family("knights_knaves")
    rng = random.Random(0)
    for i in range(n):
        puzzle = family.generate(2 + i % 2, rng)
        yield puzzle["question"]
        yield f"<think> </think> <answer> {family.reference_text(family.parse_answer(puzzle['answer']))} </answer>"
    for render in TEMPLATES.values():
        for message in render(""):
            yield message["content"]
    yield "system user assistant : \n"


def build_folder(path: Path, *, chat_template: bool, seed: int = 0) -> Path:
    """Write a tiny Qwen2 causal LM folder (config, safetensors, tokenizer files) to `path`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(puzzle_texts(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|endoftext|>", additional_special_tokens=SPECIALS[1:]
    )
    if chat_template:
        tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    assert tokenizer.pad_token is None
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=None,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = None
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
