"""Runs attempts on this machine.

Commands (and callables with a timeout, which run as a child Python) each get a thread that
starts the process and waits for it, so a timeout or a cancel kills its whole process group.
Callables without a timeout take the fast path: warm ``forkserver`` worker processes
(:mod:`~hpcsched.runtime.executors.worker_slots`), which save a Python start-up per task. A
running call there is cancelled by killing its worker; a worker that dies loses only its own
attempt. Like any spawn or forkserver pool, the workers re-import the main script: a script that
runs a pilot needs the ``if __name__ == "__main__":`` guard (else every pooled attempt is lost).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from hpcsched.campaigns.task import TaskResult
from hpcsched.runtime.executors import attempt_runner
from hpcsched.runtime.executors.attempt_runner import attempt_spec, outcome, run_attempt
from hpcsched.runtime.executors.base import Attempt
from hpcsched.runtime.executors.worker_slots import Ended, WorkerSlots


@dataclass(frozen=True, slots=True)
class _Running:
    attempt: Attempt
    future: Future[dict[str, Any]] | None  # None: a call on a worker process


class LocalExecutor:
    """Up to ``max_workers`` attempts at a time on this machine (the pilot keeps it at that).

    One thread (the pilot's) calls :meth:`submit`, :meth:`cancel`, :meth:`completions` and
    :meth:`shutdown`; the attempt threads only hand their results back.
    """

    name = "local"

    def __init__(self, max_workers: int) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self._threads = ThreadPoolExecutor(max_workers, thread_name_prefix="hpcsched-attempt")
        self._slots = WorkerSlots(max_workers)
        self._results: queue.Queue[TaskResult] = queue.Queue()
        # An attempt thread writes a byte here after each result, which wakes completions()
        # while it waits on the workers' pipes.
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._cancelled: set[str] = set()
        self._closed = False

    def submit(self, attempt: Attempt) -> None:
        spec = attempt_spec(attempt)
        task = attempt.task
        pooled = task.callable is not None and task.timeout is None
        with self._lock:
            if self._closed:
                raise RuntimeError("the executor is shut down")
            if attempt.key in self._running:
                raise ValueError(f"attempt {attempt.key} is already running")
            future = None if pooled else self._threads.submit(run_attempt, spec)
            self._running[attempt.key] = _Running(attempt, future)
        if future is None:
            self._slots.send(attempt.key, spec)
        else:  # outside the lock: a future that is already done calls back at once
            future.add_done_callback(partial(self._finish, attempt.key))

    def cancel(self, key: str) -> None:
        with self._lock:
            entry = self._running.get(key)
            if entry is None or key in self._cancelled:
                return
            self._cancelled.add(key)
        if entry.future is None:
            if self._slots.withdraw(key):  # still queued: it never ran
                self._report(self._settled(key, "cancelled before it ran"))
        elif not entry.future.cancel():
            attempt_runner.cancel(key)  # had it not started, its callback reports it

    def completions(self, timeout: float | None) -> list[TaskResult]:
        """Wait up to ``timeout`` for the first result, then take whatever else is there."""
        collected = self._ready(0)
        if collected or self._closed:
            return collected
        return self._ready(timeout)

    def shutdown(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            entries = list(self._running.items())
            self._cancelled.update(key for key, _ in entries)
        for key, entry in entries:
            if entry.future is not None and not entry.future.cancel():
                attempt_runner.cancel(key)
        running, queued = self._slots.shutdown()
        for key in running:
            self._report(self._settled(key, "cancelled while it ran"))
        for key in queued:
            self._report(self._settled(key, "cancelled before it ran"))
        self._threads.shutdown(wait=True, cancel_futures=True)
        for descriptor in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(descriptor)

    def _ready(self, timeout: float | None) -> list[TaskResult]:
        """The results there are after waiting up to ``timeout`` for a worker or a thread."""
        ended = [] if self._closed else self._slots.collect(timeout, (self._wake_read,))
        if not self._closed:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_read, 4096):
                    pass
        collected = [self._from_worker(end) for end in ended]
        while True:
            try:
                collected.append(self._results.get_nowait())
            except queue.Empty:
                return collected

    def _from_worker(self, end: Ended) -> TaskResult:
        with self._lock:
            entry = self._running.pop(end.key)
            cancelled = end.key in self._cancelled
            self._cancelled.discard(end.key)
        payload: dict[str, Any] | str = end.lost if end.result is None else end.result
        if isinstance(payload, dict) and "runner_error" in payload:
            payload = f"its attempt runner raised ({payload['runner_error']})"
        return _read(entry.attempt, lambda: _result_of(entry.attempt, payload, cancelled))

    def _settled(self, key: str, message: str) -> TaskResult:
        """An attempt the executor itself ended (cancelled), as its one result."""
        with self._lock:
            entry = self._running.pop(key)
            self._cancelled.discard(key)
        task_id, number = entry.attempt.task.id, entry.attempt.number
        return TaskResult.model_validate(outcome(task_id, number, "cancelled", message))

    def _report(self, result: TaskResult) -> None:
        self._results.put(result)
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"!")

    def _finish(self, key: str, future: Future[dict[str, Any]]) -> None:
        """An attempt thread's end (a done-callback, in that thread or in ours)."""
        with self._lock:
            entry = self._running.pop(key, None)
            cancelled = key in self._cancelled
            self._cancelled.discard(key)
        attempt_runner.forget(key)
        if entry is None:
            return
        if future.cancelled():
            message = "cancelled before it ran"
            task_id, number = entry.attempt.task.id, entry.attempt.number
            self._report(TaskResult.model_validate(outcome(task_id, number, "cancelled", message)))
            return
        error = future.exception()
        payload: dict[str, Any] | str = (
            future.result()
            if error is None
            else f"its attempt runner raised ({type(error).__name__}: {error})"
        )
        self._report(_read(entry.attempt, lambda: _result_of(entry.attempt, payload, cancelled)))


def _read(attempt: Attempt, read: Any) -> TaskResult:
    """``read()``, or the attempt reported lost when its result cannot be read: an exception
    here would lose the result, and the pilot would wait for it forever."""
    try:
        result: TaskResult = read()
    except Exception as error:
        task_id, number = attempt.task.id, attempt.number
        message = f"its result could not be read ({type(error).__name__}: {error})"
        return TaskResult.model_validate(outcome(task_id, number, "lost", message[:500]))
    return result


def _result_of(attempt: Attempt, payload: dict[str, Any] | str, cancelled: bool) -> TaskResult:
    """The attempt's result from what its thread or worker gave back: the result dict, or why
    there is none (the worker died, the runner raised; reported ``lost``)."""
    task_id, number = attempt.task.id, attempt.number
    if cancelled and (isinstance(payload, str) or payload.get("reason") != "cancelled"):
        # Stopped by a cancel or a shutdown, or a call that finished anyway.
        start = None if isinstance(payload, str) else payload.get("start")
        message = "cancelled while it ran"
        return TaskResult.model_validate(outcome(task_id, number, "cancelled", message, start))
    if isinstance(payload, str):
        return TaskResult.model_validate(outcome(task_id, number, "lost", payload))
    return TaskResult.model_validate(payload)
