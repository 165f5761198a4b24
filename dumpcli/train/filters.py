"""Dynamic sampling (`train.filter`): which groups of completions reach the GRPO loss.

A group whose rewards are all equal has advantage 0 for every completion: it costs a forward and
backward pass and moves nothing. DAPO (arXiv 2503.14476) drops such groups and generates more
until the batch is full of informative ones; online difficulty filtering keeps only groups whose
success rate lies in a band (verl issue 2791: "only keep samples whose metric falls within
[0.2, 0.8]"). The rules:

    zero_variance: drop   keep a group iff max(rewards) - min(rewards) > 1e-9
    band: [lo, hi]        keep a group iff lo <= mean(success) <= hi

Both may be set (a group must pass both). The trainer generates up to `max_rounds` rounds of a full
generation batch each; if the informative groups still do not fill the batch, the earliest dropped
groups fill it (so every optimizer step sees a full batch) and the step logs how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

EQUAL = 1e-9  # rewards closer than this count as equal


def keep_groups(
    rewards: Sequence[float],
    successes: Sequence[float],
    group_size: int,
    *,
    zero_variance: str = "keep",
    band: tuple[float, float] | None = None,
) -> list[bool]:
    """One decision per group of `group_size` contiguous completions."""
    if group_size < 1 or len(rewards) % group_size or len(successes) != len(rewards):
        raise ValueError(
            f"{len(rewards)} rewards and {len(successes)} successes do not split into groups of {group_size}"
        )
    out = []
    for start in range(0, len(rewards), group_size):
        r = rewards[start : start + group_size]
        s = successes[start : start + group_size]
        ok = True
        if zero_variance == "drop" and max(r) - min(r) <= EQUAL:
            ok = False
        if band is not None:
            rate = sum(s) / group_size
            ok = ok and band[0] <= rate <= band[1]
        out.append(ok)
    return out


# outputs of GRPOTrainer._generate_and_score_completions: how each per-completion tensor is padded
_LEFT_PADDED = {"prompt_ids", "prompt_mask"}


def merge_groups(
    outputs: Sequence[dict[str, Any]], chosen: Sequence[tuple[int, int]], group_size: int, pad_token_id: int
) -> dict[str, Any]:
    """One generation-batch output made of the chosen groups, (round, group) in order (see `merge_rows`)."""
    rows = [(r, group * group_size + k) for r, group in chosen for k in range(group_size)]
    return merge_rows(outputs, rows, pad_token_id)


def merge_rows(
    outputs: Sequence[dict[str, Any]], chosen: Sequence[tuple[int, int]], pad_token_id: int
) -> dict[str, Any]:
    """One generation-batch output made of the chosen completions, (round, row) in order: per-completion
    tensors are re-padded to the widest round (prompts on the left, the rest on the right) and the
    chosen rows taken; values that are not per-completion (num_items_in_batch) are taken from the
    first round and must be recomputed by the caller."""
    first = outputs[0]
    sizes = [o["prompt_ids"].shape[0] for o in outputs]
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    index = torch.tensor([offsets[r] + row for r, row in chosen], dtype=torch.long)
    merged: dict[str, Any] = {}
    for key, value in first.items():
        per_completion = all(
            isinstance(o.get(key), torch.Tensor) and o[key].dim() >= 1 and o[key].shape[0] == n
            for o, n in zip(outputs, sizes, strict=True)
        )
        if not per_completion:
            if value is not None and not (isinstance(value, torch.Tensor) and value.dim() == 0):
                raise ValueError(f"cannot merge the generation output {key!r} of several rounds")
            merged[key] = value
            continue
        parts = [o[key] for o in outputs]
        if value.dim() > 1:
            width = max(p.shape[1] for p in parts)
            pad = pad_token_id if key == "prompt_ids" or key == "completion_ids" else 0
            padded = []
            for p in parts:
                extra = width - p.shape[1]
                if extra:
                    fill = torch.full((p.shape[0], extra, *p.shape[2:]), pad, dtype=p.dtype, device=p.device)
                    p = torch.cat([fill, p] if key in _LEFT_PADDED else [p, fill], dim=1)
                padded.append(p)
            parts = padded
        merged[key] = torch.cat(parts).index_select(0, index.to(parts[0].device))
    return merged
