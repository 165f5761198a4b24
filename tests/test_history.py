"""The shared per-problem success history: every field against hand-computed values, the 16-bit
window, streaks, decay, unseen defaults, lookup order, hashing, state round-trip and exact resume."""

from __future__ import annotations

import io
from dataclasses import fields

import numpy as np
import pytest
import torch

from dumpcli.schedulers import history as history_module
from dumpcli.schedulers.history import HistoryView, ProblemHistory, problem_keys

FIELDS = [f.name for f in fields(HistoryView)]


def one(h: ProblemHistory, pid: str) -> dict[str, float]:
    """Every field of one problem as plain Python numbers."""
    view = h.get([pid])
    return {name: getattr(view, name)[0].item() for name in FIELDS}


def expected(**kw: float) -> dict[str, float]:
    base = dict.fromkeys(FIELDS, 0)
    base["seen"] = True
    return {**base, **kw}


def test_every_field_by_hand_over_three_updates():
    h = ProblemHistory()
    # x appears three times in one update (one visit, outcomes 1, 0, 1 in that order); y twice
    h.update(["x", "y", "x", "x", "y"], [1, 0, 0, 1, 0])
    assert len(h) == 2
    assert one(h, "x") == expected(
        visits=1, completions=3, successes=2.0, failures=1.0, last_success=2 / 3, last_size=3,
        recent_rate=2 / 3, recent_count=3,
    )  # fmt: skip
    assert one(h, "y") == expected(
        visits=1, completions=2, successes=0.0, failures=2.0, last_size=2, recent_count=2, streak_none=1
    )
    h.update(["y", "y", "x"], np.array([0.0, 0.0, 1.0]))
    assert one(h, "x") == expected(
        visits=2, completions=4, successes=3.0, failures=1.0, last_success=1.0, last_size=1,
        recent_rate=3 / 4, recent_count=4, streak_all=1,
    )  # fmt: skip
    assert one(h, "y") == expected(
        visits=2, completions=4, failures=4.0, last_size=2, recent_count=4, streak_none=2
    )
    # y's first success ends its no-success streak and starts an all-success one; x not visited
    h.update(["y"], [1])
    assert one(h, "y") == expected(
        visits=3, completions=5, successes=1.0, failures=4.0, last_success=1.0, last_size=1,
        recent_rate=1 / 5, recent_count=5, streak_all=1,
    )  # fmt: skip
    assert one(h, "x")["visits"] == 2 and one(h, "x")["streak_all"] == 1
    # a mixed visit resets both streaks
    h.update(["x", "x"], [1, 0])
    assert one(h, "x")["streak_all"] == 0 and one(h, "x")["streak_none"] == 0
    assert one(h, "x")["recent_rate"] == 4 / 6


def test_recent_window_keeps_the_latest_16_outcomes_in_the_given_order():
    h = ProblemHistory()
    h.update(["x"] * 10, [1] * 10)
    h.update(["x"] * 10, [0] * 10)  # latest 16: six 1s, ten 0s
    assert (one(h, "x")["recent_rate"], one(h, "x")["recent_count"]) == (6 / 16, 16)
    h.update(["x"] * 20, [1] * 4 + [0] * 16)  # the four 1s come first: all shifted out
    assert (one(h, "x")["recent_rate"], one(h, "x")["completions"]) == (0.0, 40)
    h.update(["x", "x", "x"], [1, 1, 0])  # latest 16: thirteen 0s, then 1, 1, 0
    assert one(h, "x")["recent_rate"] == 2 / 16
    # order inside one visit of more than 16: only its last 16 count
    a, b = ProblemHistory(), ProblemHistory()
    a.update(["p"] * 21, [0] * 16 + [1] * 5)
    b.update(["p"] * 21, [1] * 5 + [0] * 16)
    assert one(a, "p")["recent_rate"] == 5 / 16 and one(b, "p")["recent_rate"] == 0.0
    # interleaved with another problem: each problem's own order
    c = ProblemHistory()
    c.update(["p"] * 16, [0] * 16)
    c.update(["p", "q", "p", "q"], [1, 0, 0, 1])  # p: 1 then 0 -> the window is 14 zeros, 1, 0
    c.update(["p"] * 13, [0] * 13)  # the 1 is now the 15th latest
    assert one(c, "p")["recent_rate"] == 1 / 16
    c.update(["p"], [0])  # 16th latest: still in
    assert one(c, "p")["recent_rate"] == 1 / 16
    c.update(["p"], [0])  # 17th: shifted out
    assert one(c, "p")["recent_rate"] == 0.0
    assert c.values["recent"][c.slot[np.searchsorted(c.keys, problem_keys(["q"]))]].tolist() == [0b01]


