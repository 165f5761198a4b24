"""Curriculum schedulers: formulas against hand-computed numbers, windows, determinism, state, validation."""

from __future__ import annotations

import json
import math
from collections import deque

import numpy as np
import orjson
import pytest
import yaml
from pydantic import ValidationError

from dumpcli.schedulers import registry
from dumpcli.schedulers._common import SlidingWindows
from dumpcli.schedulers.base import Feedback, softmax
from dumpcli.schedulers.exp3 import Exp3
from dumpcli.schedulers.learnability import Learnability
from dumpcli.schedulers.pools import Pools
from dumpcli.schedulers.schedule import Schedule, schedule_probabilities
from dumpcli.schedulers.sec import SEC
from dumpcli.schedulers.sequential import Sequential
from dumpcli.schedulers.ucb import UCB
from dumpcli.schedulers.uniform import Proportional, Uniform
from dumpcli.schedulers.weights import Weights

ABC = ["a", "b", "c"]
# every distribution-level scheduler of the registry: a new one gets the contract tests below
SCHEDULERS = registry.distribution_level()


def fb(
    dist: str, adv: float = 0.0, success: float = 0.0, reward: float | None = None, pid: str = "p"
) -> Feedback:
    return Feedback(dist, pid, success if reward is None else reward, adv, success)


def advs(dist: str, values: list[float]) -> list[Feedback]:
    return [fb(dist, adv=v) for v in values]


def wins(dist: str, values: list[float]) -> list[Feedback]:
    return [fb(dist, success=v) for v in values]


def required(name: str, dists: list[str]) -> dict:
    """Options a scheduler cannot do without: the mixture (weights), the step budget (schedule)."""
    if name == "weights":
        return {"weights": {"*": 1.0, dists[0]: 3.0}}
    if name == "schedule":
        return {"total_steps": 20}
    return {}


def build(name: str, dists: list[str], **options) -> registry.Scheduler:
    options = {**required(name, dists), **options}
    return registry.build(name, dists, seed=0, sizes=list(range(1, len(dists) + 1)), **options)


def random_batch(
    rng: np.random.Generator, dists: list[str], p: np.ndarray, extreme: bool = False
) -> list[Feedback]:
    """8 prompts x 4 completions drawn from p, with GRPO-like advantages (or extreme ones)."""
    out = []
    for d in rng.choice(len(dists), size=8, p=p):
        succ = (rng.random(4) < 0.5).astype(float)
        adv = (succ - succ.mean()) / (succ.std() + 1e-4)
        if extreme:
            adv = adv * rng.choice([1e-300, 1.0, 1e6, 1e150, 1e300], size=4)
        out += [
            Feedback(dists[d], f"q{d}", float(s), float(a), float(s)) for s, a in zip(succ, adv, strict=True)
        ]
    return out


# --------------------------------------------------------------------------------------------- UCB


def test_ucb_uniform_at_start():
    u = UCB(ABC)
    assert u.probabilities().tolist() == [1 / 3] * 3
    assert all(s["score"] == 0.0 and s["n"] == 0.0 for s in u.stats().values())


def test_ucb_scores_by_hand():
    # a: |A| = 1, 1, 0.5, 0.5 -> window mean 0.75, n_a = 4;  b: |A| = 2, 2 -> mean 2, n_b = 2
    # c: never sampled -> mean 0, n_c = 0.  N = 6, so ln(N + 1) = ln 7 = 1.9459101490553132.
    # bonus_a = sqrt(2 ln 7 / 5) = 0.8822494316360455  -> score_a = 1.6322494316360454
    # bonus_b = sqrt(2 ln 7 / 3) = 1.1389791186424545  -> score_b = 3.1389791186424545
    # bonus_c = sqrt(2 ln 7 / 1) = 1.9727697022487511  -> score_c = 1.9727697022487511
    feedback = advs("a", [1.0, -1.0, 0.5, -0.5]) + advs("b", [2.0, -2.0])
    u = UCB(ABC, temperature=1.0)
    u.update(feedback)
    st = u.stats()
    assert st["a"] == pytest.approx(
        {"n": 4, "mean_abs_adv": 0.75, "window": 4, "bonus": 0.8822494316360455, "score": 1.6322494316360454}
    )
    assert st["b"]["score"] == pytest.approx(3.1389791186424545)
    assert st["c"] == pytest.approx(
        {"n": 0, "mean_abs_adv": 0.0, "window": 0, "bonus": 1.9727697022487511, "score": 1.9727697022487511}
    )
    # softmax(score / 1.0): e^1.6322 : e^3.1390 : e^1.9728, normalised
    assert u.probabilities() == pytest.approx([0.1445581820804405, 0.6522394555886306, 0.20320236233092892])
    # DUMP's default temperature 0.1 sharpens the same scores: softmax(score / 0.1)
    u01 = UCB(ABC)
    u01.update(feedback)
    assert u01.probabilities() == pytest.approx(
        [2.859909213231454e-07, 0.9999910998479334, 8.614161145359522e-06], rel=1e-9
    )


