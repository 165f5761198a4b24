"""`dump puzzles list | generate | verify` end to end (small sizes)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.errors import DataError, DumpError
from dumpcli.puzzles import commands
from dumpcli.puzzles.registry import get_family

runner = CliRunner()


def read(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def write(path: Path, rows: list) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def test_list_shows_every_family_with_an_example() -> None:
    result = runner.invoke(app, ["puzzles", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in (
        "knights_knaves",
        "zebra",
        "countdown",
        "exact",
        "A very special island",
        "House 1:",
        "Using the numbers",
    ):
        assert name in result.output


def test_generate_is_deterministic_and_writes_the_documented_fields(tmp_path: Path) -> None:
    args = ["puzzles", "generate", "knights_knaves", "--difficulty", "3..5", "-n", "4", "--seed", "1"]
    assert runner.invoke(app, [*args, "-o", str(tmp_path / "a.jsonl")]).exit_code == 0
    assert runner.invoke(app, [*args, "-o", str(tmp_path / "b.jsonl")]).exit_code == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    rows = read(tmp_path / "a.jsonl")
    assert [r["difficulty"] for r in rows] == [3] * 4 + [4] * 4 + [5] * 4
    for row in rows:
        assert row["family"] == row["verifier"] == "knights_knaves"
        assert row["question"] == row["quiz"] and len(row["names"]) == row["difficulty"]
        assert row["answer"] == {"names": row["names"], "solution": row["solution"]}
    assert len({r["question"] for r in rows}) == len(rows)
    # a level's puzzles do not depend on which other levels are asked for
    runner.invoke(
        app,
        [
            "puzzles",
            "generate",
            "knights_knaves",
            "-d",
            "4",
            "-n",
            "4",
            "--seed",
            "1",
            "-o",
            str(tmp_path / "c.jsonl"),
        ],
    )
    assert read(tmp_path / "c.jsonl") == rows[4:8]


def test_generate_to_standard_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`-o -` is standard output (it wrote a file named `-`), with the same rows as a file."""
    monkeypatch.chdir(tmp_path)
    args = ["puzzles", "generate", "zebra", "-d", "3", "-n", "3", "--seed", "2"]
    assert runner.invoke(app, [*args, "-o", "rows.jsonl"]).exit_code == 0
    result = CliRunner().invoke(app, [*args, "-o", "-"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "-").exists()
    assert result.stdout_bytes == (tmp_path / "rows.jsonl").read_bytes()
    assert "wrote 3 zebra puzzles" in result.stderr


def test_generate_other_families_and_lists(tmp_path: Path) -> None:
    out = tmp_path / "z.jsonl"
    commands.generate("zebra", "1,3", n=2, seed=0, output=out, console=quiet())
    assert [r["difficulty"] for r in read(out)] == [1, 1, 3, 3]
    commands.generate("countdown", "2-3", n=2, seed=0, output=out, console=quiet())
    assert [len(r["numbers"]) for r in read(out)] == [2, 2, 3, 3]


@pytest.mark.parametrize(
    "family,spec,message",
    [
        ("knights_knaves", "1..3", "levels are 2.."),
        ("knights_knaves", "5..3", "goes down"),
        ("knights_knaves", "three", "expected a level"),
        ("sudoku", "3", "unknown puzzle family"),
    ],
)
def test_generate_bad_arguments_are_clear_errors(
    tmp_path: Path, family: str, spec: str, message: str
) -> None:
    result = runner.invoke(app, ["puzzles", "generate", family, "-d", spec, "-o", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "x.jsonl").exists()


def test_verify_scores_generated_and_dump_style_rows(tmp_path: Path) -> None:
    kk = get_family("knights_knaves")
    rng = random.Random(0)
    puzzles = [kk.generate(3, rng) for _ in range(4)]
    ours = [
        {
            **p,
            "family": "knights_knaves",
            "difficulty": 3,
            "completion": f"<think>x</think><answer>{p['solution_text_format']}</answer>",
        }
        for p in puzzles[:2]
    ]
    # a DUMP / Logic-RL row: no `answer`, ground truth in reward_model, a conversational completion
    dump_rows = [
        {
            "quiz": p["quiz"],
            "names": p["names"],
            "solution": p["solution"],
            "solution_text_format": p["solution_text_format"],
            "statements": p["statements"],
            "data_source": "kk_logic_3",
            "reward_model": {
                "ground_truth": orjson.dumps({"solution_text_format": p["solution_text_format"]}).decode()
            },
            "completion": [{"role": "assistant", "content": f"<answer>{p['solution_text_format']}</answer>"}],
        }
        for p in puzzles[2:]
    ]
    path = write(tmp_path / "c.jsonl", ours + dump_rows)
    result = runner.invoke(
        app, ["puzzles", "verify", str(path), "-o", str(tmp_path / "s.jsonl")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "knights_knaves/3" in result.output and "kk_logic_3" in result.output
    scores = read(tmp_path / "s.jsonl")
    assert [s["reward"] for s in scores] == [3.0, 3.0, -3.0, -3.0]  # the DUMP rows miss <think>
    assert [s["answer_score"] for s in scores] == [1.0] * 4
    assert [s["format_ok"] for s in scores] == [True, True, False, False]
    binary = runner.invoke(
        app, ["puzzles", "verify", str(path), "--scheme", "binary", "-o", str(tmp_path / "b.jsonl")]
    )
    assert binary.exit_code == 0 and [s["reward"] for s in read(tmp_path / "b.jsonl")] == [1.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "line,message",
    [
        (b"{not json", "c.jsonl:2: not valid JSON"),
        (b"[1, 2]", "c.jsonl:2: expected a JSON object"),
        (b'{"answer": "x"}', "c.jsonl:2: field 'completion': missing"),
        (b'{"completion": "x", "answer": 1}', "c.jsonl:2: field 'verifier': missing"),
        (
            b'{"completion": "x", "verifier": "nope", "answer": 1}',
            "c.jsonl:2: field 'verifier': unknown 'nope'",
        ),
        (
            b'{"completion": "x", "verifier": "knights_knaves", "answer": {"names": []}}',
            "c.jsonl:2: field 'answer'",
        ),
    ],
)
def test_verify_bad_rows_name_file_and_line(tmp_path: Path, line: bytes, message: str) -> None:
    good = orjson.dumps({"completion": "<answer>4</answer>", "verifier": "exact", "answer": "4"})
    path = tmp_path / "c.jsonl"
    path.write_bytes(good + b"\n" + line + b"\n")
    with pytest.raises(DataError, match=message):
        commands.verify(path, output=None, scheme="dump", verifier=None, console=quiet())


def test_verify_options(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", [{"completion": "<think></think><answer>4</answer>", "answer": "4"}])
    out = tmp_path / "s.jsonl"
    commands.verify(path, output=out, scheme="binary", verifier="exact", console=quiet())
    assert read(out)[0]["reward"] == 1.0
    with pytest.raises(DumpError, match="--scheme"):
        commands.verify(path, output=None, scheme="nope", verifier=None, console=quiet())
    with pytest.raises(DataError, match="no such file"):
        commands.verify(
            tmp_path / "missing.jsonl", output=None, scheme="dump", verifier=None, console=quiet()
        )
