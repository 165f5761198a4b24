"""`dump compare RECIPE --schedulers uniform,ucb --seeds 0,1,2`: schedulers side by side.

Every (scheduler, seed) run gets a copy of the recipe that differs only in
`train.scheduler`, `train.seed` and `output_dir` (`OUTPUT/compare/<scheduler>-seed<seed>`), so
all runs share the prepared data, the cached warm start and the step budget. The starting
policy is evaluated once and counts as step 0 of every curve. Finished runs (final checkpoint
present) are not redone; partial ones resume from their last checkpoint.

Outputs in `OUTPUT/compare/`: `compare.json` (curves and summary), `compare.md` (the table)
and `mean_accuracy.png` (mean accuracy over distributions vs step, one line per scheduler).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dumpcli.errors import DumpError
from dumpcli.io import atomic_path, read_json, write_json
from dumpcli.recipe import Recipe, RecipeError, SchedulerSpec
from dumpcli.report import rollout_stats
from dumpcli.run_folder import (
    append_eval,
    checkpoint_dirs,
    checkpoint_step,
    newest_intact_checkpoint,
    read_evals,
    read_train_log,
)
from dumpcli.stats import first_reaching, interpolate, mean_over, paired_verdict
from dumpcli.train.config import max_steps as configured_max_steps

MIN_EVAL_POINTS = 4  # when the recipe has no eval_every: evaluate at least this often


def budget(recipe: Recipe) -> int:
    return configured_max_steps(recipe)


def eval_every(recipe: Recipe, max_steps: int) -> int:
    """The recipe's eval_every, or a period giving MIN_EVAL_POINTS evaluations. (The final step is
    always evaluated, whether or not the period divides the budget.)"""
    return recipe.train.eval_every or max(1, max_steps // MIN_EVAL_POINTS)


def scheduler_options(recipe: Recipe, name: str) -> tuple[dict[str, Any], list[str]]:
    """The options `name` runs with, and the names of the recipe's options it does not take.

    The recipe's options belong to the scheduler the recipe names: that one keeps them, every
    other scheduler starts from its own (paper) defaults, as `dump train --scheduler X` does.
    (UCB's `window: 300` is not sequential's window of 64 or learnability's 128.)"""
    options = recipe.train.scheduler.options()
    if name in recipe.compare.variants:
        return recipe.compare.variants[name].scheduler.options(), []
    if name == recipe.train.scheduler.name:
        return options, []
    return {}, sorted(options)


def run_recipe(recipe: Recipe, scheduler: str, seed: int, every: int) -> Recipe:
    """The recipe of one (scheduler, seed) run: same everything else, its own output dir.
    `scheduler` is a scheduler's name or a variant of the recipe's `compare.variants`."""
    options, _ = scheduler_options(recipe, scheduler)
    r = recipe.model_copy(deep=True)  # keeps _base_dir / _source_file
    variant = recipe.compare.variants.get(scheduler)
    if variant is not None:
        r.train.scheduler = variant.scheduler.model_copy(deep=True)
        if variant.filter is not None:
            r.train.filter = variant.filter.model_copy(deep=True)
        if variant.rollouts is not None:
            r.train.rollouts = variant.rollouts.model_copy(deep=True)
    else:
        r.train.scheduler = SchedulerSpec(name=scheduler, **options)
    r.train.seed = seed
    r.train.eval_every = every
    r.output_dir = str(compare_dir(recipe) / f"{scheduler}-seed{seed}")
    return r


def compare_dir(recipe: Recipe) -> Path:
    return recipe.output_path / "compare"


COMPUTE_AXES = ("completions", "tokens", "seconds")  # train_log's compute/* counters


def budget_overrides(text: str | None) -> list[str]:
    """`--budget completions=N,tokens=M` as recipe overrides of train.budget."""
    if not text:
        return []
    out = []
    for part in text.split(","):
        key, _, value = part.strip().partition("=")
        if key not in ("completions", "tokens") or not value.strip().isdigit() or int(value) <= 0:
            raise RecipeError(
                f"--budget {text!r}: expected completions=N and/or tokens=N with N a positive integer"
            )
        out.append(f"train.budget.{key}={int(value)}")
    return out


def _final_checkpoint(r: Recipe, max_steps: int) -> Path | None:
    """The checkpoint a finished run ended on: checkpoint-<max_steps>, or the one that spent the
    recipe's train.budget. None while the run is not finished."""
    from dumpcli.train.compute import budget_reached, checkpoint_compute

    checkpoint, _ = newest_intact_checkpoint(r.output_path)
    if checkpoint is None:
        return None
    if (checkpoint_step(checkpoint) or 0) >= max_steps:
        return checkpoint
    spec = r.train.budget
    if spec.active and budget_reached(checkpoint_compute(checkpoint), spec.completions, spec.tokens):
        return checkpoint
    return None


def _start_policy(recipe: Recipe, console: Console) -> Path | str:
    """The shared starting policy (built and warm-started once, cached by the trainer's key)."""
    from dumpcli.data.ensure import ensure_prepared
    from dumpcli.data.prepared import load_split
    from dumpcli.train.warmup import prepare_policy

    ensure_prepared(recipe, console)
    return prepare_policy(recipe, load_split(recipe, "train"), load_split(recipe, "test"), console)


def _evaluate_checkpoint(recipe: Recipe, path: Path | str) -> dict[str, Any]:
    import gc

    from dumpcli.evaluate import evaluate_during_training
    from dumpcli.model import load_pretrained

    model, tokenizer = load_pretrained(path, recipe)
    try:
        return evaluate_during_training(recipe, model, tokenizer)
    finally:
        del model
        gc.collect()


def _start_eval(recipe: Recipe, root: Path, console: Console) -> dict[str, Any]:
    """Step-0 point of every curve: the starting policy on the test split, as {"key", "result"}
    (cached in start_eval.json). Each run writes it as its own step 0 rather than evaluating the
    same policy again."""
    from dumpcli.evaluate import start_eval_key

    policy = _start_policy(recipe, console)
    path = root / "start_eval.json"
    key = start_eval_key(recipe, policy)
    if path.is_file():
        cached = read_json(path)
        if cached.get("key") == key:
            return cached
    console.print(f"evaluating the starting policy {policy}")
    start = {"key": key, "result": _evaluate_checkpoint(recipe, policy)}
    write_json(path, start)
    return start


def _ensure_final_eval(r: Recipe, final: Path, console: Console) -> None:
    """The final step must be on every curve, even when eval_every does not divide the budget."""
    out = r.output_path
    step = checkpoint_step(final) or 0
    if any(e["step"] == step for e in read_evals(out)):
        return
    console.print(f"evaluating the final checkpoint of {out.name}")
    append_eval(out, step, _evaluate_checkpoint(r, final))


def _run_one(r: Recipe, max_steps: int, console: Console, start: dict[str, Any] | None = None) -> str:
    from dumpcli.train.run import train

    out = r.output_path
    final = _final_checkpoint(r, max_steps)
    if final is not None:
        console.print(f"[dim]{out.name}: finished earlier, reusing it")
        status = "reused"
    else:
        resume = bool(checkpoint_dirs(out))
        console.rule(f"{out.name}" + (" (resuming)" if resume else ""))
        train(r, resume=resume, console=console, start_eval=start)
        final = _final_checkpoint(r, max_steps)
        if final is None:
            raise DumpError(
                f"{out}: training ended before checkpoint-{max_steps} or its train.budget; rerun to resume"
            )
        status = "resumed" if resume else "trained"
    _ensure_final_eval(r, final, console)
    return status


def _train_all(
    plan: list[Recipe], max_steps: int, jobs: int, console: Console, start: dict[str, Any] | None = None
) -> list[str]:
    """Train every run (in this process, or `jobs` child processes at a time); their statuses."""
    if jobs == 1:
        return [_run_one(r, max_steps, console, start) for r in plan]
    from concurrent.futures import ThreadPoolExecutor

    threads = threads_per_job(jobs)
    console.print(f"training {len(plan)} runs, {jobs} at a time, {threads} torch thread(s) each")

    def one(r: Recipe) -> str | DumpError:
        try:
            status = _run_in_subprocess(r, max_steps, threads, start)
        except DumpError as e:
            console.print(f"[red]{e}")
            return e
        console.print(f"{r.output_path.name}: {status}")
        return status

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, plan))
    failed = [str(x) for x in results if isinstance(x, DumpError)]
    if failed:
        raise DumpError(f"{len(failed)} of {len(plan)} runs failed:\n  " + "\n  ".join(failed))
    return [str(x) for x in results]


