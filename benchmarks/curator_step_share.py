"""What the Actor-Curator's one extra policy forward pass weighs in a GRPO step, by completion length.

The curator needs pi_new on the batch it just trained on: one no-grad forward pass of the policy
over prompt + completion (pi_old now comes from the loss's own forward pass). A GRPO step is
generation (autoregressive, one token at a time with a KV cache) plus the loss's forward and
backward. This times the three parts on the same batch, in one process, for several completion
lengths, and prints the forward's share of a step that includes it:

    share = forward / (generate + train + forward)

    python benchmarks/curator_step_share.py --model DIR [--prompts 16] [--group 8] [--lengths 24,128,512]

DIR: a model folder (e.g. the quickstart's cached warm start under $DUMP_CACHE_DIR/warmstart/).
Generation runs with min_new_tokens = max_new_tokens so every length is what it says.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def timed(fn, reps: int) -> float:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--prompt-tokens", type=int, default=40)
    ap.add_argument("--lengths", default="24,128,512")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    vocab = model.config.vocab_size
    b = args.prompts * args.group
    prompt = torch.randint(4, vocab, (b, args.prompt_tokens))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    print(
        f"batch {b} completions ({args.prompts} prompts x {args.group}), prompt {args.prompt_tokens} tokens"
    )
    print("| completion tokens | generate | train (fwd+bwd+step) | extra forward | share of the step |")
    print("|---:|---:|---:|---:|---:|")
    for length in map(int, args.lengths.split(",")):
        full = torch.randint(4, vocab, (b, args.prompt_tokens + length))

        def generate(length: int = length) -> None:
            model.eval()
            with torch.no_grad():
                model.generate(
                    prompt,
                    attention_mask=torch.ones_like(prompt),
                    max_new_tokens=length,
                    min_new_tokens=length,
                    do_sample=True,
                    pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else 0,
                )

        def train_step(full: torch.Tensor = full, length: int = length) -> None:
            model.train()
            logits = model(full).logits[:, -length - 1 : -1]
            logp = torch.log_softmax(logits.float(), -1).gather(-1, full[:, -length:, None]).mean()
            (-logp).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        def forward(full: torch.Tensor = full, length: int = length) -> None:
            with torch.no_grad():
                logits = model(full).logits[:, -length - 1 : -1]
                torch.log_softmax(logits.float(), -1).gather(-1, full[:, -length:, None])

        g, t, f = timed(generate, args.reps), timed(train_step, args.reps), timed(forward, args.reps)
        print(f"| {length} | {g:.2f} s | {t:.2f} s | {f:.2f} s | {f / (g + t + f):.1%} |")


if __name__ == "__main__":
    main()
