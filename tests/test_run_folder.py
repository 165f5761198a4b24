"""One owner per run folder, and no writes through symbolic links in it.

A second `dump train` or `dump prepare` on a folder another process holds stops at once (exit 2,
naming the folder and the holder's pid); a kill -9 frees the folder; a resume whose logs are
symbolic links stops before touching what they point to."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import save_recipe
from helpers import tiny_train_recipe
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.errors import RunFolderError
from dumpcli.io import OWNER_FILE, append_jsonl, own_folder

LOGS = ("curriculum.jsonl", "train_log.jsonl", "eval.jsonl", "run.json")


def dump(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DUMP_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "dumpcli", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("command", ["train", "prepare"])
def test_a_second_command_on_a_held_folder_stops_at_once(tmp_path, command):
    recipe = save_recipe(tmp_path, tiny_train_recipe())
    out = tmp_path / "out"
    with own_folder(out, "dump train"):  # this test process is the first owner
        proc = dump(tmp_path, command, str(recipe))
        assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
        message = " ".join(proc.stderr.split())
        assert f"{out} is in use by another dumpcli process" in message
        assert f"pid {os.getpid()}" in message and "`dump train`" in message
        assert "output_dir=NEW_DIR" in message and "Traceback" not in proc.stderr
        assert not (out / "manifest.json").exists()  # it did nothing
    assert not (out / OWNER_FILE).exists()
    with own_folder(out, "dump prepare"):  # free again
        pass


def test_kill_9_frees_the_folder(tmp_path):
    """The lock is an flock: the kernel drops it with the process, so no stale lock is left."""
    out = tmp_path / "out"
    ready = tmp_path / "ready"
    script = f"""
        from pathlib import Path
        import time
        from dumpcli.io import own_folder
        with own_folder(Path({str(out)!r}), "dump train"):
            Path({str(ready)!r}).write_text("held")
            time.sleep(600)
    """
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(RunFolderError, match=f"pid {holder.pid} "):
            with own_folder(out, "dump prepare"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with own_folder(out, "dump prepare"):  # the stale owner file names a dead process: ignored
        pass


def test_own_folder_is_reentrant_in_one_process(tmp_path):
    """`dump train` holds its folder and prepares the data inside it: one owner, not two."""
    with own_folder(tmp_path / "out", "dump train"):
        with own_folder(tmp_path / "out", "dump prepare"):
            pass
        assert (tmp_path / "out" / OWNER_FILE).exists()


@pytest.mark.slow
def test_resume_refuses_symlinked_logs_and_leaves_their_targets_alone(tmp_path):
    recipe = save_recipe(
        tmp_path, tiny_train_recipe(**{"train.grpo.max_steps": 2, "train.save_steps": 1, "train.eval_every": 1})
    )
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(recipe)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    shutil.rmtree(out / "checkpoint-2")  # a run that stopped after step 1
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = {}
    for name in LOGS:
        target = elsewhere / name
        shutil.move(out / name, target)
        (out / name).symlink_to(target)
        before[name] = target.read_bytes()
    result = runner.invoke(app, ["train", str(recipe), "--resume"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "will not write through a symbolic link" in message
    assert all(f"{out / name} -> {elsewhere / name}" in message for name in LOGS)
    assert {name: (elsewhere / name).read_bytes() for name in LOGS} == before
    assert all((out / name).is_symlink() for name in LOGS)
    assert not (out / "checkpoint-2").exists()  # nothing ran


def test_append_jsonl_does_not_follow_a_symlink(tmp_path):
    target = tmp_path / "target.jsonl"
    target.write_bytes(b'{"a": 1}\n')
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "log.jsonl").symlink_to(target)
    with pytest.raises(RunFolderError, match="symbolic link"):
        append_jsonl(tmp_path / "run" / "log.jsonl", {"b": 2})
    assert target.read_bytes() == b'{"a": 1}\n'
