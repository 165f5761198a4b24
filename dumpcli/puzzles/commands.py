"""`dump puzzles list | generate | verify`: the puzzle families from the command line."""

from __future__ import annotations

import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonlines
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from dumpcli import plugins
from dumpcli.errors import DataError, DumpError
from dumpcli.io import atomic_path, jsonl_reader, jsonl_writer
from dumpcli.puzzles import registry
from dumpcli.puzzles.answer import completion_text
from dumpcli.puzzles.base import PuzzleFamily, Verdict
from dumpcli.puzzles.rewards import SCHEMES, score

EXAMPLE_SEED = 0
MAX_DUPLICATE_RATIO = 20  # give up on a level after this many tries per puzzle wanted


# -- list --------------------------------------------------------------------------------------
def list_families(console: Console) -> None:
    """Table of families (difficulty range, knobs) and one small example each."""
    table = Table(title="Puzzle families", show_lines=True)
    table.add_column("family", style="bold")
    table.add_column("difficulty")
    table.add_column("knobs")
    table.add_column("description")
    families, broken = [], []
    for name in registry.names():
        try:
            families.append((name, registry.get_family(name)))
        except plugins.PluginError as e:  # an installed plug-in that does not load: say so, list the rest
            broken.append(f"{name}: {e}")
    for name, family in families:
        table.add_row(
            name,
            f"{family.min_difficulty}..{family.max_difficulty}",
            family.difficulty_knobs,
            family.description,
        )
    console.print(table)
    others = [n for n in registry.verifier_names() if n not in registry.names()]
    if others:
        console.print(f"Verifiers for file sources (no generator): {', '.join(others)}")
    for line in broken:
        console.print(f"[red]plug-in not loaded:[/] {escape(line)}", highlight=False)
    for name, family in families:
        level = min(family.max_difficulty, family.min_difficulty + 1)
        example = family.generate(level, random.Random(EXAMPLE_SEED))
        body = Text(example["question"] + "\n\n")
        body.append("answer: ", style="bold")
        body.append(family.reference_text(example["answer"]))
        console.print(Panel(body, title=f"{name}, difficulty {level}", title_align="left", highlight=False))


# -- generate ----------------------------------------------------------------------------------
def parse_difficulties(spec: str, family: PuzzleFamily) -> list[int]:
    """ "3", "3..8" or "3,5,7" (items may mix: "2..4,8") -> sorted distinct levels in the family's range."""
    levels: set[int] = set()
    for item in spec.split(","):
        item = item.strip()
        m = re.fullmatch(r"(\d+)\s*(?:\.\.|-)\s*(\d+)", item)
        if m:
            low, high = int(m.group(1)), int(m.group(2))
            if low > high:
                raise DumpError(f"--difficulty {spec!r}: range {item!r} goes down")
            levels.update(range(low, high + 1))
        elif item.isdigit():
            levels.add(int(item))
        else:
            raise DumpError(f"--difficulty {spec!r}: expected a level (3), a range (3..8) or a list (3,5,7)")
    outside = sorted(d for d in levels if not family.min_difficulty <= d <= family.max_difficulty)
    if outside:
        raise DumpError(
            f"--difficulty {spec!r}: {family.name} levels are {family.min_difficulty}..{family.max_difficulty}, "
            f"got {', '.join(map(str, outside))}"
        )
    return sorted(levels)


def level_rng(family: str, seed: int, difficulty: int) -> random.Random:
    """One generator per level: "3..8" and "3" give the same level-3 puzzles for a seed."""
    return random.Random(f"{family}:{seed}:{difficulty}")


def iter_rows(family: str, difficulty: int, n: int, seed: int, **params: Any) -> Iterator[dict[str, Any]]:
    """`n` distinct puzzles (by question text) of one level as rows: the family's fields plus
    `family`, `difficulty`, `verifier`."""
    fam = _family(family)
    rng = level_rng(family, seed, difficulty)
    seen: set[str] = set()
    for _ in range(MAX_DUPLICATE_RATIO * n + 100):
        if len(seen) == n:
            return
        record = fam.generate(difficulty, rng, **params)
        if record["question"] in seen:
            continue
        seen.add(record["question"])
        yield {"family": family, "difficulty": difficulty, "verifier": family, **record}
    if len(seen) < n:
        raise DumpError(f"{family} difficulty {difficulty}: only {len(seen)} distinct puzzles, {n} asked")


def generate(family: str, difficulty: str, n: int, seed: int, output: Path, console: Console) -> None:
    """Write `n` puzzles per difficulty level as JSONL (atomically; deterministic for a seed).
    `-o -` writes them to standard output, and the summary to standard error."""
    levels = parse_difficulties(difficulty, _family(family))
    if n < 1:
        raise DumpError(f"-n {n}: give at least 1 puzzle per level")
    rows = (row for level in levels for row in iter_rows(family, level, n, seed))
    summary = f"wrote {n * len(levels)} {family} puzzles (difficulty {difficulty}, seed {seed}) to"
    if str(output) == "-":
        jsonl_writer(sys.stdout.buffer).write_all(rows)
        sys.stdout.buffer.flush()
        Console(stderr=True).print(f"{summary} stdout")
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with atomic_path(output) as tmp:
        with open(tmp, "wb") as f, Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(f"{family} difficulty {difficulty}", total=n * len(levels))
            writer = jsonl_writer(f)
            for row in rows:
                writer.write(row)
                progress.advance(task)
    console.print(f"{summary} {output}")


