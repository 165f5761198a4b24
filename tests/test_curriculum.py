"""The sampler side of the curriculum, without TRL: draws, feedback, log, state."""

from __future__ import annotations

import numpy as np
import orjson

from dumpcli.schedulers import Feedback, registry
from dumpcli.train.curriculum import Curriculum

DISTS = ["kk/2", "kk/3", "kk/4"]
ROWS = ["kk/2"] * 5 + ["kk/3"] * 3 + ["kk/4"] * 2  # row index -> distribution


def make(tmp_path=None, seed=0, name="ucb"):
    sched = registry.build(name, DISTS, seed=seed)
    return Curriculum(sched, ROWS, seed=seed, log_path=(tmp_path / "c.jsonl") if tmp_path else None)


def test_draws_stay_inside_the_drawn_distribution_and_are_deterministic():
    a, b = make(seed=3), make(seed=3)
    rows_a = [a.draw(16, step=s) for s in range(4)]
    rows_b = [b.draw(16, step=s) for s in range(4)]
    assert rows_a == rows_b
    assert make(seed=4).draw(16, step=0) != rows_a[0]
    for rows in rows_a:
        assert len(rows) == 16 and all(0 <= r < len(ROWS) for r in rows)


def test_draw_follows_the_probabilities():
    cur = make(name="uniform")
    drawn = [ROWS[r] for _ in range(200) for r in cur.draw(30, step=0)]
    shares = np.array([drawn.count(d) for d in DISTS]) / len(drawn)
    # uniform over distributions, not over rows (kk/2 has 5 rows, kk/4 two)
    np.testing.assert_allclose(shares, [1 / 3] * 3, atol=0.02)


def test_observe_updates_scheduler_and_logs_what_produced_the_probabilities(tmp_path):
    cur = make(tmp_path)
    cur.draw(2, step=0)
    fb = [Feedback("kk/2", "a", 1.0, 0.5, 1.0), Feedback("kk/2", "a", -1.0, -0.5, 0.0)]
    fb += [Feedback("kk/3", "b", -1.0, 0.0, 0.0)] * 2
    per_dist = cur.observe(fb)
    assert per_dist["kk/2"] == {"reward": 0.0, "accuracy": 0.5, "abs_advantage": 0.5, "completions": 2.0}
    assert per_dist["kk/3"]["abs_advantage"] == 0.0
    stats = cur.scheduler.stats()
    assert stats["kk/2"]["n"] == 2 and stats["kk/3"]["n"] == 2 and stats["kk/4"]["n"] == 0
    line = orjson.loads((tmp_path / "c.jsonl").read_bytes().splitlines()[0])
    assert line["step"] == 0 and line["draw"] == 0 and line["scheduler"] == "ucb"
    assert abs(sum(line["probabilities"].values()) - 1) < 1e-12
    assert line["probabilities"] == {d: 1 / 3 for d in DISTS}  # uniform before any feedback
    assert line["stats"]["kk/2"]["n"] == 0  # stats *before* the update, i.e. those behind the probabilities
    assert sum(line["drawn"].values()) == 2


def test_state_round_trip_gives_the_same_future(tmp_path):
    a = make()
    for step in range(3):
        rows = a.draw(8, step=step)
        a.observe([Feedback(ROWS[r], str(r), 0.0, float(r % 3) - 1, 0.0) for r in rows])
    b = make()
    b.load_state_dict(orjson.loads(orjson.dumps(a.state_dict())))
    assert b.draw(8, step=3) == a.draw(8, step=3)
    np.testing.assert_array_equal(a.scheduler.probabilities(), b.scheduler.probabilities())
