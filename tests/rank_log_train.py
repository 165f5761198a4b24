"""`dump train RECIPE [--set k=v ...]` with every rank's draws logged to OUTPUT/ranks/rank<i>.jsonl.

Launched by the multi-process tests (torchrun / accelerate launch run it on each rank): the
observer is passed to `train()` from here, so the trainer has no test switch of its own.
"""

from __future__ import annotations

import dataclasses
import sys

from rich.console import Console

from dumpcli.io import append_jsonl
from dumpcli.recipe import load_recipe
from dumpcli.train.run import train
from dumpcli.train.trainer import Draw


def main(argv: list[str]) -> int:
    path, rest = argv[0], argv[1:]
    overrides = [rest[i + 1] for i in range(0, len(rest), 2) if rest[i] == "--set"]
    recipe = load_recipe(path, overrides)
    ranks = recipe.output_path / "ranks"

    def log_draw(draw: Draw) -> None:
        ranks.mkdir(parents=True, exist_ok=True)
        append_jsonl(ranks / f"rank{draw.process_index}.jsonl", dataclasses.asdict(draw))

    train(recipe, console=Console(), draw_observers=[log_draw])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
