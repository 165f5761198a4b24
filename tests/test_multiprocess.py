"""Multi-process paths: in-training evaluation runs on every rank in lockstep (so ZeRO-3 / FSDP
cannot hang on it), and only the main process draws progress and prints."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
import yaml
from helpers import tiny_train_recipe
from rich.console import Console

from dumpcli.evaluate import sharded
from dumpcli.train.progress import RichProgress


def _echo_sampler(calls: list[int]):
    def sample(prompts: list[str]) -> list[list[tuple[str, int]]]:
        calls.append(len(prompts))
        return [[(p.upper(), len(p))] for p in prompts]

    return sample


@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 7])
def test_sharded_sampling_gives_every_rank_the_same_calls_and_everyone_every_sample(world, n):
    """Each rank generates for ceil(n / world) prompts (the last one repeated as padding), so
    every rank makes the same generate calls; gathered in rank order, the samples are exactly
    those of one process sampling all prompts."""
    prompts = [f"p{i}" for i in range(n)]
    single = _echo_sampler([])(prompts)
    local: list[list] = []
    calls: list[list[int]] = []
    for rank in range(world):
        calls.append([])

        def gather(out: list) -> list:
            local.append(out)
            return out

        got = sharded(_echo_sampler(calls[rank]), rank, world, gather)(prompts)
        if world == 1:  # the sampler itself: nothing to gather
            local.append(got)
    assert [x for out in local for x in out] == single
    share = -(-n // world)
    expected = [[n]] if world == 1 else [[share] if share else [] for _ in range(world)]
    assert calls == expected


def test_progress_is_drawn_by_the_main_process_only():
    for main, drawn in ((True, True), (False, False)):
        out = io.StringIO()
        bar = RichProgress(Console(file=out, width=100), "GRPO test")
        state = SimpleNamespace(is_world_process_zero=main, max_steps=2, global_step=0)
        bar.on_train_begin(None, state, None)
        bar.on_log(None, state, None, logs={"reward": 1.0})
        state.global_step = 2
        bar.on_step_end(None, state, None)
        bar.on_train_end(None, state, None)
        assert ("GRPO test" in out.getvalue()) is drawn


@pytest.mark.slow
def test_two_ranks_evaluate_during_training_and_one_prints(tmp_path):
    """torchrun, 2 CPU processes (gloo), eval every step over an odd number of test problems (one
    rank pads its share): the run finishes, eval.jsonl has steps 0, 1, 2 with every problem scored
    once, and the progress bars and messages appear once, from rank 0."""
    recipe = tiny_train_recipe(
        **{
            "data.sources.0.difficulties": [2, 3, 4],
            "train.grpo.max_steps": 2,
            "train.grpo.per_device_train_batch_size": 4,
            "train.eval_every": 1,
            "eval.max_per_distribution": 1,
            "eval.sampled": {"temperature": 1.0, "n": 2},
        }
    )
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DUMP_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541",
        "-m", "dumpcli", "train", str(path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    evals = [orjson.loads(line) for line in (tmp_path / "out" / "eval.jsonl").read_bytes().splitlines()]
    assert [e["step"] for e in evals] == [0, 1, 2]
    for e in evals:
        assert e["num_problems"] == 3 and list(e["distributions"]) == ["kk/2", "kk/3", "kk/4"]
        assert all(m["n"] == 1 and m["samples"] == 1 for m in e["distributions"].values())
        assert e["num_completions"] == 3 + 3 * 2  # greedy pass + sampled pass (n=2), no padding
    out = proc.stdout
    assert out.count("GRPO ucb ") == 1, out[-3000:]  # the bar (drawn at its end: not a terminal)
    assert out.count("GRPO ucb: step 1/2") == 1  # the plain progress line of a redirected output
    assert out.count("warm start: SFT for") == 1 and out.count("curriculum after 2 steps") == 1
    assert Path(tmp_path / "out" / "checkpoint-2").is_dir()