def test_ucb_window_keeps_last_responses_but_n_counts_all():
    u = UCB(ABC, window=3, exploration=0.0, temperature=1.0)
    u.update(advs("a", [1.0, -2.0]))
    u.update(advs("a", [3.0, -4.0, 5.0]))  # a's window is now |A| = 3, 4, 5
    st = u.stats()["a"]
    assert (st["n"], st["window"], st["mean_abs_adv"]) == (5.0, 3.0, 4.0)
    # one update longer than the window, interleaved with b: arrival order decides what is "last"
    u.update([fb("a", 10), fb("b", 7), fb("a", -20), fb("a", 30), fb("b", -1), fb("a", 40), fb("a", -50)])
    st = u.stats()
    assert (st["a"]["n"], st["a"]["mean_abs_adv"]) == (10.0, 40.0)  # window 30, 40, 50
    assert (st["b"]["n"], st["b"]["mean_abs_adv"]) == (2.0, 4.0)  # window 7, 1
    # exploration 0: p = softmax(mean) over [40, 4, 0]
    assert u.probabilities() == pytest.approx(softmax(np.array([40.0, 4.0, 0.0]), 1.0))


def test_ucb_never_sampled_gets_the_full_bonus():
    u = UCB(ABC, exploration=2.0)
    u.update(advs("a", [0.5] * 10) + advs("b", [0.1] * 5))
    c = u.stats()["c"]
    # N = 15: bonus_c = 2 * sqrt(2 ln 16 / 1), mean of the empty window = 0
    assert c["bonus"] == pytest.approx(2 * math.sqrt(2 * math.log(16)))
    assert c["score"] == c["bonus"] and c["mean_abs_adv"] == 0.0 and c["window"] == 0.0
    assert u.probabilities().argmax() == 2


# ---------------------------------------------------------------------------------------- baselines


def test_uniform_and_proportional():
    u = Uniform(["x", "y", "z", "w"])
    u.update([fb("x"), fb("x"), fb("w")])
    assert u.probabilities().tolist() == [0.25] * 4
    assert [s["n"] for s in u.stats().values()] == [2.0, 0.0, 0.0, 1.0]
    p = Proportional(ABC, sizes=[900, 100, 0])
    assert p.probabilities().tolist() == [0.9, 0.1, 0.0]
    with pytest.raises(ValueError, match="sizes"):
        Proportional(ABC)
    with pytest.raises(ValueError, match="sizes"):
        Proportional(ABC, sizes=[1, 2])
    with pytest.raises(ValueError, match="sizes"):
        Proportional(ABC, sizes=[0, 0, 0])


# --------------------------------------------------------------------------------------- sequential


def test_sequential_advances_on_recent_success():
    s = Sequential(ABC, window=4, min_samples=4, threshold=0.75, mix=0.2)
    assert s.probabilities().tolist() == [1.0, 0.0, 0.0]  # nothing mastered yet: no mix
    s.update(wins("a", [1, 1, 1]))  # 3 < min_samples
    assert s.stage == 0
    s.update(wins("a", [0]))  # window 1,1,1,0 -> 0.75 >= 0.75
    assert s.stage == 1
    assert s.probabilities() == pytest.approx([0.2, 0.8, 0.0])
    s.update(wins("b", [0, 0, 1, 1, 1]))  # window keeps the last 4: 0,1,1,1 -> 0.75
    assert s.stage == 2
    assert s.probabilities() == pytest.approx([0.1, 0.1, 0.8])
    s.update(wins("c", [1] * 8))  # the last stage is never left
    assert s.stage == 2
    assert s.stats()["a"]["mastered"] == 1.0 and s.stats()["c"]["current"] == 1.0


def test_sequential_needs_min_samples_and_threshold():
    s = Sequential(ABC, window=8, min_samples=6, threshold=0.8)
    s.update(wins("a", [1] * 5))
    assert s.stage == 0  # 5 < 6 samples
    s.update(wins("a", [0, 0, 0]))  # 5/8 = 0.625 < 0.8
    assert s.stage == 0
    s.update(wins("a", [1] * 3))  # window: 1,1,0,0,0,1,1,1 = 5/8
    assert s.stage == 0
    s.update(wins("a", [1] * 3))  # window: 0,0,1,1,1,1,1,1 = 6/8 = 0.75 < 0.8
    assert s.stage == 0
    s.update(wins("a", [1]))  # 7/8
    assert s.stage == 1 and s.probabilities().tolist() == [0.0, 1.0, 0.0]


# ---------------------------------------------------------------------------------------------- SEC


