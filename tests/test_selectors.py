"""Problem-level selectors through one interface: MoPPS Thompson sampling against hand-computed
Beta updates and selections, the Curriculum composing a selector with its proposal, state round-trip."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from dumpcli.schedulers import registry
from dumpcli.schedulers.base import Feedback
from dumpcli.schedulers.selector import Candidate
from dumpcli.schedulers.thompson import Thompson
from dumpcli.train.curriculum import build_curriculum

DISTS = ["a/1", "b/1"]


def cand(pid: str, dist: str = "a/1") -> Candidate:
    return Candidate(pid, f"text {pid}", dist.split("/")[0], "1", dist)


def fb(pid: str, success: float, dist: str = "a/1") -> Feedback:
    return Feedback(dist, pid, 1.0 if success else -1.0, 0.0, success)


def test_beta_update_by_hand():
    t = Thompson(DISTS, alpha_prior=1.0, beta_prior=2.0)
    assert t.posterior("x") == (1.0, 2.0)  # unseen: the prior
    t.update([fb("x", 1), fb("x", 1), fb("x", 0), fb("y", 0, "b/1")])
    assert t.posterior("x") == (3.0, 3.0)  # 1 + 2 successes, 2 + 1 failure
    assert t.posterior("y") == (1.0, 3.0)
    # decay 0.5: alpha <- 0.5 * alpha + 0.5 * alpha_0 + s
    d = Thompson(DISTS, alpha_prior=1.0, beta_prior=1.0, decay=0.5)
    d.update([fb("x", 1)] * 4)  # (1 + 4, 1 + 0) = (5, 1)
    d.update([fb("x", 0)] * 2)  # (0.5*5 + 0.5 + 0, 0.5*1 + 0.5 + 2) = (3, 3)
    assert d.posterior("x") == (3.0, 3.0)
    assert d.stats()["a/1"]["n"] == 6.0


def test_selects_the_candidates_whose_sampled_rate_is_nearest_the_target():
    t = Thompson(DISTS, target=0.5)
    # x: mostly solved, y: never solved, z: mixed -> with tight posteriors z is picked first
    t.update([fb("x", 1)] * 400 + [fb("y", 0)] * 400 + [fb("z", 1)] * 200 + [fb("z", 0)] * 200)
    pool = [cand("x"), cand("y"), cand("z"), cand("z")]
    rng = np.random.default_rng(0)
    chosen, q = t.select(pool, 1, rng)
    assert chosen.tolist() == [2] and q is None  # the first position of z
    # by hand: the same rng draws gamma for the distinct problems in pool order (x, y, z)
    a = np.array([401.0, 1.0, 201.0])
    b = np.array([1.0, 401.0, 201.0])
    gamma = np.random.default_rng(0).beta(a, b)
    expected = np.argsort((gamma - 0.5) ** 2, kind="stable")
    assert expected[0] == 2
    chosen, _ = t.select(pool, 3, np.random.default_rng(0))
    assert chosen.tolist() == [[0, 1, 2][i] for i in expected]
    # fewer distinct problems than prompts: the ranking repeats
    chosen, _ = t.select(pool, 5, np.random.default_rng(0))
    assert len(chosen) == 5 and chosen[3] == chosen[0]


def test_pool_size_from_top_k_ratio():
    assert Thompson(DISTS).pool_size(6) == 10  # ceil(6 / 0.6)
    assert Thompson(DISTS, top_k_ratio=1.0).pool_size(6) == 6
    assert Thompson(DISTS, top_k_ratio=0.5).pool_size(3) == 6


def test_state_round_trip_reproduces_selection():
    one = Thompson(DISTS, decay=0.9)
    one.update([fb("x", 1), fb("y", 0, "b/1"), fb("x", 0)])
    buf = io.BytesIO()
    torch.save(one.state_dict(), buf)
    buf.seek(0)
    two = Thompson(DISTS, decay=0.9)
    two.load_state_dict(torch.load(buf, weights_only=True))
    pool = [cand("x"), cand("y", "b/1"), cand("w")]
    assert (
        one.select(pool, 2, np.random.default_rng(5))[0].tolist()
        == two.select(pool, 2, np.random.default_rng(5))[0].tolist()
    )
    assert one.stats() == two.stats()
    with pytest.raises(ValueError, match="alpha_prior"):
        Thompson(DISTS, alpha_prior=2.0).load_state_dict(one.state_dict())
    with pytest.raises(ValueError, match="saved by scheduler 'thompson'"):
        registry.build("ucb", DISTS).load_state_dict(one.state_dict())


SELECTORS = [n for n in registry.names() if registry.is_problem_level(n)]  # every one, from the registry


@pytest.mark.parametrize("name", SELECTORS)
def test_contract_every_selector_is_deterministic_and_restores_its_state(name):
    """Two selectors with the same seed and feedback select the same problems; one restored from
    the other's state (through torch.save and weights_only loading, as a checkpoint) goes on alike."""
    dists = ["a/1", "b/1"]
    pool = [cand(f"p{i}", dists[i % 2]) for i in range(12)]

    def make():
        return registry.build_selector(name, dists, seed=3, sizes=[6, 6])

    def step(selectors, t: int) -> None:
        rng = np.random.default_rng(100 + t)
        feedback = [fb(f"p{i}", float(rng.random() < 0.5), dists[i % 2]) for i in range(12) for _ in range(2)]
        picks = [s.select(pool, 4, np.random.default_rng(t))[0].tolist() for s in selectors]
        assert all(p == picks[0] for p in picks), picks
        for s in selectors:
            s.update(feedback)

    one, two = make(), make()
    for t in range(4):
        step([one, two], t)
    buf = io.BytesIO()
    torch.save(one.state_dict(), buf)
    buf.seek(0)
    fresh = make()
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    for t in range(4, 8):
        step([one, two, fresh], t)
    assert one.stats() == fresh.stats()


