"""Knights and knaves: generator (uniqueness, determinism, DUMP fields), evaluator, answer parsing, verifier."""

from __future__ import annotations

import ast
import itertools
import random

import orjson
import pytest
from conftest import wrap

from dumpcli.puzzles import kk_logic
from dumpcli.puzzles.knights_knaves import SAID, KnightsKnaves, render
from dumpcli.puzzles.registry import get_family

KK = KnightsKnaves()


# an evaluator written independently of kk_logic: one assignment at a time, plain recursion
def truth(s: tuple, roles: tuple[bool, ...]) -> bool:
    op = s[0]
    if op == "telling-truth":
        return roles[s[1]]
    if op == "lying":
        return not roles[s[1]]
    if op == "not":
        return not truth(s[1], roles)
    if op == "and":
        return all(truth(c, roles) for c in s[1:])
    if op == "or":
        return any(truth(c, roles) for c in s[1:])
    if op == "->":
        return (not truth(s[1], roles)) or truth(s[2], roles)
    assert op == "<=>"
    return truth(s[1], roles) == truth(s[2], roles)


def brute_force(statements: tuple) -> list[list[bool]]:
    n = len(statements)
    return [
        list(roles)
        for roles in itertools.product([False, True], repeat=n)
        if all(truth(s, roles) == roles[i] for i, s in enumerate(statements))
    ]


def answer_of(record: dict) -> str:
    return record["solution_text_format"]


@pytest.mark.parametrize("n", [2, 3, 5, 8, 12])
def test_generated_puzzles_have_exactly_one_solution_by_brute_force(n: int) -> None:
    rng = random.Random(n)
    for _ in range(3 if n == 12 else 10):
        rec = KK.generate(n, rng)
        statements = ast.literal_eval(rec["statements"])
        assert len(statements) == n == len(rec["names"])
        assert brute_force(statements) == [rec["solution"]]


@pytest.mark.parametrize("depth,width", [(3, 2), (3, 3), (4, 4)])
def test_deeper_and_wider_puzzles_are_unique_too(depth: int, width: int) -> None:
    rng = random.Random(depth * 10 + width)
    for _ in range(5):
        rec = KK.generate(5, rng, depth=depth, width=width)
        statements = ast.literal_eval(rec["statements"])
        assert brute_force(statements) == [rec["solution"]]
        assert max(kk_logic.depth_of(s) for s in statements) <= depth
        assert rec["depth"] == depth and rec["width"] == width


def test_mask_evaluator_matches_brute_force_on_random_statements() -> None:
    rng = random.Random(0)
    from dumpcli.puzzles.knights_knaves import _sample

    for _ in range(200):
        n = rng.randint(1, 6)
        statements = tuple(_sample(rng, n, rng.randint(1, 4), rng.randint(2, 4)) for _ in range(n))
        assert sorted(kk_logic.solutions(statements, limit=1 << n)) == sorted(brute_force(statements))
        unique = kk_logic.unique_solution(statements)
        found = brute_force(statements)
        assert unique == (found[0] if len(found) == 1 else None)


def test_same_seed_same_puzzles_other_seed_other_puzzles() -> None:
    a = [KK.generate(6, random.Random(7)) for _ in range(3)]
    b = [KK.generate(6, random.Random(7)) for _ in range(3)]
    c = KK.generate(6, random.Random(8))
    assert orjson.dumps(a) == orjson.dumps(b)
    assert c["quiz"] != a[0]["quiz"]


