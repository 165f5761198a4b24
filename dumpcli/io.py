"""Small file helpers: atomic writes (temp file + rename), hashing, JSONL (jsonlines with orjson
as its encoder and decoder), and the run-folder guards (one owner per folder, no writes through
symbolic links)."""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import jsonlines
import orjson

from dumpcli.errors import RunFolderError

LOCK_FILE = ".dump.lock"  # flock'ed while a command owns the folder; left in place (waiters share its inode)
OWNER_FILE = ".dump.owner.json"  # who owns it: pid, host, command, since (for the message a second one gets)
_owned: dict[Path, int] = {}  # folders this process owns -> nesting depth (train -> prepare is one owner)


@contextmanager
def atomic_path(path: str | Path, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it over `path`, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    # mkstemp/mkdtemp make owner-only files; give the result the usual permissions (umask)
    tmp.chmod((0o777 if is_dir else 0o666) & ~_umask())
    try:
        yield tmp
        if is_dir and path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, obj: Any, sort_keys: bool = True) -> None:
    """Write JSON atomically (pretty; sorted keys by default: diff-friendly manifests; results
    whose key order means something, like checkpoints in step order, pass sort_keys=False). The
    rename replaces a symbolic link at `path` with the file; it never writes to the link's target."""
    option = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(orjson.dumps(obj, option=option))


def write_new(path: str | Path, data: bytes) -> bool:
    """Create `path` with `data` only where nothing is in its place (no file, no directory, no
    symbolic link, not even a dangling one): a file a user put there is never replaced and a link
    never written through. Atomic: a temporary sibling is hard-linked into place (link(2) fails
    on anything there and never follows a link); on a file system without hard links, an
    O_CREAT | O_EXCL open (which fails on a link too). Returns whether it was written."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(name, 0o666 & ~_umask())
        try:
            os.link(name, path)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
                raise
        try:
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(out, "wb") as f:
            f.write(data)
        return True
    finally:
        os.unlink(name)


def read_json(path: str | Path) -> Any:
    return orjson.loads(Path(path).read_bytes())


def jsonl_writer(fp: IO[bytes], *, flush: bool = False, **orjson_options: Any) -> jsonlines.Writer:
    """A jsonlines.Writer on a binary file that encodes with orjson (`option=`, `default=` as
    orjson.dumps takes them): the same bytes as `orjson.dumps(obj) + b"\n"` per object."""
    dumps = functools.partial(orjson.dumps, **orjson_options) if orjson_options else orjson.dumps
    return jsonlines.Writer(fp, dumps=dumps, flush=flush)


def jsonl_reader(fp: IO[bytes] | Iterable[bytes]) -> jsonlines.Reader:
    """A jsonlines.Reader that decodes with orjson (a bad line raises jsonlines.InvalidLineError,
    which carries its line number)."""
    return jsonlines.Reader(fp, loads=orjson.loads)


def append_jsonl(path: str | Path, obj: Any) -> None:
    """Append one JSON line and flush (logs that survive a kill -9 up to the last line). A log
    that is a symbolic link is refused (O_NOFOLLOW), not appended to wherever it points."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            refuse_symlinks(Path(path).parent, [Path(path).name])
        raise
    with os.fdopen(fd, "ab") as f:
        jsonlines.Writer(f, dumps=_DUMPS_NUMPY, flush=True).write(obj)


_DUMPS_NUMPY = functools.partial(
    orjson.dumps, option=orjson.OPT_SERIALIZE_NUMPY
)  # built once: a log line per step


def refuse_symlinks(folder: Path, names: Iterable[str]) -> None:
    """Stop, before any work, if one of these files in `folder` is a symbolic link: appending to
    or rewriting it would change a file outside the folder (a resume truncates its logs)."""
    links = [folder / n for n in names if (folder / n).is_symlink()]
    if links:
        shown = "\n  ".join(f"{p} -> {os.readlink(p)}" for p in links)
        raise RunFolderError(
            f"{folder}: dumpcli writes only inside its run folder and will not write through a symbolic link:\n"
            f"  {shown}\n"
            "  replace each link with a copy of the file (cp --remove-destination TARGET LINK), or remove it"
        )


@contextmanager
def own_folder(folder: str | Path, command: str) -> Iterator[None]:
    """Hold `folder` for this process while the block runs: a second `dump train` or `dump
    prepare` on it stops at once (RunFolderError, exit 2) instead of interleaving its logs and
    checkpoints with ours.

    An flock on OUTPUT/.dump.lock (filelock): the OS releases it when the process dies, so a
    kill -9 leaves no stale lock. The owner's pid, host and command go to OUTPUT/.dump.owner.json
    for the message. Re-entrant within a process. Under torchrun / accelerate launch only global
    rank 0 locks (the launcher ends the other ranks when it fails). A folder that cannot be
    created or written is not locked: the command reports that in its own words."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    key = folder.resolve()
    if key in _owned or os.environ.get("RANK", "0") != "0":
        _owned[key] = _owned.get(key, 0) + 1
        try:
            yield
        finally:
            _owned[key] -= 1
            if not _owned[key]:
                del _owned[key]
        return
    refuse_symlinks(folder, [LOCK_FILE, OWNER_FILE])
    lock = FileLock(str(folder / LOCK_FILE))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:
        raise RunFolderError(_busy(folder)) from None
    except OSError:
        yield  # not a writable folder: nothing to protect, the command says why
        return
    _owned[key] = 1
    try:
        write_json(
            folder / OWNER_FILE,
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": command,
                "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )
        yield
    finally:
        del _owned[key]
        (folder / OWNER_FILE).unlink(missing_ok=True)
        lock.release()


def _busy(folder: Path) -> str:
    try:
        owner = read_json(folder / OWNER_FILE)
        who = f"`{owner['command']}`, pid {owner['pid']} on {owner['host']}, since {owner['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        who = "pid not recorded yet"
    return (
        f"{folder} is in use by another dumpcli process ({who}); it holds {folder / LOCK_FILE}.\n"
        "  wait for it to finish, or give this run another folder: --set output_dir=NEW_DIR"
    )


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def xxh3_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """xxh3-128 of a file's bytes: change detection for inputs at memory speed (sha256 runs at
    ~330 MB/s on CPUs without SHA extensions: seconds per GB that the data stage does not need)."""
    import xxhash

    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSONL log; a line cut short by a kill (or anything but an object) is
    skipped, not fatal."""
    if not path.is_file():
        return []
    with open(path, "rb") as f:
        return list(jsonl_reader(f).iter(type=dict, skip_empty=True, skip_invalid=True))


def last_by(lines: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """One line per `key` value (the last written wins: a resumed run rewrites the tail), sorted."""
    by: dict[Any, dict[str, Any]] = {}
    for line in lines:
        if key in line:
            by[line[key]] = line
    return [by[k] for k in sorted(by)]
