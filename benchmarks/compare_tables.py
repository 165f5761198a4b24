"""Tabulate finished `dump compare` runs with this code's summary and paired verdicts, without
preparing, warm-starting or training anything (e.g. runs trained by an earlier code version, whose
recipe's data hash no longer matches this one's).

    python benchmarks/compare_tables.py /work/runs/bench-v2/compare --schedulers uniform,progress --seeds 0,1,2,3,4

Reads each `<method>-seed<seed>/` folder, the shared step 0 from `start_eval.json`, the
distribution order and the step settings from the first run's run.json; writes compare.json,
compare.md and the plots into the compare folder (what `dump compare` writes), or into --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from dumpcli.compare import tabulate
from dumpcli.io import read_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the compare folder (OUTPUT/compare)")
    parser.add_argument("--schedulers", required=True)
    parser.add_argument("--seeds", required=True)
    parser.add_argument("--name", default=None, help="recipe name for the titles (default: the runs')")
    parser.add_argument("--out", type=Path, default=None, help="where to write the tables (default: root)")
    args = parser.parse_args()
    schedulers = [s for s in args.schedulers.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    runs = [(m, s, args.root / f"{m}-seed{s}", "reused") for m in schedulers for s in seeds]
    missing = [str(out) for _, _, out, _ in runs if not (out / "run.json").is_file()]
    if missing:
        raise SystemExit(f"not a finished run: {', '.join(missing)}")
    info = read_json(runs[0][2] / "run.json")
    recipe = info["recipe"]
    settings = {
        "max_steps": int(recipe["train"]["grpo"]["max_steps"]),
        "eval_every": int(recipe["train"].get("eval_every") or 0),
        "budget": {k: v for k, v in (recipe["train"].get("budget") or {}).items() if v is not None},
    }
    start = read_json(args.root / "start_eval.json")["result"]
    console = Console(width=200)
    out = args.out or args.root
    out.mkdir(parents=True, exist_ok=True)
    tabulate(out, args.name or recipe["name"], runs, info["distributions"], start, settings, console)


if __name__ == "__main__":
    main()
