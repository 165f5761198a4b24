"""The run folder of `dump train`: its file names, its checkpoints and its log lines.

One owner for the conventions that `train` writes and `eval`, `report`, `compare` and the tests
read, so none of them copies a file name or a regex. Low level on purpose: no torch, no TRL, no
other dumpcli stage (only `io` and the version).

    OUTPUT/
      run.json             what was run: the recipe, the data, one entry per (re)start in `runs`
      manifest.json        the prepared data's manifest (published by `dump prepare`)
      curriculum.jsonl     one CurriculumLine per generation round (draw)
      train_log.jsonl      one TrainLogLine per TRL log call
      eval.jsonl           one EvalLine per evaluation (the evaluation store): every
                           `train.eval_every` steps during training, and what `dump eval --run`
                           scored; the last line of a step wins
      eval.json            `dump eval --run`'s table: every checkpoint it scored, by path
      README.md            TRL's model card (only where the folder had no README.md)
      checkpoint-<step>/   model, optimizer, TRL state, rng state, curriculum_state.pt and, written
                           last, checkpoint_complete.json (the file list with sizes)

A checkpoint counts only once its marker `checkpoint_complete.json` is there: it is written
atomically after every other file, so a save cut short by a kill leaves a folder without it.
"""

from __future__ import annotations

import errno
import re
import struct
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import orjson

from dumpcli import __version__
from dumpcli.io import append_jsonl, atomic_path, last_by, read_json, read_jsonl, write_json

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
CURRICULUM_LOG = "curriculum.jsonl"
TRAIN_LOG = "train_log.jsonl"
EVAL_LOG = "eval.jsonl"
EVAL_TABLE = "eval.json"
RUN_INFO = "run.json"
MANIFEST = "manifest.json"
CURRICULUM_STATE = "curriculum_state.pt"  # torch.save: a selector's state may hold tensors
COMPLETE = "checkpoint_complete.json"
TRAINER_STATE = "trainer_state.json"
# the files a run appends to or rewrites in its folder (never through a symbolic link)
RUN_FILES = (CURRICULUM_LOG, TRAIN_LOG, EVAL_LOG, RUN_INFO, MANIFEST)
MODEL_CARD = "README.md"  # TRL's model card: written only where nothing is in its place


# ----------------------------------------------------------------------------- log lines


class CurriculumLine(TypedDict, total=False):
    """One generation round: the probabilities it drew with, what it drew, and the feedback."""

    step: int  # the optimizer step the round was drawn for
    draw: int  # the round's index (dynamic sampling may draw several rounds per step)
    probabilities: dict[str, float]
    stats: dict[str, dict[str, float]]  # the scheduler's per-distribution statistics before the draw
    drawn: dict[str, int]  # prompts per distribution
    selector: dict[str, Any]  # a problem-level selector's own statistics
    scheduler: str
    reward: dict[str, float]
    accuracy: dict[str, float]
    abs_advantage: dict[str, float]


class _Step(TypedDict):
    step: int


class TrainLogLine(_Step, total=False):
    """TRL's logged metrics at `step` (loss, learning_rate, reward, curriculum/p/<dist>, ...); the
    line of the end of a `train()` call has `train_runtime` instead."""

    time: float


class EvalLine(_Step, total=False):
    """An evaluation of the policy at `step` on the test split (step 0: the starting policy);
    the keys are those of `dumpcli.evaluate.run_evaluation`, plus `source` and `eval` (the
    settings) on a line `dump eval --run` wrote."""

    distributions: dict[str, dict[str, float]]
    mean_accuracy: float
    mean_reward: float
    mean_format_rate: float
    mean_sampled_accuracy: float
    num_problems: int
    num_completions: int
    seconds: float
    completions_per_second: float
    source: str  # "dump eval" (absent: written during training)
    eval: dict[str, Any]


class RunSegment(TypedDict, total=False):
    """One `dump train` (start or resume) of a run, as run.json's `runs` lists them."""

    started: str
    from_step: int
    max_steps: int
    checkpoint: str | None  # the checkpoint it resumed from
    skipped: list[str]  # damaged checkpoints it did not resume from, with the reason
    tool_version: str


