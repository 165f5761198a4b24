"""Countdown: reach a target with the given numbers (each used exactly once) and + - * /.

Generation combines the numbers in a random order with random operators, keeping every
intermediate result a non-negative integer, so each puzzle has at least the recorded solution.
Any other expression that reaches the target with the same numbers is just as right.

The verifier never evaluates model output with `eval`: it parses the expression with
`ast.parse(mode="eval")` and accepts only integer literals, + - * / and parentheses, on at most
`MAX_EXPRESSION` characters, then computes exactly with fractions. An answer may state its value
("(1 + 2) * 3 = 9", "9 = (1 + 2) * 3"), and write times as `*`, `x` or `×`; a stated value that is not the expression's value is a
wrong answer, even when the expression itself reaches the target.
"""

from __future__ import annotations

import ast
import itertools
import random
from collections import Counter
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from pydantic import Field

from dumpcli.puzzles.answer import answer_block, from_json_text, visible_text
from dumpcli.puzzles.base import Knobs, PuzzleFamily, Verdict, int_knob

MAX_EXPRESSION = 500
_OPS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
# how people write the operators: `x` for times (no other letter can stand in an expression)
_UNICODE = str.maketrans(
    {"×": "*", "·": "*", "x": "*", "X": "*", "÷": "/", "−": "-", "–": "-", "\u2009": " ", "\u00a0": " "}
)


class CountdownKnobs(Knobs):
    max_number: int = Field(50, ge=2, le=10_000, description="largest given number")
    max_target: int = Field(999, ge=10, le=10**9, description="largest target")


class Countdown(PuzzleFamily):
    name = "countdown"
    description = "Reach the target with the given numbers, each used once, and + - * /"
    difficulty_knobs = (
        "difficulty = count of numbers (2..8); params: max_number (largest given number, default 50), "
        "max_target (default 999)"
    )
    min_difficulty = 2
    max_difficulty = 8
    Knobs = CountdownKnobs

    def generate(self, difficulty: int, rng: random.Random, **params: Any) -> dict[str, Any]:
        knobs = self.knobs(params)
        n = int_knob(
            "countdown", "difficulty (count of numbers)", difficulty, self.min_difficulty, self.max_difficulty
        )
        max_number, max_target = knobs.max_number, knobs.max_target
        for _ in range(10_000):
            numbers = [rng.randint(1, max_number) for _ in range(n)]
            found = _random_expression(rng, numbers)
            if found is not None and 1 <= found[0] <= max_target and found[0] not in numbers:
                target, expression = found
                break
        else:  # pragma: no cover - needs absurd knobs
            raise RuntimeError(f"countdown: no puzzle found for n={n}, max_target={max_target}")
        question = (
            f"Using the numbers {numbers}, write an arithmetic expression that equals {target}. "
            "Use each number exactly once, with + - * / and parentheses. Put only the expression "
            "inside <answer> </answer>, for example <answer> (1 + 2) * 3 </answer>."
        )
        answer = {"numbers": numbers, "target": target, "solution": expression}
        return {
            "question": question,
            "answer": answer,
            "numbers": numbers,
            "target": target,
            "solution": expression,
        }

    def parse_answer(self, raw: Any) -> dict[str, Any]:
        """Canonical `{"numbers": [...], "target": int, "solution"?: str}`; accepts TinyZero's `nums`."""
        raw = from_json_text(raw)
        if not isinstance(raw, Mapping):
            raise ValueError(f"answer: expected {{numbers, target}}, got {type(raw).__name__}")
        numbers = raw.get("numbers", raw.get("nums"))
        if hasattr(numbers, "tolist"):
            numbers = numbers.tolist()
        target = raw.get("target")
        if not isinstance(numbers, (list, tuple)) or not numbers or len(numbers) > 32:
            raise ValueError("answer: numbers must be a list of 1..32 integers")
        if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in numbers):
            raise ValueError("answer: numbers must be non-negative integers")
        if hasattr(target, "item"):
            target = target.item()
        if isinstance(target, bool) or not isinstance(target, int):
            raise ValueError("answer: target must be an integer")
        out: dict[str, Any] = {"numbers": [int(x) for x in numbers], "target": int(target)}
        if isinstance(raw.get("solution"), str):
            out["solution"] = raw["solution"]
        return out

    def reference_text(self, answer: Any) -> str:
        answer = self.parse_answer(answer)
        if "solution" in answer:
            return answer["solution"]
        found = solve(answer["numbers"], answer["target"])
        if found is None:
            raise ValueError(
                f"countdown: no reference solution for {answer['numbers']} -> {answer['target']}"
            )
        return found

    def verify(self, completion: str, answer: Any) -> Verdict:
        if not (isinstance(answer, dict) and "numbers" in answer and "target" in answer):
            answer = self.parse_answer(answer)
        block = answer_block(completion)
        if block.answer is None:
            return Verdict(block.format_ok, 0.0, False, block.problem)
        try:
            expression, claim = split_claim(visible_text(block.answer))
            value, used = evaluate(expression)
            claimed = None if claim is None else evaluate(claim)[0]
        except ValueError as e:
            return Verdict(block.format_ok, 0.0, False, str(e))
        if claimed is not None and claimed != value:
            return Verdict(block.format_ok, 0.0, True, f"claims {claim} but equals {value}")
        if Counter(used) != Counter(answer["numbers"]):
            return Verdict(
                block.format_ok, 0.0, True, f"uses {sorted(used)}, not {sorted(answer['numbers'])}"
            )
        if value != answer["target"]:
            return Verdict(block.format_ok, 0.0, True, f"equals {value}, not {answer['target']}")
        return Verdict(block.format_ok, 1.0, True, "correct")