def test_sec_td_update_by_hand():
    s = SEC(ABC, alpha=0.5, tau=1.0)
    assert s.probabilities().tolist() == [1 / 3] * 3
    # update 1: r_a = mean(1, 1) = 1, r_b = mean(.5, .5, .2, .2) = 0.35, c unsampled
    s.update(advs("a", [1.0, -1.0]) + advs("b", [0.5, -0.5, 0.2, -0.2]))
    assert s.q.tolist() == pytest.approx([0.5, 0.175, 0.0])  # 0.5 r + 0.5 * 0
    # update 2: r_a = 2 -> 0.5*2 + 0.5*0.5 = 1.25; b unsampled keeps 0.175; r_c = 0.4 -> 0.2
    s.update(advs("a", [2.0, -2.0]) + advs("c", [0.4]))
    assert s.q.tolist() == pytest.approx([1.25, 0.175, 0.2])
    # softmax([1.25, 0.175, 0.2] / 1)
    assert s.probabilities() == pytest.approx([0.5912837079112686, 0.20180380225616434, 0.20691248983256716])
    assert s.stats()["b"] == pytest.approx({"q": 0.175, "n": 4, "updates": 1, "last_mean_abs_adv": 0.35})


# ------------------------------------------------------------------------------------- learnability


def test_learnability_by_hand():
    s = Learnability(ABC, window=4, epsilon=0.1)
    assert s.probabilities() == pytest.approx([1 / 3] * 3)  # all unseen: s = 0.5
    s.update(wins("a", [0, 1, 0, 1, 1, 1]) + wins("b", [0, 0, 0, 0]))
    # a: last 4 = 0,1,1,1 -> s = 0.75, L = 0.1875;  b: s = 0, L = 0;  c: unseen, s = 0.5, L = 0.25
    # p = 0.9 * L / 0.4375 + 0.1 / 3
    assert s.probabilities() == pytest.approx([0.41904761904761906, 0.03333333333333333, 0.5476190476190477])
    assert s.stats()["c"] == pytest.approx({"n": 0, "success": 0.5, "window": 0, "learnability": 0.25})
    solved = Learnability(ABC, epsilon=0.0)
    solved.update(wins("a", [1, 1]) + wins("b", [0]) + wins("c", [1]))
    assert solved.probabilities() == pytest.approx([1 / 3] * 3)  # every L = 0: uniform


# --------------------------------------------------------------------------------------------- Exp3


def test_exp3_by_hand():
    e = Exp3(ABC, eta=1.0, eps=0.1, alpha=0.0)
    e.update(wins("a", [1, 0]) + wins("b", [0, 0]))  # first sighting: baselines only, no reward
    assert e.w.tolist() == [0.0, 0.0, 0.0] and e.probabilities() == pytest.approx([1 / 3] * 3)
    e.update(wins("a", [1, 1]) + wins("b", [0, 0, 0, 1]))
    # progress: nu_a = |1 - 0.5| = 0.5, nu_b = |0.25 - 0| = 0.25; history [0.5, 0.25]
    # 20th / 80th percentiles (linear): lo = 0.3, hi = 0.45 -> r_a = +1, r_b = -1
    # shares of the batch: a 2/6, b 4/6; p = 1/3 each -> r~_a = 1 * (1/3)/(1/3) = 1, r~_b = -2
    # w = [1, -2, 0] -> shifted [0, -3, -1];  p = 0.9 softmax(w) + 0.1 / 3
    assert e.w.tolist() == pytest.approx([0.0, -3.0, -1.0])
    assert e.probabilities() == pytest.approx([0.6681793947617505, 0.06494045759673908, 0.2668801476415106])
    assert e.stats()["b"] == pytest.approx(
        {"w": -3.0, "n": 6, "mean": 0.25, "progress": 0.25, "reward": -1.0}
    )


def test_exp3_weight_sharing_by_hand():
    e = Exp3(ABC, eta=1.0, eps=0.1, alpha=0.5)
    e.update(wins("a", [1, 0]) + wins("b", [0, 0]))
    e.update(wins("a", [1, 1]) + wins("b", [0, 0, 0, 1]))
    # u = [1, -2, 0] as above; w_i = log(0.5 e^u_i + 0.25 sum_{j != i} e^u_j):
    # w_a = log(0.5 e + 0.25 (e^-2 + 1)) = 0.49650, w_b = log(0.5 e^-2 + 0.25 (e + 1)) = -0.00277,
    # w_c = log(0.5 + 0.25 (e + e^-2)) = 0.19343; minus the max: [0, -0.49927, -0.30308]
    assert e.w.tolist() == pytest.approx([0.0, -0.49927418395544865, -0.3030785995143468])
    assert e.probabilities() == pytest.approx([0.4170448486904376, 0.26623511439918474, 0.31672003691037764])