def curve(out: Path, start: dict[str, Any] | None) -> list[dict[str, Any]]:
    """[{step, mean_accuracy, distributions: {d: accuracy}, completions, tokens, seconds}] of one
    run, step 0 = the start (no compute spent). The compute at a step is train_log's cumulative
    compute/* counters at that step (absent for runs logged before the counters existed)."""
    spent = compute_by_step(out)
    points = []
    if start is not None:
        points.append({**_point(0, start), **dict.fromkeys(COMPUTE_AXES, 0.0)})
    for e in read_evals(out):
        if e["step"] > 0:
            points.append({**_point(int(e["step"]), e), **spent.get(int(e["step"]), {})})
    return points


def compute_by_step(out: Path) -> dict[int, dict[str, float]]:
    """{step: {completions, tokens, seconds}} from train_log.jsonl (the last line of a step wins)."""
    found: dict[int, dict[str, float]] = {}
    for line in read_train_log(out):
        if "compute/completions" in line:
            found[int(line["step"])] = {k: float(line[f"compute/{k}"]) for k in COMPUTE_AXES}  # type: ignore[literal-required]
    return found


def _point(step: int, result: dict[str, Any]) -> dict[str, Any]:
    point = {
        "step": step,
        "mean_accuracy": float(result["mean_accuracy"]),
        "distributions": {d: float(m["accuracy"]) for d, m in result["distributions"].items()},
    }
    if "mean_sampled_accuracy" in result:  # eval.sampled: pass@1 at the sampled temperature
        point["mean_sampled_accuracy"] = float(result["mean_sampled_accuracy"])
    return point


