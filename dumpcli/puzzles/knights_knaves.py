"""Knights and knaves: the puzzles of Logic-RL and DUMP, generated with unique solutions, and their verifier.

Generation follows the DUMP test set's language and logic: every person makes one statement in
the tuple notation of `kk_logic` (leaf, `not` of a leaf, and/or/->/<=> of sub-statements, nested
up to `depth` with up to `width` operands), phrased with one of 18 "X said" templates. A puzzle is
kept only if exactly one assignment of roles is consistent (exhaustive check over all 2^n
assignments as bit masks); this is rejection sampling, so puzzles follow the conditional
distribution of the statement sampler given uniqueness, as in the original generator.

The verifier reads the last <answer> block, as a reader sees it (`answer.reader_text`: HTML
entities decoded, NFKC, no zero-width or other format characters, look-alike letters of other
scripts read as Latin ones, accents dropped). It accepts "(1) Zoey is a knight", "Zoey is a
knight, and Oliver is a knave.", "Zoey: knight", "**Zoey** - Knight", "Zoey's role: knight",
`{"Zoey": "knight"}`, grouped statements ("Zoey and Liam are knights", "Zoey, Liam and Mia are all
knaves"), role synonyms ("Zoey tells the truth", "Oliver always lies", "Oliver is a liar",
`SYNONYMS`), and a person stated twice with the same role. It gives no credit when a person gets
both roles in any of these words, a role word is not attached to a person (hedges such as "Zoey
is a knight or a knave"), a role is negated ("Liam is not a knave", "Oliver does not tell the
truth"), or someone not in the puzzle is named; nor when the answer is not committed
(`_UNCOMMITTED`: "It is not the case that Zoey is a knight", "Maybe", "I cannot determine", "If
Zoey is a knight then ...", a question mark), or holds a role word that no claim reads
("k-n-a-v-e", "kn.ave": a second claim a reader sees and the parser would not).
"""

from __future__ import annotations

import functools
import operator
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import orjson
from pydantic import Field

from dumpcli.puzzles import kk_logic
from dumpcli.puzzles.answer import answer_block, reader_text
from dumpcli.puzzles.base import Knobs, PuzzleFamily, Verdict, int_knob

NAMES = (
    "Abigail Aiden Alexander Amelia Aria Aurora Ava Avery Benjamin Charlotte Chloe Daniel David "
    "Elizabeth Ella Emily Emma Ethan Evelyn Grace Harper Henry Isabella Jack Jackson Jacob James Joseph "
    "Liam Lily Logan Lucas Luke Mason Matthew Mia Michael Noah Oliver Olivia Owen Penelope Riley Samuel "
    "Scarlett Sebastian Sofia Sophia Victoria William Zoey Hannah Nora Leo Ruby Isaac Caleb Stella Julian"
).split()

# role pairs: (truth-teller, liar) as (word, with article, plural)
ROLE_PAIRS: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "knight_knave": (("knight", "a knight", "knights"), ("knave", "a knave", "knaves")),
    "saint_sinner": (("saint", "a saint", "saints"), ("sinner", "a sinner", "sinners")),
    "angel_devil": (("angel", "an angel", "angels"), ("devil", "a devil", "devils")),
    "hero_villain": (("hero", "a hero", "heroes"), ("villain", "a villain", "villains")),
    "altruist_egoist": (("altruist", "an altruist", "altruists"), ("egoist", "an egoist", "egoists")),
    "sage_fool": (("sage", "a sage", "sages"), ("fool", "a fool", "fools")),
    "pioneer_laggard": (("pioneer", "a pioneer", "pioneers"), ("laggard", "a laggard", "laggards")),
}
DEFAULT_ROLES = ("knight", "knave")
_ROLE_WORD = {w[0]: (key, i == 0) for key, pair in ROLE_PAIRS.items() for i, w in enumerate(pair)}

# How a statement is introduced; {N} the speaker, {S} the statement (the DUMP test set's 18 forms).
SAID = (
    'In a statement by {N}: "{S}".',
    'According to {N}, "{S}".',
    '{N} asserted: "{S}".',
    'In {N}\'s words: "{S}".',
    '"{S}" - {N}.',
    '{N} was heard saying, "{S}".',
    '"{S}," {N} mentioned.',
    '"{S}," {N} claimed.',
    '{N} commented, "{S}".',
    '"{S}," {N} declared.',
    '{N} noted, "{S}".',
    '{N} remarked, "{S}".',
    '{N} stated, "{S}".',
    'As {N} put it, "{S}".',
    '{N} said, "{S}."',
    "{N} told you that {S}.",
    "{N} expressed that {S}.",
    "{N} said that {S}.",
)