def test_exp3_rescaling_covers_the_middle_of_the_quantiles():
    e = Exp3(ABC, eta=1.0, eps=0.1, alpha=0.0, signal="reward")
    e.update([fb("a", reward=0.0), fb("b", reward=0.0), fb("c", reward=0.0)])
    e.update([fb("a", reward=0.1), fb("b", reward=-0.2), fb("c", reward=0.4)])
    # nu = [0.1, 0.2, 0.4]: lo = 0.14, hi = 0.32; r = [-1, 2 (0.2 - 0.14) / 0.18 - 1 = -1/3, +1]
    # shares 1/3 = p, so r~ = r; w = [-1, -1/3, 1] -> shifted [-2, -4/3, 0]
    assert [s["reward"] for s in e.stats().values()] == pytest.approx([-1.0, -1 / 3, 1.0])
    assert e.w.tolist() == pytest.approx([-2.0, -4 / 3, 0.0])
    assert e.probabilities() == pytest.approx([0.12040098081497966, 0.2029179542078843, 0.676681064977136])


# ------------------------------------------------------------------------------------------ weights

QUICK = ["sort/4", "rev/4", "sort/6", "rev/6", "parity/16"]


def test_weights_globs_by_hand():
    w = Weights(QUICK, weights={"sort/*": 2, "rev/4": 1, "*": 0.5})
    # sort/4, sort/6 <- "sort/*" (2 each); rev/4 <- its exact name (1); rev/6, parity/16 <- "*" (0.5)
    # total 2 + 1 + 2 + 0.5 + 0.5 = 6
    assert w.probabilities() == pytest.approx([2 / 6, 1 / 6, 2 / 6, 0.5 / 6, 0.5 / 6])
    assert w.pattern == ["sort/*", "rev/4", "sort/*", "*", "*"]
    assert [s["weight"] for s in w.stats().values()] == [2.0, 1.0, 2.0, 0.5, 0.5]
    w.update([fb("rev/6"), fb("rev/6")])  # the feedback is only counted
    assert w.probabilities() == pytest.approx([2 / 6, 1 / 6, 2 / 6, 0.5 / 6, 0.5 / 6])
    assert w.stats()["rev/6"]["n"] == 2.0


def test_weights_most_specific_key_wins_whatever_the_order():
    keys = {"*": 1, "sort/*": 3, "*/4": 5, "sort/4": 7, "parity/*": 0}
    # sort/4: exact name (7); rev/4: "*/4" (5) beats "*"; sort/6: "sort/*" (3); rev/6: "*" (1);
    # parity/16: "parity/*" (0, left out). "sort/*" (5 literal characters) would beat "*/4" (2).
    expected = np.array([7, 5, 3, 1, 0]) / 16
    assert Weights(QUICK, weights=keys).probabilities() == pytest.approx(expected)
    reordered = dict(reversed(list(keys.items())))
    assert Weights(QUICK, weights=reordered).probabilities() == pytest.approx(expected)
    glob_vs_glob = Weights(["sort/4", "rev/4"], weights={"sort/*": 3, "*/4": 1})
    assert glob_vs_glob.pattern == ["sort/*", "*/4"]
    by_difficulty = Weights(["4", "6"], weights=yaml.safe_load("{4: 1, 6: 3}"))  # YAML's int keys
    assert by_difficulty.probabilities() == pytest.approx([0.25, 0.75])


def test_weights_refuse_mixtures_that_do_not_fit():
    with pytest.raises(ValueError, match=r"no key matches 2 distribution\(s\): rev/6, parity/16"):
        Weights(QUICK, weights={"sort/*": 1, "rev/4": 1})
    with pytest.raises(ValueError, match=r"'srot/\*' match\(es\) no distribution \(distributions: sort/4"):
        Weights(QUICK, weights={"srot/*": 2, "*": 1})
    with pytest.raises(ValueError, match=r"'sort/4' is matched by 's\*/4' and '\*t/4', equally specific"):
        Weights(QUICK, weights={"s*/4": 1, "*t/4": 2, "*": 1})
    with pytest.raises(ValueError, match="every distribution has weight 0"):
        Weights(QUICK, weights={"*": 1, "sort/*": 0, "rev/*": 0, "parity/16": 0})


# ----------------------------------------------------------------------------------------- schedule

