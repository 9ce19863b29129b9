"""Runs attempts on a Dask cluster: one given by its scheduler address, or a ``LocalCluster`` of
worker processes over TCP that this executor starts and owns.

Each attempt is one Dask task running :func:`run_attempt` on a worker, so it behaves as under the
local executor; the attempt's workdir must be visible to the workers (a shared file system).
Cancelling is best-effort: the future is released and the result reported at once; a command (or
a callable with a timeout) already running is killed on whichever worker runs it, but a callable
without a timeout runs in the worker itself and continues to its end, its value dropped. A worker
that dies does not take its commands with it: they run in sessions of their own (so that a cancel
can kill the whole group) and go on to their end.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import uuid
from functools import partial
from typing import Any

import distributed
from distributed.scheduler import KilledWorker

from hpcsched.campaigns.task import TaskResult
from hpcsched.core.pool import Pool
from hpcsched.core.resources import Resources
from hpcsched.runtime.executors import attempt_runner
from hpcsched.runtime.executors.attempt_runner import attempt_spec, outcome, run_attempt
from hpcsched.runtime.executors.base import Attempt
from hpcsched.runtime.executors.local import drain

# distributed ships no annotations for these; Any keeps mypy --strict to our own code.
_Client: Any = distributed.Client
_LocalCluster: Any = distributed.LocalCluster


class DaskExecutor:
    """Attempts as Dask tasks; ``address`` is a running scheduler's, else a local cluster."""

    name = "dask"

    def __init__(
        self, address: str | None = None, *, n_workers: int = 2, threads_per_worker: int = 1
    ) -> None:
        self._cluster: Any = None
        if address is None:
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
        self._client: Any = _Client(self._cluster if self._cluster is not None else address)
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[Attempt, Any]] = {}
        self._results: queue.Queue[TaskResult] = queue.Queue()
        self._closed = False

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (for raw comparisons and advanced use)."""
        return self._client

    @property
    def address(self) -> str:
        """The scheduler's address (``tcp://host:port``)."""
        return str(self._client.scheduler.address)

    def submit(self, attempt: Attempt) -> None:
        spec = attempt_spec(attempt)
        # Placement: a GPU task may only go to a worker that declares GPU resources.
        gpus = attempt.task.gpus
        resources = {"GPU": gpus} if gpus else None
        with self._lock:
            if self._closed:
                raise RuntimeError("the executor is shut down")
            if attempt.key in self._pending:
                raise ValueError(f"attempt {attempt.key} is already running")
            key = f"{attempt.key}-{uuid.uuid4().hex[:12]}"  # unique even when a run restarts
            future = self._client.submit(
                run_attempt, spec, key=key, pure=False, resources=resources
            )
            self._pending[attempt.key] = (attempt, future)
        future.add_done_callback(partial(self._finish, attempt.key))

    def cancel(self, key: str) -> None:
        with self._lock:
            entry = self._pending.pop(key, None)
        if entry is None:
            return
        attempt, future = entry
        with contextlib.suppress(Exception):
            future.cancel()
        self._kill_remote([key])
        self._results.put(_failed(attempt, "cancelled", "cancelled"))

    def completions(self, timeout: float | None) -> list[TaskResult]:
        return drain(self._results, timeout)

    def pool(self) -> Pool:
        """The workers as a pool: their threads are cpus; ``largest`` is the per-dimension
        maximum over workers, so a request some worker can hold is never refused."""
        try:
            info = self._client.scheduler_info(n_workers=-1)
        except TypeError:  # before the n_workers argument (and its default of 5) existed
            info = self._client.scheduler_info()
        workers: dict[str, dict[str, Any]] = info.get("workers", {})
        sizes = [
            Resources(
                nodes=1,
                cpus=int(worker.get("nthreads", 0)),
                gpus=int((worker.get("resources") or {}).get("GPU", 0)),
                mem=float(worker.get("memory_limit") or 0),
            )
            for worker in workers.values()
        ]
        # One worker without a memory limit makes the pool's memory unaccounted, not smaller.
        unlimited = any(size.mem <= 0 for size in sizes)
        mem = 0.0 if unlimited else sum(size.mem for size in sizes)
        hosts = {worker.get("host") or address for address, worker in workers.items()}
        largest = Resources(
            nodes=1 if sizes else 0,
            cpus=max((size.cpus for size in sizes), default=0),
            gpus=max((size.gpus for size in sizes), default=0),
            mem=0.0 if unlimited else max((size.mem for size in sizes), default=0.0),
        )
        total = Resources(
            nodes=len(hosts),
            cpus=sum(size.cpus for size in sizes),
            gpus=sum(size.gpus for size in sizes),
            mem=mem,
        )
        return Pool(total, largest, len(hosts), source="dask")

    def shutdown(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            entries = list(self._pending.values())
            self._pending.clear()
        if entries:
            # Commands run in sessions of their own and would outlive their workers.
            self._kill_remote([attempt.key for attempt, _ in entries])
            for attempt, _ in entries:
                self._results.put(_failed(attempt, "cancelled", "cancelled by shutdown"))
        with contextlib.suppress(Exception):
            self._client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()

    def _kill_remote(self, keys: list[str]) -> None:
        with contextlib.suppress(Exception):
            self._client.run(attempt_runner.cancel, *keys, remember=False, on_error="ignore")

    def _finish(self, key: str, future: Any) -> None:
        with self._lock:
            entry = self._pending.pop(key, None)
        if entry is not None:
            self._results.put(_result_of(entry[0], future))


def _failed(attempt: Attempt, reason: str, message: str) -> TaskResult:
    return TaskResult.model_validate(outcome(attempt.task.id, attempt.number, reason, message))


def _result_of(attempt: Attempt, future: Any) -> TaskResult:
    status = future.status
    try:
        if status == "finished":
            return TaskResult.model_validate(future.result())
        if status == "error":
            error = future.exception()
            if isinstance(error, KilledWorker):
                return _failed(attempt, "lost", f"the worker running it died ({error})")
            return _failed(attempt, "lost", f"{type(error).__name__}: {error}")
    except Exception as exc:  # the client went away while the result was fetched
        return _failed(attempt, "lost", f"result unavailable ({type(exc).__name__}: {exc})")
    # Released by the cluster, not by us (a restart, a lost scheduler connection).
    return _failed(attempt, "lost", f"the Dask future was {status}")