def test_decay_discounts_per_visit():
    h = ProblemHistory(decay=0.5)
    h.update(["x"] * 4 + ["y"], [1, 1, 1, 1, 0])  # x: S 4, F 0; y: S 0, F 1
    h.update(["x", "x"], [0, 0])  # x: S 0.5*4 = 2, F 0.5*0 + 2 = 2
    h.update(["x", "x"], [1, 0])  # x: S 0.5*2 + 1 = 2, F 0.5*2 + 1 = 2
    h.update(["x"], [1])  # x: S 0.5*2 + 1 = 2, F 0.5*2 = 1
    assert (one(h, "x")["successes"], one(h, "x")["failures"]) == (2.0, 1.0)
    assert (one(h, "y")["successes"], one(h, "y")["failures"]) == (0.0, 1.0)  # not visited: no decay
    assert one(h, "x")["completions"] == 9 and one(h, "x")["visits"] == 4
    z = ProblemHistory(decay=0.0)  # only the latest visit
    z.update(["x"] * 3, [1, 1, 0])
    z.update(["x"] * 2, [0, 0])
    assert (one(z, "x")["successes"], one(z, "x")["failures"]) == (0.0, 2.0)
    with pytest.raises(ValueError, match="decay"):
        ProblemHistory(decay=1.5)


def test_fractional_successes_count_as_given_in_the_counts_and_rounded_in_the_bits():
    h = ProblemHistory()
    h.update(["x", "x"], [0.75, 0.5])
    assert one(h, "x") == expected(
        visits=1, completions=2, successes=1.25, failures=0.75, last_success=0.625, last_size=2,
        recent_rate=1.0, recent_count=2, streak_all=1,
    )  # fmt: skip


def test_unseen_defaults_and_lookup_order():
    h = ProblemHistory()
    view = h.get(["a", "b"])
    for name in FIELDS:
        assert getattr(view, name).tolist() == [0, 0], name
    assert view.seen.dtype == bool and view.successes.dtype == np.float64 and view.visits.dtype == np.int64
    h.update(["b", "a", "a", "c"], [1, 0, 0, 1])
    view = h.get(["c", "nope", "a", "c", "b"])
    assert view.seen.tolist() == [True, False, True, True, True]
    assert view.completions.tolist() == [1, 0, 2, 1, 1]
    assert view.last_success.tolist() == [1.0, 0.0, 0.0, 1.0, 1.0]
    assert view.streak_none.tolist() == [0, 0, 1, 0, 0]
    assert h.get([]).seen.shape == (0,)


def test_keys_are_blake2b_and_the_same_in_every_process():
    assert problem_keys(["x", "kk/3/000017", ""]).tolist() == [
        5717441744405258058,  # int.from_bytes(blake2b(b"x", digest_size=8).digest(), "little")
        15729656354500363216,
        13020603013274838756,
    ]
    assert problem_keys(["x", "y", "x"]).dtype == np.uint64


def test_a_hash_collision_merges_the_two_problems(monkeypatch):
    real = history_module.blake2b
    monkeypatch.setattr(
        history_module, "blake2b", lambda data, digest_size: real(b"same", digest_size=digest_size)
    )
    h = ProblemHistory()
    h.update(["x", "y"], [1, 0])
    assert len(h) == 1 and one(h, "x") == one(h, "y") and one(h, "x")["completions"] == 2
    h.load_legacy(["x", "y"], last_success=[0.5, 1.0])
    assert len(h) == 1 and one(h, "y")["last_success"] == 0.5


def test_bad_updates_are_refused():
    h = ProblemHistory()
    with pytest.raises(ValueError, match=r"success\[1\] is 1.5"):
        h.update(["x", "y"], [1, 1.5])
    with pytest.raises(ValueError, match=r"success\[0\] is nan"):
        h.update(["x"], [float("nan")])
    with pytest.raises(ValueError, match="2 problem ids but successes of shape"):
        h.update(["x", "y"], [1])
    h.update([], [])
    assert len(h) == 0


