"""`dump report`: PNG plots of the right size with real content, report.md with the final table,
missing logs handled with a note or a clear error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import orjson
import pytest
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
    assert table[2].split("|")[7].strip() == f"{30 / 300:.3f}"
    assert table[0].split("|")[7].strip() == f"{0.3 + 30 / 50:.3f}"
    assert table[0].split("|")[6].strip() == f"{0.3:.3f}"  # the starting policy, step 0
    start, last = (0.3 + 0.2 + 0) / 3, (0.9 + 0.5 + 0.1) / 3
    assert f"mean accuracy {start:.3f} at step 0 (the starting policy) -> {last:.3f} at step 30" in md
    assert "BELOW" not in md
    final_p = orjson.loads((run / "curriculum.jsonl").read_bytes().splitlines()[29])["probabilities"]
    assert table[2].split("|")[2].strip() == f"{final_p['kk/10']:.3f}"
    assert "eval at step 30" in md and "scheduler: **ucb**" in md
    assert "kk/10" in console.export_text()


def test_start_verdict_says_when_a_run_ends_below_its_start() -> None:
    from dumpcli.evaluate import start_verdict

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
    assert row.split("|")[6].strip() == "0.300" and row.split("|")[7].strip() == "-"  # start, final
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
    assert "distribution" in text and "(start)" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_prepare_help_says_the_data_goes_to_the_cache() -> None:
    result = CliRunner().invoke(app, ["prepare", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "the data to the cache" in text and "OUTPUT/data" not in text
