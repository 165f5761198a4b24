"""Rollouts per prompt (`train.rollouts`): which drawn prompts are generated, and how many
completions each gets. GRPO spends `num_generations` completions on every prompt, and a group whose
rewards are all equal teaches nothing; `train.filter` can only drop such groups after paying for
them. These rules spend less on them, each as its paper defines it:

skip: GRESO (arXiv 2506.02177; Infini-AI-Lab/GRESO, verl/trainer/ttis/presampling_selector.py and
ray_trainer.py). Skip a drawn prompt *before* generating, with probability

    P_skip(x) = 1 - max(p_easy ** z_easy(x), 0.01)   if z_easy(x) >= 1     (tested first)
                1 - max(p_hard ** z_hard(x), 0.01)   if z_hard(x) >= 1
                0                                    otherwise (a prompt never generated is kept)

where z_easy / z_hard count the consecutive latest visits of x in which every completion was right /
none was. After each step, with the shares of this step's groups that were all right (easy) and all
wrong (hard), and t = target_zero_variance:

    p_easy <- clip(p_easy - step, p_min, p_max) if easy share >= t / 3     else clip(p_easy + step)
    p_hard <- clip(p_hard - step, p_min, p_max) if hard share >= 2 t / 3   else clip(p_hard + step)

Defaults are the paper's scripts': p_easy = p_hard = 0.5, t = 0.25, step 0.01, p in [0.05, 0.95].
GRESO adapts p from its second epoch, once prompts have a history; here p adapts from the first
step in which a drawn prompt had one. GRESO's rewards are right/wrong; here "right" is the
verifier's success (the reward scheme's format credit does not count). The batch is filled as
GRESO's selector does, from a larger draw: the curriculum draws `pool_factor` x the prompts of a
step and the first ones not skipped, in draw order, are generated; if too few survive, the earliest
skipped ones fill the batch (GRESO instead grows its next rollout batch).

screen: SPEED-RL (arXiv 2506.09016; Zanette-Labs/speed-rl, verl/trainer/ppo/data_controller.py).
Generate `k_screen` completions for each screened prompt; a prompt qualifies when its screen's
success rate r has lo < r < hi (`band`, default (0, 1): SPEED's rule "0 < pass rate < 1"); each
qualified prompt gets num_generations - k_screen more completions and trains on the whole group
(the screen's completions are reused, as SPEED does). Screening rounds go on until the batch has its
prompts or `max_rounds` were screened (then the earliest screened prompts that did not qualify fill
it). A round screens ceil(missing / q) prompts, q the share that qualified so far in this step (in
the previous step before the first round; 1 at first; at least 0.1), at most a generation batch of
completions; qualified prompts beyond
the batch are not carried over (SPEED keeps them in a buffer for the next step).

budget: Knapsack RL (arXiv 2509.25849; liziniu/KnapsackRL, verl/trainer/ppo/exploration_utils.py).
Share the step's completions T = prompts x num_generations between the drawn prompts by maximising

    sum_i Value(N_i, p_i),  Value(N, p) = (1 - p^N - (1 - p)^N) * p (1 - p)^2,
    sum_i N_i = T,  min_per_prompt <= N_i <= max_per_prompt,

Value = P(the group has a non-zero gradient) x the expected gain of one update at success rate p.
p_i is the prompt's success over its latest visit if that had at least 16 completions, else over
its latest 16 completions; a prompt with fewer than `min_history` completions seen gets
num_generations, and one with p = 0 or 1 gets min_per_prompt. The rest goes to the prompts with
0 < p < 1, starting from min_per_prompt. Value is concave in N, so giving each completion to the
largest marginal gain solves it exactly (the reference solves the same problem by dynamic
programming). As in the reference (`allow_fallback`): when the completions that give each such
prompt a 90% (`alpha`) chance of a mixed group, sum_i min(max_per_prompt, floor(log(1 - alpha) /
log(max(p_i, 1 - p_i)))), are fewer than what is left, the excess goes evenly to the p = 0 prompts
(or, without any, to every prompt outside (0, 1)); with no prompt in (0, 1) everything left goes
to the p = 0 prompts, or every prompt gets num_generations.

Advantages of groups of different sizes: each group is normalised over its own completions, as TRL
does for equal groups (`scale_rewards`: group std, batch std, or none; a group of one completion
has advantage 0). The rules here are pure functions of arrays; the trainer applies them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dumpcli.train.filters import EQUAL  # rewards closer than this count as equal

SKIP_FLOOR = 0.01  # GRESO: the chance of a prompt to be generated never falls below 1%
RECENT = 16  # Knapsack RL's reward buffer: the latest completions that estimate a success rate


# ------------------------------------------------------------------------------------ skip
def skip_probability(streak: np.ndarray | int, p: float) -> np.ndarray:
    """GRESO: 1 - max(p ** z, 0.01) for a streak z >= 1, 0 for z = 0."""
    z = np.asarray(streak, dtype=np.float64)
    return np.where(z >= 1, 1.0 - np.maximum(p**z, SKIP_FLOOR), 0.0)


def skip_decisions(
    streak_all: np.ndarray, streak_none: np.ndarray, p_easy: float, p_hard: float, uniforms: np.ndarray
) -> np.ndarray:
    """One decision per drawn prompt (True: skip). The easy rule is tested first with its own uniform
    draw, then the hard one with a second (GRESO draws afresh for each test): `uniforms` is [n, 2]."""
    easy = uniforms[:, 0] < skip_probability(streak_all, p_easy)
    hard = uniforms[:, 1] < skip_probability(streak_none, p_hard)
    return easy | hard


@dataclass
class SkipState:
    """GRESO's two exploration probabilities, adapted once a step."""

    p_easy: float
    p_hard: float
    adapting: bool = False  # set once a drawn prompt had a history

    def adapt(self, easy_share: float, hard_share: float, spec: Any) -> None:
        if not self.adapting:
            return
        t = spec.target_zero_variance

        def move(p: float, share: float, target: float) -> float:
            p = p - spec.p_step if share >= target else p + spec.p_step
            return min(max(p, spec.p_min), spec.p_max)

        self.p_easy = move(self.p_easy, easy_share, t / 3)
        self.p_hard = move(self.p_hard, hard_share, 2 * t / 3)


