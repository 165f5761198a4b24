"""The Actor-Curator's bandit maths: the policy improvement u of a problem from its completions,
and its importance-weighted estimate from the draws (arXiv 2602.20532, see the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def policy_improvement(
    old_logps: torch.Tensor,
    new_logps: torch.Tensor,
    mask: torch.Tensor,
    advantages: torch.Tensor,
    group_size: int | Sequence[int],
    clip: float = 0.2,
) -> torch.Tensor:
    """First-order policy improvement of each prompt from its group of completions: [B / group_size].

        rho_k = exp(mean over the completion's tokens of (new_logp - old_logp))
        u_x   = mean over the group of clip(rho_k, 1 - clip, 1 + clip) * A_k

    `old_logps`/`new_logps` [B, T] are per-token log-probs of the same completions under the policy
    that generated them and under the updated one; `mask` [B, T] is 1 on completion tokens; groups of
    `group_size` rows are contiguous (or of the given sizes, in order). The ratio is length-normalised (a per-token geometric mean, as in
    GSPO): the raw sequence ratio is a product of thousands of token ratios, so it would explode or
    vanish and the clip would saturate on long completions and favour short ones; the geometric mean
    stays on the scale of one token's ratio, so the clip acts as the same trust region at any length.
    With GRPO's group-centred advantages (sum_k A_k = 0), u_x = mean_k (rho_k - 1) A_k: positive when
    the update made the better-than-average completions of x more likely. Masked-out positions may
    hold anything (padding, -inf); an empty completion has rho = 1.
    """
    if old_logps.shape != new_logps.shape or mask.shape != old_logps.shape or old_logps.dim() != 2:
        raise ValueError(
            f"old_logps {tuple(old_logps.shape)}, new_logps {tuple(new_logps.shape)} and mask "
            f"{tuple(mask.shape)} must have the same [B, T] shape"
        )
    b = old_logps.shape[0]
    if advantages.shape != (b,):
        raise ValueError(f"advantages must have shape ({b},), got {tuple(advantages.shape)}")
    if isinstance(group_size, int):
        if group_size < 1 or b % group_size:
            raise ValueError(f"{b} completions do not split into groups of {group_size}")
        sizes = [group_size] * (b // group_size)
    else:
        sizes = [int(s) for s in group_size]
        if min(sizes, default=0) < 1 or sum(sizes) != b:
            raise ValueError(f"{b} completions do not split into groups of sizes {sizes}")
    if not 0 < clip < 1:
        raise ValueError(f"clip must be in (0, 1), got {clip}")
    on = mask.to(torch.bool)
    diff = torch.where(on, new_logps.double() - old_logps.double(), torch.zeros((), dtype=torch.float64))
    tokens = on.sum(dim=1).clamp(min=1).to(torch.float64)
    rho = torch.exp(diff.sum(dim=1) / tokens)
    u = rho.clamp(1.0 - clip, 1.0 + clip) * advantages.double()
    size = torch.tensor(sizes, dtype=torch.long)
    group = torch.repeat_interleave(torch.arange(len(sizes)), size)
    total = torch.zeros(len(sizes), dtype=torch.float64).index_add_(0, group, u)
    return (total / size.to(torch.float64)).to(torch.float32)


def importance_weighted(
    keys: Sequence[str], q: Sequence[float], u: Sequence[float]
) -> tuple[list[int], np.ndarray]:
    """(first position of each distinct problem, g_x = sum over its draws k of u_k / (n q_k)).

    The n draws are i.i.d. from q (with replacement), so the number of draws of x has mean n q_x and
    E[g_x] = u_x for every problem in the pool, drawn or not (g_x = 0 when not drawn): an unbiased
    estimate of the full improvement vector from partial feedback.
    """
    n = len(keys)
    qa = np.asarray(q, dtype=np.float64)
    ua = np.asarray(u, dtype=np.float64)
    if qa.shape != (n,) or ua.shape != (n,):
        raise ValueError(f"got {n} problems, {qa.size} selection probabilities and {ua.size} improvements")
    if n and (not np.isfinite(qa).all() or qa.min() <= 0 or qa.max() > 1):
        bad = int(np.flatnonzero(~np.isfinite(qa) | (qa <= 0) | (qa > 1))[0])
        raise ValueError(f"q[{bad}] is {qa[bad]} (expected a probability in (0, 1])")
    if not np.isfinite(ua).all():
        bad = int(np.flatnonzero(~np.isfinite(ua))[0])
        raise ValueError(f"u[{bad}] is {ua[bad]} (expected a finite number)")
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(k, len(first)) for k in keys), dtype=np.int64, count=n)
    g = np.bincount(inverse, weights=ua / (n * qa), minlength=len(first)) if n else np.zeros(0)
    positions = [0] * len(first)
    for pos in range(n - 1, -1, -1):
        positions[inverse[pos]] = pos
    return positions, g


def improvement_from_log_ratios(
    log_ratio: torch.Tensor, advantages: torch.Tensor, group_size: int | Sequence[int], clip: float = 0.2
) -> torch.Tensor:
    """`policy_improvement` from per-completion mean token log-ratios [B] (what the trainer
    measures, gathered over ranks): u_x = mean over x's group of clip(exp(log_ratio_k)) * A_k."""
    b = log_ratio.shape[0]
    return policy_improvement(
        torch.zeros(b, 1, dtype=torch.float64),
        log_ratio.reshape(b, 1).double(),
        torch.ones(b, 1, dtype=torch.float64),
        advantages.reshape(b).double(),
        group_size,
        clip=clip,
    )