def test_options_are_checked():
    assert registry.check_options("thompson", {"target": 1.5})[0].startswith("target:")
    assert registry.check_options("thompson", {"nope": 1}) == ["nope: unknown key"]
    assert registry.check_options("thompson", {"proposal": "ucb", "proposal_options": {"window": 5}}) == []


def test_curriculum_composes_selector_and_proposal_and_resumes_exactly():
    rows = ["a/1"] * 6 + ["b/1"] * 2
    bank = [cand(f"p{i}", d) for i, d in enumerate(rows)]

    def make() -> object:
        return build_curriculum(
            "thompson", {"proposal": "ucb"}, rows, DISTS, [6, 2], seed=3, candidate_fn=bank.__getitem__
        )

    def step(cur, i) -> list[int]:
        drawn = cur.draw(4, step=i)
        cur.observe(
            [fb(bank[r].problem_id, float(r % 2), bank[r].distribution) for r in drawn for _ in range(2)]
        )
        return drawn

    one = make()
    assert one.scheduler.name == "ucb" and one.selector.name == "thompson" and one.name == "thompson"
    assert not one.learns_from_improvement
    first = [step(one, i) for i in range(3)]
    saved = one.state_dict()
    rest = [step(one, i) for i in range(3, 6)]
    two = make()
    two.load_state_dict(saved)
    assert [step(two, i) for i in range(3, 6)] == rest
    fresh = make()
    assert [step(fresh, i) for i in range(3)] == first  # deterministic
    with pytest.raises(ValueError, match="without a problem selector"):
        two.load_state_dict({**saved, "selector": None})


def test_problem_pools_weights_each_problem_by_the_pool_of_its_latest_group():
    from dumpcli.schedulers.problem_pools import ProblemPools

    p = ProblemPools(DISTS)
    assert p.pool_size(4) == 16
    # x: 0/4 right -> hard (0.2); y: 2/4 -> normal (1.0); z: 4/4 -> easy (0.2); w unseen (1.0)
    p.update([fb("x", 0)] * 4 + [fb("y", 1), fb("y", 1), fb("y", 0), fb("y", 0)] + [fb("z", 1, "b/1")] * 4)
    assert [p.weight(i) for i in "xyzw"] == [0.2, 1.0, 0.2, 1.0]
    pool = [cand("x"), cand("y"), cand("z", "b/1"), cand("w")]
    chosen, q = p.select(pool, 2000, np.random.default_rng(0))
    total = 0.2 + 1.0 + 0.2 + 1.0
    assert set(q.round(6)) == {round(0.2 / total, 6), round(1.0 / total, 6)}
    share = np.bincount(chosen, minlength=4) / 2000
    assert share == pytest.approx([0.2 / total, 1.0 / total, 0.2 / total, 1.0 / total], abs=0.03)
    # the latest group replaces the score: y now solved 1/4 -> 0.25 is still hard (inclusive)
    p.update([fb("y", 1)] + [fb("y", 0)] * 3)
    assert p.weight("y") == 0.2
    # state round-trip; every weight 0 falls back to uniform over the pool
    q2 = ProblemPools(DISTS)
    q2.load_state_dict(p.state_dict())
    assert [q2.weight(i) for i in "xyzw"] == [p.weight(i) for i in "xyzw"] == [0.2, 0.2, 0.2, 1.0]
    assert q2.history.get(list("xyzw")).last_success.tolist() == [0.0, 0.25, 1.0, 0.0]
    zero = ProblemPools(DISTS, unseen_weight=1.0, hard_weight=0.0, normal_weight=0.0, easy_weight=0.0)
    zero.update([fb("x", 0)] * 2)
    assert zero.select([cand("x")] * 3, 2, np.random.default_rng(0))[1].tolist() == [1 / 3, 1 / 3]
    assert registry.check_options("problem_pools", {"easy_threshold": 0.1})[0].startswith("easy_threshold")