def expression_of(text: str) -> str:
    """The expression in an answer: "(1 + 2) * 3", "(1 + 2) * 3 = 9" or "9 = (1 + 2) * 3"."""
    return split_claim(text)[0]


def split_claim(text: str) -> tuple[str, str | None]:
    """(expression, the other side of its '=' or None): "9 = (1 + 2) * 3" -> ("(1 + 2) * 3", "9")."""
    text = text.translate(_UNICODE).strip().rstrip(".").strip()
    if len(text) > MAX_EXPRESSION:
        raise ValueError(f"expression longer than {MAX_EXPRESSION} characters")
    parts = [p.strip() for p in text.split("=")]
    if len(parts) > 2:
        raise ValueError("more than one '='")
    if len(parts) == 2 and not parts[1]:
        return parts[0], None  # "(1 + 2) * 3 =": nothing claimed
    if len(parts) == 2:
        if parts[0].isdigit() and not parts[1].isdigit():
            return parts[1], parts[0]
        return parts[0], parts[1]
    return parts[0], None


def evaluate(expression: str) -> tuple[Fraction, list[int]]:
    """Value and numbers used of an expression of integers, + - * / and parentheses (ast only)."""
    if len(expression) > MAX_EXPRESSION:
        raise ValueError(f"expression longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ValueError("not an arithmetic expression") from None
    used: list[int] = []
    try:
        return _value(tree.body, used), used
    except RecursionError:
        raise ValueError("expression nested too deeply") from None


def _value(node: ast.AST, used: list[int]) -> Fraction:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _value(node.left, used), _value(node.right, used)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if right == 0:
            raise ValueError("division by zero")
        return left / right
    raise ValueError(f"only integers, + - * / and parentheses are allowed (found {type(node).__name__})")


def _random_expression(rng: random.Random, numbers: list[int]) -> tuple[int, str] | None:
    """Combine all numbers in random order with random operators; None if it went non-integer."""
    items: list[tuple[int, str]] = [(x, str(x)) for x in numbers]
    rng.shuffle(items)
    while len(items) > 1:
        (a, ea), (b, eb) = items.pop(rng.randrange(len(items))), items.pop(rng.randrange(len(items)))
        if a < b:
            (a, ea), (b, eb) = (b, eb), (a, ea)
        choices = ["+", "*"] + (["-"] if a > b else []) + (["/"] if b > 1 and a % b == 0 else [])
        op = rng.choice(choices)
        value = {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b else 0}[op]
        items.append((value, f"({ea} {op} {eb})"))
    value, expression = items[0]
    expression = expression[1:-1] if expression.startswith("(") else expression
    return (value, expression) if isinstance(value, int) else None


def solve(numbers: list[int], target: int, max_numbers: int = 5) -> str | None:
    """An expression reaching `target` with all `numbers` (exhaustive; small inputs only)."""
    if len(numbers) > max_numbers:
        return None
    goal = Fraction(target)

    def search(items: tuple[tuple[Fraction, str], ...]) -> str | None:
        if len(items) == 1:
            return items[0][1] if items[0][0] == goal else None
        for i, j in itertools.combinations(range(len(items)), 2):
            (a, ea), (b, eb) = items[i], items[j]
            rest = tuple(x for k, x in enumerate(items) if k not in (i, j))
            options = [(a + b, f"({ea} + {eb})"), (a * b, f"({ea} * {eb})"), (a - b, f"({ea} - {eb})")]
            options.append((b - a, f"({eb} - {ea})"))
            if b:
                options.append((a / b, f"({ea} / {eb})"))
            if a:
                options.append((b / a, f"({eb} / {ea})"))
            for value, text in options:
                found = search((*rest, (value, text)))
                if found is not None:
                    return found
        return None

    found = search(tuple((Fraction(x), str(x)) for x in numbers))
    return found[1:-1] if found and found.startswith("(") else found
