"""Actor-Curator: policy improvement by hand, unbiased importance weights, a simulated bandit
(concentration and generalisation), warm-up, proposals, determinism, state, validation."""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import orjson
import pytest
import torch

from dumpcli.errors import DumpError
from dumpcli.schedulers import registry
from dumpcli.schedulers.base import Feedback
from dumpcli.schedulers.curator import Candidate, Curator, importance_weighted, policy_improvement
from dumpcli.schedulers.curator.features import difficulty_value, ngram_buckets, tokenize
from dumpcli.schedulers.ucb import UCB
from dumpcli.train.curriculum import build_curriculum

DISTS = ["gen/1", "gen/2", "gen/3"]
WORDS = [f"w{j}" for j in range(200)]


@pytest.fixture(autouse=True)
def one_thread():
    """The curator is tiny: one intra-op thread is faster and keeps the shared CI cores free."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def problem(rng: np.random.Generator, pid: str, good: bool) -> Candidate:
    """12 random words; 'good' problems carry the marker word 'zebra' somewhere."""
    words = list(rng.choice(WORDS, size=12))
    if good:
        words.insert(int(rng.integers(0, 13)), "zebra")
    d = str(int(rng.integers(1, 4)))
    return Candidate(pid, " ".join(words), "gen", d, f"gen/{d}")


def pool_of(rng: np.random.Generator, size: int, dists: list[str] = DISTS) -> list[Candidate]:
    return [
        Candidate(f"p{i}", f"problem {i} about {WORDS[i % 50]}", "src", d.split("/")[1], d)
        for i, d in enumerate(rng.choice(dists, size=size))
    ]


def curator(**options) -> Curator:
    return registry.build_selector("curator", DISTS, seed=0, sizes=[10, 20, 30], **options)  # type: ignore[return-value]


# --------------------------------------------------------------------------- policy improvement


def test_policy_improvement_two_completions_by_hand():
    # one prompt, two completions of 2 and 3 tokens (third position of the first is padding)
    old = torch.tensor([[-1.0, -2.0, 0.0], [-1.0, -1.0, -1.0]])
    new = torch.tensor([[-0.9, -1.9, -math.inf], [-1.3, -1.3, -1.3]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    adv = torch.tensor([1.0, -1.0])
    # rho_1 = exp(mean(0.1, 0.1)) = exp(0.1) = 1.1051709 (inside [0.8, 1.2])
    # rho_2 = exp(mean(-0.3, -0.3, -0.3)) = exp(-0.3) = 0.7408 -> clipped to 0.8
    # u = (1.1051709 * 1 + 0.8 * (-1)) / 2 = 0.15258546
    u = policy_improvement(old, new, mask, adv, group_size=2, clip=0.2)
    assert u.shape == (1,) and u.dtype == torch.float32
    assert u.item() == pytest.approx((math.exp(0.1) - 0.8) / 2, rel=1e-6)
    # a tighter clip bounds both: (1.05 - 0.95) / 2
    assert policy_improvement(old, new, mask, adv, 2, clip=0.05).item() == pytest.approx(0.05, rel=1e-6)
    # length-normalised: the product of token ratios would be exp(0.2) and exp(-0.9), not exp(0.1), exp(-0.3)
    one = policy_improvement(old, new, mask, torch.tensor([1.0, 0.0]), 2, clip=0.5)
    assert one.item() == pytest.approx(math.exp(0.1) / 2, rel=1e-6)


def test_policy_improvement_groups_and_edge_cases():
    old = torch.zeros(4, 2)
    new = torch.tensor([[0.1, 0.1], [0.0, 0.0], [0.0, 0.0], [-0.1, -0.1]])
    mask = torch.tensor([[1, 1], [1, 1], [0, 0], [1, 1]])  # third completion is empty: rho = 1
    adv = torch.tensor([1.0, -1.0, 2.0, -2.0])
    u = policy_improvement(old, new, mask, adv, group_size=2)
    assert u.tolist() == pytest.approx([(math.exp(0.1) - 1) / 2, (2 - 2 * math.exp(-0.1)) / 2], rel=1e-6)
    # no change in the policy: rho = 1 and u = mean A = 0 for centred advantages
    assert (
        policy_improvement(old, old, mask, adv - adv.view(2, 2).mean(1).repeat_interleave(2), 2).abs().max()
        < 1e-7
    )
    with pytest.raises(ValueError, match="groups of 3"):
        policy_improvement(old, new, mask, adv, group_size=3)
    with pytest.raises(ValueError, match="same"):
        policy_improvement(old, new[:, :1], mask, adv, group_size=2)
    with pytest.raises(ValueError, match="advantages"):
        policy_improvement(old, new, mask, adv[:3], group_size=2)


# --------------------------------------------------------------------------- importance weights


@pytest.mark.parametrize("n", [1, 2, 3])
def test_importance_weighting_is_unbiased_exactly(n):
    """E over every ordered sequence of n draws from q of g_x equals u_x for every problem, drawn or not."""
    keys = ["a", "b", "c", "d"]
    scores = np.array([2.0, 0.5, -1.0, 0.0])
    q = 0.9 * np.exp(scores) / np.exp(scores).sum() + 0.1 / 4  # a floored softmax, as in select()
    u = np.array([0.7, -0.2, 1.5, 0.0])
    expected = np.zeros(4)
    total = 0.0
    for draws in itertools.product(range(4), repeat=n):
        prob = float(np.prod(q[list(draws)]))
        total += prob
        positions, g = importance_weighted([keys[i] for i in draws], q[list(draws)], u[list(draws)])
        for pos, value in zip(positions, g, strict=True):
            expected[draws[pos]] += prob * value
    assert total == pytest.approx(1.0)
    assert expected == pytest.approx(u, abs=1e-12)


def test_importance_weighted_groups_repeats():
    positions, g = importance_weighted(["x", "y", "x"], [0.5, 0.25, 0.5], [1.0, 2.0, 3.0])
    # n = 3: g_x = 1 / (3 * 0.5) + 3 / (3 * 0.5) = 8/3, g_y = 2 / (3 * 0.25) = 8/3
    assert positions == [0, 1] and g.tolist() == pytest.approx([8 / 3, 8 / 3])
    with pytest.raises(ValueError, match=r"q\[1\] is 0.0"):
        importance_weighted(["x", "y"], [0.5, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"u\[0\] is nan"):
        importance_weighted(["x"], [0.5], [float("nan")])
    with pytest.raises(ValueError, match="2 problems, 1 selection"):
        importance_weighted(["x", "y"], [0.5], [1.0, 1.0])


def test_select_returns_the_probability_it_drew_with():
    rng = np.random.default_rng(0)
    cands = pool_of(rng, 16)
    cur = curator(warmup_steps=0, floor=0.2)
    with torch.no_grad():  # make the curator non-uniform
        cur.net.out.weight.normal_(0, 5.0, generator=torch.Generator().manual_seed(1))
    q_expected = 0.8 * np.exp(cur.scores(cands)) / np.exp(cur.scores(cands)).sum() + 0.2 / 16
    assert q_expected.max() > 2 * q_expected.min()
    idx, q = cur.select(cands, 40000, np.random.default_rng(5))
    assert idx.dtype == np.int64 and q.shape == (40000,)
    assert np.allclose(q, q_expected[idx], rtol=1e-12, atol=0)
    freq = np.bincount(idx, minlength=16) / 40000
    sigma = np.sqrt(q_expected * (1 - q_expected) / 40000)
    assert np.all(np.abs(freq - q_expected) < 5 * sigma)


# ---------------------------------------------------------------------------- simulated bandit


def run_bandit(seed: int, table: str, rounds: int = 40) -> tuple[Curator, list[Candidate], np.ndarray, list]:
    """400 problems, 20% carry the marker; u = table value + N(0, 0.3) noise; pools of 128, 32 drawn."""
    rng = np.random.default_rng(seed)
    bank = [problem(rng, f"p{i}", i % 5 == 0) for i in range(400)]
    good = np.array(["zebra" in c.text for c in bank])
    held_out = [problem(rng, f"h{i}", i % 2 == 0) for i in range(100)]  # never offered
    cur = registry.build_selector("curator", DISTS, seed=seed, sizes=[1, 1, 1], warmup_steps=2)
    metrics = []
    for _ in range(rounds):
        pool_idx = rng.integers(0, len(bank), size=128)
        cands = [bank[i] for i in pool_idx]
        idx, q = cur.select(cands, 32, rng)
        if table == "marker":
            mean_u = np.where(good[pool_idx[idx]], 1.0, 0.1)
        else:  # the control: improvement unrelated to the marker
            mean_u = np.full(len(idx), 0.3)
        u = mean_u + rng.normal(0.0, 0.3, size=len(idx))
        metrics.append(cur.update_curator([cands[i] for i in idx], q, u))
    return cur, bank, good, [held_out, metrics]  # type: ignore[return-value]


def test_simulated_bandit_concentrates_and_generalises():
    cur, bank, good, (held_out, metrics) = run_bandit(0, "marker")
    q = cur.curator_probabilities(cur.scores(bank))
    lift = q[good].sum() / good.mean()  # mass on the good problems over their share (20%)
    assert lift > 2.5  # > 50% of the mass on 20% of the problems (at most 5 with the 5% floor)
    held_scores = cur.scores(held_out)
    marked, plain = held_scores[0::2], held_scores[1::2]
    auc = (marked[:, None] > plain[None, :]).mean()
    assert auc > 0.8 and marked.mean() - plain.mean() > 0.5  # unseen problems with the marker rank higher
    assert metrics[0]["curator/active"] == 0.0 and metrics[-1]["curator/active"] == 1.0
    assert metrics[-1]["curator/entropy"] < math.log(128) - 0.3  # q is no longer uniform on the pool
    # the control: same run, improvements independent of the marker -> no preference for it
    cur0, bank0, good0, (held0, _) = run_bandit(0, "flat")
    q0 = cur0.curator_probabilities(cur0.scores(bank0))
    assert 0.7 < q0[good0].sum() / good0.mean() < 1.4


# ------------------------------------------------------------------------------- warm-up, proposal


def test_warmup_is_uniform_but_trains():
    rng = np.random.default_rng(0)
    cands = pool_of(rng, 20)
    cur = curator(warmup_steps=2)
    before = cur.scores(cands)
    assert np.all(before == 0.0)  # zero-initialised last layer: the curator starts uniform
    for step in range(3):
        idx, q = cur.select(cands, 8, rng)
        if step < 2:
            assert np.all(q == 1 / 20)
        else:
            assert q.min() < 1 / 20 < q.max()  # the curator took over with what it learned in warm-up
        u = [1.0 if int(cands[i].problem_id[1:]) % 2 == 0 else -1.0 for i in idx]
        metrics = cur.update_curator([cands[i] for i in idx], q, u)
        assert metrics["curator/active"] == float(step >= 2)
        assert metrics["curator/loss"] >= 0.0 and metrics["curator/kl"] >= 0.0
    assert not np.array_equal(cur.scores(cands), before)


def test_uniform_proposal_is_proportional_to_sizes():
    """The curriculum of `curator` draws its pool from `proportional` (uniform over problems)."""
    rows = ["gen/1"] * 10 + ["gen/2"] * 20 + ["gen/3"] * 30
    cur = build_curriculum("curator", {}, rows, DISTS, [10, 20, 30], seed=0, candidate_fn=lambda r: None)
    assert cur.scheduler.name == "proportional" and cur.selector.name == "curator"
    assert cur.scheduler.probabilities().tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 6])
    assert cur.learns_from_improvement and cur.name == "curator"
    sel = curator()
    sel.update([Feedback("gen/2", "p", 1.0, 0.5, 1.0)] * 3)
    assert sel.stats()["gen/2"]["n"] == 3.0
    with pytest.raises(ValueError, match="unknown distribution 'zz'"):
        sel.update([Feedback("zz", "p", 1.0, 0.5, 1.0)])


def test_scheduler_proposal_draws_the_pool():
    options = {"proposal": "ucb", "proposal_options": {"window": 4, "temperature": 1.0}}
    rows = ["gen/1", "gen/2", "gen/3"]
    cur = build_curriculum("curator", options, rows, DISTS, [1, 1, 1], seed=0, candidate_fn=lambda r: None)
    ref = UCB(DISTS, window=4, temperature=1.0)
    batch = [Feedback("gen/1", "p", 1.0, 2.0, 1.0), Feedback("gen/3", "q", 0.0, -0.5, 0.0)]
    cur.observe(batch)
    ref.update(batch)
    assert cur.scheduler.name == "ucb"
    assert np.array_equal(cur.scheduler.probabilities(), ref.probabilities())
    assert cur.scheduler.stats() == ref.stats()


# ---------------------------------------------------------------------- determinism and state


def drive(cur: Curator, rng: np.random.Generator, cands: list[Candidate], rounds: int) -> list:
    out = []
    for _ in range(rounds):
        idx, q = cur.select(cands, 12, rng)
        u = rng.normal(size=12) + np.array([0.5 if "w1" in cands[i].text else 0.0 for i in idx])
        metrics = cur.update_curator([cands[i] for i in idx], q, u)
        cur.update(
            [
                Feedback(cands[i].distribution, cands[i].problem_id, 1.0, float(a), 1.0)
                for i, a in zip(idx, u, strict=True)
            ]
        )
        out.append((idx.tolist(), q.tolist(), metrics))
    return out


@pytest.mark.parametrize("proposal", ["uniform", "ucb"])
def test_determinism_and_state_round_trip(proposal):
    cands = pool_of(np.random.default_rng(0), 48)
    global_rng = torch.get_rng_state()
    one, two = curator(proposal=proposal, warmup_steps=1), curator(proposal=proposal, warmup_steps=1)
    assert drive(one, np.random.default_rng(1), cands, 4) == drive(two, np.random.default_rng(1), cands, 4)
    assert torch.equal(torch.get_rng_state(), global_rng)  # no use of torch's global RNG
    # save as the trainer does: torch.save, then torch.load(weights_only=True)
    buf = io.BytesIO()
    torch.save(one.state_dict(), buf)
    buf.seek(0)
    fresh = curator(proposal=proposal, warmup_steps=1)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert np.array_equal(fresh.scores(cands), one.scores(cands))
    assert fresh.stats() == one.stats()
    # the restored copy follows exactly the same path (network, both optimisers, scale, counters)
    assert drive(one, np.random.default_rng(2), cands, 3) == drive(fresh, np.random.default_rng(2), cands, 3)
    a, b = one.state_dict(), fresh.state_dict()
    for key in a["network"]:
        assert torch.equal(a["network"][key], b["network"][key])
    assert (a["steps"], a["updates"], a["g_sq"]) == (b["steps"], b["updates"], b["g_sq"])
    orjson.dumps(one.stats())  # plain floats for curriculum.jsonl
    assert all(math.isfinite(v) for st in one.stats().values() for v in st.values())


def test_state_from_elsewhere_is_refused():
    cur = curator()
    state = cur.state_dict()
    with pytest.raises(ValueError, match="other distributions"):
        registry.build_selector("curator", ["gen/1", "gen/2", "x"], sizes=[1, 1, 1]).load_state_dict(state)
    with pytest.raises(ValueError, match="n_features=1024"):
        curator(n_features=1024).load_state_dict(state)
    with pytest.raises(ValueError, match="saved by scheduler 'curator'"):
        UCB(DISTS).load_state_dict(state)
    changed = curator(lr=0.5)  # a non-structural option may change on resume, and is honoured
    changed.load_state_dict(state)
    assert all(g["lr"] == 0.5 for g in changed.optimizer.param_groups) and changed.row_optimizer.lr == 0.5


# ------------------------------------------------------------------------- metrics, bad input


def test_metrics_and_stats():
    rng = np.random.default_rng(3)
    cands = pool_of(rng, 32)
    cur = curator(warmup_steps=0)
    idx, q = cur.select(cands, 8, rng)
    sel = [cands[i] for i in idx]
    metrics = cur.update_curator(sel, q, np.linspace(-1, 1, 8))
    assert metrics["curator/mean_u"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["curator/entropy"] == pytest.approx(math.log(32))  # untrained: uniform
    assert metrics["curator/effective_pool"] == pytest.approx(1.0)
    shares = [metrics[f"curator/share/{d}"] for d in DISTS]
    assert sum(shares) == pytest.approx(1.0)
    assert shares == pytest.approx([sum(c.distribution == d for c in sel) / 8 for d in DISTS])
    st = cur.stats()
    assert [st[d]["selected"] for d in DISTS] == [sum(c.distribution == d for c in sel) for d in DISTS]
    assert sum(st[d]["pool"] for d in DISTS) == 32
    assert all(st[d]["q_ratio"] == pytest.approx(1.0) for d in DISTS if st[d]["pool"])
    # one distinct problem drawn many times: nothing to compare, no step, no crash
    single = cur.update_curator([sel[0]] * 4, [q[0]] * 4, [1.0] * 4)
    assert single["curator/loss"] == 0.0 and single["curator/distinct"] == 1.0


def test_bad_input_is_a_clear_error():
    rng = np.random.default_rng(0)
    cur = curator()
    cands = pool_of(rng, 4)
    with pytest.raises(ValueError, match="pool is empty"):
        cur.select([], 2, rng)
    with pytest.raises(ValueError, match="n must be >= 1"):
        cur.select(cands, 0, rng)
    with pytest.raises(ValueError, match="unknown distribution 'kk/9'"):
        cur.select([*cands, Candidate("z", "t", "kk", "9", "kk/9")], 2, rng)
    with pytest.raises(ValueError, match="no selected problems"):
        cur.update_curator([], [], [])
    with pytest.raises(ValueError, match=r"u\[1\] is inf"):
        cur.update_curator(cands[:2], [0.5, 0.5], [0.0, float("inf")])


# ------------------------------------------------------------------------------------ options


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, []),
        ({"proposal": "ucb", "proposal_options": {"window": 10}, "pool_factor": 4}, []),
        (
            {"proposal": "nope"},
            ["proposal: unknown proposal 'nope' (available: uniform, proportional, ucb, "],
        ),
        ({"proposal": "curator"}, ["proposal: unknown proposal 'curator'"]),
        (
            {"proposal": "ucb", "proposal_options": {"window": 0}},
            ["proposal_options: window: Input should be greater than 0"],
        ),
        (
            {"proposal_options": {"window": 3}},
            ["proposal_options: proposal 'uniform' takes no options, got window"],
        ),
        ({"floor": 1.5}, ["floor: Input should be less than or equal to 1"]),
        ({"clip": 1.0}, ["clip: Input should be less than 1"]),
        ({"pool_factor": 0}, ["pool_factor: Input should be greater than or equal to 1"]),
        ({"hiden": 8}, ["hiden: unknown key"]),
    ],
)
def test_options_validation(options, expected):
    got = registry.check_options("curator", options)
    assert len(got) == len(expected) and all(g.startswith(e) for g, e in zip(got, expected, strict=True))


def test_defaults():
    o = curator().options
    assert (o.pool_factor, o.proposal, o.floor, o.warmup_steps, o.encoder) == (
        8,
        "uniform",
        0.05,
        5,
        "hashed",
    )


# ----------------------------------------------------------------------------------- features


def test_hashing_is_stable_and_order_aware():
    # fixed numbers: a change of tokenisation or hashing would silently scramble resumed curators
    assert ngram_buckets("Alice is a knight, Bob is a knave.", 1024, 1).tolist() == [
        82, 252, 258, 297, 518, 640, 659, 801,
    ]  # fmt: skip
    assert len(ngram_buckets("Alice is a knight, Bob is a knave.", 2**16, 2)) == 16  # 8 words + 8 bigrams
    assert tokenize("(1) Zoey is a KNAVE.") == ["(", "1", ")", "zoey", "is", "a", "knave", "."]
    ab, ba = ngram_buckets("a b", 2**20, 2), ngram_buckets("b a", 2**20, 2)
    assert len(set(ab) & set(ba)) == 2  # same unigrams, different bigram
    assert ngram_buckets("", 64, 2).tolist() == []
    assert difficulty_value("3") == pytest.approx((math.log(4), 1.0))
    assert difficulty_value("hard") == (0.0, 0.0) and difficulty_value("nan") == (0.0, 0.0)


def test_missing_encoder_is_a_clear_error(tmp_path):
    with pytest.raises(DumpError, match="cannot load the curator encoder .*no such model directory"):
        curator(encoder=str(tmp_path / "no-such-model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DumpError, match="cannot load the curator encoder"):
        curator(encoder=str(tmp_path / "empty"))


def test_hf_encoder_on_a_local_tiny_model(tmp_path):
    """The `encoder:` path end to end on a randomly initialised 1-layer model saved in tmp_path."""
    from transformers import GraniteConfig, GraniteModel

    from dumpcli.train.tiny import build_tokenizer

    rng = np.random.default_rng(0)
    bank = [problem(rng, f"p{i}", i % 2 == 0) for i in range(40)]
    tokenizer = build_tokenizer([c.text for c in bank], max_vocab=300)
    config = GraniteConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=32,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():  # Granite: its auto tokenizer class reads tokenizer.json as saved
        torch.manual_seed(0)
        GraniteModel(config).save_pretrained(tmp_path / "enc")
    tokenizer.save_pretrained(tmp_path / "enc")
    cur = curator(encoder=str(tmp_path / "enc"), warmup_steps=0, encoder_batch_size=7)
    assert cur.features.hidden_size == 16 and cur.row_optimizer is None
    before = cur.scores(bank)
    for _ in range(5):
        idx, q = cur.select(bank, 16, rng)
        cur.update_curator([bank[i] for i in idx], q, [1.0 if i % 2 == 0 else 0.0 for i in idx])
    after = cur.scores(bank)
    assert after[0::2].mean() - after[1::2].mean() > before[0::2].mean() - before[1::2].mean()
    buf = io.BytesIO()
    torch.save(cur.state_dict(), buf)
    buf.seek(0)
    fresh = curator(encoder=str(tmp_path / "enc"), warmup_steps=0)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert np.array_equal(fresh.scores(bank), after)