class KKKnobs(Knobs):
    depth: int = Field(2, ge=2, le=4, description="nesting of a statement (DUMP: 2)")
    width: int = Field(2, ge=2, le=4, description="operands of and/or")
    roles: Literal[("random", *ROLE_PAIRS)] = "knight_knave"  # type: ignore[valid-type]
    names: Literal["random", "fixed"] = "random"


_RESERVED = frozenset({"is", "a", "an", "the", "was", "and", "or", "not"}) | set(_ROLE_WORD)
_NAME = re.compile(r"[A-Za-z]+")
_CONNECTIVES = frozenset({"and", "or", "nor", "but", "either", "maybe", "possibly", "probably", "perhaps"})
# "(1) Liam is a knave" / "Liam is a knave," in reference texts (names in order of appearance)
_REFERENCE = re.compile(r"\b([A-Za-z]+)\s+is\s+an?\s+([A-Za-z]+)\b")
MAX_ATTEMPTS = 100_000
# Role claims in other words, read as "<name> is a <truthful role>" / "... <liar role>" so that the
# hedge rule sees them: "Zoey is a knight ... actually Zoey always lies" names Zoey twice with two roles.
SYNONYMS = {
    True: ("tells the truth", "tell the truth", "telling the truth", "speaks the truth", "truthful",
           "honest", "truth-teller", "truth teller", "truthteller"),
    False: ("lies", "lie", "lying", "liar", "tells lies", "tell lies", "dishonest"),
}  # fmt: skip
_SYNONYM = re.compile(
    r"\b(?:(?P<cop>is|are|was|were)\s+)?"
    r"(?:(?P<neg>not|never|(?:does|do|did)\s+not|(?:doesn|don|didn|isn|aren|wasn|weren)['\u2019]t)\s+)?"
    r"(?:(?:always|only)\s+)?(?:(?:an?|the)\s+)?"
    r"(?P<claim>"
    + "|".join(
        re.escape(phrase).replace(r"\ ", r"\s+").replace(r"\-", r"[\s-]?")
        + ("s?" if phrase.endswith(("er", "ar")) else "")
        for phrase in sorted({p for ps in SYNONYMS.values() for p in ps}, key=len, reverse=True)
    )
    + r")\b",
    re.ASCII,
)
_PLURAL_VERBS = frozenset({"tell", "speak", "lie"})
_LIAR_WORDS = ("lie", "lying", "liar", "dishonest")  # in every liar phrase of SYNONYMS, no truthful one
_SYNONYM_HINTS = ("truth", "honest", *_LIAR_WORDS)  # one is in every phrase of SYNONYMS
_GROUP_TOKEN = re.compile(r"[a-z]+|,")
# What leaves an answer uncommitted, anywhere in it: a claim under negation ("it is not the case
# that", "it is false that"), doubt ("maybe", "I cannot determine"), a condition ("if ... then"),
# a question mark. A reader would not take such an answer as the one the writer commits to.
_UNCOMMITTED = re.compile(
    r"\?|\b(?:not\s+the\s+case|not\s+true|(?:false|untrue|wrong|incorrect)\s+that|maybe|perhaps|possibly"
    r"|probably|likely|unlikely|might|could|if|whether|unless|suppos(?:e|ing)|assum(?:e|ing)|uncertain"
    r"|unclear|unsure|not\s+sure|unknown|undetermined|indeterminate|impossible|cannot|can['\u2019]?t"
    r"|can\s+not|guess|either|seems?|appears?)\b",
    re.ASCII,
)
# The first word of each of those (the search runs only when one is in the answer: C-level checks
# keep the usual answer fast), and the bytes that are not letters (deleted, or made spaces).
_UNCOMMITTED_WORDS = frozenset(
    b"not false untrue wrong incorrect maybe perhaps possibly probably likely unlikely might could if "
    b"whether unless suppose supposing assume assuming uncertain unclear unsure unknown undetermined "
    b"indeterminate impossible cannot can guess either seem seems appear appears".split()
)
_NOT_LETTERS = bytes(b for b in range(256) if not ord("a") <= b <= ord("z"))
_LETTERS_ONLY = bytes.maketrans(_NOT_LETTERS, b" " * len(_NOT_LETTERS))


