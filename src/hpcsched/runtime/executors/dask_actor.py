"""The Dask actor that runs attempts on one worker, and its client-side record (why actors: see
:mod:`hpcsched.runtime.executors.dask`).

One :class:`AttemptRunner` lives on each worker, pinned there. Its methods are coroutines, so a
call runs on the worker's event loop as soon as it arrives (no hop through the worker's actor
thread); :meth:`AttemptRunner.run` hands :func:`run_attempt` to a thread pool as wide as the
worker has threads, and the executor never places more than that on it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import distributed
import distributed.threadpoolexecutor

from hpcsched.core.pool import Pool
from hpcsched.core.resources import Resources
from hpcsched.runtime.executors import attempt_runner
from hpcsched.runtime.executors.attempt_runner import outcome, run_attempt

# distributed ships no annotations for these; Any keeps mypy --strict to our own code.
_Actor: Any = distributed.Actor
_wait: Any = distributed.wait
# Dask's own pool, as its workers use: daemon threads, so a callable still running does not keep
# the worker process from exiting when its cluster closes.
_ThreadPool: Any = distributed.threadpoolexecutor.ThreadPoolExecutor
EARLY_KEYS = 1000


class AttemptRunner:
    """Runs attempts in this worker process, up to ``nthreads`` at a time."""

    def __init__(self, nthreads: int) -> None:
        self._pool = _ThreadPool(max(1, nthreads), thread_name_prefix="hpcsched-actor")
        self._running: set[str] = set()
        # A cancel may overtake its run (the two calls can travel on different connections):
        # the run then reports "cancelled" without starting. (Bounded: a cancel that crossed its
        # finished run leaves its key here.)
        self._early: dict[str, None] = {}

    async def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Run one attempt (an :func:`attempt_spec`) to its end and describe it."""
        key, start = spec["key"], time.time()
        task_id, number = spec["task"]["id"], spec["attempt"]
        if key in self._early:
            del self._early[key]
            return outcome(task_id, number, "cancelled", "cancelled before it ran", start)
        self._running.add(key)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, run_attempt, spec)
        except Exception as exc:  # run_attempt reports the task's own failures: this is ours
            message = f"the worker could not run it ({type(exc).__name__}: {exc})"
            return outcome(task_id, number, "lost", message, start)
        finally:
            # Both on the event loop, like cancel(): no mark can be left behind after this.
            self._running.discard(key)
            attempt_runner.forget(key)

    async def cancel(self, key: str) -> bool:
        """Kill the attempt's command if it runs (its run then reports ``cancelled``); a
        callable without a timeout runs in this process and cannot be stopped."""
        if key not in self._running:
            self._early[key] = None
            while len(self._early) > EARLY_KEYS:
                del self._early[next(iter(self._early))]
            return False
        attempt_runner.cancel(key)
        return True

    async def cancel_all(self) -> int:
        """Kill every running command (shutdown). Returns how many process groups were hit."""
        return attempt_runner.cancel(*self._running)


@dataclass(eq=False, slots=True)
class Worker:
    """A worker as the executor sees it: its size, its runner, and what is placed on it."""

    address: str
    host: str
    threads: int
    gpus: int
    mem: float
    actor: Any  # the distributed.Actor handle of its AttemptRunner
    future: Any  # the actor's Dask future: keeps it alive; not "finished" once the worker is lost
    busy: int = 0
    busy_gpus: int = 0
    alive: bool = True

    def fits(self, cpus: int, gpus: int, now: bool) -> bool:
        """Whether the request fits in its free room (``now``), or in all of it."""
        busy, busy_gpus = (self.busy, self.busy_gpus) if now else (0, 0)
        return self.alive and cpus <= self.threads - busy and gpus <= self.gpus - busy_gpus


def start_runners(client: Any, timeout: float = 60.0) -> list[Worker]:
    """One :class:`AttemptRunner` on each of the cluster's workers, pinned to it."""
    client.wait_for_workers(1, timeout=timeout)
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # before the n_workers argument (and its default of 5) existed
        info = client.scheduler_info()
    found: dict[str, dict[str, Any]] = info.get("workers", {})
    futures = {
        address: client.submit(
            AttemptRunner,
            int(worker.get("nthreads", 1)),
            actor=True,
            workers=[address],
            allow_other_workers=False,
            pure=False,
        )
        for address, worker in found.items()
    }
    _wait(list(futures.values()), timeout=timeout)
    workers = []
    for address, future in futures.items():
        if future.status != "finished":
            raise RuntimeError(f"no attempt runner on {address}: {future.exception()!r}")
        with client.as_current():  # bind the handle to this client, not the default one
            actor = _Actor(AttemptRunner, address, future.key)
        worker = found[address]
        gpus = int((worker.get("resources") or {}).get("GPU", 0))
        host = str(worker.get("host") or address)
        mem = float(worker.get("memory_limit") or 0)
        nthreads = int(worker.get("nthreads", 1))
        workers.append(Worker(address, host, nthreads, gpus, mem, actor, future))
    return workers


def pool_of(workers: list[Worker]) -> Pool:
    """Workers as a pool: their threads are cpus; ``largest`` is the per-dimension maximum over
    workers, so a request some worker can hold is never refused."""
    # One worker without a memory limit makes the pool's memory unaccounted, not smaller.
    unlimited = any(worker.mem <= 0 for worker in workers)
    hosts = {worker.host for worker in workers}
    largest = Resources(
        nodes=1 if workers else 0,
        cpus=max((worker.threads for worker in workers), default=0),
        gpus=max((worker.gpus for worker in workers), default=0),
        mem=0.0 if unlimited else max((worker.mem for worker in workers), default=0.0),
    )
    total = Resources(
        nodes=len(hosts),
        cpus=sum(worker.threads for worker in workers),
        gpus=sum(worker.gpus for worker in workers),
        mem=0.0 if unlimited else sum(worker.mem for worker in workers),
    )
    return Pool(total, largest, len(hosts), source="dask")
