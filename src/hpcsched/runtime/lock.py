"""One run directory, one owner: an exclusive ``fcntl`` lock on ``run.lock`` in it.

Two ``hpcsched run`` on the same directory would run every task twice, write the same attempt
folders and kill each other's children as orphans. The lock is a ``flock`` on an open file, so
the kernel drops it when its process dies however it dies (``kill -9`` included): a crash never
leaves a stale lock to clean up. The file's content (pid, host, since) is only there to name the
owner in the refusal; it is never what decides.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from hpcsched.runtime.journal import JournalError

LOCK_NAME = "run.lock"


class RunLockedError(JournalError):
    """Another live process owns the run directory."""


class RunLock:
    """Held from :meth:`acquire` to :meth:`release` (or the process's death)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`RunLockedError` naming its owner (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd)
            os.close(fd)
            raise RunLockedError(
                f"{self.path.parent}: already being run by {owner}; wait for it to end, "
                "or give another --run-dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode() + b"\n", 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def live_owner(run_dir: Path) -> str | None:
    """Who runs ``run_dir`` now ("pid N on host H (since ...)"), or None when nobody does.

    Asks the kernel, as :meth:`RunLock.acquire` does: a shared lock that cannot be taken means a
    live owner holds the exclusive one (a stale pid in the file means nothing)."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _owner(fd)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _owner(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info["since"])))
        return f"pid {int(info['pid'])} on host {info['host']} (since {since})"
    except (ValueError, KeyError, TypeError, OSError):
        # the owner took the lock and has not written its name yet
        return "another process (pid not yet written)"