class KnightsKnaves(PuzzleFamily):
    name = "knights_knaves"
    description = "Knights always tell the truth, knaves always lie: who is who? (DUMP / Logic-RL puzzles)"
    difficulty_knobs = (
        f"difficulty = number of people (2..{kk_logic.MAX_PEOPLE}); params: depth (2..4, nesting of a "
        "statement, default 2 as in DUMP), width (2..4, operands of and/or, default 2), names (random, or fixed: the first n names in "
        "order), roles "
        f"(knight_knave, random, or one of {', '.join(k for k in ROLE_PAIRS if k != 'knight_knave')})"
    )
    min_difficulty = 2
    max_difficulty = kk_logic.MAX_PEOPLE
    Knobs = KKKnobs

    # -- generation ------------------------------------------------------------------------
    def generate(self, difficulty: int, rng: random.Random, **params: Any) -> dict[str, Any]:
        """One puzzle with `difficulty` people and exactly one solution."""
        knobs = self.knobs(params)
        n = int_knob(
            "knights_knaves", "difficulty (people)", difficulty, self.min_difficulty, self.max_difficulty
        )
        depth, width, roles_key, names_key = knobs.depth, knobs.width, knobs.roles, knobs.names

        full, knights = kk_logic.masks(n)
        for _ in range(MAX_ATTEMPTS):
            statements = []
            mask = full
            for i in range(n):  # rejection sampling, stopping as soon as no assignment is left
                s = _sample(rng, n, depth, width)
                statements.append(s)
                mask &= full ^ (kk_logic.evaluate(s, knights, full) ^ knights[i])
                if not mask:
                    break
            if mask and not mask & (mask - 1):
                solution = kk_logic.decode(mask.bit_length() - 1, n)
                return self._record(statements, solution, rng, depth, width, roles_key, names_key)
        raise RuntimeError(
            f"knights_knaves: no unique puzzle in {MAX_ATTEMPTS} attempts (n={n}, depth={depth})"
        )

    def _record(
        self,
        statements: list[tuple],
        solution: list[bool],
        rng: random.Random,
        depth: int,
        width: int,
        roles: str,
        names_key: str = "random",
    ) -> dict[str, Any]:
        n = len(statements)
        # "fixed": always the first n names, in order, so the answer's names follow from the number
        # of people (for tiny CPU models, which cannot learn to copy names in a few hundred steps)
        names = list(NAMES[:n]) if names_key == "fixed" else rng.sample(NAMES, n)
        key = rng.choice(list(ROLE_PAIRS)) if roles == "random" else roles
        (good, a_good, goods), (bad, a_bad, bads) = ROLE_PAIRS[key]
        words = {
            "Knave": bad.capitalize(),
            "Knight": good.capitalize(),
            "a_knave": a_bad,
            "a_knight": a_good,
            "knave": bad,
            "knight": good,
        }
        said = [
            rng.choice(SAID).format(N=names[i], S=render(s, names, a_good, a_bad))
            for i, s in enumerate(statements)
        ]
        quiz = (
            f"A very special island is inhabited only by {goods} and {bads}. {goods.capitalize()} always tell "
            f"the truth, and {bads} always lie. You meet {n} inhabitants: {_join(names)}. "
            + " ".join(said)
            + f" So who is {a_good} and who is {a_bad}?"
        )
        roles_of = [a_good if k else a_bad for k in solution]
        answer: dict[str, Any] = {"names": names, "solution": solution}
        if (good, bad) != DEFAULT_ROLES:
            answer["roles"] = [good, bad]
        return {
            "question": quiz,
            "answer": answer,
            "quiz": quiz,
            "names": names,
            "knight_knave": words,
            "solution": solution,
            "solution_text": _join([f"{name} is {r}" for name, r in zip(names, roles_of, strict=True)]) + ".",
            "solution_text_format": "\n".join(
                f"({i}) {name} is {r}" for i, (name, r) in enumerate(zip(names, roles_of, strict=True), 1)
            ),
            "statements": kk_logic.to_text(statements),
            "depth": depth,
            "width": width,
        }

    # -- reference answers -----------------------------------------------------------------
    def parse_answer(self, raw: Any) -> dict[str, Any]:
        """Canonical `{"names", "solution"[, "roles"]}` from: that dict (or its JSON), a Logic-RL
        `solution_text_format` text, a DUMP `reward_model.ground_truth` JSON, or a whole record.
        If statements come along, the solution must be their unique solution."""
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        if isinstance(raw, str):
            text = raw.strip()
            if not text.startswith("{"):
                return _from_text(text)
            try:
                raw = orjson.loads(text)
            except orjson.JSONDecodeError as e:
                raise ValueError(f"answer: invalid JSON ({e})") from None
        if not isinstance(raw, Mapping):
            raise ValueError(f"answer: expected a dict or text, got {type(raw).__name__}")
        if "names" in raw and "solution" in raw:
            answer = _canonical(raw["names"], raw["solution"], _roles_of(raw))
        elif "solution_text_format" in raw:
            answer = _from_text(str(raw["solution_text_format"]))
        elif isinstance(raw.get("reward_model"), Mapping) and "ground_truth" in raw["reward_model"]:
            return self.parse_answer(raw["reward_model"]["ground_truth"])
        elif "ground_truth" in raw:
            return self.parse_answer(raw["ground_truth"])
        else:
            raise ValueError(
                "answer: expected names + solution, solution_text_format, or reward_model.ground_truth"
            )
        if raw.get("statements") is not None:
            _check_statements(raw["statements"], answer)
        return answer

    def reference_text(self, answer: Any) -> str:
        answer = self.parse_answer(answer)
        good, bad = answer.get("roles", DEFAULT_ROLES)
        return "\n".join(
            f"({i}) {name} is {_article(good if k else bad)}"
            for i, (name, k) in enumerate(zip(answer["names"], answer["solution"], strict=True), 1)
        )

    # -- verification ----------------------------------------------------------------------
    def verify(self, completion: str, answer: Any) -> Verdict:
        if not (isinstance(answer, dict) and "names" in answer and "solution" in answer):
            answer = self.parse_answer(answer)
        block = answer_block(completion)
        if block.answer is None:
            return Verdict(block.format_ok, 0.0, False, block.problem)
        roles = answer.get("roles")
        key = _compiled(tuple(answer["names"]), DEFAULT_ROLES if roles is None else tuple(roles))
        return _judge(block.format_ok, reader_text(block.answer), key, answer["solution"])


