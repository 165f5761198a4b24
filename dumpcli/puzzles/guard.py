"""Run a scoring function in a worker process with a deadline, so that a verifier is bounded in
time on any input, from any thread.

Scorers built on sympy or on third-party code (math-verify, reasoning-gym) cannot be stopped
from inside: `signal.alarm` works only on the main thread and not during a long C-level step.
A spawned one-process pool can: the caller waits `deadline` seconds, then terminates the worker
and starts a fresh one on the next call. Spawned (not forked), so the worker inherits no threads,
locks or CUDA state of the caller; one per calling process (recreated after a fork).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from typing import Any


def die_with_parent(parent: int) -> None:
    """Worker initializer: on Linux the kernel kills the worker when its parent dies, even by
    kill -9 (PR_SET_PDEATHSIG), so no worker goes on reading for a parent that is gone. (The
    signal follows the thread that forked the worker: use it for pools made on the main thread.)"""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


class BoundedWorker:
    def __init__(self, warm: Callable[[], Any] | None = None) -> None:
        self._warm = warm  # imports done once at start, not under a deadline
        self._pool: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], deadline: float) -> tuple[bool, Any]:
        """(True, fn(*args)) or (False, None) if it overran `deadline` seconds. An exception
        inside `fn` is re-raised here."""
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                # no PR_SET_PDEATHSIG here: it follows the creating *thread*, which may be a
                # short-lived one; a daemonic pool worker exits when its parent's pipe closes
                self._pool = multiprocessing.get_context("spawn").Pool(1)
                self._pid = os.getpid()
                if self._warm is not None:
                    self._pool.apply(self._warm)
            pending = self._pool.apply_async(fn, args)
            try:
                return True, pending.get(timeout=deadline)
            except multiprocessing.TimeoutError:
                self._pool.terminate()
                self._pool = None
                return False, None
