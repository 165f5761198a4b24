"""The `frontier` scheduler (uniform, with the dead weight moved to measured progress): by hand, and
on a simulated mixture where a learnable distribution must gain and a coin flip must not."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import simulate_mixture

from dumpcli.schedulers.base import Feedback
from dumpcli.schedulers.frontier import Frontier


def group(dist: str, pid: str, successes: list[float]) -> list[Feedback]:
    return [Feedback(dist, pid, s, 0.0, s) for s in successes]


def test_weights_scores_and_probabilities_by_hand():
    s = Frontier(["a", "b", "c"], scale=0.5, horizon=50, min_groups=4)
    assert s.probabilities() == pytest.approx([1 / 3] * 3)  # nothing judged: uniform
    rounds = [  # one group of 4 completions per distribution a round
        ([0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]),  # means a 0,    b 1, c 0.5
        ([1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]),  # a 0.25, b 1, c 0
        ([1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 1, 0]),  # a 0.5,  b 1, c 0.5
        ([1, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]),  # a 0.75, b 1, c 0
    ]
    for t, (a, b, c) in enumerate(rounds):
        s.update(group("a", f"a{t}", a) + group("b", f"b{t}", b) + group("c", f"c{t}", c))
    mixed, judged = s.mixed_shares()
    # a: 3 of 4 groups mixed (the all-wrong first is not); b: none (all right); c: 2 of 4
    assert mixed == pytest.approx([0.75, 0.0, 0.5]) and judged.tolist() == [True] * 3
    # w = 0.25 + 0.75 * min(1, mixed / 0.5): a 1, b 0.25, c 1
    w = s.weights(mixed, judged)
    assert w == pytest.approx([1.0, 0.25, 1.0])
    # slopes (t = 1..4): a 0.25 with no residual (SE 0): s = 0.25; b 0; c -0.1: not rising, s = 0
    assert s.scores() == pytest.approx([0.25, 0.0, 0.0])
    # F = (0 + 0.75 + 0) / 3 = 0.25, S = 0.25, c = 0.5 / 50 = 0.01
    # p_a = 1/3 + 0.25 * 0.25 / 0.26; p_b = (0.25 + 0.75 * 0.01 / 0.26) / 3; p_c = 1/3
    expected = [1 / 3 + 0.25 * 0.25 / 0.26, (0.25 + 0.75 * 0.01 / 0.26) / 3, 1 / 3]
    assert s.probabilities() == pytest.approx(expected, abs=1e-12)
    assert sum(expected) == pytest.approx(1.0)
    assert s.stats()["b"] == pytest.approx(
        {"groups": 4, "success": 1.0, "mixed": 0.0, "weight": 0.25, "slope": 0.0, "se": 0.0,
         "known": 1.0, "score": 0.0}
    )  # fmt: skip


def test_the_noise_correction_of_a_rising_slope():
    s = Frontier(["a"], min_groups=3, z=1.0)
    for t, m in enumerate([[0, 0], [1, 0], [0, 0], [1, 1]]):  # means 0, 0.5, 0, 1
        s.update(group("a", f"p{t}", m))
    b, se, _ = s.slopes()
    # t = 1..4, dt = -1.5 -0.5 0.5 1.5, S_tt = 5; m - mean = -0.375 0.125 -0.375 0.625
    # b = (0.5625 - 0.0625 - 0.1875 + 0.9375) / 5 = 0.25; residuals 0 0.25 -0.5 0.25 -> SE = sqrt(0.375 / 2 / 5)
    assert b[0] == pytest.approx(0.25) and se[0] == pytest.approx(np.sqrt(0.0375))
    # s = b (1 - z^2 SE^2 / b^2) = 0.25 * (1 - 0.0375 / 0.0625) = 0.1
    assert s.scores() == pytest.approx([0.1])
    s.options.z = 1.5  # 2.25 * 0.0375 = 0.084 > b^2: the slope is within z SE of 0, s = 0
    assert s.scores() == pytest.approx([0.0])


def test_without_measured_progress_the_mixture_is_uniform():
    """Dead weight is only moved *to* progress: a solved, a hopeless and a flat distribution and no
    rising slope leave every share at 1/k."""
    s = Frontier(["solved", "hopeless", "flat"], min_groups=3)
    for t in range(5):
        s.update(group("solved", f"s{t}", [1] * 8) + group("hopeless", f"h{t}", [0] * 8)
                 + group("flat", f"f{t}", [1, 0] * 4))  # fmt: skip
    assert s.weights(*s.mixed_shares()) == pytest.approx([0.25, 0.25, 1.0])
    assert s.scores() == pytest.approx([0.0, 0.0, 0.0])
    assert s.probabilities() == pytest.approx([1 / 3] * 3)


def test_single_completions_are_never_mixed():
    s = Frontier(["a"], min_groups=3)
    for t in range(4):
        s.update(group("a", f"p{t}", [t % 2]))  # groups of one completion: success 0 or 1
    assert s.mixed_shares()[0] == pytest.approx([0.0])


def test_simulated_mixture_moves_dead_weight_to_progress_and_not_to_a_coin_flip():
    """Success rates as functions of how much each distribution has been trained: `learn` rises with
    its own training (0.1 + 0.8 * min(1, trained / 400 groups)), `coin` is 0.5 whatever happens,
    `solved` is 1, `hopeless` 0 and `slow` rises from 0.2 to 0.3 over 2000 groups. Drawn from the
    scheduler's own probabilities, 16 prompts x 8 completions a round for 300 rounds: `learn` must get
    more than uniform's share, from the dead weight, and `coin` and `slow` about uniform's."""
    def rate(name: str, trained: int) -> float:
        if name == "learn":
            return 0.1 + 0.8 * min(1.0, trained / 400)
        if name == "slow":
            return 0.2 + 0.1 * min(1.0, trained / 2000)
        return {"solved": 1.0, "coin": 0.5, "hopeless": 0.0}[name]

    share = simulate_mixture(Frontier(["solved", "learn", "coin", "hopeless", "slow"]), rate, rounds=300)
    assert share["learn"] > 0.25
    assert share["solved"] < 0.18 and share["hopeless"] < 0.18
    assert 0.18 < share["coin"] < 0.22 and 0.18 < share["slow"] < 0.24