# -- verify ------------------------------------------------------------------------------------
def verify(path: Path, output: Path | None, scheme: str, verifier: str | None, console: Console) -> None:
    """Score a JSONL file of completions against their puzzles; per-distribution table."""
    if scheme not in SCHEMES:
        raise DumpError(f"--scheme {scheme!r}: use one of {', '.join(SCHEMES)}")
    if verifier is not None and not registry.known(verifier):
        raise DumpError(f"--verifier {verifier!r}: use one of {', '.join(registry.verifier_names())}")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    results: list[dict[str, Any]] = []
    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0, 0.0])
    with console.status(f"verifying {path}"), open(path, "rb") as f:
        for lineno, row in _rows(path, f):
            verdict, dist = _verify_line(path, lineno, row, verifier)
            reward = score(verdict, scheme)
            s = stats[dist]
            s[0] += 1
            s[1] += verdict.format_ok
            s[2] += verdict.parsed
            s[3] += verdict.format_ok and verdict.answer_score >= 1.0
            s[4] += verdict.answer_score
            s[5] += reward
            results.append(
                {
                    "line": lineno,
                    "distribution": dist,
                    "format_ok": verdict.format_ok,
                    "answer_score": verdict.answer_score,
                    "parsed": verdict.parsed,
                    "reward": reward,
                    "detail": verdict.detail,
                }
            )
    if not results:
        raise DataError(f"{path}: no rows")
    _print_table(stats, scheme, path, console)
    if output is not None:
        with atomic_path(output) as tmp, open(tmp, "wb") as f:
            jsonl_writer(f).write_all(results)
        console.print(f"wrote {len(results)} scores to {output}")


def _rows(path: Path, f: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line (jsonlines + orjson); a line that is not a
    JSON object is a DataError naming it. One read() per line, so the count is the line number."""
    reader = jsonl_reader(f)
    lineno = 0
    while True:
        lineno += 1
        try:
            row = reader.read(allow_none=True)
        except EOFError:
            return
        except jsonlines.InvalidLineError as e:
            if not e.line.strip():
                continue  # a blank line
            reason = str(e.__cause__ or e)  # orjson's own message, as before
            raise DataError(f"{path}:{e.lineno}: not valid JSON ({reason})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        yield lineno, row


def _verify_line(path: Path, lineno: int, row: dict[str, Any], verifier: str | None) -> tuple[Verdict, str]:
    where = f"{path}:{lineno}"
    if "completion" not in row:
        raise DataError(f"{where}: field 'completion': missing (the model's output to score)")
    try:
        text = completion_text(row["completion"])
    except ValueError as e:
        raise DataError(f"{where}: field 'completion': {e}") from None
    name = row.get("verifier") or verifier or _guess_verifier(row)
    if name is None:
        raise DataError(
            f"{where}: field 'verifier': missing and not guessable from the fields; give --verifier"
        )
    if name not in registry.verifier_names():  # a row may not name an import path: no import from data
        raise DataError(
            f"{where}: field 'verifier': unknown {name!r} (available: {', '.join(registry.verifier_names())})"
        )
    checker = registry.get_verifier(name)
    raw = row["answer"] if "answer" in row else row
    try:
        answer = checker.parse_answer(raw)
    except ValueError as e:
        raise DataError(f"{where}: field 'answer': {str(e).removeprefix('answer: ')}") from None
    return checker.verify(text, answer), _distribution(row, name)


def _guess_verifier(row: dict[str, Any]) -> str | None:
    if row.get("family") in registry.verifier_names():
        return row["family"]
    if any(k in row for k in ("solution_text_format", "quiz", "reward_model")) or (
        "names" in row and "solution" in row
    ):
        return "knights_knaves"
    if ("numbers" in row or "nums" in row) and "target" in row:
        return "countdown"
    return None


def _distribution(row: dict[str, Any], name: str) -> str:
    if row.get("data_source"):
        return str(row["data_source"])
    family = row.get("family") or name
    return f"{family}/{row['difficulty']}" if row.get("difficulty") is not None else str(family)


def _natural(key: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def _print_table(stats: dict[str, list[float]], scheme: str, path: Path, console: Console) -> None:
    table = Table(
        title=f"{path.name}: reward scheme {scheme}",
        caption="format/parsed/correct: share of rows; score: mean answer score (0..1); reward: mean reward",
    )
    table.add_column("distribution", no_wrap=True)
    for column in ("rows", "format", "parsed", "correct", "score", "reward"):
        table.add_column(column, justify="right")
    total = [0, 0, 0, 0, 0.0, 0.0]

    def add(name: str, s: list[float], **style: Any) -> None:
        n = s[0]
        table.add_row(
            name,
            str(int(n)),
            f"{s[1] / n:.1%}",
            f"{s[2] / n:.1%}",
            f"{s[3] / n:.1%}",
            f"{s[4] / n:.3f}",
            f"{s[5] / n:+.3f}",
            **style,
        )

    for dist in sorted(stats, key=_natural):
        add(dist, stats[dist])
        total = [a + b for a, b in zip(total, stats[dist], strict=True)]
    if len(stats) > 1:
        table.add_section()
        add("all", total, style="bold")
    console.print(table)


def _family(name: str) -> PuzzleFamily:
    try:
        return registry.get_family(name)
    except KeyError as e:
        raise DumpError(str(e.args[0])) from None
    except plugins.PluginError as e:
        raise DumpError(str(e)) from None