# -- generation helpers ----------------------------------------------------------------------
def _sample(rng: random.Random, n: int, depth: int, width: int) -> tuple:
    """A random statement: leaf, not-leaf, and/or/->/<=> equally likely (leaves at depth 1)."""
    leaf = ("telling-truth" if rng.random() < 0.5 else "lying", rng.randrange(n))
    if depth <= 1:
        return leaf
    kind = rng.randrange(6)
    if kind == 0:
        return leaf
    if kind == 1:
        return ("not", leaf)
    op = ("and", "or", "->", "<=>")[kind - 2]
    arity = rng.randint(2, width) if op in kk_logic.VARIADIC else 2
    return (op, *(_sample(rng, n, depth - 1, width) for _ in range(arity)))


def render(s: tuple, names: Sequence[str], a_knight: str = "a knight", a_knave: str = "a knave") -> str:
    """A statement in DUMP's English ("If Liam is a knave then Chloe is a knight")."""
    op = s[0]
    if op == "telling-truth":
        return f"{names[s[1]]} is {a_knight}"
    if op == "lying":
        return f"{names[s[1]]} is {a_knave}"
    if op == "not" and s[1][0] in kk_logic.LEAVES:
        inner = s[1]
        return f"{names[inner[1]]} is not {a_knight if inner[0] == 'telling-truth' else a_knave}"

    def sub(c: tuple) -> str:
        text = render(c, names, a_knight, a_knave)
        return (
            text if c[0] in kk_logic.LEAVES or c[0] == "not" and c[1][0] in kk_logic.LEAVES else f"({text})"
        )

    if op == "not":
        return f"it is not the case that {sub(s[1])}"
    if op in kk_logic.VARIADIC:
        return f" {op} ".join(sub(c) for c in s[1:])
    if op == "->":
        return f"If {sub(s[1])} then {sub(s[2])}"
    return f"{sub(s[1])} if and only if {sub(s[2])}"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


