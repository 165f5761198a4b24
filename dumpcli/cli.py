"""The `dump` command. Thin on purpose: parse arguments, load the recipe, call one stage."""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from dumpcli import __version__
from dumpcli.errors import DumpError
from dumpcli.recipe import Recipe, RecipeError, load_recipe

# quiet third-party chatter: Rich shows progress; nothing here may phone home
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# transformers 5.x renames (gradient_checkpointing -> activation_checkpointing) warn on every step
warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")

app = typer.Typer(
    name="dump",
    help="RL post-training on a mixture of distributions with an automatic curriculum (DUMP, Actor-Curator).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
puzzles_app = typer.Typer(help="Logic-puzzle families: list, generate, verify.", no_args_is_help=True)
app.add_typer(puzzles_app, name="puzzles")

# Under torchrun / accelerate launch every rank runs the command: only global rank 0 prints
# (errors still go to stderr from every rank, so a rank that fails says why).
console = Console(stderr=False, quiet=os.environ.get("RANK", "0") != "0")
LOG_WIDTH = 200


def _fit_width() -> None:
    """COLUMNS where set; else a terminal's own width; else (a file or a pipe, which have no
    width, where Rich would assume 80 and cut the tables' headers to "s…") LOG_WIDTH columns."""
    columns = os.environ.get("COLUMNS", "")
    console.width = int(columns) if columns.isdigit() else None  # type: ignore[assignment]
    if not columns.isdigit() and not console.is_terminal:
        console.width = LOG_WIDTH
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

RecipeArg = Annotated[Path, typer.Argument(help="YAML recipe (see recipes/).", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a recipe field: key.path=value (repeatable)."),
]


def _reports_errors(fn: F) -> F:
    """Turn the errors users can fix into one message and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RecipeError as e:
            err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except DumpError as e:
            # escaped: messages quote user text and extras like 'dumpcli[vllm]', not Rich markup
            err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(e.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _load(
    recipe: Path,
    overrides: list[str] | None,
    flags: dict[str, str] | None = None,
    check_files: bool = True,
    flags_first: bool = False,
    check_extras: bool = False,
) -> Recipe:
    """The recipe with the --set overrides and `flags` (override -> the option that made it, as
    the user typed it) applied; an error names the option an override came from."""
    sets, extra = list(overrides or []), list(flags or {})
    ordered = [*extra, *sets] if flags_first else [*sets, *extra]
    return load_recipe(recipe, ordered, check_files=check_files, flags=flags, check_extras=check_extras)


def _scheduler_names() -> str:
    from dumpcli.schedulers import registry

    return ", ".join(registry.names())


def _version(value: bool) -> None:
    if value:
        console.print(f"dumpcli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """dump: prepare data, train with a curriculum, evaluate, report."""
    _fit_width()


@app.command()
@_reports_errors
def prepare(
    recipe: RecipeArg,
    set_: SetOpt = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Go on past bad records; write them to OUTPUT/rejects.jsonl."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if inputs are unchanged.")] = False,
) -> None:
    """Ingest files and puzzle generators, validate, tag, split, dedup; write the data to the cache (DUMP_CACHE_DIR) and OUTPUT/manifest.json."""
    from dumpcli.data.prepare import prepare as run_prepare
    from dumpcli.io import own_folder

    loaded = _load(recipe, set_)
    with own_folder(loaded.output_path, "dump prepare"):  # a second prepare or train on it stops
        run_prepare(loaded, skip_invalid=skip_invalid, force=force, console=console)


@app.command()
@_reports_errors
def train(
    recipe: RecipeArg,
    set_: SetOpt = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help=f"Curriculum scheduler (overrides the recipe): {_scheduler_names()}."),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the latest checkpoint.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Resolve and print everything, load no weights, train nothing.")
    ] = False,
) -> None:
    """GRPO (TRL) with a curriculum scheduler choosing the distribution of every prompt."""
    # --scheduler first, so that --set can give the new scheduler its options
    flags = _scheduler_override(recipe, scheduler)
    # a dry run checks a recipe away from its data: missing input files are reported, not fatal
    # (missing extras: the dry run lists them; a run stops before torch and TRL are imported)
    loaded = _load(recipe, set_, flags, check_files=not dry_run, flags_first=True, check_extras=not dry_run)
    _check_trl()
    if dry_run:
        from dumpcli.train.dry_run import dry_run as run_dry_run

        run_dry_run(loaded, console=console)
        return
    from dumpcli.train.run import train as run_train

    run_train(loaded, resume=resume, console=console)


def _scheduler_override(recipe: Path, scheduler: str | None) -> dict[str, str]:
    """`--scheduler X`: keep the recipe's scheduler options if it already names X; otherwise they
    belong to another scheduler (ucb's window, ...) and X starts from its own defaults."""
    if not scheduler:
        return {}
    import yaml

    try:
        raw = yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}
        current = raw.get("train", {}).get("scheduler", {}).get("name", "ucb")
    except (OSError, yaml.YAMLError, AttributeError):
        current = None  # load_recipe reports what is wrong with the file
    if current == scheduler:
        return {}
    return {f"train.scheduler={{name: {scheduler}}}": f"--scheduler {scheduler}"}


@app.command("eval")
@_reports_errors
def eval_(
    recipe: RecipeArg,
    checkpoint: Annotated[
        list[Path] | None, typer.Option("--checkpoint", "-c", help="Checkpoint dir (repeatable).")
    ] = None,
    run: Annotated[
        Path | None, typer.Option("--run", help="Evaluate every checkpoint of this run dir.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write eval.json.")] = None,
    max_per_distribution: Annotated[
        int | None, typer.Option(help="Cap test problems per distribution.")
    ] = None,
    backend: Annotated[str | None, typer.Option(help="hf (default) or vllm.")] = None,
    set_: SetOpt = None,
) -> None:
    """Score checkpoints per distribution on the test split (accuracy, reward, format, pass@k, length)."""
    from dumpcli.evaluate import evaluate_cli

    flags = {}
    if max_per_distribution is not None:
        flags[f"eval.max_per_distribution={max_per_distribution}"] = (
            f"--max-per-distribution {max_per_distribution}"
        )
    if backend is not None:
        flags[f"eval.backend={backend}"] = f"--backend {backend}"
    evaluate_cli(
        _load(recipe, set_, flags), checkpoints=checkpoint or [], run_dir=run, output=output, console=console
    )


@app.command()
@_reports_errors
def report(run_dir: Annotated[Path, typer.Argument(help="A training run's output_dir.")]) -> None:
    """Plots of what the curriculum did (probabilities, rewards, eval accuracy) and report.md."""
    from dumpcli.report import report as run_report

    run_report(run_dir, console=console)


@app.command()
@_reports_errors
def compare(
    recipe: RecipeArg,
    schedulers: Annotated[
        str, typer.Option(help=f"Comma-separated scheduler names: {_scheduler_names()}.")
    ] = "uniform,ucb",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0",
    jobs: Annotated[
        int, typer.Option(help="Runs trained at once, each in its own process with its share of the cores.")
    ] = 1,
    budget: Annotated[
        str | None,
        typer.Option(
            help="Stop every run at the same compute: completions=N and/or tokens=N (train.budget)."
        ),
    ] = None,
    set_: SetOpt = None,
) -> None:
    """Same recipe, same warm start, several schedulers and seeds side by side, with paired verdicts."""
    from dumpcli.compare import budget_overrides
    from dumpcli.compare import compare as run_compare

    names = [s.strip() for s in schedulers.split(",") if s.strip()]
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise DumpError(f"--seeds {seeds!r}: expected comma-separated integers") from None
    loaded = _load(recipe, [*(set_ or []), *budget_overrides(budget)])
    _check_trl()
    run_compare(loaded, schedulers=names, seeds=seed_list, console=console, jobs=jobs)


def _check_trl() -> None:
    """The installed TRL must be one the trainer works with (train/trl_compat.py), before any work."""
    from dumpcli.train.trl_compat import check_installed

    check_installed(warn=lambda msg: err_console.print(f"[yellow]warning:[/] {escape(msg)}", highlight=False))


@puzzles_app.command("list")
@_reports_errors
def puzzles_list() -> None:
    """Families, their difficulty knobs, an example each."""
    from dumpcli.puzzles.commands import list_families

    list_families(console=console)


@puzzles_app.command("generate")
@_reports_errors
def puzzles_generate(
    family: Annotated[str, typer.Argument(help="Puzzle family (see `dump puzzles list`).")],
    difficulty: Annotated[
        str, typer.Option("--difficulty", "-d", help="A level, a range 3..8, or a list 3,5,7.")
    ],
    n: Annotated[int, typer.Option("-n", help="Puzzles per difficulty level.")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same puzzles).")] = 0,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="JSONL file to write (- for standard output).")
    ] = Path("puzzles.jsonl"),
) -> None:
    """Generate puzzles with unique solutions as JSONL."""
    from dumpcli.puzzles.commands import generate

    generate(family, difficulty, n=n, seed=seed, output=output, console=console)


@puzzles_app.command("verify")
@_reports_errors
def puzzles_verify(
    completions: Annotated[Path, typer.Argument(help="JSONL rows with `completion` + the puzzle's fields.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write one score row per input.")
    ] = None,
    scheme: Annotated[str, typer.Option(help="Reward scheme: dump, binary, partial.")] = "dump",
    verifier: Annotated[
        str | None, typer.Option(help="Verifier for rows that do not name one (default: guessed).")
    ] = None,
) -> None:
    """Score completions against their puzzles; per-distribution table."""
    from dumpcli.puzzles.commands import verify

    verify(completions, output=output, scheme=scheme, verifier=verifier, console=console)


def run() -> None:  # pragma: no cover - console script shim
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