def fill_in_order(keep: Sequence[bool], needed: int) -> tuple[list[int], int]:
    """Positions of the first `needed` kept items in order; if too few are kept, the earliest
    others fill the rest. Returns (positions in order, how many were filled in)."""
    kept = [i for i, k in enumerate(keep) if k]
    chosen = kept[:needed]
    filled = 0
    if len(chosen) < needed:
        others = [i for i, k in enumerate(keep) if not k][: needed - len(chosen)]
        filled = len(others)
        chosen = sorted(chosen + others)
    return chosen, filled


# ------------------------------------------------------------------------------------ screen
def qualifies(success_rate: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """SPEED-RL: a screened prompt goes on iff lo < rate < hi (default: neither all right nor all wrong)."""
    rate = np.asarray(success_rate, dtype=np.float64)
    return (rate > band[0] + 1e-12) & (rate < band[1] - 1e-12)


def screen_round_size(missing: int, qualified_share: float, cap: int, multiple: int = 1) -> int:
    """Prompts to screen when `missing` are still needed: ceil(missing / q), q >= 0.1, at most `cap`,
    rounded up to a multiple of `multiple` (the processes, each screens its own share)."""
    q = max(qualified_share, 0.1)
    n = min(max(1, math.ceil(missing / q - 1e-9)), max(1, cap))
    return -(-n // multiple) * multiple


# ------------------------------------------------------------------------------------ budget
def knapsack_value(n: np.ndarray | int, p: np.ndarray | float) -> np.ndarray:
    """Knapsack RL's value of n completions on a prompt of success rate p:
    (1 - p^n - (1-p)^n) * p * (1-p)^2."""
    n = np.asarray(n, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    return (1.0 - p**n - (1.0 - p) ** n) * p * (1.0 - p) ** 2


def estimated_rate(last_success: np.ndarray, last_size: np.ndarray, recent_rate: np.ndarray) -> np.ndarray:
    """Knapsack RL's p-hat: the latest visit's success if it had >= 16 completions, else the mean of
    the latest 16 completions."""
    return np.where(np.asarray(last_size) >= RECENT, last_success, recent_rate)


def _split_evenly(total: int, count: int) -> np.ndarray:
    out = np.full(count, total // count, dtype=np.int64)
    out[: total % count] += 1
    return out


def _marginal_allocation(p: np.ndarray, extra: int, start: int, cap: int) -> np.ndarray:
    """Extra completions (above `start`, each prompt at most cap - start) that maximise
    sum Value(start + k_i, p_i) with sum k_i = extra: Value is concave in n, so the `extra` largest
    marginal gains, taken in order within each prompt, are the optimum. Whatever the caps leave
    over is spread evenly (as the reference does)."""
    count = len(p)
    room = max(0, cap - start)
    take = min(extra, room * count)
    k = np.zeros(count, dtype=np.int64)
    if take > 0:
        steps = np.arange(start, cap, dtype=np.float64)  # n before each extra completion
        gains = knapsack_value(steps[None, :] + 1, p[:, None]) - knapsack_value(steps[None, :], p[:, None])
        item = np.repeat(np.arange(count), room)
        order = np.lexsort((np.tile(np.arange(room), count), item, -gains.ravel()))
        k = np.bincount(item[order[:take]], minlength=count).astype(np.int64)
    if extra > take:
        k += _split_evenly(extra - take, count)
    return k


def knapsack_allocation(
    p_hat: np.ndarray,
    known: np.ndarray,
    total: int,
    default: int,
    low: int,
    high: int,
    alpha: float = 0.9,
) -> np.ndarray:
    """Completions per prompt (sum = total) by Knapsack RL's rule (module docstring). `known`: the
    prompt's rate is trusted (enough history); `default`: num_generations."""
    p = np.asarray(p_hat, dtype=np.float64)
    known = np.asarray(known, dtype=bool)
    n = len(p)
    alloc = np.where(known, low, default).astype(np.int64)
    effective = known & (p > 0) & (p < 1)
    zero = known & (p <= 0)
    left = total - int(alloc.sum())
    if left < 0:
        raise ValueError(f"{n} prompts need {int(alloc.sum())} completions at least, the step has {total}")
    if left == 0:
        return alloc
    if not effective.any():
        if zero.any():
            alloc[zero] += _split_evenly(left, int(zero.sum()))
            return alloc
        return _split_evenly(total, n) if total != default * n else np.full(n, default, dtype=np.int64)
    pe = p[effective]
    cost = np.minimum(high, np.floor(np.log(1.0 - alpha) / np.log(np.maximum(pe, 1.0 - pe))))
    estimated = int(cost.sum())
    candidates = zero if zero.any() else ~effective
    if estimated < left and candidates.any():  # (the reference divides by zero without candidates)
        alloc[candidates] += _split_evenly(left - estimated, int(candidates.sum()))
        left = estimated
    alloc[effective] += _marginal_allocation(pe, left, low, high)
    return alloc


# ------------------------------------------------------------------------------------ advantages
def group_index(sizes: Sequence[int]) -> torch.Tensor:
    """[sum(sizes)] the group of each completion, groups laid out contiguously in order."""
    return torch.repeat_interleave(torch.arange(len(sizes)), torch.as_tensor(list(sizes), dtype=torch.long))


def group_advantages(rewards: torch.Tensor, sizes: Sequence[int], scale: str = "group") -> torch.Tensor:
    """GRPO advantages of contiguous groups of any sizes, as TRL computes them for equal groups
    (`sum_then_normalize`): A = r - mean_group(r), divided by std_group(r) + 1e-4 (`scale` "group",
    unbiased std), by the std of the whole batch + 1e-4 ("batch"), or not at all ("none").
    NaN rewards (unscorable completions) are left out of the means and get advantage 0."""
    r = rewards.to(torch.float64)
    if int(sum(sizes)) != r.numel():
        raise ValueError(f"groups of sizes summing to {sum(sizes)} for {r.numel()} rewards")
    idx = group_index(sizes).to(r.device)
    g = len(sizes)
    valid = ~torch.isnan(r)
    r0 = torch.where(valid, r, torch.zeros_like(r))
    count = torch.zeros(g, dtype=torch.float64, device=r.device).index_add_(0, idx, valid.to(torch.float64))
    total = torch.zeros(g, dtype=torch.float64, device=r.device).index_add_(0, idx, r0)
    mean = total / count.clamp(min=1)
    centred = torch.where(valid, r - mean[idx], torch.zeros_like(r))
    advantages = centred
    if scale == "group":
        sq = torch.zeros(g, dtype=torch.float64, device=r.device).index_add_(0, idx, centred**2)
        std = torch.where(count > 1, (sq / (count - 1).clamp(min=1)).sqrt(), torch.zeros_like(sq))
        advantages = centred / (std[idx] + 1e-4)
    elif scale == "batch":
        kept = r[valid]
        std = kept.std() if kept.numel() > 1 else torch.tensor(0.0, dtype=torch.float64)
        advantages = centred / (std + 1e-4)
    elif scale != "none":
        raise ValueError(f"scale_rewards must be 'group', 'batch' or 'none', got {scale!r}")
    return torch.nan_to_num(advantages, nan=0.0).to(torch.float32)


def zero_variance_groups(rewards: Sequence[float], sizes: Sequence[int]) -> int:
    """How many groups have all rewards equal (nothing to learn from them; `train.filter`'s rule)."""
    out, start = 0, 0
    for size in sizes:
        r = [x for x in rewards[start : start + size] if not math.isnan(x)]
        out += int(not r or max(r) - min(r) <= EQUAL)
        start += size
    return out


def quantiles(values: Sequence[int]) -> dict[str, float]:
    """min / median / max / mean of completions per prompt, for the step's log."""
    a = np.asarray(values, dtype=np.float64)
    return {
        "min": float(a.min()),
        "median": float(np.median(a)),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }
