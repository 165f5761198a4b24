"""Reward schemes: exact DUMP / Logic-RL values, binary, partial, and the TRL reward function."""

from __future__ import annotations

import re

import orjson
import pytest

from dumpcli.puzzles.base import Verdict
from dumpcli.puzzles.knights_knaves import KnightsKnaves
from dumpcli.puzzles.rewards import SCHEMES, RewardFunction, decode_answer, score

KK = KnightsKnaves()
ANSWER = {"names": ["Zoey", "Oliver", "Liam"], "solution": [True, False, True]}
RIGHT = "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Liam is a knight"
WRONG = "(1) Zoey is a knave\n(2) Oliver is a knave\n(3) Liam is a knight"

# hand-written completions and the DUMP / Logic-RL reward of each (format +-1, answer +2/-1.5/-2)
CASES = {
    "correct": (f"<think>Zoey must be a knight.</think><answer>{RIGHT}</answer>", 3.0),
    "correct, other order": (
        "<think>x</think>\n<answer>\n(1) Liam is a knight\n(2) Zoey is a knight\n(3) Oliver is a knave\n</answer>",
        3.0,
    ),
    "wrong": (f"<think>x</think><answer>{WRONG}</answer>", -0.5),
    "all wrong": (
        "<think>x</think><answer>Zoey is a knave, Oliver is a knight, Liam is a knave</answer>",
        -0.5,
    ),
    "hedged": (
        "<think>x</think><answer>(1) Zoey is a knight or a knave\n(2) Oliver is a knave\n(3) Liam is a knight</answer>",
        -1.0,
    ),
    "both roles": (f"<think>x</think><answer>{RIGHT}\n(4) Zoey is a knave</answer>", -1.0),
    "missing a person": (
        "<think>x</think><answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer>",
        -1.0,
    ),
    "no role words": ("<think>x</think><answer>I do not know</answer>", -1.0),
    "empty answer": ("<think>x</think><answer> </answer>", -1.0),
    "missing all tags": (RIGHT, -3.0),
    "missing think": (f"<answer>{RIGHT}</answer>", -3.0),
    "missing </answer>": (f"<think>x</think><answer>{RIGHT}", -3.0),
    "two answer blocks": (f"<think>x</think><answer>{WRONG}</answer><answer>{RIGHT}</answer>", -3.0),
    "two think blocks": (f"<think>x</think><think>y</think><answer>{RIGHT}</answer>", -3.0),
    "answer before think": (f"<answer>{RIGHT}</answer><think>x</think>", -3.0),
    "text after the answer": (f"<think>x</think><answer>{RIGHT}</answer>\nI hope this helps.", 3.0),
    "text before think": (f"Let me see. <think>x</think><answer>{RIGHT}</answer>", 3.0),
}


def logic_rl(completion: str, solution_text: str) -> float:
    """Logic-RL's kk reward, re-implemented from its description to cross-check the `dump` scheme."""
    truth = {}
    for line in solution_text.split("\n"):
        m = re.search(r"\b([A-Za-z]+)\b.*?\b(knight|knave)\b", line, re.IGNORECASE)
        if m:
            truth[m.group(1)] = m.group(2).lower()
    blocks = list(re.finditer(r"<answer>(.*?)</answer>", completion, re.DOTALL))
    answer = blocks[-1].group(1).strip() if blocks else None
    tags = ["<think>", "</think>", "<answer>", "</answer>"]
    positions = [completion.find(t) for t in tags]
    format_ok = all(completion.count(t) == 1 for t in tags) and positions == sorted(positions)
    if not (format_ok and answer):
        return (1 if format_ok else -1) - 2
    low = answer.lower()
    if low.count("knight") + low.count("knave") != len(truth):
        return 1 - 2
    given = {}
    for name in truth:
        m = re.search(rf"\b{name}\b\s+is\s+a\s+\b(knight|knave)\b", answer, re.IGNORECASE)
        if not m:
            return 1 - 2
        given[name] = m.group(1).lower()
    return 1 + (2 if given == truth else -1.5)


@pytest.mark.parametrize("case", list(CASES))
def test_dump_scheme_gives_the_exact_logic_rl_values(case: str) -> None:
    completion, expected = CASES[case]
    assert score(KK.verify(completion, ANSWER), "dump") == expected
    assert logic_rl(completion, RIGHT) == expected


def test_dump_reward_values_by_verdict() -> None:
    assert score(Verdict(True, 1.0, True, ""), "dump") == 3.0
    assert score(Verdict(True, 0.5, True, ""), "dump") == -0.5
    assert score(Verdict(True, 0.0, False, ""), "dump") == -1.0
    assert score(Verdict(False, 1.0, True, ""), "dump") == -3.0
    assert score(Verdict(False, 0.0, False, ""), "dump") == -3.0


def test_binary_and_partial_schemes() -> None:
    right = KK.verify(CASES["correct"][0], ANSWER)
    wrong = KK.verify(CASES["wrong"][0], ANSWER)
    hedged = KK.verify(CASES["hedged"][0], ANSWER)
    bad_format = KK.verify(CASES["missing think"][0], ANSWER)
    assert [score(v, "binary") for v in (right, wrong, hedged, bad_format)] == [1.0, 0.0, 0.0, 0.0]
    assert [score(v, "partial") for v in (right, wrong, hedged, bad_format)] == [
        1.0,
        pytest.approx(2 / 3),
        0.0,
        0.0,
    ]


def test_unknown_scheme_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown reward scheme"):
        score(Verdict(True, 1.0, True, ""), "nope")
    with pytest.raises(ValueError, match="unknown reward scheme"):
        RewardFunction("nope")


def test_reward_function_is_trl_compatible() -> None:
    fn = RewardFunction("dump")
    assert fn.__name__ == "dump_reward" and fn.scheme == "dump"
    answer = orjson.dumps(ANSWER).decode()
    completions = [
        CASES["correct"][0],
        [{"role": "assistant", "content": CASES["wrong"][0]}],
        [{"role": "assistant", "content": CASES["hedged"][0]}],
        CASES["two answer blocks"][0],
    ]
    rewards = fn(
        prompts=["p"] * 4,
        completions=completions,
        answer=[answer] * 4,
        verifier=["knights_knaves"] * 4,
        distribution=["kk/3"] * 4,
        trainer_state=None,
    )
    assert rewards == [3.0, -0.5, -1.0, -3.0]
    assert [v.answer_score for v in fn.last_verdicts] == [1.0, pytest.approx(1 / 3 * 2), 0.0, 1.0]
    assert all(isinstance(v, Verdict) for v in fn.last_verdicts)
    for scheme in SCHEMES:
        assert len(RewardFunction(scheme)([None], [CASES["correct"][0]], [answer], ["knights_knaves"])) == 1


def test_reward_function_decodes_each_answer_once() -> None:
    decode_answer.cache_clear()
    fn = RewardFunction("binary")
    answer = orjson.dumps(ANSWER).decode()
    fn([None] * 8, [CASES["correct"][0]] * 8, [answer] * 8, ["knights_knaves"] * 8)
    info = decode_answer.cache_info()
    assert info.misses == 1 and info.hits == 7


def test_reward_function_prefix_for_templates_that_open_the_thinking() -> None:
    fn = RewardFunction("dump", prefix="<think>")
    answer = orjson.dumps(ANSWER).decode()
    assert fn([None], [f"x</think><answer>{RIGHT}</answer>"], [answer], ["knights_knaves"]) == [3.0]


def test_reward_function_works_for_every_verifier() -> None:
    fn = RewardFunction("binary")
    answers = [
        orjson.dumps({"numbers": [2, 3, 4], "target": 20}).decode(),
        orjson.dumps("Paris").decode(),
        orjson.dumps({"attributes": ["Name", "Pet"], "houses": [["Alice", "cat"], ["Bob", "dog"]]}).decode(),
    ]
    completions = [
        "<think>x</think><answer>(2 + 3) * 4</answer>",
        "<think>x</think><answer> paris. </answer>",
        "<think>x</think><answer>House 1: Alice, cat\nHouse 2: Bob, dog</answer>",
    ]
    assert fn([None] * 3, completions, answers, ["countdown", "exact", "zebra"]) == [1.0, 1.0, 1.0]
