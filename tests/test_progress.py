"""The `progress` scheduler (noise-corrected absolute learning progress): by hand, and on a simulated
mixture where a coin flip must not attract the batch and a learnable distribution must."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import simulate_mixture

from dumpcli.schedulers.base import Feedback
from dumpcli.schedulers.progress import Progress


def group(dist: str, pid: str, successes: list[float]) -> list[Feedback]:
    return [Feedback(dist, pid, s, 0.0, s) for s in successes]


def test_slopes_scores_and_probabilities_by_hand():
    s = Progress(["a", "b", "c"], z=0.5, epsilon=0.1, min_groups=4)
    assert s.probabilities() == pytest.approx([1 / 3] * 3)  # nothing known: uniform
    rounds = [
        ([0, 0, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]),  # means a 0, b 0.5, c 0.5
        ([1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0]),  # a 0.25, b 0.5, c 0
        ([1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0]),  # a 0.5,  b 0.5, c 0.5
    ]
    for t, (a, b, c) in enumerate(rounds):
        s.update(group("a", f"a{t}", a) + group("b", f"b{t}", b) + group("c", f"c{t}", c))
    # three groups each: no slope yet (min_groups 4), every score is the optimistic 1 -> uniform
    assert s.slopes()[2].tolist() == [False, False, False]
    assert s.probabilities() == pytest.approx([1 / 3] * 3)
    s.update(group("a", "a3", [1, 1, 1, 0]) + group("b", "b3", [0, 0, 1, 1]) + group("c", "c3", [0, 0, 0, 0]))
    b, se, known = s.slopes()
    # t = 1..4, dt = -1.5 -0.5 0.5 1.5, S_tt = 5
    # a: m = 0 .25 .5 .75 -> slope 0.25, residuals 0 -> SE 0, score 0.25
    # b: m constant 0.5 -> slope 0, score 0
    # c: m = .5 0 .5 0 -> slope -0.1; residuals .1 -.3 .3 -.1 -> SE = sqrt(0.2 / 2 / 5) = sqrt(0.02)
    # score = |b| b^2 / (b^2 + z^2 SE^2): a 0.25 (no noise); b 0; c 0.1 * 0.01 / (0.01 + 0.25 * 0.02) = 1/15
    assert known.tolist() == [True, True, True]
    assert b == pytest.approx([0.25, 0.0, -0.1])
    assert se == pytest.approx([0.0, 0.0, np.sqrt(0.02)])
    assert s.scores() == pytest.approx([0.25, 0.0, 1 / 15])
    # p = 0.9 * score / sum + 0.1 / 3, sum = 0.25 + 1/15 = 0.3166667
    assert s.probabilities() == pytest.approx([0.7438596, 0.0333333, 0.2228070], abs=1e-6)
    assert s.stats()["c"] == pytest.approx(
        {"groups": 4, "success": 0.25, "slope": -0.1, "se": np.sqrt(0.02), "known": 1.0,
         "score": 1 / 15}
    )  # fmt: skip


def test_groups_are_runs_of_one_problem_and_one_round_has_no_slope():
    s = Progress(["a"], min_groups=3)
    # one round, three problems: three groups, all at t = 1 -> S_tt = 0 -> no slope
    s.update(group("a", "p", [1, 1]) + group("a", "q", [0, 1]) + group("a", "r", [0, 0]))
    assert s.times.window(0) == [1.0, 1.0, 1.0]
    assert s.means.window(0) == [1.0, 0.5, 0.0]
    assert s.slopes()[2].tolist() == [False]


def test_window_keeps_the_last_groups():
    s = Progress(["a"], window=3, min_groups=3, z=0.0)
    for t, m in enumerate([[1, 1], [0, 0], [0, 1], [1, 1]]):
        s.update(group("a", f"p{t}", m))
    assert s.times.window(0) == [2.0, 3.0, 4.0] and s.means.window(0) == [0.0, 0.5, 1.0]
    assert s.slopes()[0] == pytest.approx([0.5])  # the oldest group (t=1, m=1) has left


def test_only_the_last_horizon_rounds_count():
    s = Progress(["a"], horizon=3, min_groups=3, z=0.0)
    for t, m in enumerate([[1, 1], [0, 0], [0, 1], [1, 1]]):  # rounds 1..4
        s.update(group("a", f"p{t}", m))
    # horizon 3 at round 4: rounds 2, 3, 4 (m = 0, 0.5, 1): slope 0.5; round 1's group (m = 1) is out
    assert s.slopes()[0] == pytest.approx([0.5])
    s.update([])  # round 5: rounds 3..5 hold two groups, fewer than min_groups: no slope
    assert s.slopes()[2].tolist() == [False]


def test_unknown_distributions_are_optimistic():
    s = Progress(["a", "b"], min_groups=3, z=0.0, epsilon=0.0)
    for t in range(3):
        s.update(group("a", f"p{t}", [float(t) / 2, float(t) / 2]))  # slope 0.5, b never drawn
    assert s.scores() == pytest.approx([0.5, 0.5])  # b takes the best known score: tried
    assert s.probabilities() == pytest.approx([0.5, 0.5])


def test_min_groups_larger_than_window_is_refused():
    with pytest.raises(ValueError, match="min_groups 10 exceeds window 5"):
        Progress(["a"], window=5, min_groups=10)


def test_simulated_mixture_prefers_progress_over_coin_flips_and_fixed_rates():
    """Success rates as functions of how much each distribution has been trained: `learn` rises with
    its own training (0.1 + 0.8 * min(1, trained / 400 groups)), `coin` is 0.5 whatever happens,
    `solved` is 1 and `hopeless` 0. Drawn from the scheduler's own probabilities, 16 prompts x 8
    completions a round for 60 rounds: `learn` must get far more than uniform's share and more than
    `coin`, which must get no more than uniform's share."""
    fixed = {"solved": 1.0, "coin": 0.5, "hopeless": 0.0}
    s = Progress(["solved", "learn", "coin", "hopeless"])
    share = simulate_mixture(s, lambda name, n: fixed.get(name, 0.1 + 0.8 * min(1.0, n / 400)), rounds=60)
    assert share["learn"] > 0.4
    assert share["learn"] > 2 * share["coin"]
    assert share["coin"] <= 0.25
