"""Actor-Curator (arXiv 2602.20532): a problem-level neural curator trained as a policy-improvement bandit.

Where the distribution-level schedulers pick *which distribution* to draw from, the curator picks
*which problems*. Each generation step:

1. The trainer draws a candidate pool of `pool_factor * n` problems from the proposal: uniform over
   problems (`proposal: uniform`; `probabilities()` is then proportional to the distribution sizes),
   or any distribution-level scheduler (`proposal: ucb`, fed through `update()`), then uniformly
   inside each drawn distribution.
2. `select()` scores the pool with the curator network f and draws n problems with replacement from
   q = (1 - floor) * softmax(f) + floor / |pool|. During the first `warmup_steps` selections q is
   uniform over the pool (the curator is still trained on what the proposal picked).
3. After the actor's optimizer step the trainer re-scores the completions it just trained on under
   the updated policy; `policy_improvement()` turns old/new log-probs and advantages into the
   first-order policy improvement u_x of each selected problem.
4. `update_improvement()` does one step of online stochastic mirror descent with the negative
   entropy (exponentiated gradient) on the selected set S:

       g_x      = sum over the draws k of x of u_k / (n q_k)      (importance weight: E_q[g_x] = u_x)
       g~_x     = g_x / sqrt(running mean of g^2)                  (`normalize`: eta is scale-free)
       T(x)     = pi_old(x) exp(eta g~_x) / Z                     (EG target; pi_old = softmax of f over S)
       T~(x)   ∝ pi_old(x) clip(T(x) / pi_old(x), 1 - clip, 1 + clip)   (proximal: ratio trust region)
       loss(θ)  = sum_x T~(x) log(T~(x) / pi_θ(x))                (cross-entropy to T~ minus its entropy)

   (S = the distinct selected problems; pi_θ(x) = softmax over S of the curator's scores; the loss
   is KL(T~ || pi_θ), 0 once the curator matches the target), minimised by `update_steps` Adam
   steps. On S alone the tabular EG step adds eta g~_x to the logit of x and leaves the other
   problems alone; the network realises it through shared features, which is what lets it
   generalise to problems it never selected. The clip bounds how far one noisy bandit update can
   move any selected problem's probability relative to the others (a trust region, as PPO's clip).
   Defaults (clip 0.5, lr 3e-3, 4 steps) were chosen on the simulated bandit of tests/test_curator.py
   scaled to pools of 2048 / 256 draws: clip 0.2 learned about half as fast, and 8 steps or lr 1e-2
   did no better (the 4 steps already close most of the gap to each target).

The network (`encoder: hashed`, CPU, ~2.1M parameters, 2M of them the n-gram table, trained lazily:
only the rows an update touches) sums the table rows of the hashed word uni/bi-grams of the prompt
text, plus hashed embeddings of source and difficulty (and the numeric difficulty),
followed by a one-hidden-layer MLP that outputs a scalar score; its last layer starts at zero, so
the curator starts uniform. `encoder: <HF model id or dir>` swaps the hashed text bag for a frozen HF
encoder (mean pooling) and a learned projection. Everything is seeded from `seed` through a private
torch.Generator (no global RNG), so every rank computes the same scores from the same feedback.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from torch import nn
from torch.nn import functional as F

from dumpcli.schedulers import registry
from dumpcli.schedulers._common import base_state, check_state, feedback_arrays
from dumpcli.schedulers.base import Feedback, Options, Scheduler, softmax
from dumpcli.schedulers.curator_features import Batch, Candidate, EncoderFeatures, HashedFeatures

__all__ = ["Candidate", "Curator", "CuratorOptions", "importance_weighted", "policy_improvement"]

SCALE_DECAY = 0.9  # running mean of g^2 used by `normalize` (bias-corrected, like Adam's second moment)
# options that fix the shape of the network or the meaning of the state; a resumed run must keep them
STRUCTURAL = ("encoder", "n_features", "ngram_max", "embed_dim", "hidden", "meta_buckets", "proposal")
MAX_PARAMETERS = 2**27  # of the curator's net (512 MB in float32, 4x that with Adam's state)


class CuratorOptions(Options):
    pool_factor: int = Field(8, ge=1, description="candidates = pool_factor * prompts needed")
    proposal: str = Field("uniform", description="'uniform' over problems, or a distribution-level scheduler")
    proposal_options: dict[str, Any] = Field(default_factory=dict, description="options of that scheduler")
    floor: float = Field(0.05, ge=0, le=1, description="q = (1 - floor) softmax(scores) + floor / pool")
    warmup_steps: int = Field(
        5, ge=0, description="selections that use the proposal only (uniform on the pool)"
    )
    eta: float = Field(1.0, gt=0, description="exponentiated-gradient step size")
    clip: float = Field(0.5, gt=0, lt=1, description="proximal clip of the curator's ratio target")
    ratio_clip: float = Field(0.2, gt=0, lt=1, description="clip of pi_new/pi_old in the improvement u")
    normalize: bool = Field(True, description="divide importance-weighted u by its running RMS")
    lr: float = Field(3e-3, gt=0, description="Adam learning rate of the curator")
    update_steps: int = Field(4, ge=1, description="gradient steps per bandit update")
    encoder: str = Field("hashed", min_length=1, description="'hashed', or a Hugging Face model id / dir")
    n_features: int = Field(2**16, ge=16, le=2**24, description="hashing buckets for the text n-grams")
    ngram_max: int = Field(2, ge=1, le=4, description="word n-grams of orders 1..ngram_max")
    embed_dim: int = Field(32, ge=1, description="embedding size (text, source, difficulty)")
    hidden: int = Field(64, ge=1, description="hidden units of the MLP")
    meta_buckets: int = Field(256, ge=1, le=2**20, description="hashing buckets for source and difficulty")
    feature_cache: int = Field(20000, ge=1, description="problems whose features are cached")
    encoder_batch_size: int = Field(32, ge=1)
    encoder_max_length: int = Field(512, ge=8)
    encoder_device: str = Field(
        "auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="'auto', 'cpu', 'cuda', 'cuda:1', ..."
    )

    @model_validator(mode="after")
    def _net_fits(self) -> CuratorOptions:
        """parameters = (n_features [hashed only] + 2 meta_buckets) embed_dim + (3 embed_dim + 4) hidden + 1"""
        table = self.n_features if self.encoder == "hashed" else 0
        count = (table + 2 * self.meta_buckets) * self.embed_dim + (3 * self.embed_dim + 4) * self.hidden + 1
        if count > MAX_PARAMETERS:
            raise PydanticCustomError(
                "too_large",
                "the curator's net would have {count} parameters, at most {limit}: "
                "lower n_features, embed_dim, hidden or meta_buckets",
                {"count": f"{count:,}", "limit": f"{MAX_PARAMETERS:,}"},
            )
        return self

    @field_validator("proposal")
    @classmethod
    def _known_proposal(cls, v: str) -> str:
        allowed = ["uniform", *[n for n in registry.names() if n not in ("uniform", "curator")]]
        if v not in allowed:
            raise PydanticCustomError(
                "unknown_proposal",
                "unknown proposal '{v}' (available: {names})",
                {"v": v, "names": ", ".join(allowed)},
            )
        return v

    @field_validator("proposal_options")
    @classmethod
    def _proposal_options_valid(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        proposal = info.data.get("proposal")  # absent if the proposal itself was invalid
        if proposal is None:
            return v
        if proposal == "uniform":
            if v:
                raise PydanticCustomError(
                    "no_options", "proposal 'uniform' takes no options, got {keys}", {"keys": ", ".join(v)}
                )
            return v
        problems = registry.check_options(proposal, v)
        if problems:
            raise PydanticCustomError("bad_options", "{problems}", {"problems": "; ".join(problems)})
        return v


# --------------------------------------------------------------------------------------- math


def policy_improvement(
    old_logps: torch.Tensor,
    new_logps: torch.Tensor,
    mask: torch.Tensor,
    advantages: torch.Tensor,
    group_size: int,
    clip: float = 0.2,
) -> torch.Tensor:
    """First-order policy improvement of each prompt from its group of completions: [B / group_size].

        rho_k = exp(mean over the completion's tokens of (new_logp - old_logp))
        u_x   = mean over the group of clip(rho_k, 1 - clip, 1 + clip) * A_k

    `old_logps`/`new_logps` [B, T] are per-token log-probs of the same completions under the policy
    that generated them and under the updated one; `mask` [B, T] is 1 on completion tokens; groups of
    `group_size` rows are contiguous. The ratio is length-normalised (a per-token geometric mean, as in
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
    if group_size < 1 or b % group_size:
        raise ValueError(f"{b} completions do not split into groups of {group_size}")
    if not 0 < clip < 1:
        raise ValueError(f"clip must be in (0, 1), got {clip}")
    on = mask.to(torch.bool)
    diff = torch.where(on, new_logps.double() - old_logps.double(), torch.zeros((), dtype=torch.float64))
    tokens = on.sum(dim=1).clamp(min=1).to(torch.float64)
    rho = torch.exp(diff.sum(dim=1) / tokens)
    u = rho.clamp(1.0 - clip, 1.0 + clip) * advantages.double()
    return u.view(-1, group_size).mean(dim=1).to(torch.float32)


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


# ------------------------------------------------------------------------------------ network


class CuratorNet(nn.Module):
    """score(x) = w2 . relu(W1 [text(x), source(x), difficulty(x), numeric(x)] + b1) + b2.

    text(x) is the sum of the n-gram table's rows of x's hashed n-grams, scaled by 1/sqrt(count)
    (`encoder: hashed`), or a projection of the layer-normed frozen-encoder embedding.
    """

    def __init__(
        self,
        *,
        text_in: int | None,
        n_features: int,
        embed_dim: int,
        hidden: int,
        meta_buckets: int,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.proj: nn.Linear | None = None
        self.table: nn.Parameter | None = None
        # the modules' default init draws from torch's global RNG: let it, on a forked copy of that
        # RNG (restored on exit, so the trainer's random stream is untouched), then re-initialise
        # everything below from our own generator
        with torch.random.fork_rng(devices=[]):
            if text_in is None:  # trained by RowAdam, not by autograd on the full table
                self.table = nn.Parameter(torch.empty(n_features, embed_dim), requires_grad=False)
            else:
                self.proj = nn.Linear(text_in, embed_dim)
            self.source = nn.Embedding(meta_buckets, embed_dim)
            self.difficulty = nn.Embedding(meta_buckets, embed_dim)
            self.hidden = nn.Linear(3 * embed_dim + 2, hidden)
            self.out = nn.Linear(hidden, 1)
        with torch.no_grad():
            for emb in (self.source, self.difficulty):
                emb.weight.normal_(0.0, 0.1, generator=generator)
            if self.table is not None:
                self.table.normal_(0.0, 0.1, generator=generator)
            else:
                self._uniform(self.proj, generator)
            self._uniform(self.hidden, generator)
            self.out.weight.zero_()  # every score 0 at the start: the curator starts uniform
            self.out.bias.zero_()

    @staticmethod
    def _uniform(layer: nn.Linear | None, generator: torch.Generator) -> None:
        assert layer is not None
        bound = 1.0 / math.sqrt(layer.weight.shape[1])
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, batch: Batch, rows: Rows | None = None) -> torch.Tensor:
        """Scores of the batch; `rows`: read the n-gram table through a gathered, trainable copy."""
        if self.proj is not None:
            assert batch.embeddings is not None
            emb = batch.embeddings
            text = self.proj(F.layer_norm(emb, emb.shape[-1:]))
        else:
            ids, table = (batch.ids, self.table) if rows is None else (rows.local, rows.sub)
            text = F.embedding_bag(ids, table, batch.offsets, mode="sum", per_sample_weights=batch.weights)
        x = torch.cat(
            [text, self.source(batch.meta[:, 0]), self.difficulty(batch.meta[:, 1]), batch.numeric], dim=1
        )
        return self.out(F.relu(self.hidden(x))).squeeze(-1)


@dataclass
class Rows:
    """The rows of the n-gram table one update touches, with their Adam moments."""

    rows: torch.Tensor  # table row of each gathered row
    local: torch.Tensor  # the batch's ids, renumbered into the gathered rows
    sub: torch.Tensor  # trainable copy of table[rows]
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor


class RowAdam:
    """Adam on the rows of the n-gram table that an update touches (lazy Adam, as torch's SparseAdam).

    The batch's rows are gathered once into a small dense leaf tensor, the update's gradient steps
    run dense Adam on it, and rows and moments are written back at the end. Same arithmetic as
    SparseAdam (one step count for the bias correction), without sparse gradients, whose coalescing
    cost more than the rest of an update; and no dense step over the 2M-parameter table.
    """

    def __init__(self, table: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.table = table
        self.lr = lr
        self.betas = betas
        self.eps = 1e-8
        self.exp_avg = torch.zeros_like(table)
        self.exp_avg_sq = torch.zeros_like(table)
        self.steps = 0

    def gather(self, ids: torch.Tensor) -> Rows:
        rows, local = torch.unique(ids, return_inverse=True)
        sub = self.table.detach()[rows].clone().requires_grad_(True)
        return Rows(rows, local, sub, self.exp_avg[rows], self.exp_avg_sq[rows])

    @torch.no_grad()
    def step(self, r: Rows) -> None:
        g = r.sub.grad
        if g is None:
            return
        b1, b2 = self.betas
        self.steps += 1
        r.exp_avg.mul_(b1).add_(g, alpha=1.0 - b1)
        r.exp_avg_sq.mul_(b2).addcmul_(g, g, value=1.0 - b2)
        denom = (r.exp_avg_sq / (1.0 - b2**self.steps)).sqrt_().add_(self.eps)
        r.sub.addcdiv_(r.exp_avg, denom, value=-self.lr / (1.0 - b1**self.steps))
        r.sub.grad = None

    @torch.no_grad()
    def scatter(self, r: Rows) -> None:
        self.table[r.rows] = r.sub.detach()
        self.exp_avg[r.rows] = r.exp_avg
        self.exp_avg_sq[r.rows] = r.exp_avg_sq

    def state_dict(self) -> dict[str, Any]:
        return {"exp_avg": self.exp_avg.clone(), "exp_avg_sq": self.exp_avg_sq.clone(), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("exp_avg", "exp_avg_sq"):
            if tuple(state[key].shape) != tuple(self.table.shape):
                raise ValueError(f"state row_optimizer.{key} has shape {tuple(state[key].shape)}")
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.steps = int(state["steps"])


# ---------------------------------------------------------------------------------- scheduler


def _plain(obj: Any) -> Any:
    """Tuples -> lists, recursively (the trainer loads states with torch.load(weights_only=True))."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


class Curator(Scheduler):
    name: ClassVar[str] = "curator"
    problem_level: ClassVar[bool] = True
    Options: ClassVar[type[CuratorOptions]] = CuratorOptions
    options: CuratorOptions

    def __init__(
        self,
        distributions: Sequence[str],
        *,
        seed: int = 0,
        sizes: Sequence[int] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(distributions, seed=seed, sizes=sizes, **options)
        o = self.options
        self.proposal: Scheduler | None = None
        if o.proposal == "uniform":
            if sizes is None:
                raise ValueError(
                    "the curator's uniform proposal needs `sizes` (train problems per distribution)"
                )
            if self.sizes.shape != (self.k,) or not np.isfinite(self.sizes).all() or (self.sizes < 0).any():
                raise ValueError(f"curator: expected {self.k} non-negative sizes, got {list(sizes)}")
            if self.sizes.sum() <= 0:
                raise ValueError("curator: sizes must have a positive total")
        else:
            self.proposal = registry.build(
                o.proposal, distributions, seed=seed, sizes=sizes, **o.proposal_options
            )
        self.generator = torch.Generator().manual_seed(seed % 2**63)
        if o.encoder == "hashed":
            self.features: HashedFeatures | EncoderFeatures = HashedFeatures(
                o.n_features, o.ngram_max, o.meta_buckets, o.feature_cache
            )
            text_in = None
        else:
            self.features = EncoderFeatures(
                o.encoder,
                meta_buckets=o.meta_buckets,
                cache_size=o.feature_cache,
                batch_size=o.encoder_batch_size,
                max_length=o.encoder_max_length,
                device=o.encoder_device,
            )
            text_in = self.features.hidden_size
        self.net = CuratorNet(
            text_in=text_in,
            n_features=o.n_features,
            embed_dim=o.embed_dim,
            hidden=o.hidden,
            meta_buckets=o.meta_buckets,
            generator=self.generator,
        )
        # Adam on the dense layers; lazy Adam on the n-gram table (an update touches a few thousand rows)
        self.optimizer = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad], lr=o.lr)
        self.row_optimizer = RowAdam(self.net.table, o.lr) if self.net.table is not None else None
        self.steps = 0  # select() calls (generation steps)
        self.updates = 0  # update_improvement() calls
        self.g_sq = 0.0  # running mean of g^2 (not bias-corrected)
        self.n = np.zeros(self.k, dtype=np.int64)  # completions fed back per distribution
        self.selected_total = np.zeros(self.k, dtype=np.int64)
        self._last: dict[str, Any] = self._empty_last()

    def _empty_last(self) -> dict[str, Any]:
        z = [0.0] * self.k
        return {
            "pool": z,
            "score_sum": z,
            "q_ratio_sum": z,
            "selected": z,
            "u_sum": z,
            "u_count": z,
            "entropy": None,
            "pool_size": 0,
            "active": False,
        }

    # -- distribution level -----------------------------------------------------------
    def probabilities(self) -> np.ndarray:
        if self.proposal is not None:
            return self.proposal.probabilities()
        return self.sizes / self.sizes.sum()

    def update(self, feedback: Sequence[Feedback]) -> None:
        (idx,) = feedback_arrays(self, feedback)
        self.n += np.bincount(idx, minlength=self.k)
        if self.proposal is not None:
            self.proposal.update(feedback)

    # -- problem level ----------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether the next select() uses the curator (past the warm-up)."""
        return self.steps >= self.options.warmup_steps

    def _dist_idx(self, candidates: Sequence[Candidate]) -> np.ndarray:
        try:
            return np.fromiter(
                (self.index[c.distribution] for c in candidates), dtype=np.int64, count=len(candidates)
            )
        except KeyError as e:
            raise ValueError(f"candidate from unknown distribution {e.args[0]!r}") from None

    def scores(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """The curator's score (logit) of each candidate."""
        if not candidates:
            return np.zeros(0)
        with torch.no_grad():
            return self.net(self.features.batch(candidates)).double().numpy()

    def curator_probabilities(self, scores: np.ndarray) -> np.ndarray:
        """q over a pool from the curator's scores: softmax mixed with `floor` of uniform."""
        floor = self.options.floor
        return (1.0 - floor) * softmax(scores, 1.0) + floor / len(scores)

    def select(
        self, candidates: Sequence[Candidate], n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw n pool indices with replacement; returns (indices int64, q of each drawn index).

        q is the probability under which that draw was made (floor included; uniform during the
        warm-up), i.e. what `update_improvement` needs for the importance weights.
        """
        if not candidates:
            raise ValueError("select: the candidate pool is empty")
        if n < 1:
            raise ValueError(f"select: n must be >= 1, got {n}")
        dist = self._dist_idx(candidates)
        size = len(candidates)
        scores = self.scores(candidates)
        q_cur = self.curator_probabilities(scores)
        active = self.active
        q = q_cur if active else np.full(size, 1.0 / size)
        chosen = rng.choice(size, size=n, p=q).astype(np.int64)
        selected = np.bincount(dist[chosen], minlength=self.k)
        self.selected_total += selected
        pos = q_cur[q_cur > 0]
        self._last.update(
            pool=np.bincount(dist, minlength=self.k).astype(float).tolist(),
            score_sum=np.bincount(dist, weights=scores, minlength=self.k).tolist(),
            q_ratio_sum=np.bincount(dist, weights=q_cur * size, minlength=self.k).tolist(),
            selected=selected.astype(float).tolist(),
            entropy=float(-(pos * np.log(pos)).sum()),
            pool_size=size,
            active=active,
        )
        self.steps += 1
        return chosen, q[chosen]

    def update_improvement(
        self, selected: Sequence[Candidate], q: Sequence[float], u: Sequence[float]
    ) -> dict[str, float]:
        """One mirror-descent update from the selected problems' improvements u and selection probs q.

        `selected[k]`, `q[k]`, `u[k]` describe the k-th draw (repeats allowed). Returns metrics:
        curator/loss (mean KL(T~ || pi) over the steps), curator/kl (how far pi moved on S),
        curator/clip_frac (share of S whose EG target was clipped), curator/mean_u,
        curator/mean_weighted_u (mean g), curator/scale (the normaliser), curator/distinct (|S|),
        curator/share/<dist> (share of the draws per distribution) and, once select() has run,
        curator/entropy (of the curator's q on the last pool, floor included, even in warm-up),
        curator/effective_pool (exp(entropy) / pool size) and curator/active (0 during warm-up).
        """
        o = self.options
        if not selected:
            raise ValueError("update_improvement: no selected problems")
        positions, g = importance_weighted([c.problem_id for c in selected], q, u)
        ua = np.asarray(u, dtype=np.float64)
        dist = self._dist_idx(selected)
        self.updates += 1
        if o.normalize:
            self.g_sq = SCALE_DECAY * self.g_sq + (1.0 - SCALE_DECAY) * float(np.mean(g**2))
            second = self.g_sq / (1.0 - SCALE_DECAY**self.updates)
            scale = math.sqrt(second) if second > 1e-24 else 1.0
        else:
            scale = 1.0
        step = torch.from_numpy(o.eta * g / scale)
        metrics: dict[str, float] = {
            "curator/mean_u": float(ua.mean()),
            "curator/mean_weighted_u": float(g.mean()),
            "curator/scale": scale,
            "curator/distinct": float(len(g)),
        }
        batch = self.features.batch([selected[p] for p in positions])
        with torch.no_grad():
            logp_old = torch.log_softmax(self.net(batch).double(), dim=0)
        log_ratio = step - torch.logsumexp(logp_old + step, dim=0)  # log T(x) / pi_old(x)
        lo, hi = math.log(1.0 - o.clip), math.log(1.0 + o.clip)
        clipped = log_ratio.clamp(lo, hi)
        target = torch.softmax(logp_old + clipped, dim=0)
        target_entropy = float(-torch.special.xlogy(target, target).sum())
        losses = []
        if len(g) >= 2:  # one distinct problem: its softmax over S is 1 whatever the scores
            rows = self.row_optimizer.gather(batch.ids) if self.row_optimizer is not None else None
            for _ in range(o.update_steps):
                logp = torch.log_softmax(self.net(batch, rows).double(), dim=0)
                loss = -(target * logp).sum()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                if rows is not None:
                    self.row_optimizer.step(rows)  # type: ignore[union-attr]
                losses.append(max(0.0, float(loss.detach()) - target_entropy))
            if rows is not None:
                self.row_optimizer.scatter(rows)  # type: ignore[union-attr]
        with torch.no_grad():
            logp_new = torch.log_softmax(self.net(batch).double(), dim=0)
        metrics["curator/loss"] = float(np.mean(losses)) if losses else 0.0
        metrics["curator/kl"] = max(0.0, float((logp_old.exp() * (logp_old - logp_new)).sum()))
        metrics["curator/clip_frac"] = float((clipped != log_ratio).double().mean())
        u_sum = np.bincount(dist, weights=ua, minlength=self.k)
        u_count = np.bincount(dist, minlength=self.k)
        self._last.update(u_sum=u_sum.tolist(), u_count=u_count.astype(float).tolist())
        last = self._last
        if last["entropy"] is not None:
            metrics["curator/entropy"] = last["entropy"]
            metrics["curator/effective_pool"] = math.exp(last["entropy"]) / last["pool_size"]
            metrics["curator/active"] = float(last["active"])
        for d, c in zip(self.distributions, u_count.tolist(), strict=True):
            metrics[f"curator/share/{d}"] = c / len(selected)
        return metrics

    # -- logs and state -----------------------------------------------------------------
    def stats(self) -> dict[str, dict[str, float]]:
        last = self._last
        prop = self.proposal.stats() if self.proposal is not None else {}
        sel_n = max(sum(last["selected"]), 1.0)
        out = {}
        for i, d in enumerate(self.distributions):
            pool = last["pool"][i]
            st = {
                "n": float(self.n[i]),
                "pool": pool,
                "selected": last["selected"][i],
                "share": last["selected"][i] / sel_n,
                "selected_total": float(self.selected_total[i]),
                "mean_score": last["score_sum"][i] / pool if pool else 0.0,
                "q_ratio": last["q_ratio_sum"][i] / pool if pool else 0.0,
                "mean_u": last["u_sum"][i] / last["u_count"][i] if last["u_count"][i] else 0.0,
            }
            st.update({f"proposal_{k}": float(v) for k, v in prop.get(d, {}).items()})
            out[d] = st
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            **base_state(self),
            "network": {k: v.detach().clone() for k, v in self.net.state_dict().items()},
            "optimizer": _plain(self.optimizer.state_dict()),
            "row_optimizer": self.row_optimizer.state_dict() if self.row_optimizer is not None else None,
            "rng": self.generator.get_state(),
            "steps": self.steps,
            "updates": self.updates,
            "g_sq": self.g_sq,
            "n": self.n.tolist(),
            "selected_total": self.selected_total.tolist(),
            "last": dict(self._last),
            "proposal": self.proposal.state_dict() if self.proposal is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state, structural=STRUCTURAL)
        self.net.load_state_dict(state["network"])
        saved = state["optimizer"]
        for group in saved["param_groups"]:
            if "betas" in group:
                group["betas"] = tuple(group["betas"])
        self.optimizer.load_state_dict(saved)
        for group in self.optimizer.param_groups:
            group["lr"] = self.options.lr  # a resumed run may change the learning rate on purpose
        if self.row_optimizer is not None:
            self.row_optimizer.load_state_dict(state["row_optimizer"])
            self.row_optimizer.lr = self.options.lr
        self.generator.set_state(state["rng"])
        self.steps = int(state["steps"])
        self.updates = int(state["updates"])
        self.g_sq = float(state["g_sq"])
        for key in ("n", "selected_total"):
            arr = np.asarray(state[key], dtype=np.int64)
            if arr.shape != (self.k,):
                raise ValueError(f"state {key!r} must have {self.k} counts, got {arr.shape}")
            setattr(self, key, arr)
        self._last = {**self._empty_last(), **state["last"]}
        if self.proposal is not None:
            self.proposal.load_state_dict(state["proposal"])
