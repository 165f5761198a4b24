"""`dump report`: PNG plots of the right size with real content, report.md with the final table,
missing logs handled with a note or a clear error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml
from helpers import tiny_train_recipe
from matplotlib.image import imread
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.errors import DumpError
from dumpcli.report import DPI, FIGSIZE, report

# natural difficulty order: a plain sort would put kk/10 before kk/2
DISTS = ["kk/2", "kk/5", "kk/10"]


def write_jsonl(path: Path, lines: list[dict]) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


def fake_run(root: Path, steps: int = 30, with_eval: bool = True) -> Path:
    """A run directory as the trainer leaves it: probabilities drift from easy to hard."""
    run = root / "run"
    run.mkdir()
    (run / "run.json").write_bytes(
        orjson.dumps({"scheduler": "ucb", "seed": 3, "distributions": DISTS, "recipe": {"name": "fake"}})
    )
    lines = []
    for step in range(steps):
        t = step / (steps - 1)
        logits = np.array([1.0 - 2 * t, 0.5, 2 * t - 1.0]) * 3
        p = np.exp(logits) / np.exp(logits).sum()
        drawn = {d: int(round(8 * pi)) for d, pi in zip(DISTS, p, strict=True) if round(8 * pi) > 0}
        lines.append(
            {
                "step": step,
                "draw": step,
                "probabilities": dict(zip(DISTS, p.tolist(), strict=True)),
                "stats": {},
                "drawn": drawn,
                "scheduler": "ucb",
                "reward": {d: 3 * math.sin(step / 5 + i) for i, d in enumerate(DISTS) if d in drawn},
                "accuracy": {
                    d: 0.5 + 0.4 * math.sin(step / 7 + i) for i, d in enumerate(DISTS) if d in drawn
                },
                "abs_advantage": {d: 0.3 for d in drawn},
            }
        )
    write_jsonl(run / "curriculum.jsonl", lines)
    with open(run / "curriculum.jsonl", "ab") as f:
        f.write(b'{"step": 99, "draw": 99, "probab')  # a line cut by kill -9 must not break the report
    if with_eval:
        evals = []
        for step in (0, 10, 20, 30):
            accs = {"kk/2": 0.3 + step / 50, "kk/5": 0.2 + step / 100, "kk/10": step / 300}
            evals.append(
                {
                    "step": step,
                    "distributions": {d: {"accuracy": a, "mean_reward": 6 * a - 3} for d, a in accs.items()},
                    "mean_accuracy": sum(accs.values()) / 3,
                }
            )
        write_jsonl(run / "eval.jsonl", evals)
    return run


def check_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 5000
    image = imread(path)
    assert image.shape[:2] == (round(FIGSIZE[1] * DPI), round(FIGSIZE[0] * DPI))  # rows x columns
    colours = np.unique((image[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 20  # lines, fills, text: not a blank canvas


def test_report_writes_plots_and_markdown(tmp_path: Path) -> None:
    from rich.console import Console

    run = fake_run(tmp_path)
    console = Console(record=True, width=140)
    written = report(run, console)
    assert set(written) == {"probabilities", "train_reward", "eval_accuracy", "report"}
    for key in ("probabilities", "train_reward", "eval_accuracy"):
        assert written[key] == run / f"{key}.png"
        check_png(written[key])
    md = (run / "report.md").read_text()
    for key in ("probabilities", "train_reward", "eval_accuracy"):
        assert f"]({key}.png)" in md
    table = [line for line in md.splitlines() if line.startswith("| kk/")]
    assert [row.split("|")[1].strip() for row in table] == DISTS  # easy -> hard, not alphabetical
    # final table: last probabilities and the last evaluation (step 30)
    assert table[2].split("|")[9].strip() == f"{30 / 300:.3f}"
    assert table[0].split("|")[9].strip() == f"{0.3 + 30 / 50:.3f}"
    assert table[0].split("|")[8].strip() == f"{0.3:.3f}"  # the starting policy, step 0
    start, last = (0.3 + 0.2 + 0) / 3, (0.9 + 0.5 + 0.1) / 3
    assert f"mean accuracy {start:.3f} at step 0 (the starting policy) -> {last:.3f} at step 30" in md
    assert "BELOW" not in md
    final_p = orjson.loads((run / "curriculum.jsonl").read_bytes().splitlines()[29])["probabilities"]
    assert table[2].split("|")[2].strip() == f"{final_p['kk/10']:.3f}"
    assert "eval at step 30" in md and "scheduler: **ucb**" in md
    assert "kk/10" in console.export_text()


def test_start_verdict_says_when_a_run_ends_below_its_start() -> None:
    from dumpcli.run_folder import start_verdict

    evals = [
        {"step": 0, "mean_accuracy": 0.60, "mean_sampled_accuracy": 0.25},
        {"step": 25, "mean_accuracy": 0.37, "mean_sampled_accuracy": 0.50},
    ]
    text, below = start_verdict(evals)
    assert below is True and text.endswith("BELOW the starting policy")
    assert "0.600 at step 0" in text and "0.370 at step 25 (-0.230)" in text
    assert "sampled pass@1 0.250 -> 0.500 (+0.250)" in text
    assert start_verdict(evals[1:]) == (
        "no evaluation of the starting policy (step 0): cannot tell whether training helped",
        None,
    )
    assert start_verdict([]) == ("no evaluation: cannot tell whether training helped", None)
    assert start_verdict([{"step": 0, "mean_accuracy": 0.1}, {"step": 5, "mean_accuracy": 0.2}])[1] is False


def test_report_without_eval_skips_that_plot(tmp_path: Path) -> None:
    run = fake_run(tmp_path, with_eval=False)
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert "skipped eval_accuracy" in result.output
    assert not (run / "eval_accuracy.png").exists()
    check_png(run / "probabilities.png")
    assert "_Skipped: no eval.jsonl" in (run / "report.md").read_text()


def test_report_on_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="not a training run"):
        report(tmp_path, console=None)  # type: ignore[arg-type]
    result = CliRunner().invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no such directory" in result.output
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1 and "not a training run" in result.output


# A problem-level selector's log, by hand: its proposal is flat (1/3 each), it never chose c, and
# step 1 drew two rounds (dynamic sampling). Prompts per step: [3, 1, 0], [3, 3, 0], [0, 4, 0], [4, 0, 0].
SELECTOR_DRAWS = [
    (0, {"a": 3, "b": 1}),
    (1, {"a": 2, "b": 2}),
    (1, {"a": 1, "b": 1}),
    (2, {"b": 4}),
    (3, {"a": 4}),
]


def selector_run(root: Path) -> Path:
    run = root / "selector-run"
    run.mkdir()
    (run / "run.json").write_bytes(
        orjson.dumps({"scheduler": "thompson", "seed": 0, "distributions": ["a", "b", "c"]})
    )
    write_jsonl(
        run / "curriculum.jsonl",
        [
            {
                "step": step,
                "draw": draw,
                "probabilities": {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3},
                "stats": {},
                "drawn": drawn,
                "selector": {"a": {"selected": drawn.get("a", 0)}},
                "scheduler": "thompson",
                "reward": {d: 0.0 for d in drawn},
            }
            for draw, (step, drawn) in enumerate(SELECTOR_DRAWS)
        ],
    )
    return run


def test_drawn_shares_per_step_against_hand_computed_values(tmp_path: Path) -> None:
    from dumpcli.report import drawn_per_step, drawn_shares, is_problem_level
    from dumpcli.run_folder import read_curriculum

    curriculum = read_curriculum(selector_run(tmp_path))
    assert is_problem_level(curriculum) and not is_problem_level([{"drawn": {"a": 1}}])
    steps, counts = drawn_per_step(curriculum, ["a", "b", "c"])
    assert steps == [0, 1, 2, 3]
    assert counts.tolist() == [[3, 1, 0], [3, 3, 0], [0, 4, 0], [4, 0, 0]]  # step 1's two rounds summed
    # no smoothing: each step's own share
    assert drawn_shares(counts, 0).tolist() == [[0.75, 0.25, 0], [0.5, 0.5, 0], [0, 1, 0], [1, 0, 0]]
    # one step either side, a ratio of sums: step 0 sees steps 0-1 ([6, 4, 0] of 10), step 1 steps 0-2
    # ([6, 8, 0] of 14), step 2 steps 1-3 ([7, 7, 0] of 14), step 3 steps 2-3 ([4, 4, 0] of 8)
    expected = [[0.6, 0.4, 0], [3 / 7, 4 / 7, 0], [0.5, 0.5, 0], [0.5, 0.5, 0]]
    assert np.allclose(drawn_shares(counts, 1), expected, atol=1e-12)
    assert drawn_shares(np.zeros((2, 3)), 1).tolist() == [[0, 0, 0], [0, 0, 0]]  # nothing drawn: no share


def test_report_of_a_selector_shows_the_share_it_drew_not_its_flat_proposal(tmp_path: Path) -> None:
    from rich.console import Console

    from dumpcli.report import colours

    run = selector_run(tmp_path)
    console = Console(record=True, width=200)
    report(run, console)
    md = (run / "report.md").read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:6]] for line in md.splitlines()
            if line.startswith("| a ") or line.startswith("| b ") or line.startswith("| c ")}  # fmt: skip
    # p (last draw), drawn, share over the run (10, 8, 0 of 18), share over the last tenth (the last draw)
    assert rows == {
        "a": ["0.333", "10", f"{10 / 18:.3f}", "1.000"],
        "b": ["0.333", "8", f"{8 / 18:.3f}", "0.000"],
        "c": ["0.333", "0", "0.000", "0.000"],
    }
    assert "## Share of prompts drawn per distribution" in md
    assert "what the thompson selector chose" in md and "Dashed: its proposal's sampling probabilities" in md
    text = console.export_text()
    assert "share drawn" in text
    assert any(
        line.split()[:5] == ["│", "a", "│", "0.333", "│"] and "0.556" in line for line in text.splitlines()
    )
    # the plot's stacked areas are the share drawn: c (never drawn) has no area, though its proposal is 1/3
    check_png(run / "probabilities.png")
    image = (imread(run / "probabilities.png")[..., :3] * 255).astype(np.int16)
    plot_area = image[:, : image.shape[1] * 2 // 3]  # left of the legend
    fills = [np.array([0.9 * c + 0.1 for c in rgba[:3]]) * 255 for rgba in colours(3)]  # alpha 0.9 on white
    pixels = [int((np.abs(plot_area - fill).max(axis=-1) <= 3).sum()) for fill in fills]
    assert pixels[0] > 10000 and pixels[1] > 10000  # a and b share the area
    assert pixels[2] < pixels[0] / 50  # c: at most an edge


@pytest.mark.slow
def test_report_after_thompson_training_shows_the_share_it_drew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dump train --scheduler thompson` then `dump report`: the proposal is uniform over the two
    distributions (p = 0.5 at every draw), the report shows what the selector actually drew."""
    monkeypatch.setenv("DUMP_CACHE_DIR", str(tmp_path / "cache"))
    recipe = tmp_path / "recipe.yaml"
    # seed 1: the 16 prompts of the 4 steps split 10 / 6 (seed 0 happens to split them 8 / 8)
    recipe.write_text(yaml.safe_dump(tiny_train_recipe(seed=1, output_dir=str(tmp_path / "out"))))
    result = CliRunner().invoke(
        app, ["train", str(recipe), "--scheduler", "thompson"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "out"
    lines = [orjson.loads(line) for line in (run / "curriculum.jsonl").read_bytes().splitlines()]
    assert all(line["probabilities"] == {"kk/2": 0.5, "kk/3": 0.5} for line in lines)
    drawn = {d: sum(line["drawn"].get(d, 0) for line in lines) for d in ("kk/2", "kk/3")}
    share = {d: n / sum(drawn.values()) for d, n in drawn.items()}
    assert share["kk/2"] != 0.5  # what the selector chose, not its proposal
    last = {d: lines[-1]["drawn"].get(d, 0) / 4 for d in drawn}  # the last tenth of 4 draws: the last one

    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["report", str(run)], terminal_width=80, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for d in drawn:  # console: distribution, p (last draw), share drawn, share (last tenth)
        row = next(line for line in result.output.splitlines() if f" {d} " in line)
        assert [c.strip() for c in row.split("│")[1:5]] == [d, "0.500", f"{share[d]:.3f}", f"{last[d]:.3f}"]
    md = (run / "report.md").read_text()
    assert "## Share of prompts drawn per distribution" in md and "thompson selector chose" in md
    for d in drawn:
        row = next(line for line in md.splitlines() if line.startswith(f"| {d} "))
        assert [c.strip() for c in row.split("|")[2:6]] == [
            "0.500",
            str(drawn[d]),
            f"{share[d]:.3f}",
            f"{last[d]:.3f}",
        ]
    check_png(run / "probabilities.png")


def test_a_run_evaluated_only_at_step_0_says_what_is_missing(tmp_path: Path) -> None:
    """A run shorter than train.eval_every has only its step 0: that is the start, never the
    final state, and the verdict names what is missing."""
    from rich.console import Console

    run = fake_run(tmp_path, with_eval=False)
    accs = {"kk/2": 0.3, "kk/5": 0.2, "kk/10": 0.1}
    write_jsonl(
        run / "eval.jsonl",
        [{"step": 0, "distributions": {d: {"accuracy": a} for d, a in accs.items()}, "mean_accuracy": 0.2}],
    )
    console = Console(record=True, width=200)
    report(run, console)
    md = (run / "report.md").read_text()
    assert "## Final state (no evaluation after step 0: the eval columns show only the start)" in md
    assert "eval at step 0" not in md and "Mean eval accuracy" not in md
    row = next(line for line in md.splitlines() if line.startswith("| kk/2"))
    assert row.split("|")[8].strip() == "0.300" and row.split("|")[9].strip() == "-"  # start, final
    said = " ".join(console.export_text().split())
    assert "only the starting policy (step 0) was evaluated, no step after it" in said
    assert "dump eval RECIPE --run OUTPUT" in said and "no evaluation at step 0 and after it" not in said


def test_report_numbers_the_curriculum_by_the_step_it_trains(tmp_path: Path) -> None:
    """The draw logged with step 29 (29 steps done) trains step 30, the step the evaluation and
    the checkpoint of the end of the run are numbered with."""
    from rich.console import Console

    run = fake_run(tmp_path)  # draws 0..29, evaluations at 0, 10, 20, 30
    console = Console(record=True, width=200)
    report(run, console)
    md = (run / "report.md").read_text()
    assert "(the last drawn for training step 30)" in md and "eval at step 30" in md
    assert "step 29" not in md
    assert "curriculum through step 30" in console.export_text()


def test_report_table_keeps_its_headers_whole_at_80_columns(tmp_path: Path) -> None:
    from rich.console import Console

    run = fake_run(tmp_path)
    console = Console(record=True, width=80)
    report(run, console)
    text = console.export_text()
    assert "\u2026" not in text  # no header or cell cut with an ellipsis
    assert "distribution" in text and "step 0" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_prepare_help_says_the_data_goes_to_the_cache() -> None:
    result = CliRunner().invoke(app, ["prepare", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "the data to the cache" in text and "OUTPUT/data" not in text