SCHEDULE_CASES = [
    # K = 4 levels, T = 8 generation steps.
    # classic: stage floor(t K / T) = floor(t / 2), capped at K - 1 (also past T)
    ("classic", {}, 0, [1, 0, 0, 0]),
    ("classic", {}, 1, [1, 0, 0, 0]),
    ("classic", {}, 2, [0, 1, 0, 0]),
    ("classic", {}, 7, [0, 0, 0, 1]),
    ("classic", {}, 30, [0, 0, 0, 1]),
    ("balanced", {}, 5, [0.25] * 4),
    # cosine: S = 10; t = 0: a = 1 -> (4, 3, 2, 1) / 10; t = 4: a = 1/2 -> 5/20 each; t = 8: a = 0
    ("cosine", {}, 0, [0.4, 0.3, 0.2, 0.1]),
    ("cosine", {}, 4, [0.25] * 4),
    ("cosine", {}, 8, [0.1, 0.2, 0.3, 0.4]),
    ("cosine", {}, 99, [0.1, 0.2, 0.3, 0.4]),  # past T: where it ended
    # t = 2: a = (1 + cos(pi/4)) / 2 = 0.8535533905932737
    # p_0 = (4a + (1 - a)) / 10, p_1 = (3a + 2(1 - a)) / 10, p_2 = (2a + 3(1 - a)) / 10, p_3 = (a + 4(1 - a)) / 10
    ("cosine", {}, 2, [0.3560660171779821, 0.28535533905932736, 0.2146446609406726, 0.1439339828220179]),
    # gaussian, defaults mu_exp = sigma = 0.5, floor m = 2 / (4 * 5) = 0.1, so p = 0.1 + 0.6 q.
    # t = 0: mu = 0, q ~ exp(-2 i^2) = 1, e^-2, e^-8, e^-18 over their sum 1.1356705...
    ("gaussian", {}, 0, [0.6283221339798817, 0.17150062564233892, 0.10017723233144396, 0.10000000804633541]),
    # t = 2: x = 1/4, mu = sqrt(1/4) * 3 = 1.5; q ~ e^-4.5, e^-0.5, e^-0.5, e^-4.5
    ("gaussian", {}, 2, [0.10539586298862748, 0.39460413701137254, 0.39460413701137254, 0.10539586298862748]),
    # t = 8: mu = 3, the mirror image of t = 0
    ("gaussian", {}, 8, [0.10000000804633541, 0.10017723233144396, 0.17150062564233892, 0.6283221339798817]),
    # no floor: q itself at t = 2
    ("gaussian", {"min_prob": 0.0}, 2, [0.00899310498104578, 0.4910068950189542, 0.4910068950189542, 0.00899310498104578]),
    # mu_exp = 1, sigma = 1, t = 2: mu = 3/4, q ~ exp(-(i - 0.75)^2 / 2)
    ("gaussian", {"mu_exp": 1.0, "sigma": 1.0}, 2, [0.30027001063977565, 0.35715178386179647, 0.22146990167399927, 0.12110830382442869]),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "extra", "t", "expected"), SCHEDULE_CASES)
def test_schedule_values_by_hand(kind, extra, t, expected):
    s = Schedule(["l0", "l1", "l2", "l3"], schedule=kind, total_steps=8, **extra)
    for _ in range(t):  # t counts update() calls, i.e. generation steps, whatever the feedback
        s.update([])
    assert s.probabilities() == pytest.approx(expected, abs=1e-15)
    assert s.at(t) == pytest.approx(expected, abs=1e-15)
    assert s.stats()["l2"] == pytest.approx({"n": 0, "step": t, "progress": min(t / 8, 1), "level": 2})


def test_schedule_needs_its_step_budget_and_a_feasible_floor():
    assert Schedule.needs_total_steps and not UCB.needs_total_steps
    with pytest.raises(ValueError, match="total_steps: the schedule scheduler needs T"):
        Schedule(ABC)
    with pytest.raises(ValueError, match=r"min_prob: 3 distributions x min_prob 0.5 exceeds 1"):
        Schedule(ABC, total_steps=10, schedule="gaussian", min_prob=0.5)
    assert Schedule(["x"], total_steps=3, schedule="gaussian").probabilities().tolist() == [1.0]


def test_schedule_counts_responses_and_resumes_on_the_same_step():
    s = Schedule(ABC, total_steps=4, schedule="classic")
    s.update([fb("a"), fb("a"), fb("c")])
    s.update([fb("b")])
    assert [v["n"] for v in s.stats().values()] == [2.0, 1.0, 1.0]
    fresh = Schedule(ABC, total_steps=4, schedule="classic")
    fresh.load_state_dict(orjson.loads(orjson.dumps(s.state_dict())))
    assert fresh.step == 2 and fresh.probabilities().tolist() == [0.0, 1.0, 0.0]  # floor(2 * 3 / 4) = 1


# -------------------------------------------------------------------------------------------- pools


def test_pools_by_hand():
    p = Pools(ABC)
    assert p.probabilities() == pytest.approx([1 / 3] * 3)  # all unseen: weight 1.0 each
    # step 0: a = 3/4 -> normal (0.75 is normal's inclusive maximum), b = 1/4 -> hard (inclusive), c unseen
    p.update(wins("a", [1, 1, 1, 0]) + wins("b", [0, 0, 0, 1]))
    assert p.probabilities() == pytest.approx(np.array([1.0, 0.2, 1.0]) / 2.2)
    # step 1: a = 1 -> easy; c = 1/3 -> normal; b not drawn keeps its step-0 score (hard)
    p.update(wins("a", [1, 1]) + wins("c", [1, 0, 0]))
    assert p.probabilities() == pytest.approx(np.array([0.2, 0.2, 1.0]) / 1.4)
    assert p.stats()["b"] == pytest.approx(
        {"n": 4, "success": 0.25, "last_step": 0, "pool": 1, "weight": 0.2}
    )
    assert p.stats()["a"] == pytest.approx({"n": 6, "success": 1.0, "last_step": 1, "pool": 3, "weight": 0.2})


