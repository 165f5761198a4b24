"""`dump report RUN_DIR`: what the curriculum did, as PNG plots and a short report.md.

Reads only the run directory (`curriculum.jsonl`, `eval.jsonl`, `run.json`), so it works on
a finished run, on a run still training, and on a copy of a run from another machine.
Distributions are always drawn easy -> hard with a sequential colour map, so "the curriculum
moved to harder problems" reads as the colour moving from dark to light.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from dumpcli.errors import DumpError
from dumpcli.io import atomic_path
from dumpcli.run_folder import (
    RunFolder,
    read_curriculum,
    read_evals,
    read_run_info,
    read_train_log,
    start_verdict,
)
from dumpcli.tables import keep_headers_whole

FIGSIZE = (10.0, 5.0)  # inches; at DPI this is the PNG size in pixels (1000 x 500)
DPI = 100


def distribution_order(run_info: dict[str, Any], curriculum: Sequence[dict[str, Any]]) -> list[str]:
    """Easy -> hard: run.json's list (the manifest order), else the scheduler's order in the log."""
    order = [str(d) for d in run_info.get("distributions", [])]
    for line in curriculum:
        for d in line.get("probabilities", {}):
            if d not in order:
                order.append(d)
    return order


def colours(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(0.92 * i / max(1, n - 1)) for i in range(n)]


def new_figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)  # headless: never needs a display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # training steps are whole numbers
    return fig, ax


def save_figure(fig: Any, path: Path, legend_title: str | None = None) -> Path:
    """Legend outside the axes on the right (never hides data); fixed pixel size; atomic write."""
    import matplotlib.pyplot as plt

    handles, labels = fig.axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", title=legend_title, fontsize="small")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    plt.close(fig)
    return path


def _moving_average(values: Sequence[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def is_problem_level(curriculum: Sequence[dict[str, Any]]) -> bool:
    """Whether a problem-level selector chose the prompts (it logs its statistics as `selector`):
    then `probabilities` are only its proposal's, and the drawn counts show what it chose."""
    return any("selector" in line for line in curriculum)


def drawn_per_step(curriculum: Sequence[dict[str, Any]], order: list[str]) -> tuple[list[int], np.ndarray]:
    """(training steps, prompts drawn per step x distribution): the draws of one step are summed
    (dynamic sampling may draw several rounds for one optimizer step)."""
    steps: list[int] = []
    rows: list[list[int]] = []
    for i, line in enumerate(curriculum):
        step = int(line.get("step", line.get("draw", i)))
        counts = [int(line.get("drawn", {}).get(d, 0)) for d in order]
        if steps and steps[-1] == step:
            rows[-1] = [a + b for a, b in zip(rows[-1], counts, strict=True)]
        else:
            steps.append(step)
            rows.append(counts)
    return steps, np.asarray(rows, dtype=np.float64).reshape(len(rows), len(order))


def drawn_shares(counts: np.ndarray, half_window: int) -> np.ndarray:
    """Share drawn from each distribution around each step: the prompts drawn from it over the steps
    within `half_window` either side, divided by all prompts drawn in those steps (a ratio of sums,
    so a step that drew more weighs more). Steps x distributions; rows sum to 1 (0 where none drawn)."""
    total = np.vstack([np.zeros((1, counts.shape[1])), np.cumsum(counts, axis=0)])
    idx = np.arange(counts.shape[0])
    lo = np.clip(idx - half_window, 0, counts.shape[0])
    hi = np.clip(idx + half_window + 1, 0, counts.shape[0])
    window = total[hi] - total[lo]
    sums = window.sum(axis=1, keepdims=True)
    return np.divide(window, sums, out=np.zeros_like(window), where=sums > 0)


def share_half_window(curriculum: Sequence[dict[str, Any]]) -> int:
    """Smoothing of the drawn share: about a twentieth of the run's steps, centred (no lag behind p)."""
    steps = {line.get("step", line.get("draw", i)) for i, line in enumerate(curriculum)}
    return round(len(steps) / 40)


