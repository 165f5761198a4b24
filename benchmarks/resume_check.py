"""Cost of the checks `dump train --resume` makes on a checkpoint before using it
(`dumpcli.run_folder.checkpoint_problems`), on a synthetic checkpoint of a 1 GiB model with a
2 GiB optimizer state. The checks read the marker, file sizes and headers, never the tensors,
so they should not grow with the checkpoint.

    python benchmarks/resume_check.py [--dir /tmp/resume-check]   (writes ~3 GiB there once)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import orjson
import torch
from safetensors.torch import save_file

from dumpcli.run_folder import COMPLETE, CURRICULUM_STATE, checkpoint_problems, mark_complete


def build(checkpoint: Path) -> None:
    checkpoint.mkdir(parents=True, exist_ok=True)
    save_file({f"w{i}": torch.zeros(2**22) for i in range(64)}, checkpoint / "model.safetensors")  # 1 GiB
    moments = {i: {"exp_avg": torch.zeros(2**24), "exp_avg_sq": torch.zeros(2**24)} for i in range(16)}
    torch.save({"state": moments}, checkpoint / "optimizer.pt")  # 2 GiB
    torch.save({"python": 1}, checkpoint / "rng_state.pth")
    torch.save({"draws": 100}, checkpoint / CURRICULUM_STATE)
    (checkpoint / "trainer_state.json").write_bytes(orjson.dumps({"global_step": 100}))
    mark_complete(checkpoint, 100)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, default=Path("/tmp/resume-check"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    checkpoint = args.dir / "checkpoint-100"
    if not (checkpoint / COMPLETE).is_file():
        build(checkpoint)
    size = sum(p.stat().st_size for p in checkpoint.iterdir())
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        problems = checkpoint_problems(checkpoint)
        times.append(time.perf_counter() - started)
    assert problems == [], problems
    print(
        f"{size / 2**30:.2f} GiB checkpoint: median {statistics.median(times) * 1e3:.1f} ms, "
        f"max {max(times) * 1e3:.1f} ms over {args.repeats} checks"
    )


if __name__ == "__main__":
    main()