@dataclass(frozen=True)
class RunFolder:
    """Paths of one run folder (`output_dir`)."""

    root: Path

    @property
    def curriculum_log(self) -> Path:
        return self.root / CURRICULUM_LOG

    @property
    def train_log(self) -> Path:
        return self.root / TRAIN_LOG

    @property
    def eval_log(self) -> Path:
        return self.root / EVAL_LOG

    @property
    def run_info(self) -> Path:
        return self.root / RUN_INFO

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def logs(self) -> tuple[Path, Path, Path]:
        return self.curriculum_log, self.train_log, self.eval_log

    def checkpoint(self, step: int) -> Path:
        return self.root / f"checkpoint-{step}"


def read_curriculum(root: Path) -> list[CurriculumLine]:
    """curriculum.jsonl, one line per draw (the last written wins), in draw order."""
    return last_by(read_jsonl(RunFolder(root).curriculum_log), "draw")  # type: ignore[return-value]


def read_evals(root: Path) -> list[EvalLine]:
    """eval.jsonl, one line per step (the last written wins), in step order."""
    return last_by(read_jsonl(RunFolder(root).eval_log), "step")  # type: ignore[return-value]


def read_train_log(root: Path) -> list[TrainLogLine]:
    return read_jsonl(RunFolder(root).train_log)  # type: ignore[return-value]


def append_eval(root: Path, step: int, result: dict[str, Any]) -> None:
    """Record an evaluation of the policy at `step` where `report` and `compare` read it."""
    line: EvalLine = {"step": step, **result}  # type: ignore[typeddict-item]
    append_jsonl(RunFolder(root).eval_log, line)


def start_verdict(evals: Sequence[dict[str, Any]]) -> tuple[str, bool | None]:
    """One sentence on the last evaluation against the starting policy (step 0) and whether it
    is below it (None: no step-0 evaluation to compare with). Greedy mean accuracy, plus the
    sampled pass@1 when the evaluations have it."""
    start = next((e for e in evals if e.get("step") == 0), None)
    later = [e for e in evals if e.get("step", 0) > 0]
    if start is None or not later:
        missing = (
            "no evaluation"
            if start is None and not later
            else "no evaluation of the starting policy (step 0)"
            if start is None
            else "only the starting policy (step 0) was evaluated, no step after it (train.eval_every "
            "is larger than the steps run; `dump eval RECIPE --run OUTPUT` scores the checkpoints)"
        )
        return f"{missing}: cannot tell whether training helped", None
    last = later[-1]
    gain = last["mean_accuracy"] - start["mean_accuracy"]
    text = (
        f"mean accuracy {start['mean_accuracy']:.3f} at step 0 (the starting policy) -> "
        f"{last['mean_accuracy']:.3f} at step {last['step']} ({gain:+.3f})"
    )
    if "mean_sampled_accuracy" in start and "mean_sampled_accuracy" in last:
        sampled_gain = last["mean_sampled_accuracy"] - start["mean_sampled_accuracy"]
        text += (
            f"; sampled pass@1 {start['mean_sampled_accuracy']:.3f} -> "
            f"{last['mean_sampled_accuracy']:.3f} ({sampled_gain:+.3f})"
        )
    below = gain < 0
    if below:
        text += ": BELOW the starting policy"
    return text, below