# -- reference answers -----------------------------------------------------------------------
def _canonical(names: Any, solution: Any, roles: tuple[str, str]) -> dict[str, Any]:
    if isinstance(names, np.ndarray):
        names = names.tolist()
    if isinstance(solution, np.ndarray):
        solution = solution.tolist()
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError("answer: names must be a non-empty list")
    if not isinstance(solution, (list, tuple)) or len(solution) != len(names):
        raise ValueError(f"answer: solution must be a list of {len(names)} booleans (knight = true)")
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name.lower() in _RESERVED:
            raise ValueError(f"answer: name {name!r} must be one word of letters (and not a role word)")
    lowered = [name.lower() for name in names]
    if len(set(lowered)) != len(lowered):
        raise ValueError("answer: names must be distinct")
    if not all(isinstance(k, (bool, np.bool_)) for k in solution):
        raise ValueError("answer: solution must hold booleans (knight = true)")
    out: dict[str, Any] = {"names": list(names), "solution": [bool(k) for k in solution]}
    if tuple(roles) != DEFAULT_ROLES:
        out["roles"] = list(roles)
    return out


def _roles_of(raw: Mapping[str, Any]) -> tuple[str, str]:
    roles = raw.get("roles")
    if roles is None and isinstance(raw.get("knight_knave"), Mapping):
        roles = (raw["knight_knave"].get("knight"), raw["knight_knave"].get("knave"))
    if roles is None:
        return DEFAULT_ROLES
    if (
        not isinstance(roles, (list, tuple))
        or len(roles) != 2
        or not all(isinstance(r, str) and _NAME.fullmatch(r) for r in roles)
        or roles[0].lower() == roles[1].lower()
    ):
        raise ValueError(f"answer: roles must be two different words [truthful, liar], got {roles!r}")
    return (roles[0].lower(), roles[1].lower())


def _from_text(text: str) -> dict[str, Any]:
    """From "(1) Liam is a knave\\n(2) Chloe is a knight..." (or "Liam is a knave, Chloe is ...")."""
    if len(text) > 100_000:
        raise ValueError("answer: solution text too long")
    names: list[str] = []
    solution: list[bool] = []
    pair = None
    for m in _REFERENCE.finditer(text):
        word = m.group(2).lower()
        if word not in _ROLE_WORD:
            raise ValueError(f"answer: unknown role word {m.group(2)!r} in {m.group(0)!r}")
        key, truthful = _ROLE_WORD[word]
        if pair not in (None, key):
            raise ValueError(f"answer: role words of two different pairs ({pair}, {key})")
        pair = key
        names.append(m.group(1))
        solution.append(truthful)
    if not names:
        raise ValueError(f"answer: no '<name> is a knight/knave' in {text[:80]!r}")
    roles = tuple(w[0] for w in ROLE_PAIRS[pair or "knight_knave"])
    return _canonical(names, solution, roles)  # type: ignore[arg-type]


def _check_statements(statements: Any, answer: dict[str, Any]) -> None:
    n = len(answer["names"])
    if n > kk_logic.MAX_PEOPLE:
        return
    parsed = kk_logic.parse(statements, n)
    found = kk_logic.solutions(parsed, limit=2)
    if len(found) != 1:
        raise ValueError(f"statements: {'no' if not found else 'more than one'} consistent assignment")
    if found[0] != answer["solution"]:
        raise ValueError("statements: their unique solution differs from the given solution")