def plot_probabilities(
    curriculum: Sequence[dict[str, Any]], order: list[str], path: Path, title: str
) -> Path:
    """Stacked areas: what the method chose (the sampling probability of a distribution-level
    scheduler; the share drawn for a problem-level selector, whose proposal is often flat). Dashed
    lines: the other one's stack boundaries, so the two can be compared at a glance."""
    from matplotlib.patheffects import withStroke

    steps = [line.get("step", line.get("draw", i)) for i, line in enumerate(curriculum)]
    probs = [[float(line.get("probabilities", {}).get(d, 0.0)) for line in curriculum] for d in order]
    share_steps, counts = drawn_per_step(curriculum, order)
    half = share_half_window(curriculum)
    shares = drawn_shares(counts, half).T.tolist()
    # a step's draw holds until the next one: steps, not slopes; close the last one at step + 1
    steps.append(steps[-1] + 1)
    share_steps.append(share_steps[-1] + 1)
    for stack in (*probs, *shares):
        stack.append(stack[-1])
    smooth = f", {2 * half + 1}-step window" if half else ""
    share_label = f"share drawn{smooth}"
    if is_problem_level(curriculum):
        ylabel, heading = "share of prompts drawn", f"share of prompts drawn per distribution{smooth}"
        area, lines, line_label = (share_steps, shares), (steps, probs), "proposal's probability"
    else:
        ylabel, heading = "sampling probability", "sampling probability per distribution"
        area, lines, line_label = (steps, probs), (share_steps, shares), share_label
    fig, ax = new_figure(f"{title}: {heading}", "training step", ylabel)
    ax.stackplot(*area, labels=order, colors=colours(len(order)), alpha=0.9, step="post")
    xs, stacks = lines
    boundaries = np.cumsum(np.asarray(stacks), axis=0)[:-1]  # the top edge is always 1
    outline = [withStroke(linewidth=2, foreground="white", alpha=0.6)]  # visible on dark and light areas
    for i, boundary in enumerate(boundaries):
        ax.step(xs, boundary, where="post", color="black", linestyle="--", linewidth=0.8,
                path_effects=outline, label=line_label if i == 0 else None)  # fmt: skip
    ax.set_ylim(0, 1)
    ax.set_xlim(min(steps[0], share_steps[0]), max(steps[-1], share_steps[-1]))
    return save_figure(fig, path, "easy \u2192 hard")


def plot_train_reward(curriculum: Sequence[dict[str, Any]], order: list[str], path: Path, title: str) -> Path:
    window = max(1, round(len(curriculum) / 20))
    smooth = f" (moving average over {window} generation steps)" if window > 1 else ""
    fig, ax = new_figure(f"{title}: train reward per distribution{smooth}", "training step", "mean reward")
    marker = "." if len(curriculum) <= 60 else None
    for dist, colour in zip(order, colours(len(order)), strict=True):
        points = [
            (line["step"], line["reward"][dist]) for line in curriculum if dist in line.get("reward", {})
        ]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, _moving_average(ys, window), label=dist, color=colour, marker=marker)
    return save_figure(fig, path, "easy \u2192 hard")


def plot_eval_accuracy(evals: Sequence[dict[str, Any]], order: list[str], path: Path, title: str) -> Path:
    fig, ax = new_figure(f"{title}: eval accuracy per distribution (test split)", "training step", "accuracy")
    steps = [e["step"] for e in evals]
    for dist, colour in zip(order, colours(len(order)), strict=True):
        points = [
            (e["step"], e["distributions"][dist]["accuracy"])
            for e in evals
            if dist in e.get("distributions", {})
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, label=dist, color=colour, marker="o", markersize=3)
    means = [(e["step"], e["mean_accuracy"]) for e in evals if "mean_accuracy" in e]
    if means:
        xs, ys = zip(*means, strict=True)
        ax.plot(xs, ys, label="mean", color="black", linestyle="--", linewidth=2)
    ax.set_ylim(-0.02, 1.02)
    if len(set(steps)) == 1:
        ax.set_xlim(steps[0] - 1, steps[0] + 1)
    return save_figure(fig, path, "easy \u2192 hard")