def test_record_has_the_dump_logic_rl_fields_in_their_format() -> None:
    rec = KK.generate(3, random.Random(1))
    for field in (
        "quiz",
        "names",
        "knight_knave",
        "solution",
        "solution_text",
        "solution_text_format",
        "statements",
    ):
        assert field in rec
    assert rec["question"] == rec["quiz"]
    assert rec["answer"] == {"names": rec["names"], "solution": rec["solution"]}
    assert rec["quiz"].startswith(
        "A very special island is inhabited only by knights and knaves. Knights always tell the truth, "
        "and knaves always lie. You meet 3 inhabitants: "
    )
    assert rec["quiz"].endswith(" So who is a knight and who is a knave?")
    lines = rec["solution_text_format"].split("\n")
    assert [line.split(" ")[1] for line in lines] == rec["names"]
    assert lines[0].startswith("(1) ") and lines[0].endswith(("is a knight", "is a knave"))
    assert rec["statements"].startswith("((") and "'" in rec["statements"]  # Python tuple repr, as DUMP
    assert rec["knight_knave"]["a_knight"] == "a knight"
    orjson.dumps(rec)  # JSON-able


def test_statements_are_rendered_with_a_said_template_in_the_quiz() -> None:
    rec = KK.generate(4, random.Random(3))
    statements = ast.literal_eval(rec["statements"])
    for i, s in enumerate(statements):
        text = render(s, rec["names"])
        assert any(t.format(N=rec["names"][i], S=text) in rec["quiz"] for t in SAID)


def test_dump_phrasing_of_connectives() -> None:
    names = ["Liam", "Chloe"]
    assert render(("not", ("telling-truth", 1)), names) == "Chloe is not a knight"
    assert (
        render(("->", ("lying", 0), ("telling-truth", 1)), names)
        == "If Liam is a knave then Chloe is a knight"
    )
    assert (
        render(("<=>", ("lying", 0), ("lying", 1)), names)
        == "Liam is a knave if and only if Chloe is a knave"
    )
    assert render(("and", ("lying", 0), ("or", ("lying", 1), ("lying", 0))), names) == (
        "Liam is a knave and (Chloe is a knave or Liam is a knave)"
    )


def test_other_role_words_are_used_and_verified() -> None:
    rec = KK.generate(4, random.Random(5), roles="saint_sinner")
    assert "saints and sinners" in rec["quiz"] and "knight" not in rec["quiz"]
    assert rec["answer"]["roles"] == ["saint", "sinner"]
    assert KK.parse_answer(rec["solution_text_format"]) == rec["answer"]
    assert KK.verify(wrap(rec["solution_text_format"]), rec["answer"]).answer_score == 1.0


