"""Rich progress for TRL trainers: a bar with live reward and the current top distributions; when
the output is not a terminal (a log file, a batch job), a plain line at a steady interval."""

from __future__ import annotations

import time
from collections.abc import Callable
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

PLAIN_EVERY_SECONDS = 30.0  # a progress line this often when the output is not a terminal


class RichProgress(TrainerCallback):
    """Replaces TRL's tqdm bar. `describe(logs)` turns the latest logs into the status text.
    Drawn by the main process only: under torchrun / accelerate launch every rank runs the
    callbacks, and N bars would interleave on one terminal.

    Rich draws a live bar only on a terminal; redirected to a file it would print nothing until the
    end. There, a plain line ("GRPO ucb: step 12/300 (4%), 0:01:02 elapsed, about 0:24:48 left,
    reward +0.12 ...") goes out after the first step and then at the first step end at least
    `every_seconds` after the previous line."""

    def __init__(
        self,
        console: Console,
        title: str,
        trainer_ref: Any = None,
        every_seconds: float = PLAIN_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.title = title
        self.trainer_ref = trainer_ref  # set after the trainer exists (for curriculum probabilities)
        self.progress: Progress | None = None
        self.task: Any = None
        self.status = ""
        self.every_seconds = every_seconds
        self.clock = clock
        self._started: tuple[float, int] | None = None  # (time, step) at train begin
        self._last_line: float | None = None

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
        self._started, self._last_line = (self.clock(), state.global_step), None

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
            if not self.console.is_terminal:
                self._plain_line(state.global_step, state.max_steps)

    def _plain_line(self, step: int, total: int) -> None:
        now = self.clock()
        if self._started is None or (
            self._last_line is not None and now - self._last_line < self.every_seconds
        ):
            return
        self._last_line = now
        start_time, start_step = self._started
        elapsed = now - start_time
        done = step - start_step
        left = f", about {_clock(elapsed / done * (total - step))} left" if done > 0 else ""
        status = f", {self.status}" if self.status else ""
        self.console.print(
            f"{self.title}: step {step}/{total} ({100 * step / max(total, 1):.0f}%), "
            f"{_clock(elapsed)} elapsed{left}{status}",
            highlight=False,
            markup=False,
        )

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, status=self.status)
            self.progress.stop()
            self.progress = None


def _clock(seconds: float) -> str:
    """H:MM:SS, as Rich's time columns show it."""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