# -- verification helpers --------------------------------------------------------------------
class _Roles:
    """Per role-word pair (cached): the words and the regexes that find assignments."""

    def __init__(self, roles: tuple[str, str]) -> None:
        words = sorted({roles[0], roles[1], *DEFAULT_ROLES}, key=len, reverse=True)
        self.words = tuple(words)
        self.encoded = tuple(w.encode() for w in words)
        self.truthful = frozenset({roles[0], DEFAULT_ROLES[0]})
        alt = "|".join(words)
        # "<name> is a <role>", "<name>: <role>", "**<name>** - <role>", "<name> (<role>)",
        # "<name>'s role: <role>", JSON's `"<name>": "<role>"`, ...
        # linear: starts only at word boundaries; the separator classes are disjoint from letters.
        # ASCII mode (the text is lower-cased, whitespace normalised) is twice as fast as Unicode.
        self.assign = re.compile(
            rf"\b([a-z]+)\b(?:['\u2019]s\b)?(?:\s*(?:role|identity)\b)?[\s*_:=,(|>\-\u2013\u2014\u2192\"']*"
            rf"(?:(?:is|was)\b[\s*_:]*)?(?:(?:an?|the)\b[\s*_]*)?\b({alt})\b",
            re.ASCII,
        )
        # the prompt's own format "(1) zoey is a knight": a literal-prefix regex, 2-3x faster
        self.standard = re.compile(rf"\(\d{{1,3}}\) ([a-z]+) is an? ({alt})\b", re.ASCII)
        self.mention = re.compile(rf"\b(?:{alt})(?:e?s)?\b", re.ASCII)
        self.pair = roles  # (truthful, liar): what synonyms are rewritten into
        # "<names> are [all|both] <role>s": the names are read backwards from the match
        self.group = re.compile(rf"\bare\s+(?:(?:all|both)\s+)?({alt})(?:e?s)?\b", re.ASCII)
        # role words are counted as substrings unless one contains another (then as whole words)
        self.words_clash = any(w in other for w in words for other in words if w != other)


@functools.lru_cache(maxsize=64)
def _roles(roles: tuple[str, str]) -> _Roles:
    return _Roles(roles)


class _Key:
    """What the answer parser needs for one puzzle: name index and the role-word patterns."""

    __slots__ = ("index", "names", "order", "roles", "by_word")

    def __init__(self, names: tuple[str, ...], roles: tuple[str, str]) -> None:
        self.names = names
        joined = " ".join(names).lower()  # names are single words (checked by parse_answer)
        self.index = dict(zip(joined.split(" "), range(len(names)), strict=True))
        self.order = list(range(len(names)))
        self.roles = _roles(roles)
        # Role words are counted as substrings, as Logic-RL does ("knights", "knighthood" count),
        # unless a name contains one ("Angela" with angel/devil); then as whole words (slower).
        self.by_word = self.roles.words_clash or any(map(joined.__contains__, self.roles.words))

    def mentions(self, text: str) -> int:
        """How many role words the text holds; each must belong to one assignment."""
        if self.by_word:
            return len(self.roles.mention.findall(text))
        return sum(map(text.count, self.roles.words))


@functools.lru_cache(maxsize=4096)
def _compiled(names: tuple[str, ...], roles: tuple[str, str]) -> _Key:
    return _Key(names, roles)


