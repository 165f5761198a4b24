"""The built-in tiny model's tokenizer: what the policy writes must reach the verifier intact."""

from __future__ import annotations

import random

import orjson

from dumpcli.model import load_tokenizer
from dumpcli.puzzles.registry import get_family
from dumpcli.puzzles.rewards import score
from dumpcli.recipe import TinyModelSpec
from dumpcli.train.tiny import build_model, build_tokenizer, save_tiny
from dumpcli.train.warmup import reference_completion


def test_reloaded_tokenizer_round_trips_a_reference_answer_to_full_reward(tmp_path):
    kk = get_family("knights_knaves")
    puzzles = [kk.generate(n, random.Random(n)) for n in (2, 3, 4)]
    rows = [
        {
            "verifier": "knights_knaves",
            "answer": orjson.dumps(p["answer"]).decode(),
            "question": p["question"],
        }
        for p in puzzles
    ]
    completions = [reference_completion(r) for r in rows]
    tokenizer = build_tokenizer([r["question"] for r in rows] + completions)
    save_tiny(
        tmp_path,
        build_model(tokenizer, TinyModelSpec(hidden_size=16, num_layers=1, num_heads=2), 0),
        tokenizer,
    )
    reloaded = load_tokenizer(tmp_path)  # AutoTokenizer would pick Qwen2's BPE and drop words
    for row, completion in zip(rows, completions, strict=True):
        ids = reloaded(completion)["input_ids"]
        assert ids == tokenizer(completion)["input_ids"]
        assert reloaded.unk_token_id not in ids
        text = reloaded.decode(ids, skip_special_tokens=True)
        verdict = get_family("knights_knaves").verify(text, orjson.loads(row["answer"]))
        assert score(verdict, "dump") == 3.0, (text, verdict)


def test_chat_template_ends_the_prompt_where_the_model_starts_answering():
    tokenizer = build_tokenizer(["hello world"])
    text = tokenizer.apply_chat_template(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text == "<|system|> be brief <|end|><|user|> hello <|end|><|assistant|>"
    assert tokenizer.eos_token == "<|end|>" and tokenizer.padding_side == "left"
