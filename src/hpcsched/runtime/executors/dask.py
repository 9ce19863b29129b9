"""Runs attempts on a Dask cluster: one given by its scheduler address, or a ``LocalCluster`` of
worker processes over TCP that this executor starts and owns.

Why actors, not one Dask task per attempt: the pilot releases an attempt only when its own
accounting says it fits (the pool is the workers' threads), so with 2 single-thread workers only
2 attempts are in flight, and as Dask tasks each paid the whole client -> scheduler -> worker ->
scheduler -> client trip, ~15 ms with Dask's batched-send intervals: ~130 no-op tasks/s through
the pilot, against ~600/s for 2,000 raw ``client.submit`` calls. A call to an actor's method goes
from the client to the worker directly (no scheduler), ~1.2 ms there and back: ~1,100 calls/s on
2 slots; through the whole pilot ~1,000 no-op tasks/s against ~600/s raw (a slowdown of ~0.6x,
benchmarks/runtime_speed.py), ~570/s when the scheduler relays the calls (see ``__init__``).

So at start-up each worker gets one :class:`AttemptRunner` actor, pinned to it, with a thread
pool as wide as the worker has threads; the executor places every attempt on a worker itself
(most free threads first; GPUs only on workers that declare a ``GPU`` resource) and waits for the
call's answer in a waiter thread. An attempt no single worker has room for right now (the pilot
only checks pool-wide totals) is held, first in first out, until one has. A worker that dies or
cannot be reached loses its attempts ("lost") and gets nothing more; workers that join later are
not used. Cancelling kills a running command (or a callable with a timeout) on its worker; a
callable without a timeout runs in the worker itself and continues to its end, reported as
cancelled. The attempt's workdir must be visible to the workers (a shared file system).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import distributed

from hpcsched.campaigns.task import TaskResult
from hpcsched.core.pool import Pool
from hpcsched.runtime.executors.attempt_runner import attempt_spec, outcome
from hpcsched.runtime.executors.base import Attempt, drain
from hpcsched.runtime.executors.dask_actor import Worker, pool_of, start_runners
from hpcsched.runtime.main_guard import check_main_guard

# distributed ships no annotations for these; Any keeps mypy --strict to our own code.
_Client: Any = distributed.Client
_LocalCluster: Any = distributed.LocalCluster

POLL = 1.0  # seconds between checks that a running attempt's worker is still there
GRACE = 5.0  # seconds shutdown waits for killed commands to report before it reports them


@dataclass(eq=False, slots=True)
class _Entry:
    attempt: Attempt
    worker: Worker | None = None  # None while held
    start: float | None = None
    cancelled: bool = False


class DaskExecutor:
    """Attempts on Dask actors; ``address`` is a running scheduler's, else a local cluster."""

    name = "dask"

    def __init__(
        self, address: str | None = None, *, n_workers: int = 2, threads_per_worker: int = 1
    ) -> None:
        self._cluster: Any = None
        if address is None:
            check_main_guard("spawn")  # Dask starts its worker processes with spawn
            self._cluster = _LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                protocol="tcp://",
                dashboard_address=None,
                scheduler_kwargs={
                    # Dask re-runs a task whose worker died, 3 times by default; the pilot owns
                    # retries, so the first loss is reported ("lost"). A cluster given by address
                    # keeps its own setting.
                    "allowed_failures": 0,
                    # No dashboard, but the scheduler's HTTP server (health, metrics) still starts:
                    # on a free port, not 8787, which a second pilot here would find taken.
                    "dashboard_address": ":0",
                },
            )
        # Actor calls go straight to the workers of our own cluster; through a cluster given by
        # address they follow Dask's setting (distributed.client.direct-to-workers), else they
        # are relayed by the scheduler (still no task scheduling on the way).
        client = (address, None) if self._cluster is None else (self._cluster, True)
        self._client: Any = _Client(client[0], direct_to_workers=client[1])
        self._lock = threading.Condition()
        self._entries: dict[str, _Entry] = {}
        self._held: deque[str] = deque()
        self._results: queue.Queue[TaskResult] = queue.Queue()
        self._closed = False
        try:
            self._workers = start_runners(self._client)
        except BaseException:
            self._close_cluster()
            raise
        total = sum(worker.threads for worker in self._workers)
        self._waiters = ThreadPoolExecutor(max(1, total), thread_name_prefix="hpcsched-dask")

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (for raw comparisons and advanced use)."""
        return self._client

    @property
    def address(self) -> str:
        """The scheduler's address (``tcp://host:port``)."""
        return str(self._client.scheduler.address)

    def submit(self, attempt: Attempt) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the executor is shut down")
            if attempt.key in self._entries:
                raise ValueError(f"attempt {attempt.key} is already running")
            self._entries[attempt.key] = _Entry(attempt)
            self._held.append(attempt.key)
            placed = self._place()
        self._start(placed)

    def cancel(self, key: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.cancelled:
                return
            entry.cancelled = True
            worker, placed = entry.worker, []
            if worker is None:  # still held: it never started
                self._held.remove(key)
                self._report(key, outcome(*_ids(entry), "cancelled", "cancelled before it ran"))
                placed = self._place()
        if worker is not None:
            with contextlib.suppress(Exception):  # if its worker is gone, its waiter says so
                worker.actor.cancel(key)
        self._start(placed)

    def completions(self, timeout: float | None) -> list[TaskResult]:
        return drain(self._results, timeout)

    def pool(self) -> Pool:
        """The live workers (those attempts are placed on) as a pool: threads count as cpus."""
        with self._lock:
            return pool_of([worker for worker in self._workers if worker.alive])

    def shutdown(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for key in self._held:
                entry = self._entries[key]
                self._report(key, outcome(*_ids(entry), "cancelled", "cancelled by shutdown"))
            self._held.clear()
            for entry in self._entries.values():
                entry.cancelled = True
            running = bool(self._entries)
        if running:
            # Commands run in sessions of their own and would outlive their workers.
            calls = []
            for worker in self._workers:
                if worker.alive:
                    with contextlib.suppress(Exception):
                        calls.append(worker.actor.cancel_all())
            for call in calls:
                with contextlib.suppress(Exception):
                    call.result(timeout=GRACE)
            with self._lock:
                # Killed commands report within moments; an in-process callable runs on, so
                # it is reported here (it stops with its worker, if the cluster is ours).
                self._lock.wait_for(lambda: not any(map(_killable, self._entries.values())), GRACE)
                for key, entry in list(self._entries.items()):
                    self._report(key, outcome(*_ids(entry), "cancelled", "cancelled by shutdown"))
        self._waiters.shutdown(wait=False, cancel_futures=True)
        self._close_cluster()

    # -- placement and waiting (``_place`` and ``_report`` run under the lock) --------------------

    def _place(self) -> list[tuple[Attempt, Worker]]:
        """Place held attempts in order while the first one fits somewhere."""
        placed = []
        while self._held:
            key = self._held[0]
            entry = self._entries[key]
            cpus, gpus = entry.attempt.task.cpus, entry.attempt.task.gpus
            if not any(worker.fits(cpus, gpus, now=False) for worker in self._workers):
                self._held.popleft()
                message = f"no live Dask worker can hold {cpus} cpus and {gpus} gpus"
                self._report(key, outcome(*_ids(entry), "lost", message))
                continue
            room = [worker for worker in self._workers if worker.fits(cpus, gpus, now=True)]
            if not room:
                break  # first in, first out: the next attempts wait behind this one
            worker = max(room, key=lambda worker: worker.threads - worker.busy)
            self._held.popleft()
            worker.busy += cpus
            worker.busy_gpus += gpus
            entry.worker, entry.start = worker, time.time()
            placed.append((entry.attempt, worker))
        return placed

    def _report(self, key: str, result: dict[str, Any]) -> None:
        entry = self._entries.pop(key)
        if entry.worker is not None:
            entry.worker.busy -= entry.attempt.task.cpus
            entry.worker.busy_gpus -= entry.attempt.task.gpus
        if entry.cancelled and result.get("reason") != "cancelled":
            # A callable that ran to its end anyway, or a worker lost after the cancel.
            message = "cancelled while it ran"
            result = outcome(*_ids(entry), "cancelled", message, result.get("start"))
        try:
            report = TaskResult.model_validate(result)
        except ValueError as exc:  # never lose the one result an attempt owes
            report = TaskResult.model_validate(outcome(*_ids(entry), "lost", f"bad result: {exc}"))
        self._results.put(report)
        self._lock.notify_all()

    def _start(self, placed: list[tuple[Attempt, Worker]]) -> None:
        for attempt, worker in placed:
            try:
                call = worker.actor.run(attempt_spec(attempt))
                self._waiters.submit(self._wait_for, attempt.key, worker, call)
            except Exception as exc:  # the actor is gone (its worker died), or we shut down
                message = f"cannot call its worker ({type(exc).__name__}: {exc})"
                self._lose(attempt.key, worker, message)

    def _wait_for(self, key: str, worker: Worker, call: Any) -> None:
        """A waiter thread: the call's answer, or a loss noticed every ``POLL`` seconds."""
        while True:
            try:
                value = call.result(timeout=POLL)
            except Exception as exc:
                if not call.done():
                    if not isinstance(exc, TimeoutError) or worker.future.status != "finished":
                        self._lose(key, worker, f"its worker {worker.address} was lost")
                        return
                    with self._lock:
                        if key in self._entries:
                            continue
                    return  # reported by shutdown
                try:  # the call's own error, or its answer came just as we timed out
                    value = call.result(timeout=POLL)
                except Exception as error:
                    message = f"the call to its worker failed ({type(error).__name__}: {error})"
                    self._lose(key, worker, message)
                    return
            self._finish(key, value)
            return

    def _finish(self, key: str, result: dict[str, Any]) -> None:
        with self._lock:
            if key not in self._entries:
                return
            self._report(key, result)
            placed = [] if self._closed else self._place()
        self._start(placed)

    def _lose(self, key: str, worker: Worker, message: str) -> None:
        with self._lock:
            worker.alive = False  # nothing more goes there
            entry = self._entries.get(key)
            if entry is None:
                return
            result = outcome(*_ids(entry), "lost", message, entry.start)
        self._finish(key, result)

    def _close_cluster(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()


def _killable(entry: _Entry) -> bool:
    return entry.attempt.task.command is not None or entry.attempt.task.timeout is not None


def _ids(entry: _Entry) -> tuple[str, int]:
    return entry.attempt.task.id, entry.attempt.number