def _mean_std(xs: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation over seeds (0 with one seed)."""
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return {"mean": m, "std": sd}


def auc(points: Sequence[tuple[float, float]]) -> float:
    """Trapezoid area under (step, value), divided by the step range: a mean value over training
    (1.0 = perfect from the first step). One point: its value."""
    if not points:
        return float("nan")
    if len(points) == 1:
        return float(points[0][1])
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False))
    return float(area / (points[-1][0] - points[0][0]))


def steps_to_target(points: Sequence[tuple[float, float]], target: float) -> int | None:
    """First step at which the curve reaches `target` (None: not reached)."""
    for step, value in points:
        if value >= target - 1e-12:
            return int(step)
    return None


def summarise(
    curves: dict[str, dict[int, list[dict[str, Any]]]], order: list[str], reference: str
) -> dict[str, Any]:
    """Per scheduler: seed-mean curve, final accuracy per distribution (mean, std over seeds),
    final mean accuracy, AUC, steps to reach the reference scheduler's final mean accuracy."""
    out: dict[str, Any] = {}
    for sched, by_seed in curves.items():
        step_sets = [{p["step"] for p in pts} for pts in by_seed.values()]
        steps = sorted(set.intersection(*step_sets)) if step_sets else []
        if not steps:
            raise DumpError(f"{sched}: no evaluation step common to all seeds")
        at = {seed: {p["step"]: p for p in pts} for seed, pts in by_seed.items()}
        mean_curve = [
            (sum(p["step"] for p in points) / len(points), _mean_std([p["mean_accuracy"] for p in points]))
            for points in aligned_points(by_seed)
        ]
        # each run's own last point: runs stopped by train.budget end at different steps
        last = {seed: max(pts, key=lambda p: p["step"]) for seed, pts in by_seed.items()}
        final_dists = {
            d: _mean_std([last[seed]["distributions"][d] for seed in at])
            for d in order
            if all(d in last[seed]["distributions"] for seed in at)
        }
        first = steps[0]  # step 0, the starting policy, when the curves have it
        gains = [last[seed]["mean_accuracy"] - at[seed][first]["mean_accuracy"] for seed in at]
        out[sched] = {
            "seeds": sorted(by_seed),
            "start_step": first,
            "final_step": max(p["step"] for p in last.values()),
            "final_steps": sorted({p["step"] for p in last.values()}),
            "final": final_dists,
            "final_mean_accuracy": _mean_std([last[seed]["mean_accuracy"] for seed in at]),
            "gain_over_start": _mean_std(gains),
            "seeds_below_start": sum(g < 0 for g in gains),
            "curve": [{"step": s, **ms} for s, ms in mean_curve],
            "auc": auc([(s, ms["mean"]) for s, ms in mean_curve]),
        }
        if all("mean_sampled_accuracy" in last[seed] for seed in at):
            sampled = [last[seed]["mean_sampled_accuracy"] for seed in at]
            out[sched]["final_mean_sampled_accuracy"] = _mean_std(sampled)
            if all("mean_sampled_accuracy" in at[seed][first] for seed in at):
                start_sampled = [at[seed][first]["mean_sampled_accuracy"] for seed in at]
                out[sched]["sampled_gain_over_start"] = _mean_std(
                    [a - b for a, b in zip(sampled, start_sampled, strict=True)]
                )
    target = out[reference]["final_mean_accuracy"]["mean"]  # seed-mean final mean accuracy
    for summary in out.values():
        summary["steps_to_target"] = steps_to_target(
            [(p["step"], p["mean"]) for p in summary["curve"]], target
        )
    reference_steps = out[reference]["steps_to_target"]
    for summary in out.values():  # steps to the target as a multiple of the reference's own
        reached = summary["steps_to_target"]
        summary["steps_ratio"] = (
            reached / reference_steps if reached is not None and reference_steps else None
        )
    return {"reference": reference, "target": target, "summary": out}


def _axis(
    points: list[dict[str, Any]], axis: str, key: str = "mean_accuracy"
) -> list[tuple[float, float]] | None:
    if not all(axis in p for p in points):
        return None
    return [(float(p[axis]), float(p[key])) for p in points]


def compute_verdicts(
    curves: dict[str, dict[int, list[dict[str, Any]]]], order: list[str], reference: str, target: float
) -> dict[str, Any]:
    """Per method, against the reference, paired by seed (dumpcli/stats.py):
    - `final`: final mean accuracy, as each run ended;
    - `at_equal_completions`: mean accuracy at C, the fewest completions any run of the comparison
      generated (linear between evaluations), so every method is read at the same cost;
    - `auc_per_completion`: the mean accuracy over [0, C] completions (area under accuracy vs
      completions / C), which rewards getting there early;
    - `completions_to_target`: the completions at which the seed-mean curve (on the completions
      axis) first reaches the target, the reference's seed-mean final accuracy (as the steps column
      does on steps), and that as a multiple of the reference's; per seed too, for information;
    - `per_distribution`: the paired final-accuracy difference of every distribution.
    Compute-based parts are None when a run has no compute counters (logged before they existed)."""
    seeds_of = {m: sorted(by_seed) for m, by_seed in curves.items()}
    finals = {m: {seed: pts[-1] for seed, pts in by_seed.items()} for m, by_seed in curves.items()}
    completions = {
        m: {seed: _axis(pts, "completions") for seed, pts in by_seed.items()} for m, by_seed in curves.items()
    }
    have_compute = all(c is not None for per in completions.values() for c in per.values())
    end = min(c[-1][0] for per in completions.values() for c in per.values() if c) if have_compute else None
    out: dict[str, Any] = {"equal_completions": end, "methods": {}}
    ref_seeds = set(seeds_of[reference])
    reached_ref = None
    for method in curves:
        seeds = [s for s in seeds_of[method] if s in ref_seeds]
        entry: dict[str, Any] = {"paired_seeds": seeds}
        entry["final"] = paired_verdict(
            [finals[method][s]["mean_accuracy"] for s in seeds],
            [finals[reference][s]["mean_accuracy"] for s in seeds],
        )
        entry["per_distribution"] = {
            d: paired_verdict(
                [finals[method][s]["distributions"][d] for s in seeds],
                [finals[reference][s]["distributions"][d] for s in seeds],
            )
            for d in order
            if all(d in finals[x][s]["distributions"] for x in (method, reference) for s in seeds)
        }
        if have_compute and end is not None:
            mine, ref = completions[method], completions[reference]
            entry["at_equal_completions"] = paired_verdict(
                [interpolate(mine[s], end) for s in seeds],
                [interpolate(ref[s], end) for s in seeds],  # type: ignore[arg-type]
            )
            entry["auc_per_completion"] = paired_verdict(
                [mean_over(mine[s], end) for s in seeds],
                [mean_over(ref[s], end) for s in seeds],  # type: ignore[arg-type]
            )
            entry["completions_to_target"] = {
                "completions": first_reaching(_seed_mean_curve(curves[method], "completions"), target),
                "per_seed": [first_reaching(mine[s], target) for s in seeds_of[method]],  # type: ignore[arg-type]
            }
            spent = [c[-1][0] for c in mine.values() if c]
            entry["completions_spent"] = sum(spent) / len(spent)
            if method == reference:
                reached_ref = entry["completions_to_target"]["completions"]
        out["methods"][method] = entry
    for entry in out["methods"].values():
        to_target = entry.get("completions_to_target")
        if to_target is not None:
            mine_c = to_target["completions"]
            to_target["ratio"] = mine_c / reached_ref if mine_c is not None and reached_ref else None
    return out


def aligned_points(by_seed: dict[int, list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """The seeds' points that one seed-mean curve averages, in order: those at each step every seed
    evaluated, then, when the runs ended at different steps (stopped by train.budget past the last
    step they share), their ends."""
    steps = sorted(set.intersection(*[{p["step"] for p in pts} for pts in by_seed.values()]))
    at = [{p["step"]: p for p in pts} for pts in by_seed.values()]
    points = [[a[step] for a in at] for step in steps]
    last = [max(pts, key=lambda p: p["step"]) for pts in by_seed.values()]
    if not steps or any(p["step"] != steps[-1] for p in last):
        points.append(last)
    return points


def _seed_mean_curve(by_seed: dict[int, list[dict[str, Any]]], axis: str) -> list[tuple[float, float]]:
    """(mean over seeds of `axis`, mean over seeds of mean accuracy) along `aligned_points`: the
    seed-mean curve on a compute axis, or on `step` (its last point is the method's own seed-mean
    final)."""
    return [
        (
            sum(float(p[axis]) for p in points) / len(points),
            sum(float(p["mean_accuracy"]) for p in points) / len(points),
        )
        for points in aligned_points(by_seed)
    ]


def below_start(result: dict[str, Any]) -> list[str]:
    """One sentence per scheduler whose final mean accuracy is below its starting policy's."""
    lines = []
    for sched in result["schedulers"]:
        s = result["summary"][sched]
        if s["start_step"] != 0:
            continue
        gain, n = s["gain_over_start"]["mean"], len(s["seeds"])
        if gain < 0 or s["seeds_below_start"]:
            lines.append(
                f"{sched}: final mean accuracy is below the starting policy's "
                f"({gain:+.3f} on average; {s['seeds_below_start']} of {n} seed(s) below their start)"
            )
    return lines


def _check_args(schedulers: list[str], seeds: list[int], variants: list[str]) -> None:
    from dumpcli.schedulers.registry import names

    if not schedulers:
        raise DumpError("--schedulers: give at least one scheduler, e.g. uniform,ucb")
    if not seeds:
        raise DumpError("--seeds: give at least one seed, e.g. 0,1,2")
    known = [*names(), *(v for v in variants if v not in names())]
    unknown = [s for s in schedulers if s not in known]
    if unknown:
        raise DumpError(
            f"--schedulers: unknown {', '.join(unknown)} (available: {', '.join(known)}; "
            "or name a variant in the recipe's compare.variants)"
        )
    for what, items in (("--schedulers", schedulers), ("--seeds", seeds)):
        repeated = sorted({str(x) for x in items if items.count(x) > 1})
        if repeated:
            raise DumpError(f"{what}: repeated {', '.join(repeated)}")


def _run_in_subprocess(r: Recipe, max_steps: int, threads: int, start: dict[str, Any] | None = None) -> str:
    """One run in a child process (`python -m dumpcli.compare RUN_JSON`) with `threads` torch
    threads, its output in OUT/compare.log. Returns its status, or raises DumpError."""
    out = r.output_path
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "compare_run.json"
    write_json(
        spec,
        {
            "recipe": r.model_dump(mode="json", exclude_defaults=True),
            "base_dir": str(r.base_dir),
            "max_steps": max_steps,
            "start_eval": start,
        },
    )
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with open(out / "compare.log", "ab") as log:
        done = subprocess.run(
            [sys.executable, "-m", "dumpcli.compare", str(spec)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        raise DumpError(f"{out.name}: failed (exit {done.returncode}); see {out / 'compare.log'}")
    return (out / "compare_status").read_text(encoding="utf-8").strip()


def _child_main(spec_path: str) -> int:
    """Entry point of a `--jobs` child: rebuild the run's recipe, train it, write its status."""
    spec = read_json(Path(spec_path))
    r = Recipe.model_validate(spec["recipe"])
    r._base_dir = Path(spec["base_dir"])
    console = Console(force_terminal=False, width=120)
    try:
        status = _run_one(r, int(spec["max_steps"]), console, spec.get("start_eval"))
    except DumpError as e:
        console.print(f"error: {e}")
        return e.exit_code
    with atomic_path(r.output_path / "compare_status") as tmp:
        tmp.write_text(status, encoding="utf-8")
    return 0


def threads_per_job(jobs: int) -> int:
    """Torch threads per parallel run: the cores shared out, at least one. Two runs at 2 threads
    each on 2 cores ran ~5x slower than at 1 thread each (oversubscription)."""
    return max(1, (os.cpu_count() or 1) // jobs)


def compare(
    recipe: Recipe, schedulers: list[str], seeds: list[int], console: Console, jobs: int = 1
) -> dict[str, Any]:
    """Train (or reuse) every scheduler x seed, then write compare.json / compare.md / mean_accuracy.png.

    `jobs` > 1 trains that many runs at once, each in its own process with its share of the
    cores as torch threads (`threads_per_job`)."""
    _check_args(schedulers, seeds, list(recipe.compare.variants))
    if jobs < 1:
        raise DumpError(f"--jobs {jobs}: expected 1 or more")
    max_steps = budget(recipe)
    every = eval_every(recipe, max_steps)
    root = compare_dir(recipe)
    root.mkdir(parents=True, exist_ok=True)
    reference = reference_of(schedulers)
    if reference != "uniform":
        console.print(
            f"[yellow]uniform is not compared: steps-to-target uses {reference}'s final mean accuracy"
        )
    for sched in schedulers:
        _, dropped = scheduler_options(recipe, sched)
        if dropped:
            console.print(
                f"[dim]{sched}: its own defaults (the recipe's {', '.join(dropped)} belong to "
                f"{recipe.train.scheduler.name})"
            )
    console.print(
        f"compare: {', '.join(schedulers)} x seeds {', '.join(map(str, seeds))}; "
        f"{max_steps} steps each, eval every {every} step{'s' if every > 1 else ''} and at the end"
    )

    from dumpcli.data.prepared import load_manifest

    start = _start_eval(recipe, root, console)
    order = [d["name"] for d in load_manifest(recipe)["distributions"]]
    # every run has the same data section, so it reads the same prepared data (in the data cache)
    plan = [(sched, seed, run_recipe(recipe, sched, seed, every)) for sched in schedulers for seed in seeds]
    statuses = _train_all([r for _, _, r in plan], max_steps, jobs, console, start)
    return tabulate(
        root,
        recipe.name,
        [
            (sched, seed, r.output_path, status)
            for (sched, seed, r), status in zip(plan, statuses, strict=True)
        ],
        order,
        start["result"],
        {
            "max_steps": max_steps,
            "eval_every": every,
            "budget": recipe.train.budget.model_dump(exclude_none=True),
        },
        console,
    )


def reference_of(schedulers: list[str]) -> str:
    """The method every other is measured against: uniform, or else the first one named."""
    return "uniform" if "uniform" in schedulers else schedulers[0]


def tabulate(
    root: Path,
    name: str,
    runs_done: list[tuple[str, int, Path, str]],
    order: list[str],
    start: dict[str, Any] | None,
    settings: dict[str, Any],
    console: Console,
) -> dict[str, Any]:
    """From finished runs [(method, seed, run folder, status)] and the shared step-0 result: the
    summary, the paired verdicts, compare.json, compare.md and the plots in `root`.
    (benchmarks/compare_tables.py calls it to tabulate runs trained by an earlier code version.)"""
    schedulers = list(dict.fromkeys(sched for sched, _, _, _ in runs_done))
    seeds = list(dict.fromkeys(seed for _, seed, _, _ in runs_done))
    reference = reference_of(schedulers)
    runs: dict[str, Any] = {}
    curves: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for sched, seed, out, status in runs_done:
        pts = curve(out, start)
        curves.setdefault(sched, {})[seed] = pts
        runs[f"{sched}-seed{seed}"] = {
            "scheduler": sched,
            "seed": seed,
            "output_dir": str(out),
            "status": status,
            "curve": pts,
        }
    summary = summarise(curves, order, reference)
    verdicts = compute_verdicts(curves, order, reference, summary["target"])
    result = {
        "recipe": name,
        "schedulers": schedulers,
        "seeds": seeds,
        **settings,
        "distributions": order,
        "reference_note": (
            "uniform's final mean accuracy"
            if reference == "uniform"
            else f"uniform not compared: {reference}'s final mean accuracy is the target"
        ),
        **summary,
        "verdicts": verdicts,
        "drawn_share": {
            sched: drawn_share(
                [Path(r["output_dir"]) for r in runs.values() if r["scheduler"] == sched], order
            )
            for sched in schedulers
        },
        "rollouts": {
            sched: rollout_stats([Path(r["output_dir"]) for r in runs.values() if r["scheduler"] == sched])
            for sched in schedulers
        },
        "runs": runs,
    }
    result["below_start"] = below_start(result)
    write_json(root / "compare.json", result)
    plots = [plot_mean_accuracy(result, root / "mean_accuracy.png")]
    if verdicts["equal_completions"] is not None:
        plots += [
            plot_mean_accuracy(result, root / f"mean_accuracy_{axis}.png", axis=axis) for axis in COMPUTE_AXES
        ]
    md = _write_markdown(result, root / "compare.md", plots)
    console.print(compare_table(result))
    console.print(verdict_table(result))
    for line in result["below_start"]:
        console.print(f"[yellow]{line}")
    for path in (root / "compare.json", md, *plots):
        console.print(f"wrote {path}")
    return result


def drawn_share(outs: list[Path], order: list[str]) -> dict[str, float]:
    """Share of all prompts drawn per distribution, over the runs (curriculum.jsonl's `drawn`:
    what was trained on, for a problem-level method too)."""
    from dumpcli.report import drawn_per_step
    from dumpcli.run_folder import read_curriculum

    totals = [0.0] * len(order)
    for out in outs:
        counts = drawn_per_step(read_curriculum(out), order)[1].sum(axis=0)
        totals = [a + float(b) for a, b in zip(totals, counts, strict=True)]
    grand = sum(totals)
    return {d: (n / grand if grand else 0.0) for d, n in zip(order, totals, strict=True)}


def _cell(ms: dict[str, float] | None, seeds: int) -> str:
    if ms is None:
        return "-"
    return f"{ms['mean']:.3f} \u00b1 {ms['std']:.3f}" if seeds > 1 else f"{ms['mean']:.3f}"


def _rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    order = result["distributions"]
    summaries = [result["summary"][sched] for sched in result["schedulers"]]
    sampled = all("final_mean_sampled_accuracy" in s for s in summaries)
    header = ["scheduler", *order, "mean", "gain over start", "AUC", f"steps to {result['target']:.3f}"]
    header += ["sampled mean", "sampled gain"] if sampled else []
    rows = []
    for sched, s in zip(result["schedulers"], summaries, strict=True):
        n = len(s["seeds"])
        reached, ratio = s["steps_to_target"], s.get("steps_ratio")
        gain = _signed_cell(s["gain_over_start"], n) if s["start_step"] == 0 else "-"
        row = [
            sched + (" (ref)" if sched == result["reference"] else ""),
            *[_cell(s["final"].get(d), n) for d in order],
            _cell(s["final_mean_accuracy"], n),
            gain,
            f"{s['auc']:.3f}",
            "not reached"
            if reached is None
            else f"{reached}" + (f" ({ratio:.2f}x)" if ratio is not None else ""),
        ]
        if sampled:
            row += [
                _cell(s["final_mean_sampled_accuracy"], n),
                _signed_cell(s["sampled_gain_over_start"], n) if "sampled_gain_over_start" in s else "-",
            ]
        rows.append(row)
    return header, rows


def _signed_cell(ms: dict[str, float], seeds: int) -> str:
    return f"{ms['mean']:+.3f} \u00b1 {ms['std']:.3f}" if seeds > 1 else f"{ms['mean']:+.3f}"


def compare_table(result: dict[str, Any]) -> Table:
    header, rows = _rows(result)
    seeds = ", ".join(map(str, result["seeds"]))
    table = Table(
        title=f"compare: {result['recipe']}, final accuracy where each run ended (seeds {seeds})",
        caption=f"mean \u00b1 std over seeds; AUC of mean accuracy vs step / step range; "
        f"target = {result['reference_note']}",
    )
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


AXIS_LABELS = {
    "step": "training step",
    "completions": "completions generated",
    "tokens": "completion tokens generated",
    "seconds": "training seconds (evaluation excluded)",
}


def plot_mean_accuracy(result: dict[str, Any], path: Path, axis: str = "step") -> Path:
    import matplotlib

    from dumpcli.report import new_figure, save_figure

    fig, ax = new_figure(
        f"{result['recipe']}: mean accuracy over distributions (test split)",
        AXIS_LABELS[axis],
        "mean accuracy",
    )
    if axis != "step":
        from matplotlib.ticker import AutoLocator

        ax.xaxis.set_major_locator(AutoLocator())
    cmap = matplotlib.colormaps["tab10"]
    for i, (sched, s) in enumerate(result["summary"].items()):
        by_seed = {r["seed"]: r["curve"] for r in result["runs"].values() if r["scheduler"] == sched}
        xs = [x for x, _ in _seed_mean_curve(by_seed, axis)]  # the summary curve's steps, on `axis`
        ys = [p["mean"] for p in s["curve"]]
        colour = cmap(i % 10)
        label = f"{sched} ({len(s['seeds'])} seed{'s' if len(s['seeds']) > 1 else ''})"
        ax.plot(xs, ys, label=label, color=colour, marker="o", markersize=3)
        if len(s["seeds"]) > 1:
            lo = [p["mean"] - p["std"] for p in s["curve"]]
            hi = [p["mean"] + p["std"] for p in s["curve"]]
            ax.fill_between(xs, lo, hi, color=colour, alpha=0.15)
    ax.axhline(result["target"], color="grey", linestyle=":", label=f"target {result['target']:.3f}")
    ax.set_ylim(-0.02, 1.02)
    return save_figure(fig, path, "scheduler (band: \u00b1 std)")


def _interval(v: dict[str, Any] | None) -> str:
    if v is None or v["diff"] is None:
        return "-"
    if v["lo"] is None:
        return f"{v['diff']:+.3f}"
    return f"{v['diff']:+.3f} [{v['lo']:+.3f}, {v['hi']:+.3f}]"


def _verdict_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    v = result["verdicts"]
    end = v["equal_completions"]
    header = ["method", "seeds", "final: diff [95% CI]", "verdict"]
    if end is not None:
        header += [
            f"at {end:.0f} completions", "verdict", "AUC per completion", "verdict",
            "completions to target", "completions spent",
        ]  # fmt: skip
    rows = []
    for sched in result["schedulers"]:
        e = v["methods"][sched]
        ref = sched == result["reference"]
        row = [sched + (" (ref)" if ref else ""), str(len(e["paired_seeds"]))]
        row += ["-", "-"] if ref else [_interval(e["final"]), e["final"]["verdict"]]
        if end is not None:
            for key in ("at_equal_completions", "auc_per_completion"):
                row += ["-", "-"] if ref else [_interval(e[key]), e[key]["verdict"]]
            t = e["completions_to_target"]
            if t["completions"] is None:
                reach = "not reached"
            else:
                reach = f"{t['completions']:.0f}" + (
                    f" ({t['ratio']:.2f}x)" if t["ratio"] is not None else ""
                )
            row += [reach, f"{e['completions_spent']:.0f}"]
        rows.append(row)
    return header, rows


def verdict_table(result: dict[str, Any]) -> Table:
    header, rows = _verdict_rows(result)
    table = Table(
        title=f"verdict against {result['reference']}, paired by seed",
        caption="diff = mean over seeds of (method - reference); 95% CI by Student's t over the paired "
        "seeds; better/worse only where the interval excludes 0",
    )
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        *["| " + " | ".join(row) + " |" for row in rows],
    ]


def _per_distribution_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    order = result["distributions"]
    header = ["method", *order]
    rows = []
    for sched in result["schedulers"]:
        if sched == result["reference"]:
            continue
        per = result["verdicts"]["methods"][sched]["per_distribution"]
        rows.append(
            [sched, *[f"{_interval(per.get(d))} {per[d]['verdict']}" if d in per else "-" for d in order]]
        )
    return header, rows


def _rollout_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["method", "completions", "prompts", "rounds", "informative groups", "per 1k completions",
              "skipped", "screened out"]  # fmt: skip
    rows = []
    for sched in result["schedulers"]:
        s = result.get("rollouts", {}).get(sched, {})
        formats = {"completions": ".1f", "prompts": ".1f", "rounds": ".2f", "informative_groups": ".2f",
                   "informative_per_1k": ".1f", "skipped": ".1f", "screened_out": ".1f"}  # fmt: skip
        rows.append([sched, *("-" if s.get(k) is None else format(s[k], f) for k, f in formats.items())])
    return header, rows


def _write_markdown(result: dict[str, Any], path: Path, plots: list[Path]) -> Path:
    header, rows = _rows(result)
    lines = [
        f"# Scheduler comparison: {result['recipe']}",
        "",
        f"Schedulers {', '.join(result['schedulers'])}; seeds {', '.join(map(str, result['seeds']))}; "
        f"{result['max_steps']} GRPO steps each from the same warm start; evaluation every "
        f"{result['eval_every']} step(s) and at the end (step 0 = the starting policy).",
        "",
        f"Final accuracy per distribution (easy \u2192 hard) where each run ended (step {result['max_steps']}, "
        "or the step that spent its train.budget), mean \u00b1 std over seeds. AUC: area under the mean-accuracy curve divided by the step range. Steps to target: first "
        f"evaluated step whose seed-mean mean accuracy reaches {result['target']:.3f} "
        f"({result['reference_note']}); in brackets, as a multiple of the reference's own steps. Gain over "
        "start: final mean accuracy minus the starting policy's (step 0).",
        "",
        *[f"**{line}.**\n" for line in result.get("below_start", [])],
        *_markdown_table(header, rows),
        "",
        f"## Verdict against {result['reference']}, paired by seed",
        "",
        "For each seed, method minus reference (the same seed: the same warm start, data and test "
        "problems); the mean over seeds and its 95% interval (Student's t). *better* or *worse* only where "
        "the interval excludes 0, otherwise *level*; one seed gives no verdict. `final`: mean accuracy "
        "where each run ended. `at C completions`: mean accuracy when the run had generated C completions, "
        "the fewest any run of this comparison generated (linear between evaluations), i.e. at equal cost. "
        "`AUC per completion`: mean accuracy over [0, C] completions. `completions to target`: completions "
        "at which the seed-mean curve first reaches the target (in brackets: as a multiple of the "
        "reference's).",
        "",
        *_markdown_table(*_verdict_rows(result)),
        "",
        "Final accuracy per distribution, paired difference against the reference [95% CI] and verdict:",
        "",
        *_markdown_table(*_per_distribution_rows(result)),
        "",
        "Share of all prompts drawn per distribution (curriculum.jsonl, all seeds):",
        "",
        *_markdown_table(
            ["method", *result["distributions"]],
            [
                [sched, *[f"{result['drawn_share'][sched].get(d, 0.0):.2f}" for d in result["distributions"]]]
                for sched in result["schedulers"]
            ],
        ),
        "",
        "What a step spent (train_log.jsonl, mean over the steps of all seeds): completions and prompts "
        "generated, generation rounds, the share of the trained groups whose rewards differ (the ones "
        "that move the policy) and how many such groups 1000 generated completions bought, prompts "
        "skipped (`train.rollouts: skip`) and screened out (`screen`):",
        "",
        *_markdown_table(*_rollout_rows(result)),
        "",
        *[f"![mean accuracy vs {p.stem.partition('_accuracy_')[2] or 'step'}]({p.name})" for p in plots],
        "",
        "Runs:",
        "",
        *[f"- `{name}`: {run['output_dir']} ({run['status']})" for name, run in result["runs"].items()],
        "",
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return path


if __name__ == "__main__":  # a `dump compare --jobs N` child process
    raise SystemExit(_child_main(sys.argv[1]))