def test_pools_score_is_the_latest_step_not_the_running_mean():
    p = Pools(["a", "b"])
    p.update(wins("a", [1, 1, 1, 1]) + wins("b", [0, 1]))  # a = 1 (easy), b = 1/2 (normal)
    p.update(wins("a", [0, 0, 0, 1]))  # a = 1/4 (hard); the all-time mean 5/8 would be normal
    assert p.stats()["a"]["success"] == 0.25 and p.stats()["a"]["pool"] == 1.0
    assert p.probabilities() == pytest.approx([0.2 / 1.2, 1.0 / 1.2])
    # several groups of one distribution in a step: the mean over all of its completions
    p.update([fb("a", success=1, pid="p1"), fb("a", success=1, pid="p1")] + [fb("a", pid="p2")] * 2)
    assert p.stats()["a"]["success"] == 0.5 and p.stats()["a"]["pool"] == 2.0


def test_pools_custom_options_and_all_zero_fallback():
    p = Pools(
        ABC,
        hard_threshold=0.4,
        easy_threshold=0.6,
        hard_weight=0.0,
        normal_weight=1.0,
        easy_weight=0.5,
        unseen_weight=2.0,
    )
    p.update(wins("a", [1, 0, 0]) + wins("b", [1, 1, 0]))  # a = 1/3 <= 0.4: hard (0); b = 2/3 > 0.6: easy
    assert p.probabilities() == pytest.approx([0.0, 0.5 / 2.5, 2.0 / 2.5])
    z = Pools(["a", "b"], hard_weight=0.0, easy_weight=0.0)
    z.update(wins("a", [1, 1]) + wins("b", [0, 0]))  # every distribution in a zero-weight pool
    assert z.probabilities().tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    ("name", "key", "value", "message"),
    [
        ("weights", "n", [1, 2], "state 'n' must have 3 counts"),
        ("schedule", "n", [1, 2, 3, 4], "state 'n' must have 3 counts"),
        ("schedule", "step", -1, "state step must be >= 0"),
        ("pools", "score", [0.5, 0.5], "must each have 3 values"),
        ("pools", "score", [0.5, 2.0, 0.0], "success rates in"),
        ("pools", "last_step", [0, 5, -1], "inconsistent"),
    ],
)
def test_wrong_shape_state_is_refused(name, key, value, message):
    s = build(name, ABC)
    s.update(wins("a", [1, 0]) + wins("b", [1]))
    state = s.state_dict()
    state[key] = value
    with pytest.raises(ValueError, match=message):
        build(name, ABC).load_state_dict(state)


# ------------------------------------------------------------------------------- all the schedulers


def recompute_from_stats(name: str, sched, stats: dict[str, dict[str, float]]) -> np.ndarray:
    """Probabilities from the logged statistics alone (what curriculum.jsonl must allow)."""
    col = lambda key: np.array([stats[d][key] for d in sched.distributions])  # noqa: E731
    o = sched.options
    if name == "uniform":
        return np.full(sched.k, 1 / sched.k)
    if name == "proportional":
        return sched.sizes / sched.sizes.sum()
    if name == "ucb":
        return softmax(col("score"), o.temperature)
    if name == "sequential":
        mastered, current = col("mastered"), col("current")
        return current if mastered.sum() == 0 else mastered * o.mix / mastered.sum() + current * (1 - o.mix)
    if name == "sec":
        return softmax(col("q"), o.tau)
    if name == "learnability":
        lrn = col("learnability")
        base = lrn / lrn.sum() if lrn.sum() > 0 else np.full(sched.k, 1 / sched.k)
        return (1 - o.epsilon) * base + o.epsilon / sched.k
    if name == "exp3":
        return (1 - o.eps) * softmax(col("w"), 1.0) + o.eps / sched.k
    if name == "progress":
        score = col("score")
        base = score / score.sum() if score.sum() > 0 else np.full(sched.k, 1 / sched.k)
        return (1 - o.epsilon) * base + o.epsilon / sched.k
    if name == "frontier":
        w, s = col("weight"), col("score")
        c, freed = o.scale / o.horizon, (1 - w).sum() / sched.k
        return (w + (1 - w) * c / (s.sum() + c)) / sched.k + freed * s / (s.sum() + c)
    if name in ("weights", "pools"):
        w = col("weight")
        return w / w.sum() if w.sum() > 0 else np.full(sched.k, 1 / sched.k)
    if name == "schedule":
        step = int(stats[sched.distributions[0]]["step"])
        kw = {"mu_exp": o.mu_exp, "sigma": o.sigma, "min_prob": o.min_prob}
        return schedule_probabilities(o.schedule, step, o.total_steps, sched.k, **kw)
    raise AssertionError(f"{name}: say here how its probabilities follow from the stats it logs")


EXTRA = {
    "sequential": {"window": 8, "min_samples": 8, "threshold": 0.55, "mix": 0.1},
    "schedule": {"schedule": "gaussian", "total_steps": 15},  # 20 steps in the test: goes past T
}


