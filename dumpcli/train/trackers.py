"""The curriculum's numbers in the user's experiment tracker (`train.grpo.report_to`).

What the trainer logs per step reaches every tracker through TRL's metrics, beside TRL's own:
`curriculum/p/<dist>` (the scheduler's probability), `curriculum/share/<dist>` (share of the round's
prompts drawn from it), `reward/<dist>`, `accuracy/<dist>`, `count/<dist>`, `curriculum/seconds` and
the compute counters `compute/completions`, `compute/tokens`, `compute/forward_tokens`,
`compute/seconds` (transformers' integrations file them under `train/`).

Periodic evaluations run outside TRL's logging (eval.jsonl, step 0 included), so they are sent here
straight to the tracker callbacks transformers made for `report_to`, at the evaluated step, under
`eval/`: going through `Trainer.log` would take the step's training metrics with them and write a
line into train_log.jsonl that is not a training step.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback


def tracker_callbacks(trainer: Any) -> list[TrainerCallback]:
    """The trainer's callbacks that report to an experiment tracker (TensorBoard, W&B, MLflow,
    trackio, ...: transformers' `INTEGRATION_TO_CALLBACK`)."""
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    kinds = tuple(INTEGRATION_TO_CALLBACK.values())
    return [cb for cb in trainer.callback_handler.callbacks if isinstance(cb, kinds)]


def eval_scalars(result: dict[str, Any]) -> dict[str, float]:
    """An evaluation (eval.jsonl's line) as tracker scalars. Keys start with `eval_`, which
    transformers' integrations turn into the `eval/` section: `eval/accuracy/<dist>`,
    `eval/sampled_accuracy/<dist>`, `eval/reward/<dist>`, `eval/format_rate/<dist>` and the means."""
    logs: dict[str, float] = {}
    for dist, entry in sorted(result.get("distributions", {}).items()):
        for key in ("accuracy", "sampled_accuracy", "reward", "format_rate"):
            if isinstance(entry.get(key), int | float):
                logs[f"eval_{key}/{dist}"] = float(entry[key])
    for key in ("mean_accuracy", "mean_sampled_accuracy", "mean_reward", "mean_format_rate"):
        if isinstance(result.get(key), int | float):
            logs[f"eval_{key}"] = float(result[key])
    return logs


def report_eval(trainer: Any, state: Any, result: dict[str, Any]) -> None:
    """Send one evaluation to the run's trackers at `state.global_step` (main process only, as
    the integrations themselves do)."""
    if not state.is_world_process_zero:
        return
    logs = eval_scalars(result)
    for callback in tracker_callbacks(trainer):
        callback.on_log(trainer.args, state, trainer.control, logs=logs, model=trainer.model)
