"""Runs attempts on this machine.

Commands (and callables with a timeout, which run as a child Python) each get a thread that
starts the process and waits for it, so a timeout or a cancel kills its whole process group.
Callables without a timeout take the fast path: a warm ``forkserver`` process pool created on
first use, which saves a Python start-up per task. A call already running in that pool cannot be
interrupted: cancelling it is reported as ``cancelled`` when it returns, and its value is dropped.
Like any spawn or forkserver pool, its workers re-import the main script: a script that runs a
pilot needs the ``if __name__ == "__main__":`` guard (else every pooled attempt comes back lost).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import threading
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from typing import Any

from hpcsched.campaigns.task import TaskResult
from hpcsched.runtime.executors import attempt_runner
from hpcsched.runtime.executors.attempt_runner import attempt_spec, outcome, run_attempt
from hpcsched.runtime.executors.base import Attempt
from hpcsched.runtime.main_guard import check_main_guard


@dataclass(frozen=True, slots=True)
class _Running:
    attempt: Attempt
    future: Future[dict[str, Any]]
    pooled: bool  # in the process pool: cannot be killed individually


def drain(results: queue.Queue[TaskResult], timeout: float | None) -> list[TaskResult]:
    """Wait up to ``timeout`` for the first result, then take whatever else is there."""
    try:
        collected = [results.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            collected.append(results.get_nowait())
        except queue.Empty:
            return collected


class LocalExecutor:
    """Up to ``max_workers`` attempts at a time on this machine (the pilot keeps it at that)."""

    name = "local"

    def __init__(self, max_workers: int) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self._threads = ThreadPoolExecutor(max_workers, thread_name_prefix="hpcsched-attempt")
        self._processes: ProcessPoolExecutor | None = None
        self._results: queue.Queue[TaskResult] = queue.Queue()
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
            future = self._pooled(spec) if pooled else self._threads.submit(run_attempt, spec)
            self._running[attempt.key] = _Running(attempt, future, pooled)
        # Outside the lock: a future that is already done calls back at once, in this thread.
        future.add_done_callback(partial(self._finish, attempt.key))

    def cancel(self, key: str) -> None:
        with self._lock:
            entry = self._running.get(key)
            if entry is None or key in self._cancelled:
                return
            self._cancelled.add(key)
        if entry.future.cancel():
            return  # had not started; its callback reports it
        if not entry.pooled:
            attempt_runner.cancel(key)

    def completions(self, timeout: float | None) -> list[TaskResult]:
        return drain(self._results, timeout)

    def shutdown(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            entries = list(self._running.items())
            self._cancelled.update(key for key, _ in entries)
            processes, self._processes = self._processes, None
        for key, entry in entries:
            if not entry.pooled and not entry.future.cancel():
                attempt_runner.cancel(key)
        if processes is not None:
            if any(entry.pooled for _, entry in entries):
                # No public way to stop a running call: kill the workers, which fails their
                # futures (reported as cancelled) instead of waiting for them to return.
                workers = getattr(processes, "_processes", None) or {}
                for process in list(workers.values()):
                    with contextlib.suppress(Exception):
                        process.kill()
            processes.shutdown(wait=True, cancel_futures=True)
        self._threads.shutdown(wait=True, cancel_futures=True)

    def _pooled(self, spec: dict[str, Any]) -> Future[dict[str, Any]]:
        if self._processes is None:
            self._processes = self._new_pool()
        try:
            return self._processes.submit(run_attempt, spec)
        except BrokenProcessPool:
            # A worker died (os._exit, the OOM killer): its calls were reported lost; start over.
            self._processes.shutdown(wait=False, cancel_futures=True)
            self._processes = self._new_pool()
            return self._processes.submit(run_attempt, spec)

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver, not fork: forking a process that has threads (ours, the caller's) can copy
        # a held lock into the child.
        check_main_guard("forkserver")
        context = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(self.max_workers, mp_context=context)

    def _finish(self, key: str, future: Future[dict[str, Any]]) -> None:
        with self._lock:
            entry = self._running.pop(key, None)
            cancelled = key in self._cancelled
            self._cancelled.discard(key)
        attempt_runner.forget(key)
        if entry is None:
            return
        try:
            result = _result_of(entry.attempt, future, cancelled)
        except Exception as error:  # a done-callback that raises loses the result, and the
            # pilot would wait for it forever: report the attempt lost instead
            task_id, number = entry.attempt.task.id, entry.attempt.number
            message = f"its result could not be read ({type(error).__name__}: {error})"
            result = TaskResult.model_validate(outcome(task_id, number, "lost", message[:500]))
        self._results.put(result)


def _result_of(attempt: Attempt, future: Future[dict[str, Any]], cancelled: bool) -> TaskResult:
    task_id, number = attempt.task.id, attempt.number
    if future.cancelled():
        return TaskResult.model_validate(
            outcome(task_id, number, "cancelled", "cancelled before it ran")
        )
    error = future.exception()
    if cancelled and (error is not None or future.result().get("reason") != "cancelled"):
        # Stopped by a cancel or a shutdown, or a pooled call that finished anyway.
        message = "cancelled while it ran"
        start = None if error is not None else future.result().get("start")
        return TaskResult.model_validate(outcome(task_id, number, "cancelled", message, start))
    if error is not None:
        # run_attempt turns the task's own failures into results: an error here is the pool's.
        message = f"worker process lost ({type(error).__name__}: {error})"
        return TaskResult.model_validate(outcome(task_id, number, "lost", message))
    return TaskResult.model_validate(future.result())
