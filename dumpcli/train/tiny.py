"""The built-in CPU model (`model.name_or_path: tiny`): a word-level tokenizer trained on the
prepared data and a randomly initialised small Qwen2 model.

Nothing can be downloaded here, and a real LM is far too slow for CPU RL; a 1-3M parameter
model on puzzle text learns the answer format in a few hundred SFT steps and then has a
success rate that depends on the difficulty, which is what a curriculum needs to act on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from dumpcli.recipe import TinyModelSpec

PAD, UNK, BOS, EOS = "<|pad|>", "<|unk|>", "<|bos|>", "<|end|>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
# answer-format tags are ordinary tokens (decoded into the completion text the verifier reads)
TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    # words, numbers, and each punctuation mark on its own: "(1)" -> "(", "1", ")"
    return pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation("isolated")])


def build_tokenizer(texts: Iterable[str], max_vocab: int = 2000) -> PreTrainedTokenizerFast:
    """Word-level vocabulary of the most frequent pieces in `texts` (ties broken alphabetically)."""
    pre = _pre_tokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(piece for piece, _ in pre.pre_tokenize_str(text))
    specials = [PAD, UNK, BOS, EOS, *ROLE_TOKENS]
    budget = max(0, max_vocab - len(specials) - len(TAG_TOKENS))
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if w not in TAG_TOKENS]
    vocab = {tok: i for i, tok in enumerate(specials + TAG_TOKENS + sorted(words[:budget]))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = _pre_tokenizer()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        additional_special_tokens=ROLE_TOKENS,
        padding_side="left",
    )
    tokenizer.add_tokens(TAG_TOKENS)  # matched before pre-tokenisation, so "<answer>" stays whole
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 4096
    return tokenizer


def build_model(tokenizer: PreTrainedTokenizerFast, spec: TinyModelSpec, seed: int) -> Qwen2ForCausalLM:
    """A randomly initialised Qwen2 decoder sized by `spec` (seeded: same seed, same weights)."""
    import torch

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def save_tiny(path: Path, model: Qwen2ForCausalLM, tokenizer: PreTrainedTokenizerFast) -> None:
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
