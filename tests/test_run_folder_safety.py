"""What a run never does to a user's files (issue 21, items 1-4, 13-15).

No write through a symbolic link anywhere a run writes (the model card and the files inside a
checkpoint included); no run over logs that no run of ours wrote; the model card only where nothing
is in its place, naming the real base model; SIGTERM saves a checkpoint as Ctrl-C does; a full
disk is one message saying what is kept and the space needed, on a save and on a resume."""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml
from helpers import tiny_train_recipe, train_until_then_signal
from rich.console import Console
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.io import write_new
from dumpcli.run_folder import (
    checkpoint_problems,
    foreign_files,
    human_bytes,
    is_disk_full,
    is_disk_full_while_saving,
    links_in_run,
)


def recipe_file(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(tiny_train_recipe(**changes)))
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, " ".join(result.output.split())


# ----------------------------------------------------------------------------- unit


def test_write_new_writes_only_where_nothing_is(tmp_path):
    assert write_new(tmp_path / "card.md", b"ours") and (tmp_path / "card.md").read_bytes() == b"ours"
    assert not write_new(tmp_path / "card.md", b"again") and (tmp_path / "card.md").read_bytes() == b"ours"
    target = tmp_path / "elsewhere.md"
    target.write_bytes(b"theirs")
    (tmp_path / "link.md").symlink_to(target)
    (tmp_path / "dangling.md").symlink_to(tmp_path / "missing.md")
    assert not write_new(tmp_path / "link.md", b"x") and target.read_bytes() == b"theirs"
    assert not write_new(tmp_path / "dangling.md", b"x") and not (tmp_path / "missing.md").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.md", "dangling.md", "elsewhere.md", "link.md"]


def test_links_in_run_names_the_card_and_files_inside_checkpoints(tmp_path):
    (tmp_path / "outside").write_text("x")
    (tmp_path / "run" / "checkpoint-4").mkdir(parents=True)
    (tmp_path / "run" / "README.md").symlink_to(tmp_path / "outside")
    (tmp_path / "run" / "checkpoint-4" / "optimizer.pt").symlink_to(tmp_path / "outside")
    (tmp_path / "run" / "checkpoint-6").symlink_to(tmp_path)
    (tmp_path / "run" / "notes.txt").symlink_to(tmp_path / "outside")  # not written by a run
    assert links_in_run(tmp_path / "run") == ["README.md", "checkpoint-4/optimizer.pt", "checkpoint-6"]


def test_foreign_files_are_logs_without_a_run_json_of_ours(tmp_path):
    (tmp_path / "eval.jsonl").write_text('{"step": 0}\n')
    (tmp_path / "train_log.jsonl").write_text("")
    (tmp_path / "README.md").write_text("mine")  # never replaced, so not refused
    assert foreign_files(tmp_path) == ["train_log.jsonl", "eval.jsonl"]
    (tmp_path / "run.json").write_text('{"experiment": "mine"}')
    assert foreign_files(tmp_path) == ["train_log.jsonl", "eval.jsonl", "run.json"]
    (tmp_path / "run.json").write_bytes(orjson.dumps({"recipe_hash": "ab", "tool_version": "0.1"}))
    assert foreign_files(tmp_path) == []
    (tmp_path / "manifest.json").write_text("[1, 2]")
    assert foreign_files(tmp_path) == ["manifest.json"]


def test_is_disk_full_reads_errno_text_and_chain(tmp_path, monkeypatch):
    from safetensors import SafetensorError

    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert is_disk_full(
        SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    )
    try:
        try:
            raise OSError(errno.ENOSPC, "full")
        except OSError as e:
            raise RuntimeError("save failed") from e
    except RuntimeError as chained:
        assert is_disk_full(chained)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(RuntimeError("probability tensor contains either inf, nan"))
    # torch.save's writer says "unexpected pos 576 vs 534" on a full disk: then the free space decides
    import dumpcli.run_folder as rf

    pos = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    monkeypatch.setattr(rf, "free_bytes", lambda path: 10)
    assert is_disk_full_while_saving(pos, tmp_path / "checkpoint-2")
    monkeypatch.setattr(rf, "free_bytes", lambda path: 10**12)
    assert not is_disk_full_while_saving(pos, tmp_path / "checkpoint-2")


def test_model_card_names_the_base_and_the_final_checkpoint():
    from dumpcli.train.model_card import base_model_text, fix_card

    trl_card = (
        "---\nlibrary_name: transformers\n---\n\nThis model is a fine-tuned version of "
        '[None](https://huggingface.co/None).\ngenerator = pipeline("text-generation", model="None")\n'
    )
    base, hub = base_model_text({"kind": "hub", "id": "Qwen/Qwen2.5-0.5B"})
    fixed = fix_card(trl_card, base, hub, Path("runs/x/checkpoint-300"))
    assert fixed.startswith("---\nbase_model: Qwen/Qwen2.5-0.5B\nlibrary_name: transformers\n---")
    assert "fine-tuned version of [Qwen/Qwen2.5-0.5B](https://huggingface.co/Qwen/Qwen2.5-0.5B)." in fixed
    assert 'model="runs/x/checkpoint-300"' in fixed and "None" not in fixed
    base, hub = base_model_text({"kind": "dir", "path": "/models/mine"})
    assert hub is None and "fine-tuned version of the local model `/models/mine`." in fix_card(
        trl_card, base, hub, Path("c")
    )


