"""Shared test data: the smallest recipe that runs the whole training loop in seconds."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from dumpcli.schedulers.base import Feedback

TINY_TRAIN_RECIPE: dict[str, Any] = {
    "name": "tiny-train",
    "seed": 0,
    "output_dir": "out",
    "data": {
        "sources": [
            {
                "name": "kk",
                "puzzle": "knights_knaves",
                "difficulties": [2, 3],
                "train_per_difficulty": 24,
                "test_per_difficulty": 4,
            }
        ],
        "prompt_template": "short",
    },
    "model": {
        "name_or_path": "tiny",
        "tiny": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64},
    },
    "warmup": {"steps": 2, "batch_size": 4},
    "train": {
        "scheduler": {"name": "ucb"},
        "grpo": {
            "num_generations": 2,
            "per_device_train_batch_size": 8,
            "max_steps": 4,
            "max_completion_length": 12,
            "learning_rate": 1.0e-3,
        },
        "save_steps": 2,
    },
    "eval": {"max_per_distribution": 2, "max_new_tokens": 12},
}


def tiny_train_recipe(**changes: Any) -> dict[str, Any]:
    """A copy of TINY_TRAIN_RECIPE with dotted-path changes: tiny_train_recipe(**{"train.grpo.max_steps": 2})."""
    recipe = copy.deepcopy(TINY_TRAIN_RECIPE)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = recipe
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return recipe


def run_prepare(path: Any, overrides: list[str] | None = None, **kw: Any) -> tuple[dict, str]:
    """`dump prepare` on a recipe file: (manifest, what it printed)."""
    import io

    from rich.console import Console

    from dumpcli.data.prepare import prepare
    from dumpcli.recipe import load_recipe

    out = io.StringIO()
    manifest = prepare(load_recipe(path, overrides), console=Console(file=out, width=200), **kw)
    return manifest, out.getvalue()


def train_until_then_signal(recipe: Any, env: dict[str, str], signum: int, draws: int = 2) -> tuple[int, str]:
    """`dump train RECIPE` in a child process; once its curriculum.jsonl has `draws` lines, send it
    `signum` and wait. Returns (exit code, output)."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    proc = subprocess.Popen(
        [sys.executable, "-m", "dumpcli", "train", str(recipe)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = Path(recipe).parent / "out" / "curriculum.jsonl"
    deadline = time.monotonic() + 300
    while not (log.exists() and log.read_bytes().count(b"\n") >= draws):
        assert proc.poll() is None, proc.stdout.read()[-3000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.2)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=300)
    return proc.returncode, output


def record_loss_inputs(monkeypatch: Any) -> list[tuple[list[int], list[float]]]:
    """Patch the trainer's compute_loss to record, per call, each row's position in its generation
    batch and its advantage (what reached the loss); returns the list it fills."""
    from dumpcli.train.trainer import ROW, CurriculumGRPOTrainer

    seen: list[tuple[list[int], list[float]]] = []
    original = CurriculumGRPOTrainer.compute_loss

    def recording(self: Any, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((inputs[ROW].tolist(), inputs["advantages"].tolist()))
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(CurriculumGRPOTrainer, "compute_loss", recording)
    return seen


def quiz_line(i: int) -> bytes:
    """One valid JSONL record of the prepare tests' `quiz`/`answer`/`depth` source."""
    import orjson

    return orjson.dumps({"quiz": f"Question {i}", "answer": str(i), "depth": 3})


def simulate_mixture(scheduler: Any, rate_of: Any, rounds: int, seed: int = 0) -> dict[str, float]:
    """Train a scheduler on simulated success rates: each round draws 16 prompts from its own
    probabilities, gives each a group of 8 completions that succeed with probability
    `rate_of(name, groups of that distribution trained so far)`, and feeds them back. Returns each
    distribution's share of the prompts drawn."""
    rng = np.random.default_rng(seed)
    dists = scheduler.distributions
    trained = dict.fromkeys(dists, 0)
    for t in range(rounds):
        picks = rng.choice(len(dists), size=16, p=scheduler.probabilities())
        feedback = []
        for j, d in enumerate(picks):
            name = dists[d]
            successes = (rng.random(8) < rate_of(name, trained[name])).astype(float).tolist()
            feedback += [Feedback(name, f"{name}-{t}-{j}", x, 0.0, x) for x in successes]
            trained[name] += 1
        scheduler.update(feedback)
    return {d: trained[d] / (rounds * 16) for d in dists}
