"""`dump prepare` loses no data: the tries a new user makes (output_dir `.`, a file at OUT/data,
kill -9, a crash before the manifest, a run that accepts nothing, unwritable output, a glob that
covers the output). Each of these failed before the data went to its own cache folder."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from helpers import quiz_line, run_prepare
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.data import prepare as prep
from dumpcli.data import prepared
from dumpcli.data.prepared import is_prepared, load_manifest, load_split
from dumpcli.errors import DataError
from dumpcli.recipe import load_recipe

pytestmark = pytest.mark.usefixtures("in_tmp")


run = run_prepare  # (manifest, printed text) of `dump prepare` on a recipe file


SOURCE = {
    "name": "src",
    "files": ["in/*.jsonl"],
    "fields": {"prompt": "quiz"},
    "difficulty": {"field": "depth"},
}


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(tmp_path: Path) -> list[str]:
    """Temporary build folders anywhere under the test folder (the output and the data cache)."""
    return sorted(
        str(p.relative_to(tmp_path))
        for p in tmp_path.rglob(".*")
        if p.name.startswith((".data.", ".staging-", ".dump-write-test-"))
    )


@pytest.mark.parametrize("output_dir", [".", "", "mine"])
def test_an_output_dir_with_its_own_data_folder_is_left_alone(
    write_recipe, write_jsonl, tmp_path, output_dir
):
    write_jsonl("in/x.jsonl", raw=quiz_line(1) + b"\n" + quiz_line(2) + b"\n")
    user = tmp_path / (output_dir or ".") / "data"
    user.mkdir(parents=True, exist_ok=True)
    (user / "notes.txt").write_text("my notes")
    (user / "sub").mkdir()
    (user / "sub" / "records.jsonl").write_bytes(quiz_line(9) + b"\n")
    before = tree(user)
    path = write_recipe({"sources": [SOURCE]}, output_dir=output_dir)
    manifest, _ = run(path)
    assert manifest["splits"]["train"] == 2
    run(path, force=True)
    assert tree(user) == before


@pytest.mark.parametrize("kind", ["file", "symlink", "dangling symlink"])
def test_a_file_or_symlink_at_out_data_does_not_get_stuck(write_recipe, write_jsonl, tmp_path, kind):
    write_jsonl("in/x.jsonl", raw=quiz_line(1) + b"\n")
    (tmp_path / "out").mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    if kind == "file":
        (tmp_path / "out" / "data").write_text("a file of mine")
    elif kind == "symlink":
        (tmp_path / "out" / "data").symlink_to(target)
    else:
        (tmp_path / "out" / "data").symlink_to(tmp_path / "gone")
    path = write_recipe({"sources": [SOURCE]})
    for _ in range(2):
        manifest, _ = run(path, force=True)
        assert manifest["splits"]["train"] == 1
    assert (target / "keep.txt").read_text() == "keep"
    if kind == "file":
        assert (tmp_path / "out" / "data").read_text() == "a file of mine"
    else:
        assert (tmp_path / "out" / "data").is_symlink()


def _start(script: str, tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DUMP_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(path: Path, proc: subprocess.Popen, count: int = 1) -> None:
    """Until `count` marker files exist (the child reached the point to kill it at)."""
    while len(list(path.parent.glob(path.name))) < count:
        if proc.poll() is not None:
            raise AssertionError(f"child ended early: {proc.stdout.read().decode()[-3000:]}")  # type: ignore[union-attr]
        time.sleep(0.05)


def test_kill_9_leaves_no_staging_folders(write_recipe, write_jsonl, tmp_path):
    write_jsonl("in/x.jsonl", raw=b"".join(quiz_line(i) + b"\n" for i in range(50)))
    path = write_recipe({"sources": [SOURCE]})
    script = """
        import sys, time
        from pathlib import Path
        from dumpcli.data import staging
        def stuck(self, *a, **k):
            Path(sys.argv[2]).write_text("ready")
            time.sleep(600)
        staging.Stage.flush = stuck
        from dumpcli.cli import app
        app(["prepare", sys.argv[1]])
    """
    for k in range(3):
        marker = tmp_path / f"ready-{k}"
        proc = _start(script, tmp_path, str(path), str(marker))
        _wait_for(marker, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    manifest, _ = run(path)  # the next run cleans up after the killed ones
    assert manifest["splits"]["train"] == 50
    assert leftovers(tmp_path) == []


def test_forked_workers_die_with_a_killed_parent(write_recipe, write_jsonl, tmp_path):
    write_jsonl("in/x.jsonl", raw=b"".join(quiz_line(i) + b"\n" for i in range(400)))
    path = write_recipe({"sources": [SOURCE]})
    script = """
        import os, sys, time
        from pathlib import Path
        from dumpcli.data import fastpath, ingest
        fastpath.ENABLED = False  # a clean file is read column-wise, without workers
        ingest.PARALLEL_MIN_BYTES, ingest.CHUNK_BYTES = 1000, 2000
        def stuck(job):
            Path(sys.argv[2] + f"-{os.getpid()}").write_text("ready")
            time.sleep(600)
        ingest.read_chunk = stuck
        os.environ["DUMP_PREPARE_WORKERS"] = "2"
        from dumpcli.cli import app
        app(["prepare", sys.argv[1]])
    """
    proc = _start(script, tmp_path, str(path), str(tmp_path / "worker"))
    _wait_for(tmp_path / "worker-*", proc, count=2)
    workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + 60  # a bound on waiting, not a measured threshold
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    still = [p for p in workers if alive(p)]
    for p in still:
        os.kill(p, signal.SIGKILL)
    assert still == []


@pytest.mark.parametrize("which", ["any manifest write", "the output folder's manifest"])
def test_a_crash_before_the_manifest_never_mixes_old_and_new(
    write_recipe, write_jsonl, tmp_path, monkeypatch, which
):
    data = write_jsonl("in/x.jsonl", raw=quiz_line(1) + b"\n" + quiz_line(2) + b"\n")
    path = write_recipe({"sources": [SOURCE]})
    run(path)
    data.write_bytes(data.read_bytes() + quiz_line(3) + b"\n")
    real = prep.write_json

    def crash(target, obj):
        if which == "any manifest write" or Path(target) == tmp_path / "out" / "manifest.json":
            raise RuntimeError("power cut")
        real(target, obj)

    monkeypatch.setattr(prep, "write_json", crash)  # the build
    monkeypatch.setattr(prepared, "write_json", crash)  # the copy published into the output folder
    with pytest.raises(RuntimeError, match="power cut"):
        run(path)
    monkeypatch.setattr(prep, "write_json", real)
    monkeypatch.setattr(prepared, "write_json", real)
    recipe = load_recipe(path)
    manifest = load_manifest(recipe)
    assert manifest["splits"]["train"] == load_split(recipe, "train").num_rows  # data and manifest agree
    assert manifest["inputs"][0]["size"] == data.stat().st_size or not is_prepared(recipe)
    manifest, _ = run(path)
    assert manifest["splits"]["train"] == 3 == load_split(recipe, "train").num_rows
    assert load_manifest(tmp_path / "out") == manifest


def test_a_skip_invalid_run_that_accepts_nothing_keeps_rejects_and_manifest_in_step(
    write_recipe, write_jsonl, tmp_path
):
    data = write_jsonl("in/x.jsonl", raw=quiz_line(1) + b"\n{bad\n")
    path = write_recipe({"sources": [SOURCE]})
    run(path, skip_invalid=True)
    data.write_bytes(b"{bad\n[]\n{worse\n")
    with pytest.raises(
        DataError, match=r"no record was accepted \(3 read, 3 rejected; see out/rejects.jsonl\)"
    ):
        run(path, skip_invalid=True)
    shown = load_manifest(tmp_path / "out")
    rejects = (tmp_path / "out" / "rejects.jsonl").read_bytes().splitlines()
    assert shown["counts"]["rejected"] == len(rejects) == 3
    assert not is_prepared(load_recipe(path))


@pytest.mark.parametrize("case", ["a file", "under /proc", "read-only", "disk full"])
def test_unusable_output_dir_is_one_message_and_exit_2(
    write_recipe, write_jsonl, tmp_path, monkeypatch, case
):
    write_jsonl("in/x.jsonl", raw=quiz_line(1) + b"\n")
    output_dir = "out"
    if case == "a file":
        (tmp_path / "out").write_text("not a folder")
    elif case == "under /proc":
        output_dir = "/proc/dumpcli-test/out"
    elif case == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "out").mkdir()
        (tmp_path / "out").chmod(0o555)
    else:

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "cache"))

        monkeypatch.setattr(prep._Build, "_write_splits", full)
    path = write_recipe({"sources": [SOURCE]}, output_dir=output_dir)
    result = CliRunner().invoke(app, ["prepare", str(path)])
    output = result.output  # stdout and stderr
    assert result.exit_code == 2, output
    assert "Traceback" not in output and output.count("error:") == 1
    assert ("output_dir" in output) if case != "disk full" else ("No space left on device" in output)
    if case == "a file":
        assert (tmp_path / "out").read_text() == "not a folder"
    assert leftovers(tmp_path) == []


def test_a_glob_over_the_output_does_not_read_its_own_rejects(write_recipe, write_jsonl, tmp_path):
    write_jsonl("data/a/x.jsonl", raw=quiz_line(1) + b"\n" + quiz_line(2) + b"\n{bad\n")
    source = {**SOURCE, "files": ["data/**/*.jsonl"]}
    path = write_recipe({"sources": [source]}, output_dir="data/out")
    first, _ = run(path, skip_invalid=True)
    assert (tmp_path / "data" / "out" / "rejects.jsonl").is_file()
    second, _ = run(path, skip_invalid=True, force=True)
    assert [i["path"] for i in second["inputs"]] == ["data/a/x.jsonl"]
    assert second["counts"] == first["counts"]


def test_two_prepares_of_the_same_data_at_once(write_recipe, write_jsonl, tmp_path):
    """Two run folders, one data set: they take turns (a lock per data set); the second finds the
    data built and reuses it. (Two prepares of one run folder: the second stops, test_run_folder.)"""
    write_jsonl("in/x.jsonl", raw=b"".join(quiz_line(i) + b"\n" for i in range(300)))
    path = write_recipe({"sources": [SOURCE]})
    script = "import sys\nfrom dumpcli.cli import app\napp(['prepare', *sys.argv[1:]])"
    procs = [_start(script, tmp_path, str(path), "--set", f"output_dir=out{i}") for i in range(2)]
    outputs = [p.communicate()[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("up to date" in o for o in outputs) <= 1
    for i in range(2):
        assert load_split(load_recipe(path, [f"output_dir=out{i}"]), "train").num_rows == 300
    assert leftovers(tmp_path) == []