@pytest.mark.parametrize(
    "params,message",
    [({"people": 3}, "unknown knob 'people'"), ({"depth": 1}, "depth"), ({"roles": "x"}, "roles")],
)
def test_bad_params_name_the_knob(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KK.generate(3, random.Random(0), **params)


def test_difficulty_range_is_checked() -> None:
    assert KK.min_difficulty == 2 and KK.max_difficulty >= 16
    with pytest.raises(ValueError, match="people"):
        KK.generate(1, random.Random(0))
    with pytest.raises(ValueError, match="people"):
        KK.generate(KK.max_difficulty + 1, random.Random(0))


def test_sixteen_people_generate_and_are_consistent() -> None:
    rec = KK.generate(16, random.Random(0))
    statements = kk_logic.parse(rec["statements"], 16)
    assert kk_logic.unique_solution(statements) == rec["solution"]
    roles = tuple(rec["solution"])
    assert all(truth(s, roles) == roles[i] for i, s in enumerate(statements))


def test_registry_returns_this_family() -> None:
    assert isinstance(get_family("knights_knaves"), KnightsKnaves)


# -- parse_answer ---------------------------------------------------------------------------
def test_parse_answer_accepts_every_documented_form() -> None:
    rec = KK.generate(4, random.Random(11))
    canonical = {"names": rec["names"], "solution": rec["solution"]}
    ground_truth = orjson.dumps(
        {"solution_text_format": rec["solution_text_format"], "statements": rec["statements"]}
    ).decode()
    forms = [
        canonical,
        orjson.dumps(canonical).decode(),
        rec["solution_text_format"],
        rec["solution_text"],
        ground_truth,
        {"reward_model": {"ground_truth": ground_truth, "style": "rule"}},
        rec,
    ]
    for form in forms:
        assert KK.parse_answer(form) == canonical
    assert KK.parse_answer(KK.parse_answer(canonical)) == canonical


@pytest.mark.parametrize(
    "raw,message",
    [
        ("{not json", "invalid JSON"),
        ("nothing to see", "no '<name> is a knight/knave'"),
        ({"names": ["Liam"], "solution": [True, False]}, "solution"),
        ({"names": ["Liam", "liam"], "solution": [True, False]}, "distinct"),
        ({"names": ["Li am"], "solution": [True]}, "one word"),
        ({"names": ["Liam"], "solution": ["yes"]}, "booleans"),
        ({"something": 1}, "expected names"),
        (42, "expected a dict"),
        ("(1) Liam is a wizard", "unknown role word"),
    ],
)
def test_parse_answer_rejects_unusable_answers_clearly(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KK.parse_answer(raw)


def test_parse_answer_checks_statements_agree_with_the_solution() -> None:
    rec = KK.generate(3, random.Random(2))
    wrong = [not k for k in rec["solution"]]
    with pytest.raises(ValueError, match="differs"):
        KK.parse_answer({"names": rec["names"], "solution": wrong, "statements": rec["statements"]})
    two = "(('telling-truth', 0), ('telling-truth', 1))"  # everyone may be anything: 4 solutions
    with pytest.raises(ValueError, match="more than one"):
        KK.parse_answer({"names": ["Liam", "Chloe"], "solution": [True, True], "statements": two})
    with pytest.raises(ValueError, match="statements"):
        KK.parse_answer({"names": ["Liam"], "solution": [True], "statements": "__import__('os')"})


def test_statement_parser_is_bounded_and_strict() -> None:
    with pytest.raises(ValueError, match="longer"):
        kk_logic.parse("(" * (kk_logic.MAX_TEXT + 1))
    with pytest.raises(ValueError):
        kk_logic.parse("(" * 5000 + ")" * 5000)
    with pytest.raises(ValueError, match="person index"):
        kk_logic.parse("(('lying', 3),)", 1)
    with pytest.raises(ValueError, match="connective"):
        kk_logic.parse("(('xor', ('lying', 0), ('lying', 0)),)", 1)
    with pytest.raises(ValueError, match="2 statements for 3"):
        kk_logic.parse("(('lying', 0), ('lying', 1))", 3)


# -- verify ---------------------------------------------------------------------------------
ANSWER = {"names": ["Zoey", "Oliver", "Liam"], "solution": [True, False, True]}


@pytest.mark.parametrize(
    "text",
    [
        "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Liam is a knight",
        "Zoey is a knight, Oliver is a knave, and Liam is a knight.",
        "Zoey: knight\nOliver: knave\nLiam: knight",
        "  ZOEY IS A KNIGHT;   oliver   is a Knave;\n\n liam is a KNIGHT ",
        "**Zoey** - Knight\n**Oliver** - Knave\n**Liam** - Knight",
        "Oliver is a knave. Liam is a knight. Zoey is a knight.",
        "Zoey (knight), Oliver (knave), Liam (knight)",
        "| Zoey | knight |\n| Oliver | knave |\n| Liam | knight |",
    ],
)
def test_verifier_accepts_common_phrasings(text: str) -> None:
    verdict = KK.verify(wrap(text), ANSWER)
    assert verdict == (True, 1.0, True, "correct")


@pytest.mark.parametrize(
    "text,detail",
    [
        ("Zoey is a knight or a knave, Oliver is a knave, Liam is a knight", "hedged"),
        ("Zoey is a knight\nZoey is a knave\nOliver is a knave\nLiam is a knight", "hedged: Zoey"),
        ("Zoey is a knight and a knave. Oliver is a knave. Liam is a knight.", "hedged"),
        ("Zoey is a knight/knave, Oliver is a knave, Liam is a knight", "role word outside"),
        ("Zoey is a knight, Oliver is a knave, Liam is a knight, Bob is a knave", "not in the puzzle: bob"),
        (
            "Zoey is a knight\nOliver is a knave\nLiam is a knight\n" + "Zoey is a knight\n" * 20,
            "more assignments",
        ),
        ("The knights are Zoey and Liam; Oliver is a knave", "role word outside"),
        ("Zoey is a knight, Oliver is a knave. Liam is not a knave.", "negated"),
    ],
)
def test_verifier_never_credits_hedges_strangers_or_extra_assignments(text: str, detail: str) -> None:
    verdict = KK.verify(wrap(text), ANSWER)
    assert verdict.answer_score == 0.0 and not verdict.parsed
    assert detail in verdict.detail


RIGHT = "Zoey is a knight, Oliver is a knave, Liam is a knight. "


@pytest.mark.parametrize(
    "hidden",
    [
        "k\u200bnave",  # zero-width space
        "kn\u200d\u200cave",  # zero-width joiner and non-joiner
        "kna\u2060ve",  # word joiner
        "kna\u00adve",  # soft hyphen
        "\ufeffkna\u202eve",  # byte-order mark, right-to-left override
        "kna\U000e0041ve",  # a tag character
        "\uff4b\uff4e\uff41\uff56\uff45",  # full-width letters
    ],
)
def test_a_hedge_hidden_by_invisible_or_odd_characters_gets_nothing(hidden: str) -> None:
    from dumpcli.puzzles.rewards import score

    verdict = KK.verify(wrap(RIGHT + f"Zoey is a {hidden}."), ANSWER)  # ("maybe" is a hedge of its own)
    assert verdict.answer_score == 0.0 and not verdict.parsed, verdict
    assert verdict.detail == "hedged: Zoey"
    assert score(verdict, "dump") == -1.0  # was +3.0: the hedge was invisible to the verifier
    # and the same characters inside a right answer do not cost it anything
    right = "Zoey is a kni\u200bght, Oliver is a \uff4b\uff4e\uff41\uff56\uff45, Liam is a knight"
    assert KK.verify(wrap(right), ANSWER) == (True, 1.0, True, "correct")


@pytest.mark.parametrize(
    "claim",
    [
        "Actually Zoey always lies and Oliver tells the truth.",
        "Zoey is a liar.",
        "Zoey lies.",
        "Zoey is lying.",
        "Zoey: liar",
        "Oliver is a truth-teller.",
        "Oliver is a truth teller.",
        "Oliver is honest.",
        "Oliver is telling the truth.",
        "Oliver (truthful)",
        "Zoey and Liam always lie.",
        "Oliver and Liam are liars.",
    ],
)
def test_a_contradiction_in_other_words_is_a_hedge(claim: str) -> None:
    verdict = KK.verify(wrap(RIGHT + claim), ANSWER)
    assert verdict.answer_score == 0.0 and not verdict.parsed, verdict
    assert verdict.detail.startswith("hedged: ")


@pytest.mark.parametrize(
    "text",
    [
        "Zoey tells the truth, Oliver always lies, and Liam is a truth-teller.",
        "Zoey: truth-teller\nOliver: liar\nLiam: truth-teller",
        RIGHT + "So Zoey tells the truth and Oliver lies.",
        "Zoey and Liam tell the truth; Oliver is a liar.",
    ],
)
def test_role_synonyms_that_agree_are_assignments(text: str) -> None:
    assert KK.verify(wrap(text), ANSWER) == (True, 1.0, True, "correct")


def test_every_synonym_reads_as_its_role() -> None:
    from dumpcli.puzzles.knights_knaves import SYNONYMS

    for truthful, phrases in SYNONYMS.items():
        for phrase in phrases:
            verb = phrase in ("lie", "tell the truth", "tell lies")  # plural verbs: a group
            subject = "Zoey and Oliver" if verb else "Zoey"
            text = f"{subject} {'' if phrase.split()[0] in ('tells', 'tell', 'telling', 'lies', 'lie', 'lying', 'speaks') else 'is '}{phrase}"
            solution = [truthful, truthful] if verb else [truthful, not truthful]
            tail = "" if verb else f", Oliver is a {'knave' if truthful else 'knight'}"
            answer = {"names": ["Zoey", "Oliver"], "solution": solution}
            assert KK.verify(wrap(text + tail), answer).answer_score == 1.0, text + tail


def test_a_negated_synonym_is_not_an_assignment() -> None:
    for claim in ("Oliver does not tell the truth", "Oliver doesn't tell the truth", "Oliver never lies"):
        verdict = KK.verify(wrap(f"Zoey is a knight, {claim}, Liam is a knight"), ANSWER)
        assert verdict.answer_score == 0.0 and not verdict.parsed, (claim, verdict)


@pytest.mark.parametrize(
    "text",
    [
        "Zoey is a knight\nOliver is a knave\nLiam is a knight\nZoey is a knight",
        "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Liam is a knight\nSo Zoey is a knight.",
        "Zoey and Liam are knights, and Oliver is a knave.",
        "Oliver is a knave; Zoey and Liam are both knights.",
        "**Zoey** and **Liam** are knights. Oliver is a knave.",
        "Zoey, Liam are knights. Oliver is a knave.",
        "Oliver is a knave, Zoey and Liam are knights, and Zoey is a knight.",
    ],
)
def test_restated_and_grouped_assignments_are_accepted(text: str) -> None:
    assert KK.verify(wrap(text), ANSWER) == (True, 1.0, True, "correct")


def test_grouped_statements_of_more_people_and_other_role_words() -> None:
    names = ["Jacob", "Liam", "Mia", "Noah"]
    answer = {"names": names, "solution": [True, True, True, False]}
    for text in (
        "Jacob, Liam and Mia are knights. Noah is a knave.",
        "Jacob, Liam, and Mia are all knights; Noah is a knave.",
    ):
        assert KK.verify(wrap(text), answer) == (True, 1.0, True, "correct"), text
    heroes = {**answer, "roles": ["hero", "villain"]}
    assert KK.verify(wrap("Jacob, Liam and Mia are heroes. Noah is a villain."), heroes).answer_score == 1.0
    wrong = KK.verify(wrap("Jacob and Noah are knights. Liam and Mia are knaves."), answer)
    assert wrong.parsed and wrong.answer_score == pytest.approx(1 / 4)
    hedged = KK.verify(
        wrap("Jacob, Liam and Mia are knights. Noah is a knave. Mia and Noah are knaves."), answer
    )
    assert hedged.detail == "hedged: Mia"
    stranger = KK.verify(wrap("Jacob, Liam and Bob are knights. Mia is a knight. Noah is a knave."), answer)
    assert stranger.answer_score == 0.0 and not stranger.parsed


def test_reasoning_gym_hedge_gets_nothing() -> None:
    # reasoning-gym's partial credit gives 0.65 to this; a verifier must give 0
    answer = {"names": ["Zoey", "Oliver"], "solution": [True, False]}
    verdict = KK.verify(wrap("Zoey is a knight, Zoey is a knave"), answer)
    assert verdict.answer_score == 0.0 and not verdict.parsed


def test_partial_answers_score_the_fraction_right() -> None:
    wrong_one = KK.verify(wrap("Zoey is a knight, Oliver is a knight, Liam is a knight"), ANSWER)
    assert wrong_one.parsed and wrong_one.answer_score == pytest.approx(2 / 3)
    missing = KK.verify(wrap("Zoey is a knight, Oliver is a knave"), ANSWER)
    assert not missing.parsed and missing.answer_score == pytest.approx(2 / 3)
    assert "missing: Liam" in missing.detail


def test_last_answer_block_counts_and_format_is_logic_rl() -> None:
    right = "(1) Zoey is a knight (2) Oliver is a knave (3) Liam is a knight"
    wrong = "(1) Zoey is a knave (2) Oliver is a knave (3) Liam is a knight"
    two = f"<think>x</think><answer>{wrong}</answer><answer>{right}</answer>"
    assert KK.verify(two, ANSWER) == (False, 1.0, True, "correct")
    assert KK.verify(f"<answer>{right}</answer>", ANSWER).format_ok is False
    assert KK.verify(f"<think>x</think><answer>{right}</answer>\nDone.", ANSWER).format_ok is True
    assert KK.verify(f"<Think>x</THINK><Answer>{right}</Answer>", ANSWER).format_ok is True
    assert KK.verify("<think>x</think> no answer", ANSWER) == (
        False,
        0.0,
        False,
        "no <answer>...</answer> block",
    )


def test_reference_text_gets_full_credit_in_the_warm_start_format() -> None:
    for seed in range(5):
        rec = KK.generate(5, random.Random(seed), roles="random")
        text = KK.reference_text(rec["answer"])
        verdict = KK.verify(f"<think> </think> <answer> {text} </answer>", rec["answer"])
        assert verdict == (True, 1.0, True, "correct")


def test_fast_path_for_standard_lines_agrees_with_the_general_parser() -> None:
    from dumpcli.puzzles.knights_knaves import _compiled

    rng = random.Random(0)
    names = ["zoey", "oliver", "liam", "bob"]
    noise = [
        "bob",
        " or ",
        ": ",
        "(",
        ")",
        " not ",
        "(3) ",
        "x",
        "knights",
        " is a ",
        "knave",
        "-",
        "**",
        "\n",
        " ",
    ]
    key = _compiled(("Zoey", "Oliver", "Liam"), ("knight", "knave"))
    agreed = 0
    for _ in range(3000):
        lines = [
            f"({rng.randint(1, 12)}) {rng.choice(names)} is {rng.choice(['a', 'an'])} {rng.choice(['knight', 'knave'])}"
            for _ in range(rng.randint(1, 4))
        ]
        text = rng.choice(["\n", ", ", " "]).join(lines)
        for _ in range(rng.randint(0, 3)):  # insert noise at random places
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(noise) + text[at:]
        standard = key.roles.standard.findall(text)
        if len(standard) == key.mentions(text):
            assert standard == key.roles.assign.findall(text), text
            agreed += bool(standard)
    assert agreed > 500


def test_names_that_contain_a_role_word_still_parse() -> None:
    answer = {"names": ["Angela", "Devlin"], "solution": [True, False], "roles": ["angel", "devil"]}
    text = "(1) Angela is an angel\n(2) Devlin is a devil"
    assert KK.verify(wrap(text), answer) == (True, 1.0, True, "correct")
    assert KK.verify(wrap(text + "\n(3) Angela is a devil"), answer).detail == "hedged: Angela"
    knightley = {"names": ["Knightley", "Zoey"], "solution": [False, True]}
    assert KK.verify(wrap("Knightley is a knave, Zoey is a knight"), knightley).answer_score == 1.0


def test_fixed_names_knob_gives_the_first_names_in_order_and_still_a_unique_solution():
    import random as _random

    import pytest as _pytest

    from dumpcli.puzzles.knights_knaves import NAMES, KnightsKnaves

    kk = KnightsKnaves()
    for n in (2, 5, 9):
        p = kk.generate(n, _random.Random(n), names="fixed")
        assert p["names"] == list(NAMES[:n])
        assert p["answer"]["names"] == list(NAMES[:n])
        ref = f"<think> </think> <answer> {kk.reference_text(p['answer'])} </answer>"
        assert kk.verify(ref, p["answer"]).answer_score == 1.0
    with _pytest.raises(ValueError, match="names: Input should be 'random' or 'fixed' \\(got 'mixed'\\)"):
        kk.generate(3, _random.Random(0), names="mixed")
