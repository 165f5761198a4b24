"""Actor-Curator (arXiv 2602.20532): a problem-level neural curator trained as a policy-improvement bandit.

Where the distribution-level schedulers pick *which distribution* to draw from, the curator picks
*which problems*. Each generation step:

1. The curriculum draws a candidate pool of `pool_factor * n` problems from the proposal: uniform
   over problems (`proposal: uniform`, i.e. distributions in proportion to their sizes) or any
   distribution-level scheduler (`proposal: ucb`), then uniformly inside each drawn distribution.
2. `select()` scores the pool with the curator network f and draws n problems with replacement from
   q = (1 - floor) * softmax(f) + floor / |pool|. During the first `warmup_steps` selections q is
   uniform over the pool (the curator is still trained on what the proposal picked).
3. After the actor's optimizer step the trainer measures the completions it just trained on under
   the updated policy (`Improvement`); `policy_improvement()` turns old/new log-probs and advantages
   into the first-order policy improvement u_x of each selected problem.
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
from typing import Any, ClassVar

import numpy as np
import torch

from dumpcli.schedulers._common import base_state, check_state, feedback_arrays
from dumpcli.schedulers.base import Feedback, softmax
from dumpcli.schedulers.curator.features import EncoderFeatures, HashedFeatures
from dumpcli.schedulers.curator.improvement import importance_weighted, improvement_from_log_ratios
from dumpcli.schedulers.curator.network import CuratorNet, RowAdam
from dumpcli.schedulers.curator.options import STRUCTURAL, CuratorOptions
from dumpcli.schedulers.selector import Candidate, Improvement, ProblemSelector, check_select_args

SCALE_DECAY = 0.9  # running mean of g^2 used by `normalize` (bias-corrected, like Adam's second moment)


def _plain(obj: Any) -> Any:
    """Tuples -> lists, recursively (the trainer loads states with torch.load(weights_only=True))."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


class Curator(ProblemSelector):
    name: ClassVar[str] = "curator"
    learns_from_improvement: ClassVar[bool] = True
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

    def pool_size(self, n: int) -> int:
        return self.options.pool_factor * n

    def update(self, feedback: Sequence[Feedback]) -> None:
        (idx,) = feedback_arrays(self, feedback)
        self.n += np.bincount(idx, minlength=self.k)

    # -- problem level ----------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether the next select() uses the curator (past the warm-up)."""
        return self.steps >= self.options.warmup_steps

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
        check_select_args(candidates, n)
        dist = self.dist_index(candidates)
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
        self, selected: Sequence[Candidate], q: np.ndarray | None, improvement: Improvement
    ) -> dict[str, float]:
        """u of each selected problem from what the optimizer step did, then `update_curator`."""
        if q is None:
            raise ValueError("the curator needs the selection probabilities q of its draws")
        u = improvement_from_log_ratios(
            improvement.log_ratio,
            improvement.advantages,
            improvement.group_size,
            clip=self.options.ratio_clip,
        )
        return self.update_curator(selected, q, u.tolist())

    def update_curator(
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
        dist = self.dist_index(selected)
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
