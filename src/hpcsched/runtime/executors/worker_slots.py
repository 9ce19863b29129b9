"""Warm worker processes, one pipe each: the local executor's fast path for callables.

Deliberately not ``concurrent.futures.ProcessPoolExecutor``: its feeder thread and its
management thread put two thread hand-offs (each waiting for the GIL the pilot's thread holds)
on every call, and one dead worker breaks the whole pool. Here the pilot's own thread sends a
call down an idle worker's pipe and reads the result back when the pipe is readable
(``multiprocessing.connection.wait``): 9,000 ``run_attempt`` round trips a second on two workers
against 3,000 through the pool (measured on the 2-core reference machine). A worker that dies
loses only its own attempt, and a running call can be cancelled by killing its worker.

One thread drives a :class:`WorkerSlots` (the executor's caller); nothing here is thread-safe.
"""

from __future__ import annotations

import atexit
import multiprocessing
import signal
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from hpcsched.runtime.executors.attempt_runner import run_attempt
from hpcsched.runtime.main_guard import check_main_guard

JOIN_SECONDS = 5.0


def serve(conn: Connection) -> None:
    """A worker's loop: run each spec it is sent and send the result back, until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the pilot's to handle
    while True:
        try:
            spec = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result: dict[str, Any] = run_attempt(spec)
        except Exception as error:  # run_attempt turns the task's failures into results
            result = {"runner_error": f"{type(error).__name__}: {error}"}
        try:
            conn.send(result)
        except OSError:  # the pilot is gone (killed): nobody is left to tell
            return


@dataclass(slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection
    key: str | None = None  # the attempt it runs, None when idle
    killed: bool = False  # by a cancel: its result may still be read, then it is buried


@dataclass(frozen=True, slots=True)
class Ended:
    """One call's end: the worker's result dict, or ``lost`` with why (the worker died)."""

    key: str
    result: dict[str, Any] | None
    lost: str = ""


class WorkerSlots:
    """Up to ``size`` worker processes, started on first use and after one dies; calls beyond
    ``size`` wait in order for a worker to free up."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._workers: list[_Worker] = []
        self._backlog: deque[tuple[str, dict[str, Any]]] = deque()
        self._lost: list[Ended] = []  # calls no worker could take
        self._context: Any = None
        self._hooked = False

    def send(self, key: str, spec: dict[str, Any]) -> None:
        """Start the call on an idle worker, or queue it behind the others."""
        self._backlog.append((key, spec))
        self._feed()

    def collect(self, timeout: float | None, also: Sequence[int] = ()) -> list[Ended]:
        """The calls that ended, waiting up to ``timeout`` for the first one or for one of the
        file descriptors ``also`` to be readable (``None``: no limit; 0: only what is there)."""
        ended, self._lost = self._lost, []
        busy = {worker.conn: worker for worker in self._workers if worker.key is not None}
        if busy or also:
            ready = wait([*busy, *also], 0 if ended else timeout)
            ended += [self._receive(busy[conn]) for conn in ready if conn in busy]
        self._feed()
        return ended

    def withdraw(self, key: str) -> bool | None:
        """Stop ``key``: True when it was still queued (dropped, it never ran), False when its
        worker was killed (its end is collected as lost), None when unknown."""
        for item in self._backlog:
            if item[0] == key:
                self._backlog.remove(item)
                return True
        for worker in self._workers:
            if worker.key == key:
                worker.process.kill()
                worker.killed = True
                return False
        return None

    def shutdown(self) -> tuple[list[str], list[str]]:
        """Kill every worker; return the keys that were running and those still queued."""
        if self._hooked:
            atexit.unregister(self.shutdown)
            self._hooked = False
        running = [worker.key for worker in self._workers if worker.key is not None]
        queued = [key for key, _ in self._backlog] + [end.key for end in self._lost]
        self._backlog.clear()
        self._lost.clear()
        for worker in self._workers:
            if worker.key is not None:
                worker.process.kill()
            worker.conn.close()  # an idle worker reads EOF and exits
        for worker in self._workers:
            worker.process.join(JOIN_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(JOIN_SECONDS)
        self._workers.clear()
        return running, queued

    def _idle(self) -> _Worker | None:
        for worker in self._workers:
            if worker.key is None:
                return worker
        if len(self._workers) >= self.size:
            return None
        if self._context is None:
            check_main_guard("forkserver")
            # forkserver, not fork: forking a process that has threads (ours, the caller's) can
            # copy a held lock into the child.
            self._context = multiprocessing.get_context("forkserver")
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=serve, args=(theirs,), name="hpcsched-worker")
        process.start()
        theirs.close()
        if not self._hooked:
            # At exit multiprocessing joins its live children, and a worker waits for its next
            # call until the pipe closes: close them first (registered after a start, so after
            # multiprocessing's own hook, it runs before it).
            atexit.register(self.shutdown)
            self._hooked = True
        worker = _Worker(process, ours)
        self._workers.append(worker)
        return worker

    def _receive(self, worker: _Worker) -> Ended:
        key = worker.key
        assert key is not None
        try:
            result: dict[str, Any] = worker.conn.recv()
        except (EOFError, OSError):
            return Ended(key, None, self._bury(worker))
        if worker.killed:  # it had answered before the kill landed: never reuse it
            self._bury(worker)
        worker.key = None
        return Ended(key, result)

    def _bury(self, worker: _Worker) -> str:
        """Remove a dead worker (the next call starts a new one); say how it ended."""
        self._workers.remove(worker)
        worker.conn.close()
        worker.process.join(JOIN_SECONDS)
        code = worker.process.exitcode
        if code is None:
            worker.process.kill()
            worker.process.join(JOIN_SECONDS)
            return "worker process lost (its pipe broke)"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"worker process lost (killed by {name})"
        return f"worker process lost (it exited with status {code})"

    def _feed(self) -> None:
        failures = 0
        while self._backlog:
            worker = self._idle()
            if worker is None:
                return
            key, spec = self._backlog[0]
            try:
                worker.conn.send(spec)
            except OSError:  # it died while idle (its pipe is broken): the call goes elsewhere
                why = self._bury(worker)
                failures += 1
                if failures > self.size:  # every new worker dies at once: give the call up
                    self._backlog.popleft()
                    self._lost.append(Ended(key, None, why))
                continue
            self._backlog.popleft()
            worker.key = key
