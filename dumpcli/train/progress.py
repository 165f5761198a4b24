"""Rich progress for TRL trainers: a bar with live reward and the current top distributions."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from transformers import TrainerCallback


class RichProgress(TrainerCallback):
    """Replaces TRL's tqdm bar. `describe(logs)` turns the latest logs into the status text.
    Drawn by the main process only: under torchrun / accelerate launch every rank runs the
    callbacks, and N bars would interleave on one terminal."""

    def __init__(self, console: Console, title: str, trainer_ref: Any = None) -> None:
        self.console = console
        self.title = title
        self.trainer_ref = trainer_ref  # set after the trainer exists (for curriculum probabilities)
        self.progress: Progress | None = None
        self.task: Any = None
        self.status = ""

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return  # self.progress stays None: every other hook is a no-op
        self.progress = Progress(
            TextColumn(f"[bold]{self.title}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            self.title, total=state.max_steps, completed=state.global_step, status=""
        )

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any
    ) -> None:
        if not logs or self.progress is None:
            return
        parts = []
        if "reward" in logs:
            parts.append(f"reward {logs['reward']:+.2f}")
        elif "loss" in logs:
            parts.append(f"loss {logs['loss']:.3f}")
        probs = {k[len("curriculum/p/") :]: v for k, v in logs.items() if k.startswith("curriculum/p/")}
        if probs:
            top = sorted(probs.items(), key=lambda kv: -kv[1])[:3]
            parts.append("top " + " ".join(f"{d}:{p:.2f}" for d, p in top))
        self.status = "  ".join(parts)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, status=self.status)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, status=self.status)
            self.progress.stop()
            self.progress = None
