"""The curator network (a scalar score per problem) and the lazy Adam that trains its n-gram table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from dumpcli.schedulers.curator.features import Batch


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