def test_plain_progress_lines_when_the_output_is_not_a_terminal():
    """Redirected output gets a line after the first step, then one per `every_seconds` (a fake
    clock: each step takes 4 s here); a terminal gets none (Rich draws its bar there)."""
    from types import SimpleNamespace

    from dumpcli.train.progress import RichProgress

    def run(terminal: bool) -> list[str]:
        out = io.StringIO()
        console = Console(file=out, force_terminal=terminal, width=200)
        now = [100.0]
        progress = RichProgress(console, "GRPO ucb", every_seconds=10, clock=lambda: now[0])
        state = SimpleNamespace(is_world_process_zero=True, max_steps=10, global_step=0)
        progress.on_train_begin(None, state, None)
        for step in range(1, 11):
            now[0] += 4.0
            state.global_step = step
            if step == 2:
                progress.on_log(None, state, None, logs={"reward": 0.5, "curriculum/p/kk/2": 0.75})
            progress.on_step_end(None, state, None)
        progress.on_train_end(None, state, None)
        return [line for line in out.getvalue().splitlines() if line.startswith("GRPO ucb: step")]

    lines = run(terminal=False)
    assert [line.split(" (")[0] for line in lines] == [
        "GRPO ucb: step 1/10",
        "GRPO ucb: step 4/10",  # 12 s after the line at step 1
        "GRPO ucb: step 7/10",
        "GRPO ucb: step 10/10",
    ]
    assert lines[0] == "GRPO ucb: step 1/10 (10%), 0:00:04 elapsed, about 0:00:36 left"
    assert lines[1] == (
        "GRPO ucb: step 4/10 (40%), 0:00:16 elapsed, about 0:00:24 left, reward +0.50  top kk/2:0.75"
    )
    assert run(terminal=True) == []


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_a_symlinked_readme_is_refused_and_its_target_left_alone(tmp_path):
    recipe = recipe_file(tmp_path, **{"train.grpo.max_steps": 1})
    (tmp_path / "out").mkdir()
    target = tmp_path / "my_notes.md"
    target.write_text("my notes")
    (tmp_path / "out" / "README.md").symlink_to(target)
    code, output = invoke("train", str(recipe))
    assert code == 2, output
    assert "will not write through a symbolic link" in output and f"README.md -> {target}" in output
    assert target.read_text() == "my notes" and not list((tmp_path / "out").glob("checkpoint-*"))


@pytest.mark.slow
def test_a_users_readme_is_kept_and_the_card_goes_only_where_nothing_is(tmp_path):
    recipe = recipe_file(tmp_path, **{"train.grpo.max_steps": 2, "train.save_steps": 1})
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("# my experiment\n")
    code, output = invoke("train", str(recipe))
    assert code == 0, output
    assert (out / "README.md").read_text() == "# my experiment\n"

    fresh = recipe_file(tmp_path, **{"train.grpo.max_steps": 2, "output_dir": "fresh"})
    code, output = invoke("train", str(fresh))
    assert code == 0, output
    card = (tmp_path / "fresh" / "README.md").read_text()
    assert "[None]" not in card and 'model="None"' not in card
    assert "fine-tuned version of dumpcli's built-in tiny model" in card
    assert f'model="{tmp_path / "fresh" / "checkpoint-2"}"' in card


@pytest.mark.slow
def test_logs_no_run_of_ours_wrote_are_refused_before_any_work(tmp_path):
    recipe = recipe_file(tmp_path, **{"train.grpo.max_steps": 1})
    out = tmp_path / "out"
    out.mkdir()
    (out / "eval.jsonl").write_text('{"step": 0, "mine": true}\n')
    (out / "train_log.jsonl").write_text('{"step": 7, "mine": true}\n')
    for args in (("train", str(recipe)), ("train", str(recipe), "--resume")):
        code, output = invoke(*args)
        assert code == 2, output
        assert "holds files that no dumpcli run wrote" in output
        assert "train_log.jsonl, eval.jsonl" in output and "--set output_dir=NEW_DIR" in output
    assert (out / "eval.jsonl").read_text() == '{"step": 0, "mine": true}\n'
    assert (out / "train_log.jsonl").read_text() == '{"step": 7, "mine": true}\n'
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "eval.jsonl",
        "train_log.jsonl",
    ]


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_resume_finishes_the_run(tmp_path):
    """What a cluster scheduler sends before it kills a job: the step ends, a checkpoint is
    saved, the exit code is 143 (128 + SIGTERM), and --resume completes the run from there."""
    from dumpcli.train.trainer import load_curriculum_state

    recipe = recipe_file(tmp_path, **{"train.grpo.max_steps": 40, "train.save_steps": 0})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DUMP_CACHE_DIR": str(tmp_path / "cache")}
    assert invoke("prepare", str(recipe))[0] == 0
    returncode, output = train_until_then_signal(recipe, env, signal.SIGTERM)
    assert returncode == 143, output[-3000:]
    assert "SIGTERM: saving a checkpoint" in output and "--resume" in output
    checkpoints = list((tmp_path / "out").glob("checkpoint-*"))
    assert len(checkpoints) == 1 and checkpoint_problems(checkpoints[0]) == []
    step = int(checkpoints[0].name.split("-")[1])
    assert 0 < step < 40 and load_curriculum_state(checkpoints[0])["draws"] == step
    code, output = invoke("train", str(recipe), "--resume")
    assert code == 0, output
    assert [orjson.loads(line)["step"] for line in (tmp_path / "out" / "curriculum.jsonl").read_bytes().splitlines()] == list(range(40))