def read_run_info(root: Path) -> dict[str, Any] | None:
    """run.json, or None when it is missing or unreadable."""
    try:
        info = read_json(RunFolder(root).run_info)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def truncate_logs(root: Path, step: int, draws: int) -> dict[str, int]:
    """Cut every log back to a checkpoint at `step` whose curriculum had made `draws` draws:
    curriculum.jsonl keeps draws < `draws`; eval.jsonl keeps steps <= `step` (the evaluation of a
    step runs before its checkpoint is saved); train_log.jsonl keeps steps <= `step` except the
    summary line a stopped `train()` wrote (the resumed run writes its own). Torn lines go too.
    Each file is rewritten atomically. Returns the lines dropped per file name."""
    folder = RunFolder(root)
    rules = {
        folder.curriculum_log: lambda line: line.get("draw", 0) < draws,
        folder.eval_log: lambda line: line.get("step", 0) <= step,
        folder.train_log: lambda line: (
            line.get("step", 0) < step or (line.get("step") == step and "train_runtime" not in line)
        ),
    }
    dropped = {}
    for path, keep in rules.items():
        if not path.is_file():
            continue
        raw_lines = [raw for raw in path.read_bytes().splitlines() if raw.strip()]
        kept = [raw for raw in raw_lines if _keep(raw, keep)]
        dropped[path.name] = len(raw_lines) - len(kept)
        if dropped[path.name]:
            with atomic_path(path) as tmp:
                tmp.write_bytes(b"".join(k + b"\n" for k in kept))
    return dropped


def _keep(raw: bytes, keep: Any) -> bool:
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False  # a line cut by kill -9
    return isinstance(line, dict) and bool(keep(line))


# ----------------------------------------------------------------------------- checkpoints


def checkpoint_step(path: Path) -> int | None:
    """The step in a `checkpoint-<step>` folder name (None for any other name)."""
    m = CHECKPOINT.match(Path(path).name)
    return int(m.group(1)) if m else None