@pytest.mark.parametrize("name", SCHEDULERS)
def test_contract_determinism_stats_and_state(name):
    """Batches are drawn from the scheduler's own probabilities, as in training; a copy restored
    from the state at step 10 must then follow exactly the same path (sequential: stages 2 -> 4)."""
    dists = [f"kk/{i}" for i in range(3, 9)]
    opts = EXTRA.get(name, {})
    rng, rng2 = np.random.default_rng(7), np.random.default_rng(7)
    one, two = build(name, dists, **opts), build(name, dists, **opts)
    for _ in range(10):
        p = one.probabilities()
        one.update(random_batch(rng, dists, p))
        two.update(random_batch(rng2, dists, two.probabilities()))
        p = one.probabilities()
        assert p.dtype == np.float64 and p.shape == (6,)
        assert np.isfinite(p).all() and (p >= 0).all() and p.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.array_equal(p, two.probabilities())  # same seed + same feedback -> same numbers
        stats = one.stats()
        assert list(stats) == dists
        assert recompute_from_stats(name, one, stats) == pytest.approx(p, rel=1e-9, abs=1e-15)
        orjson.dumps(stats)  # plain floats only
    state = one.state_dict()
    json.dumps(state)  # plain lists / floats / ints, no numpy scalars (json would refuse them)
    fresh = build(name, dists, **opts)
    fresh.load_state_dict(orjson.loads(orjson.dumps(state)))
    assert np.array_equal(fresh.probabilities(), one.probabilities())
    stages = []
    for _ in range(10):
        batch = random_batch(rng, dists, one.probabilities())
        one.update(batch)
        fresh.update(batch)
        assert np.array_equal(fresh.probabilities(), one.probabilities())
        stages.append(getattr(fresh, "stage", None))
    assert orjson.dumps(fresh.state_dict()) == orjson.dumps(one.state_dict())
    if name == "sequential":
        assert stages[0] == 2 and stages[-1] == 4  # it kept advancing after the restore


@pytest.mark.parametrize("name", SCHEDULERS)
def test_probabilities_finite_with_extreme_advantages(name):
    dists = ["a", "b", "c", "d"]
    s = build(name, dists, **EXTRA.get(name, {}))
    rng = np.random.default_rng(1)
    for _ in range(15):
        p = s.probabilities()
        assert np.isfinite(p).all() and (p >= 0).all() and p.sum() == pytest.approx(1.0, abs=1e-12)
        s.update(random_batch(rng, dists, p, extreme=True))
    orjson.loads(orjson.dumps(s.state_dict()))  # still finite (orjson would write inf as null)
    assert all(math.isfinite(v) for st in s.stats().values() for v in st.values())


@pytest.mark.parametrize("name", SCHEDULERS)
def test_single_distribution_and_empty_feedback(name):
    s = build(name, ["only"])
    s.update([])
    s.update(advs("only", [1.0, -1.0]))
    assert s.probabilities().tolist() == [1.0]


@pytest.mark.parametrize("name", SCHEDULERS)
def test_bad_feedback_is_a_clear_error(name):
    s = build(name, ABC)
    with pytest.raises(ValueError, match="unknown distribution 'zz'"):
        s.update([fb("a"), fb("zz")])
    if name in ("ucb", "sec"):
        with pytest.raises(ValueError, match=r"feedback\[1\]\.advantage is nan"):
            s.update([fb("a", 1.0), fb("b", float("nan"))])
    if name in ("sequential", "learnability", "exp3", "pools", "progress", "frontier"):
        with pytest.raises(
            ValueError, match=r"feedback\[0\]\.success is 2.0 \(expected a value in \[0, 1\]\)"
        ):
            s.update([fb("a", success=2.0)])


@pytest.mark.parametrize("name", SCHEDULERS)
def test_state_from_elsewhere_is_refused(name):
    s = build(name, ABC)
    s.update(advs("a", [1.0]))
    state = s.state_dict()
    with pytest.raises(ValueError, match="other distributions"):
        build(name, ["a", "b", "x"]).load_state_dict(state)
    other = "uniform" if name != "uniform" else "ucb"
    with pytest.raises(ValueError, match=f"saved by scheduler '{name}'"):
        build(other, ABC).load_state_dict(state)


def test_window_size_must_match_state():
    u = UCB(ABC, window=10)
    with pytest.raises(ValueError, match="window=10"):
        UCB(ABC, window=20).load_state_dict(u.state_dict())