def saved(h: ProblemHistory) -> dict:
    buf = io.BytesIO()
    torch.save({"history": h.state_dict()}, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)["history"]


def random_round(rng: np.random.Generator, universe: int) -> tuple[list[str], np.ndarray]:
    """32 prompts x 8 completions from `universe` problems, shuffled."""
    ids = np.repeat(rng.integers(universe, size=32), 8)
    order = rng.permutation(len(ids))
    return [f"p{i}" for i in ids[order]], (rng.random(len(ids)) < 0.4).astype(float)


def assert_same(a: ProblemHistory, b: ProblemHistory, ids: list[str]) -> None:
    va, vb = a.get(ids), b.get(ids)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(va, name), getattr(vb, name), err_msg=name)
    assert len(a) == len(b)


def test_state_round_trip_resumes_exactly():
    rng = np.random.default_rng(0)
    first, straight = ProblemHistory(decay=0.9), ProblemHistory(decay=0.9)
    for _ in range(6):
        ids, succ = random_round(rng, 300)
        first.update(ids, succ)
        straight.update(ids, succ)
    state = saved(first)
    assert all(isinstance(v, torch.Tensor) for k, v in state.items() if k not in ("format", "decay"))
    back = ProblemHistory()  # decay comes from the state
    back.load_state_dict(state)
    assert back.decay == 0.9
    universe = [f"p{i}" for i in range(400)]
    assert_same(straight, back, universe)
    for _ in range(6):  # new problems too: the restored slot layout differs, the answers do not
        ids, succ = random_round(rng, 400)
        straight.update(ids, succ)
        back.update(ids, succ)
    assert_same(straight, back, universe)

    def plain(state: dict) -> dict:
        return {k: v.tolist() if isinstance(v, torch.Tensor) else v for k, v in state.items()}

    assert plain(saved(straight)) == plain(saved(back))
    empty = ProblemHistory()
    empty.load_state_dict(saved(ProblemHistory()))
    assert len(empty) == 0 and not empty.get(["x"]).seen[0]


def test_bad_states_are_refused():
    h = ProblemHistory()
    h.update(["x", "y", "z"], [1, 0, 1])
    good = h.state_dict()
    cases = [
        ({**good, "format": "other"}, "not a problem history state"),
        ({k: v for k, v in good.items() if k != "visits"}, "no 'visits'"),
        ({**good, "keys": good["keys"].flip(0)}, "strictly increasing"),
        ({**good, "failures": good["failures"][:2]}, "'failures' must be a vector of 3"),
        ({**good, "successes": -good["successes"] - 1}, "'successes' must be finite and >= 0"),
        ({**good, "last_success": good["last_success"] + 2}, "'last_success' must be in"),
        ({**good, "decay": 2.0}, "decay must be in"),
    ]
    for state, message in cases:
        with pytest.raises(ValueError, match=message):
            ProblemHistory().load_state_dict(state)


def test_legacy_states_convert_to_one_visit_each():
    h = ProblemHistory()
    h.load_legacy(["b", "a"], successes=[2.0, 0.0], failures=[1.0, 3.0])
    assert one(h, "b") == expected(visits=1, successes=2.0, failures=1.0)
    assert one(h, "a") == expected(visits=1, failures=3.0)
    h.update(["a"], [1])
    assert one(h, "a")["successes"] == 1.0 and one(h, "a")["recent_rate"] == 1.0
    p = ProblemHistory()
    p.load_legacy(["x"], last_success=[0.25])
    assert one(p, "x") == expected(visits=1, last_success=0.25)
    with pytest.raises(ValueError, match="success rates must be in"):
        p.load_legacy(["x"], last_success=[1.5])
    with pytest.raises(ValueError, match="'failures' must hold one finite value"):
        p.load_legacy(["x", "y"], failures=[1.0])


def test_memory_is_arrays_of_about_54_bytes_a_problem():
    h = ProblemHistory()
    h.update([f"p{i}" for i in range(10_000)], np.ones(10_000))
    assert len(h) == 10_000
    capacity = len(h.values["visits"])
    per_slot = sum(a.itemsize for a in h.values.values())  # 3 x 8 + 3 x 4 + 3 x 2 = 42
    assert per_slot == 42
    assert h.nbytes == 10_000 * (8 + 4) + capacity * per_slot
    assert capacity <= 1.5 * 10_000 + 2