def _full_disk_at(step: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers' weight save raises what safetensors raises on a full disk, at `step`."""
    import transformers.modeling_utils as modeling_utils
    from safetensors import SafetensorError

    real = modeling_utils.safe_save_file

    def save(tensors, filename, *args, **kwargs):
        if f"checkpoint-{step}" in str(filename):
            Path(filename).write_bytes(b"\0" * 100)  # what a write cut short leaves
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        return real(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(modeling_utils, "safe_save_file", save)


@pytest.mark.slow
def test_a_full_disk_keeps_the_last_checkpoint_and_says_how_much_space_is_needed(tmp_path, monkeypatch):
    recipe = recipe_file(tmp_path, **{"train.grpo.max_steps": 4, "train.save_steps": 2})
    out = tmp_path / "out"
    with monkeypatch.context() as mp:
        _full_disk_at(4, mp)
        code, output = invoke("train", str(recipe))
    assert code == 1, output
    size = sum(p.stat().st_size for p in (out / "checkpoint-2").rglob("*") if p.is_file())
    assert f"the disk holding {out} is full: saving checkpoint-4 failed" in output
    assert "No space left on device" in output and "Traceback" not in output
    assert "the incomplete checkpoint-4 was removed" in output
    assert "checkpoint-2, the last intact checkpoint, is kept" in output
    assert f"a checkpoint of this run takes {human_bytes(size)}" in output and "--resume" in output
    assert not (out / "checkpoint-4").exists() and checkpoint_problems(out / "checkpoint-2") == []

    # a resume on the still-full disk: the first write it makes fails the same way
    import dumpcli.train.run as run_module

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with monkeypatch.context() as mp:
        mp.setattr(run_module, "write_json", full)
        code, output = invoke("train", str(recipe), "--resume")
    assert code == 1, output
    assert f"writing {out / 'run.json'} failed" in output and "Traceback" not in output
    assert "checkpoint-2, the last intact checkpoint, is kept" in output
    assert checkpoint_problems(out / "checkpoint-2") == []

    code, output = invoke("train", str(recipe), "--resume")  # space again: the run finishes
    assert code == 0, output
    assert checkpoint_problems(out / "checkpoint-4") == []


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null || exit 1"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unshare -rm and tmpfs mounts (a real full disk)")
def test_a_real_full_disk_is_one_message(tmp_path):
    """The run folder on a tmpfs with room for one checkpoint and not two: torch.save and
    safetensors fail as they do on a full disk, not as a test says they would."""
    recipe = recipe_file(tmp_path, **{"train.grpo.max_steps": 4, "train.save_steps": 2})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DUMP_CACHE_DIR": str(tmp_path / "cache")}
    assert invoke("prepare", str(recipe))[0] == 0
    probe = tmp_path / "probe"
    probe.mkdir()
    one = subprocess.run(  # one checkpoint, on an ordinary disk: what it takes
        [sys.executable, "-m", "dumpcli", "train", str(recipe_file(probe, **{"train.grpo.max_steps": 2}))],
        env=env,
        capture_output=True,
        text=True,
    )
    assert one.returncode == 0, one.stdout[-2000:] + one.stderr[-2000:]
    size = sum(p.stat().st_size for p in (tmp_path / "probe" / "out").rglob("*") if p.is_file())
    room = int(size * 1.5)
    (tmp_path / "out").mkdir(exist_ok=True)
    command = (
        f"mount -t tmpfs -o size={room} tmpfs {tmp_path / 'out'} && "
        f"exec {sys.executable} -m dumpcli train {recipe}"
    )
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", command], env=env, capture_output=True, text=True)
    message = " ".join(proc.stderr.split())
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "is full: saving checkpoint-4 failed" in message and "Traceback" not in proc.stderr
    assert "checkpoint-2, the last intact checkpoint, is kept" in message


def test_dry_run_tables_keep_their_headers_whole_at_80_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["train", str(recipe_file(tmp_path)), "--dry-run"])
    assert result.exit_code == 0, result.output
    batch = result.output[result.output.index("batch per optimizer step") :].split("\n\n")[0]
    assert "\u2026" not in batch and "completions" in batch and "generation" in batch
    assert max(len(line) for line in result.output.splitlines()) <= 80