# ---------------------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("ucb", {"window": 0}, "window: Input should be greater than 0"),
        ("ucb", {"temperature": -1}, "temperature: Input should be greater than 0"),
        ("ucb", {"windw": 10}, "windw: unknown key"),
        ("sequential", {"min_samples": 100}, "min_samples: must be <= window (64), got 100"),
        ("sequential", {"threshold": 1.5}, "threshold: Input should be less than or equal to 1"),
        ("sec", {"alpha": 0}, "alpha: Input should be greater than 0"),
        ("learnability", {"epsilon": 2}, "epsilon: Input should be less than or equal to 1"),
        ("exp3", {"eps": 0}, "eps: Input should be greater than 0"),
        ("exp3", {"signal": "loss"}, "signal: Input should be 'success' or 'reward'"),
        ("uniform", {"window": 3}, "window: unknown key"),
        ("weights", {"weights": {"*": 1}, "temperature": 1}, "temperature: unknown key"),
        (
            "weights",
            {"weights": {}},
            "weights: Dictionary should have at least 1 item after validation, not 0",
        ),
        ("weights", {"weights": {"a": 0, "b": 0}}, "weights: at least one weight must be positive"),
        ("weights", {"weights": {"a": -1}}, "weights.a: Input should be greater than or equal to 0"),
        ("weights", {"weights": {"a": float("inf")}}, "weights.a: Input should be a finite number"),
        (
            "weights",
            {"weights": {"": 1}},
            "weights: keys must be distribution names or globs, got an empty key",
        ),
        (
            "schedule",
            {"schedule": "linear"},
            "schedule: Input should be 'classic', 'balanced', 'cosine' or 'gaussian'",
        ),
        ("schedule", {"total_steps": 0}, "total_steps: Input should be greater than 0"),
        ("schedule", {"sigma": 0}, "sigma: Input should be greater than 0"),
        ("schedule", {"min_prob": 1.5}, "min_prob: Input should be less than or equal to 1"),
        ("schedule", {"totl_steps": 10}, "totl_steps: unknown key"),
        ("pools", {"easy_threshold": 0.2}, "easy_threshold: must be > hard_threshold (0.25), got 0.2"),
        (
            "pools",
            {"hard_threshold": 0.5, "easy_threshold": 0.5},
            "easy_threshold: must be > hard_threshold (0.5), got 0.5",
        ),
        ("pools", {"hard_threshold": -0.1}, "hard_threshold: Input should be greater than or equal to 0"),
        ("pools", {"easy_weight": -1}, "easy_weight: Input should be greater than or equal to 0"),
        (
            "pools",
            {"hard_weight": 0, "normal_weight": 0, "easy_weight": 0, "unseen_weight": 0},
            "unseen_weight: at least one of hard_weight, normal_weight, easy_weight, unseen_weight must be positive",
        ),
        ("pools", {"window": 8}, "window: unknown key"),
    ],
)
def test_options_validation(name, options, expected):
    assert registry.check_options(name, options) == [expected]


def test_the_contract_tests_cover_every_scheduler_of_the_registry():
    """The list was written out by hand: a scheduler added to the registry skipped every contract test."""
    problem_level = {n for n in registry.names() if registry.is_problem_level(n)}
    assert set(SCHEDULERS) | problem_level == set(registry.names())
    assert {"uniform", "ucb", "curator", "thompson"} <= set(registry.names())


def test_defaults_are_valid_and_documented_values():
    for name in SCHEDULERS:
        assert registry.check_options(name, required(name, ABC)) == []
    assert registry.check_options("weights", {}) == ["weights: Field required"]  # no default mixture
    o = UCB(ABC).options
    assert (o.window, o.exploration, o.temperature) == (300, 1.0, 0.1)
    with pytest.raises(ValidationError):
        UCB(ABC, window=0)


# ------------------------------------------------------------------------------- sliding windows


def test_sliding_windows_match_a_naive_deque():
    rng = np.random.default_rng(3)
    k, size = 7, 5
    w = SlidingWindows(k, size)
    ref = [deque(maxlen=size) for _ in range(k)]
    pushed = [0] * k
    for _ in range(60):
        n = int(rng.integers(0, 20))
        idx = rng.integers(0, k, size=n)
        if rng.random() < 0.2:
            idx[:] = idx[0] if n else 0  # one distribution gets more than a window in one push
        vals = rng.normal(size=n)
        w.push(idx, vals)
        for i, v in zip(idx.tolist(), vals.tolist(), strict=True):
            ref[i].append(v)
            pushed[i] += 1
        for d in range(k):
            assert w.window(d) == list(ref[d])
            assert w.sum[d] == pytest.approx(math.fsum(ref[d]), abs=1e-12)
    assert w.total.tolist() == pushed
    names = [str(i) for i in range(k)]
    w2 = SlidingWindows(k, size)
    w2.load_state_dict(orjson.loads(orjson.dumps(w.state_dict(names))), {n: i for i, n in enumerate(names)})
    assert np.array_equal(w2.sum, w.sum) and np.array_equal(w2.total, w.total)
    assert [w2.window(d) for d in range(k)] == [w.window(d) for d in range(k)]


def test_softmax_survives_infinite_scores():
    p = softmax(np.array([1e308, -1e308, 0.0]), 1e-10)  # / temperature overflows to +-inf
    assert np.isfinite(p).all() and p.tolist() == [1.0, 0.0, 0.0]
    assert softmax(np.array([np.inf, np.inf, 1.0]), 1.0).tolist() == [0.5, 0.5, 0.0]