def final_rows(
    curriculum: Sequence[dict[str, Any]], evals: Sequence[dict[str, Any]], order: list[str]
) -> list[dict[str, Any]]:
    """Per distribution: final sampling probability, prompts drawn and their share (over the run and
    over the last tenth of generation steps), train reward / accuracy over that last tenth, and the
    last evaluation."""
    tail = curriculum[-max(1, len(curriculum) // 10) :] if curriculum else []
    run_share = _share(curriculum, order)
    tail_share = _share(tail, order)
    last_probs = curriculum[-1].get("probabilities", {}) if curriculum else {}
    last_eval = _last_trained_eval(evals) or {}  # step 0 is the start, never the final state
    start_eval = next((e for e in evals if e.get("step") == 0), {})
    rows = []
    for dist in order:
        rewards = [line["reward"][dist] for line in tail if dist in line.get("reward", {})]
        accs = [line["accuracy"][dist] for line in tail if dist in line.get("accuracy", {})]
        drawn = sum(int(line.get("drawn", {}).get(dist, 0)) for line in curriculum)
        ev = last_eval.get("distributions", {}).get(dist, {})
        rows.append(
            {
                "distribution": dist,
                "probability": last_probs.get(dist),
                "drawn": drawn,
                "share": run_share.get(dist),
                "tail_share": tail_share.get(dist),
                "train_reward": sum(rewards) / len(rewards) if rewards else None,
                "train_accuracy": sum(accs) / len(accs) if accs else None,
                "start_accuracy": start_eval.get("distributions", {}).get(dist, {}).get("accuracy"),
                "eval_accuracy": ev.get("accuracy"),
                "eval_reward": ev.get("mean_reward"),
            }
        )
    return rows


def _share(curriculum: Sequence[dict[str, Any]], order: list[str]) -> dict[str, float]:
    """Prompts drawn from each distribution / all prompts drawn in these lines ({} if none)."""
    _, counts = drawn_per_step(curriculum, order)
    total = counts.sum()
    return {d: float(c / total) for d, c in zip(order, counts.sum(axis=0), strict=True)} if total else {}


def _last_trained_eval(evals: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The last evaluation after training began (step > 0)."""
    later = [e for e in evals if e.get("step", 0) > 0]
    return later[-1] if later else None


def drawn_through(curriculum: Sequence[dict[str, Any]]) -> Any:
    """The training step the last draw was for: a draw's `step` counts the optimizer steps done
    before it (0 for the first), so the draw at `step` 299 trains step 300, the step that
    train_log.jsonl, eval.jsonl and the checkpoints number 300."""
    step = curriculum[-1].get("step") if curriculum else None
    return step + 1 if isinstance(step, int) else "?"


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


ROLLOUT_KEYS = {  # what a step spent, from train_log.jsonl (the rollouts/* keys of dumpcli/train/trainer.py)
    "completions": "rollouts/completions",
    "prompts": "rollouts/prompts",
    "rounds": "rollouts/rounds",
    "informative_groups": "rollouts/informative_groups",
    "skipped": "rollouts/skipped",
    "screened_out": "rollouts/screened_out",
}


def rollout_stats(outs: list[Path]) -> dict[str, float | None]:
    """Per optimizer step, the mean over the runs' steps: completions generated, prompts generated,
    generation rounds, share of the trained groups whose rewards differ (the groups that move the
    policy), prompts skipped and screened out (None where no run logged it); and
    `informative_per_1k`: such groups per 1000 completions generated, what `train.rollouts` and
    `train.filter` try to raise. Runs logged before the rollouts/* keys: completions from
    compute/completions; the informative groups from TRL's frac_reward_zero_std (a step without
    train.filter trains every group it generated) or from train.filter's filled_with_dropped (the
    groups it had to train on although their rewards were all equal)."""
    values: dict[str, list[float]] = {k: [] for k in ROLLOUT_KEYS}
    informative = spent_total = 0.0
    for out in outs:
        groups = _groups_per_step(out)
        before = 0.0
        for line in read_train_log(out):
            if "loss" not in line:
                continue
            got = {k: line.get(key) for k, key in ROLLOUT_KEYS.items()}
            spent = line.get("compute/completions")
            if got["completions"] is None and spent is not None:
                got["completions"] = float(spent) - before
            if spent is not None:
                before = float(spent)
            if got["rounds"] is None and spent is not None:
                got["rounds"] = float(line.get("filter/rounds", 1.0))
            moving = line.get("rollouts/informative")
            if got["informative_groups"] is None:
                if "filter/rounds" in line and groups:
                    got["informative_groups"] = (
                        1.0 - float(line.get("filter/filled_with_dropped", 0.0)) / groups
                    )
                elif "filter/rounds" not in line and "frac_reward_zero_std" in line:
                    got["informative_groups"] = 1.0 - float(line["frac_reward_zero_std"])
            if moving is None and got["informative_groups"] is not None and groups:
                moving = got["informative_groups"] * groups
            if moving is not None and got["completions"]:
                informative += float(moving)
                spent_total += float(got["completions"])
            for k, v in got.items():
                if v is not None:
                    values[k].append(float(v))
    stats: dict[str, float | None] = {k: (sum(v) / len(v) if v else None) for k, v in values.items()}
    stats["informative_per_1k"] = 1000.0 * informative / spent_total if spent_total else None
    return stats


def _groups_per_step(out: Path) -> float | None:
    """Groups trained per optimizer step (one process), from run.json's GRPO settings."""
    recipe = (read_run_info(out) or {}).get("recipe") or {}
    grpo = (recipe.get("train") or {}).get("grpo") or {}
    try:
        return float(grpo["per_device_train_batch_size"]) / float(grpo["num_generations"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def spent_per_step(stats: dict[str, float | None]) -> str | None:
    """One sentence of what a step spent (`rollout_stats` of one run), or None without compute logs."""
    if stats.get("completions") is None:
        return None
    parts = [f"{stats['completions']:.1f} completions"]
    if stats.get("prompts") is not None:
        parts.append(f"{stats['prompts']:.1f} prompts")
    if stats.get("rounds") is not None:
        parts.append(f"{stats['rounds']:.2f} generation rounds")
    if stats.get("informative_groups") is not None:
        parts.append(f"{stats['informative_groups']:.0%} of the trained groups with rewards that differ")
    if stats.get("informative_per_1k") is not None:
        parts.append(f"{stats['informative_per_1k']:.1f} such groups per 1000 completions")
    for key, what in (("skipped", "prompts skipped"), ("screened_out", "prompts screened out")):
        if stats.get(key) is not None:
            parts.append(f"{stats[key]:.1f} {what}")
    return "Per step, on average: " + ", ".join(parts) + "."


def report(run_dir: Path, console: Console) -> dict[str, Path]:
    """Write the plots and report.md into `run_dir`; returns {name: path} of what was written."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DumpError(f"{run_dir}: no such directory")
    curriculum_path = RunFolder(run_dir).curriculum_log
    if not curriculum_path.is_file():
        raise DumpError(f"{run_dir}: not a training run (no curriculum.jsonl; run `dump train` first)")
    curriculum = read_curriculum(run_dir)
    if not curriculum:
        raise DumpError(f"{curriculum_path}: empty (the run has not finished a generation step yet)")
    run_info: dict[str, Any] = read_run_info(run_dir) or {}
    evals = read_evals(run_dir)
    order = distribution_order(run_info, curriculum)
    scheduler = run_info.get("scheduler") or curriculum[-1].get("scheduler", "?")
    title = f"{run_dir.name} ({scheduler})"

    written: dict[str, Path] = {}
    notes: dict[str, str] = {}
    written["probabilities"] = plot_probabilities(curriculum, order, run_dir / "probabilities.png", title)
    if any(line.get("reward") for line in curriculum):
        written["train_reward"] = plot_train_reward(curriculum, order, run_dir / "train_reward.png", title)
    else:
        notes["train_reward"] = "no per-distribution rewards in curriculum.jsonl"
    if evals:
        written["eval_accuracy"] = plot_eval_accuracy(evals, order, run_dir / "eval_accuracy.png", title)
    else:
        notes["eval_accuracy"] = "no eval.jsonl (set `train.eval_every` > 0, or run `dump eval --run`)"

    rows = final_rows(curriculum, evals, order)
    spent = spent_per_step(rollout_stats([run_dir]))
    written["report"] = _write_markdown(
        run_dir, run_info, curriculum, evals, rows, written, notes, scheduler, spent
    )

    # collapse_padding: the nine columns fit an 80-column terminal without cutting a header word
    table = Table(
        title=f"{run_dir} ({scheduler}, curriculum through step {drawn_through(curriculum)})",
        collapse_padding=True,
    )
    for col in (
        "distribution",
        "p (last draw)",
        "share drawn",  # of all prompts drawn; report.md also has the counts
        "share (last tenth)",
        "train reward",
        "train acc",
        "eval acc step 0",
        "eval acc",
        "eval reward",
    ):
        first = col == "distribution"
        table.add_column(col, justify="left" if first else "right", no_wrap=first)  # names stay whole
    for r in rows:
        table.add_row(
            r["distribution"],
            _fmt(r["probability"], ".3f"),
            _fmt(r["share"], ".3f"),
            _fmt(r["tail_share"], ".3f"),
            _fmt(r["train_reward"], "+.2f"),
            _fmt(r["train_accuracy"], ".2f"),
            _fmt(r["start_accuracy"], ".3f"),
            _fmt(r["eval_accuracy"], ".3f"),
            _fmt(r["eval_reward"], "+.2f"),
        )
    console.print(keep_headers_whole(table, console))
    if spent:
        console.print(spent)
    if evals:
        verdict, below = start_verdict(evals)
        console.print(f"[bold red]{verdict}" if below else verdict)
    for name, note in notes.items():
        console.print(f"[yellow]skipped {name}:[/] {note}")
    for path in written.values():
        console.print(f"wrote {path}")
    return written


def _write_markdown(
    run_dir: Path,
    run_info: dict[str, Any],
    curriculum: Sequence[dict[str, Any]],
    evals: Sequence[dict[str, Any]],
    rows: list[dict[str, Any]],
    written: dict[str, Path],
    notes: dict[str, str],
    scheduler: str,
    spent: str | None = None,
) -> Path:
    last_step = drawn_through(curriculum)
    recipe_name = run_info.get("recipe", {}).get("name", run_dir.name) if run_info else run_dir.name
    lines = [
        f"# Run report: {recipe_name}",
        "",
        f"- run directory: `{run_dir}`",
        f"- scheduler: **{scheduler}**, seed {run_info.get('seed', '?')}",
        f"- generation rounds logged: {len(curriculum)} (the last drawn for training step {last_step})",
        f"- evaluations: {len(evals)}" + (f" (last at step {evals[-1]['step']})" if evals else ""),
        f"- distributions, easy \u2192 hard: {', '.join(f'`{d}`' for d in (r['distribution'] for r in rows))}",
        "",
    ]
    half = share_half_window(curriculum)
    window = f" over the {2 * half + 1} steps around each step" if half else " at each step"
    if is_problem_level(curriculum):
        share_section = (
            "Share of prompts drawn per distribution",
            f"Stacked: the share of the prompts drawn from each{window}, which is what the "
            f"{scheduler} selector chose. Dashed: its proposal's sampling probabilities (the candidate "
            "pool it chose from).",
        )
    else:
        share_section = (
            "Sampling probability per distribution",
            "Stacked: the scheduler's probability of drawing each. Dashed: the share of the prompts "
            f"actually drawn from each{window}.",
        )
    sections = [
        ("probabilities", *share_section),
        (
            "train_reward",
            "Train reward per distribution",
            "Mean reward of the completions of each distribution.",
        ),
        ("eval_accuracy", "Eval accuracy per distribution", "Test split; dashed: mean over distributions."),
    ]
    for key, heading, caption in sections:
        lines += [f"## {heading}", ""]
        if key in written:
            lines += [f"![{heading}]({written[key].name})", "", caption, ""]
        else:
            lines += [f"_Skipped: {notes.get(key, 'no data')}._", ""]
    trained_eval = _last_trained_eval(evals)
    if trained_eval is not None:
        final_eval = f" (eval at step {trained_eval['step']})"
    elif evals:
        final_eval = " (no evaluation after step 0: the eval columns show only the start)"
    else:
        final_eval = " (no evaluation)"
    lines += [
        f"## Final state{final_eval}",
        "",
        "| distribution | p (last draw) | drawn | share drawn | share drawn (last tenth) | train reward "
        "| train accuracy | eval accuracy at step 0 | eval accuracy | eval reward |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['distribution']} | {_fmt(r['probability'], '.3f')} | {r['drawn']} | "
            f"{_fmt(r['share'], '.3f')} | {_fmt(r['tail_share'], '.3f')} | "
            f"{_fmt(r['train_reward'], '+.2f')} | {_fmt(r['train_accuracy'], '.2f')} | "
            f"{_fmt(r['start_accuracy'], '.3f')} | {_fmt(r['eval_accuracy'], '.3f')} | "
            f"{_fmt(r['eval_reward'], '+.2f')} |"
        )
    if trained_eval is not None and "mean_accuracy" in trained_eval:
        lines += [
            "",
            f"Mean eval accuracy over distributions at step {trained_eval['step']}: "
            f"**{trained_eval['mean_accuracy']:.3f}**.",
        ]
    if evals:
        verdict, below = start_verdict(evals)
        lines += ["", f"Against the start: {'**' + verdict + '**' if below else verdict}."]
    if spent:
        lines += ["", spent]
    lines += [
        "",
        "Train reward and accuracy: mean over those of the last tenth of generation steps that drew "
        "the distribution (`-`: none did). `drawn`: prompts drawn from it over the whole run; "
        "`share drawn`: that over all prompts drawn, over the run and over the last tenth of "
        "generation steps."
        + (
            f" `p` is the proposal's probability; the {scheduler} selector chose among its candidates, "
            "so the share drawn is what it did."
            if is_problem_level(curriculum)
            else ""
        ),
        "",
    ]
    path = run_dir / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return path