def test_problem_pools_loads_a_state_saved_before_the_shared_history():
    from dumpcli.schedulers.problem_pools import ProblemPools

    old = {  # what problem_pools saved before issue 19: the latest group-mean success per id
        "scheduler": "problem_pools",
        "distributions": DISTS,
        "options": ProblemPools(DISTS).options.model_dump(),
        "problem_ids": ["x", "y", "z"],
        "score": [0.0, 0.5, 1.0],
        "n": [8, 4],
        "last": {"pool": [3.0, 1.0], "selected": [2.0, 0.0], "weight_sum": [1.4, 0.2]},
    }
    buf = io.BytesIO()
    torch.save(old, buf)
    buf.seek(0)
    p = ProblemPools(DISTS)
    p.load_state_dict(torch.load(buf, weights_only=True))
    assert [p.weight(i) for i in "xyzw"] == [0.2, 1.0, 0.2, 1.0]
    assert p.stats()["a/1"] == {"n": 8.0, "pool": 3.0, "selected": 2.0, "mean_weight": 1.4 / 3}
    p.update([fb("x", 1)] * 2)  # then it goes on as a new state would
    assert p.weight("x") == 0.2 and "history" in p.state_dict()
    with pytest.raises(ValueError, match="one success rate in"):
        ProblemPools(DISTS).load_state_dict({**old, "score": [0.0, 0.5]})


def test_thompson_loads_a_state_saved_before_the_shared_history():
    o = Thompson(DISTS, alpha_prior=1.0, beta_prior=2.0, decay=0.9).options.model_dump()
    old = {  # what thompson saved before issue 19: Beta(alpha, beta) per problem id
        "scheduler": "thompson",
        "distributions": DISTS,
        "options": o,
        "problem_ids": ["x", "y"],
        "alpha": [4.0, 1.0],
        "beta": [2.5, 5.0],
        "steps": 3,
        "n": [6, 3],
        "last": {"pool": [2.0, 1.0], "selected": [1.0, 1.0], "gamma_sum": [0.4, 0.2], "mean_sum": [0.5, 0.1]},
    }
    buf = io.BytesIO()
    torch.save(old, buf)
    buf.seek(0)
    t = Thompson(DISTS, alpha_prior=1.0, beta_prior=2.0, decay=0.9)
    t.load_state_dict(torch.load(buf, weights_only=True))
    assert [t.posterior(i) for i in ("x", "y", "w")] == [(4.0, 2.5), (1.0, 5.0), (1.0, 2.0)]
    assert t.steps == 3 and t.stats()["b/1"]["n"] == 3.0
    t.update([fb("x", 1), fb("x", 0)])  # alpha <- 0.9 * 4 + 0.1 * 1 + 1, beta <- 0.9 * 2.5 + 0.1 * 2 + 1
    assert t.posterior("x") == pytest.approx((4.7, 3.45), rel=1e-15)
    with pytest.raises(ValueError, match="2 problems, 1 alphas"):
        Thompson(DISTS, alpha_prior=1.0, beta_prior=2.0).load_state_dict({**old, "alpha": [4.0]})


@pytest.mark.parametrize("decay", [1.0, 0.9, 0.5])
def test_thompson_posterior_equals_the_old_formula_over_random_feedback(decay):
    """alpha_0 + S with S <- decay * S + s is the old alpha <- decay * alpha + (1 - decay) * alpha_0 + s,
    since alpha_t - alpha_0 = decay * (alpha_{t-1} - alpha_0) + s (likewise beta). Exact for decay 1."""
    a0, b0 = 1.5, 0.5
    t = Thompson(DISTS, alpha_prior=a0, beta_prior=b0, decay=decay)
    alpha: dict[str, float] = {}
    beta: dict[str, float] = {}
    rng = np.random.default_rng(7)
    problems = [f"p{i}" for i in range(40)]
    for _ in range(30):
        chosen = rng.choice(40, size=6)
        feedback = [
            fb(problems[c], float(rng.random() < 0.3 + 0.01 * c), DISTS[c % 2])
            for c in chosen
            for _ in range(4)
        ]
        rng.shuffle(feedback)
        t.update(feedback)
        counts: dict[str, tuple[float, int]] = {}  # the old code's successes_by_problem
        for f in feedback:
            s, k = counts.get(f.problem_id, (0.0, 0))
            counts[f.problem_id] = (s + f.success, k + 1)
        for pid, (s, k) in counts.items():
            alpha[pid] = decay * alpha.get(pid, a0) + (1.0 - decay) * a0 + s
            beta[pid] = decay * beta.get(pid, b0) + (1.0 - decay) * b0 + (k - s)
    got = [t.posterior(p) for p in problems]
    want = [(alpha.get(p, a0), beta.get(p, b0)) for p in problems]
    if decay == 1.0:
        assert got == want
    else:
        assert np.asarray(got) == pytest.approx(np.asarray(want), rel=1e-13)