def _judge(format_ok: bool, text: str, key: _Key, solution: Sequence[bool]) -> Verdict:
    """Score a lower-cased answer block."""
    if not text.isascii():
        text = " ".join(text.split())  # Unicode spaces -> " " for the ASCII-mode regex
    raw = text.encode()
    if "?" in text or not _UNCOMMITTED_WORDS.isdisjoint(raw.translate(_LETTERS_ONLY).split()):
        doubt = _UNCOMMITTED.search(text)
        if doubt is not None:
            return Verdict(format_ok, 0.0, False, f"not committed: {doubt.group(0)!r}")
    n = len(key.names)
    plain = _plain_claims(text, key)
    letters = (raw if plain is text else plain.encode()).translate(None, _NOT_LETTERS)
    text = plain
    if sum(map(letters.count, key.roles.encoded)) > sum(map(text.count, key.roles.words)):
        # "kn-ave", "k n a v e": a role word a reader sees, spelled so that no claim holds it
        return Verdict(format_ok, 0.0, False, "a role word with separators inside it (hedged or unclear)")
    mentions = key.mentions(text)
    # When the standard lines hold every role word, the general regex would find exactly these
    # pairs (it cannot start before a "(k) " prefix and still reach the role word), so skip it.
    found = key.roles.standard.findall(text)
    if len(found) != mentions:
        found = key.roles.assign.findall(text)
    if len(found) > 4 * n + 8:
        return Verdict(format_ok, 0.0, False, f"more assignments than people ({len(found)} > {n})")
    if not found:
        return Verdict(format_ok, 0.0, False, "no '<name> is a knight/knave' in the answer")
    # map() and dict(zip()) rather than a Python loop: this is the hot path of training
    names, roles = zip(*found, strict=True)
    idxs = list(map(key.index.get, names))
    if None in idxs:
        name, role = found[idxs.index(None)]
        if name in _CONNECTIVES:  # "Zoey is a knight or a knave"
            return Verdict(format_ok, 0.0, False, f"hedged: '{name} ... {role}'")
        if name == "not":  # "Liam is not a knave": say the role, not its negation
            return Verdict(format_ok, 0.0, False, f"negated: 'not ... {role}'")
        return Verdict(format_ok, 0.0, False, f"not in the puzzle: {name}")
    knights = list(map(key.roles.truthful.__contains__, roles))
    if idxs == key.order and mentions == n:  # everyone once, in order, no other role word: usual
        predicted = knights
    else:
        given = dict(zip(idxs, knights, strict=True))
        if len(given) < len(found):  # someone named twice: the same role again is fine, not both
            first: dict[int, bool] = {}
            for idx, knight in zip(idxs, knights, strict=True):
                if first.setdefault(idx, knight) != knight:
                    return Verdict(format_ok, 0.0, False, f"hedged: {key.names[idx]}")
        if mentions != len(found):
            return Verdict(
                format_ok, 0.0, False, "a role word outside '<name> is a <role>' (hedged or unclear)"
            )
        if len(given) < n:
            right = sum(1 for i, k in given.items() if solution[i] == k)
            missing = [key.names[i] for i in range(n) if i not in given]
            return Verdict(format_ok, right / n, False, f"missing: {', '.join(missing)}")
        predicted = list(map(given.__getitem__, range(n)))
    if predicted == list(solution):
        return Verdict(format_ok, 1.0, True, "correct")
    right = sum(map(operator.eq, predicted, solution))
    return Verdict(format_ok, right / n, True, f"wrong: {right}/{n} right")


def _plain_claims(text: str, key: _Key) -> str:
    """Every role claim as "<name> is a <role>": synonyms first ("zoey always lies" -> "zoey is a
    knave"; a negated one becomes "is not a <role>", which the parser refuses), then grouped
    statements ("zoey and liam are knights" -> "zoey is a knight, liam is a knight"). Both are
    linear scans; a group's names are read backwards over at most a window of the text."""
    if any(map(text.__contains__, _SYNONYM_HINTS)):  # C-level checks keep the usual answer fast
        text = _SYNONYM.sub(lambda m: _as_role(m, key.roles.pair), text)
    if "are" not in text:
        return text
    n = len(key.names)
    pieces, last = [], 0
    for count, m in enumerate(key.roles.group.finditer(text)):
        if count > n + 8:  # far more groups than people: leave the rest unread (hence unclear)
            break
        window = max(last, m.start() - 40 * (n + 1))
        members, start = _group_names(text, window, m.start(), key)
        if len(members) < 2:
            continue
        pieces += [text[last:start], ", ".join(f"{name} is a {m.group(1)}" for name in reversed(members))]
        last = m.end()
    return "".join(pieces) + text[last:] if pieces else text


def _as_role(m: re.Match[str], pair: tuple[str, str]) -> str:
    """A synonym match in role words: "always lies" -> "is a knave", "tell the truth" (after two
    names) -> "are knights", "does not tell the truth" -> "is not a knight"."""
    claim = m["claim"]
    liar = any(w in claim for w in _LIAR_WORDS)
    role = pair[1] if liar else pair[0]
    first = claim.split(None, 1)[0]
    plural = m["cop"] in ("are", "were") or (m["cop"] is None and first in _PLURAL_VERBS)
    neg = "not " if m["neg"] else ""
    return f"are {neg}{role}s" if plural else f"is {neg}a {role}"


def _group_names(text: str, window: int, end: int, key: _Key) -> tuple[list[str], int]:
    """The puzzle names joined by ',' / 'and' right before `end` (last first), and where they start."""
    tokens = list(_GROUP_TOKEN.finditer(text, window, end))
    members: list[str] = []
    start = end
    i = len(tokens) - 1
    while i >= 0 and tokens[i].group() in key.index:
        members.append(tokens[i].group())
        start = tokens[i].start()
        j = i - 1
        while j >= 0 and i - j <= 2 and tokens[j].group() in (",", "and"):
            j -= 1
        if j == i - 1:  # no separator: the list ends here
            break
        i = j
    return members, start