def model_step(path: Path) -> int | None:
    """The training step of a model folder: from its name (checkpoint-<step>), else from its
    trainer_state.json (a checkpoint copied under another name); None for neither."""
    step = checkpoint_step(path)
    if step is not None:
        return step
    try:
        return int(read_json(Path(path) / TRAINER_STATE)["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def start_policy(root: Path) -> Path | None:
    """The policy a run started from (its step 0: the warm start or the base model), as run.json
    records it: a local model folder (recorded by absolute path), or a hub id (a relative name
    that is no folder here); None when it is neither (a folder removed since)."""
    recorded = (read_run_info(root) or {}).get("policy_start")
    if not isinstance(recorded, str) or not recorded:
        return None
    path = Path(recorded)
    if any((path / f).exists() for f in ("config.json", "adapter_config.json")):
        return path
    return path if not path.is_absolute() and not path.exists() else None


def checkpoint_dirs(root: Path) -> list[Path]:
    """Every `checkpoint-<step>/` folder, complete or not, oldest first."""
    found = [(s, p) for p in Path(root).glob("checkpoint-*") if (s := checkpoint_step(p)) is not None]
    return [p for _, p in sorted(found) if p.is_dir()]


def is_legacy_run(root: Path) -> bool:
    """A run folder written before checkpoints had a marker (its run.json has no `runs`): its
    checkpoints count when their last file, curriculum_state.pt, is there (see `adopt_legacy`)."""
    info = read_run_info(root)
    return info is not None and "runs" not in info


def is_complete(checkpoint: Path, legacy: bool | None = None) -> bool:
    """Whether the save of this checkpoint finished (its marker is there)."""
    checkpoint = Path(checkpoint)
    if (checkpoint / COMPLETE).is_file():
        return True
    if legacy is None:
        legacy = is_legacy_run(checkpoint.parent)
    return legacy and all((checkpoint / n).is_file() for n in (TRAINER_STATE, CURRICULUM_STATE))


def list_checkpoints(root: Path) -> list[Path]:
    """The complete checkpoints of a run, oldest first."""
    legacy = is_legacy_run(root)
    return [p for p in checkpoint_dirs(root) if is_complete(p, legacy)]


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def mark_complete(checkpoint: Path, step: int) -> None:
    """Write the marker, last: every file of the checkpoint with its size, so that a file cut
    short later (a full disk, a copy stopped half way) is told apart from an intact one."""
    checkpoint = Path(checkpoint)
    files = {
        p.relative_to(checkpoint).as_posix(): p.stat().st_size
        for p in sorted(checkpoint.rglob("*"))
        if p.is_file() and p.name != COMPLETE and not p.name.startswith(".")
    }
    write_json(checkpoint / COMPLETE, {"step": step, "tool_version": __version__, "files": files})


def clear_complete(checkpoint: Path) -> None:
    """Before (re)writing a checkpoint: it is not complete until the new marker is written."""
    (Path(checkpoint) / COMPLETE).unlink(missing_ok=True)


def checkpoint_problems(checkpoint: Path) -> list[str]:
    """Why this checkpoint cannot be resumed from (empty: intact). Reads only headers, never the
    tensors: the marker's file sizes, the safetensors headers against their file sizes, the zip
    directories of torch.save files (at the end: a truncated file has none), trainer_state.json."""
    checkpoint = Path(checkpoint)
    marker = checkpoint / COMPLETE
    if marker.is_file():
        try:
            files: dict[str, int | None] = dict(read_json(marker)["files"])
        except (OSError, ValueError, KeyError, TypeError):
            return [f"{COMPLETE} is unreadable"]
    elif is_complete(checkpoint):  # a legacy run: headers only, there are no sizes to compare
        files = {p.relative_to(checkpoint).as_posix(): None for p in checkpoint.rglob("*") if p.is_file()}
    else:
        return [f"no {COMPLETE}: its save was interrupted"]
    problems = []
    for name, size in files.items():
        path = checkpoint / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif size is not None and path.stat().st_size != size:
            problems.append(
                f"{name} is truncated or changed ({path.stat().st_size} bytes, {size} when saved)"
            )
        elif path.suffix == ".safetensors":
            problems += _check(path, _safetensors_header)
        elif path.suffix in (".pt", ".pth", ".bin"):
            problems += _check(path, _torch_zip)
        elif name == TRAINER_STATE:
            problems += _check(path, _trainer_state(checkpoint_step(checkpoint)))
    problems += _missing_parts(checkpoint)
    return list(dict.fromkeys(problems))


def newest_intact_checkpoint(root: Path) -> tuple[Path | None, list[tuple[Path, list[str]]]]:
    """The newest checkpoint with no problems (its headers first, then its contents: see
    `content_problems`), and the newer ones passed over with their problems."""
    skipped: list[tuple[Path, list[str]]] = []
    for path in reversed(checkpoint_dirs(root)):
        problems = checkpoint_problems(path) or content_problems(path)
        if not problems:
            return path, skipped
        skipped.append((path, problems))
    return None, skipped


def adopt_legacy(root: Path) -> list[Path]:
    """Give every intact checkpoint of a legacy run its marker (before run.json gets `runs` and the
    run stops being legacy); returns those adopted."""
    if not is_legacy_run(root):
        return []
    adopted = []
    for path in checkpoint_dirs(root):
        if not (path / COMPLETE).is_file() and not checkpoint_problems(path):
            mark_complete(path, checkpoint_step(path) or 0)
            adopted.append(path)
    return adopted


def _missing_parts(checkpoint: Path) -> list[str]:
    """What a resume needs, in any of the layouts transformers saves (full model or adapter,
    single file or sharded; optimizer as a file or a DeepSpeed/FSDP folder; rng per rank)."""
    needed = {
        "model weights (model.safetensors or adapter_model.safetensors)": (
            "model.safetensors",
            "model.safetensors.index.json",
            "adapter_model.safetensors",
            "pytorch_model.bin",
            "pytorch_model_fsdp_0",
        ),
        "optimizer.pt": ("optimizer.pt", "optimizer.bin", "optimizer_0", "global_step*"),
        CURRICULUM_STATE: (CURRICULUM_STATE,),
        "rng_state.pth": ("rng_state.pth", "rng_state_*.pth"),
        TRAINER_STATE: (TRAINER_STATE,),
    }
    return [
        f"{what} is missing"
        for what, names in needed.items()
        if not any(any(checkpoint.glob(n)) for n in names)
    ]


def _check(path: Path, check: Any) -> list[str]:
    if not path.is_file():
        return []  # reported by the marker or _missing_parts
    try:
        check(path)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, struct.error) as e:
        return [f"{path.name} is damaged ({e})"]
    return []


def _safetensors_header(path: Path) -> None:
    """8-byte little-endian header length, a JSON header, then tensors whose byte ranges end
    exactly at the end of the file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > size - 8:
            raise ValueError(f"header of {length} bytes in a file of {size}")
        header = orjson.loads(f.read(length))
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    if 8 + length + max(ends, default=0) != size:
        raise ValueError(f"tensors need {8 + length + max(ends, default=0)} bytes, the file has {size}")


def _torch_zip(path: Path) -> None:
    """torch.save writes a zip whose directory is at the end; each member must lie inside."""
    size = path.stat().st_size
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if info.header_offset + info.compress_size > size:
                raise ValueError(f"{info.filename} runs past the end of the file")


def _trainer_state(step: int | None) -> Any:
    def check(path: Path) -> None:
        state = read_json(path)
        if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
            raise ValueError("no global_step")
        if step is not None and state["global_step"] != step:
            raise ValueError(f"global_step {state['global_step']} in checkpoint-{step}")

    return check


def describe_skipped(skipped: Iterable[tuple[Path, list[str]]]) -> list[str]:
    """'checkpoint-4: optimizer.pt is missing; ...' per skipped checkpoint."""
    return [f"{p.name}: {'; '.join(problems)}" for p, problems in skipped]


# ----------------------------------------------------------------------------- what a run may write


def links_in_run(root: Path) -> list[str]:
    """Every name a run writes to that is a symbolic link, relative to `root`: the logs, run.json,
    manifest.json, the model card, a `checkpoint-*` folder or anything inside one (a save of that
    step writes into it again). Nothing is followed: a link is reported, not entered."""
    root = Path(root)
    found = [n for n in (*RUN_FILES, MODEL_CARD) if (root / n).is_symlink()]
    for path in sorted(root.glob("checkpoint-*")):
        if path.is_symlink():
            found.append(path.name)
        elif path.is_dir():
            found += [
                p.relative_to(root).as_posix()
                for p in sorted(path.rglob("*"))  # rglob does not descend into linked folders
                if p.is_symlink()
            ]
    return found


def is_our_run_info(info: Any) -> bool:
    """run.json as `dump train` writes it (every version has written these two keys)."""
    return isinstance(info, dict) and "recipe_hash" in info and "tool_version" in info


def foreign_files(root: Path) -> list[str]:
    """Files a new run in `root` would replace or delete although no dumpcli run wrote them.

    The marker of a run folder is its run.json: `dump train` writes it before its first log line.
    So the logs count as ours only beside a run.json of ours; a run.json that is not ours (or
    unreadable) is foreign itself, and so is a manifest.json that `dump prepare` did not write.
    README.md is not listed: the model card is written only where nothing is in its place."""
    folder = RunFolder(Path(root))
    present = [p for p in (*folder.logs, folder.run_info) if p.exists() or p.is_symlink()]
    foreign: list[Path] = []
    if present:
        try:
            ours = is_our_run_info(read_json(folder.run_info))
        except (OSError, ValueError):
            ours = False
        if not ours:
            foreign += present
    if folder.manifest.is_file():
        try:
            manifest = read_json(folder.manifest)
        except (OSError, ValueError):
            manifest = None
        if not (isinstance(manifest, dict) and "data_hash" in manifest and "tool_version" in manifest):
            foreign.append(folder.manifest)
    return [p.name for p in foreign]


# ----------------------------------------------------------------------------- contents of a checkpoint

# the torch files a resume loads, each with torch.load(weights_only=True) (transformers and dumpcli);
# training_args.bin is a plain pickle that a resume never loads
RESUME_TORCH_FILES = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*.pth", CURRICULUM_STATE)


def content_problems(checkpoint: Path) -> list[str]:
    """What the header checks of `checkpoint_problems` cannot see, checked as the resume will load it:
    - each torch file a resume loads is unpickled with weights_only=True (and numpy arrays
      allowed, as transformers does for rng_state.pth), its tensor storages memory-mapped, not
      read: a bad pickle is refused here, not halfway through the resume;
    - every floating-point tensor of the weights (`*.safetensors`) is scanned for NaN and inf,
      one tensor at a time with safetensors' `safe_open` (memory: the largest tensor).
    Cost: one read of the weights (the optimizer's tensors are not read), run on the newest
    checkpoint only until one passes: 0.03 s for the quickstart checkpoint, about 7 s per GB of
    bf16 weights on one CPU thread (BENCHMARKS.md, "Checkpoint content check")."""
    import numpy as np
    import torch
    from safetensors import safe_open

    checkpoint = Path(checkpoint)
    problems = []
    # what transformers allows when it loads rng_state.pth (trainer_pt_utils.safe_globals): numpy arrays
    core = getattr(np, "_core", None) or np.core
    allowed = [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    for pattern in RESUME_TORCH_FILES:
        for path in sorted(checkpoint.glob(pattern)):
            try:
                with torch.serialization.safe_globals(allowed):
                    _load_mapped(path)
            except Exception as e:  # noqa: BLE001 - whatever the unpickler raises, the file is unusable
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                problems.append(f"{path.name} cannot be loaded with weights_only=True ({first[:200]})")
    for path in sorted(checkpoint.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as f:
                for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                    tensor = f.get_tensor(key)
                    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                        problems.append(f"{path.name} holds NaN or inf values (tensor {key})")
                        break
        except Exception as e:  # noqa: BLE001 - SafetensorError and friends: the file is unusable
            problems.append(f"{path.name} cannot be read ({str(e)[:200]})")
    return problems


def _load_mapped(path: Path) -> None:
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e):
            raise
        torch.load(path, map_location="cpu", weights_only=True)  # a file in the old, non-zip format


# ----------------------------------------------------------------------------- a full disk

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")


def is_disk_full(error: BaseException) -> bool:
    """An error that says the disk (or the user's quota) is full, anywhere in its chain: an
    OSError with ENOSPC / EDQUOT, or a library error that quotes the OS message (safetensors'
    `SafetensorError: ... No space left on device (os error 28)`)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return True
        if any(text in str(current) for text in DISK_FULL_TEXTS):
            return True
        current = current.__cause__ or current.__context__
    return False


def is_disk_full_while_saving(error: BaseException, folder: Path) -> bool:
    """A save failed for want of space: the error says so, or (torch.save's writer reports a
    full disk as "unexpected pos ..." or "file write failed") the disk has less room than a
    checkpoint of this run takes (the last intact one; 1 MB before the first)."""
    if is_disk_full(error):
        return True
    last = latest_checkpoint(folder.parent)
    free = free_bytes(folder.parent)
    return free is not None and free < (folder_bytes(last) if last is not None else 1_000_000)


def folder_bytes(path: Path) -> int:
    """Bytes of the files under `path` (links not followed)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file() and not p.is_symlink())


def free_bytes(path: Path) -> int | None:
    """Free bytes on the file system of `path` (or of its nearest existing parent)."""
    import shutil

    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def disk_full_message(
    root: Path, doing: str, error: BaseException, removed: Path | None = None, needed: int | None = None
) -> str:
    """What happened, what is kept and how much space a resume needs: the size of the last intact
    checkpoint (a checkpoint of this run), or before the first one `needed` (the caller's estimate)."""
    root = Path(root)
    last = latest_checkpoint(root)
    free = free_bytes(root)
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    lines = [
        f"the disk holding {root} is full: {doing} failed"
        + (f" ({human_bytes(free)} free now)" if free is not None else "")
        + f"; the error: {text}"
    ]
    if removed is not None:
        lines.append(f"the incomplete {removed.name} was removed (it would not count for --resume)")
    if last is not None:
        lines.append(
            f"{last.name}, the last intact checkpoint, is kept; a checkpoint of this run takes "
            f"{human_bytes(folder_bytes(last))}: free at least that much (or move the run folder to a "
            "larger disk), then continue with --resume"
        )
    else:
        size = f"about {human_bytes(needed)}" if needed else "about three times the model's size"
        lines.append(
            f"there is no checkpoint to resume from yet; the first one needs {size} (weights and "
            "optimizer state): free that much, then start again"
        )
    return "\n  ".join(lines)
