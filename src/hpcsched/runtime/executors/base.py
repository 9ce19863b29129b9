"""The executor interface: how an attempt runs, apart from what runs when (that is the policy's).

Parsl's lesson: an executor is a tiny interface. The pilot only releases an attempt when its own
accounting says it fits, so an executor never queues work of its own; it runs what it is given and
reports each attempt's end exactly once through :meth:`Executor.completions`.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from hpcsched.campaigns.task import Task, TaskResult


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a task. ``workdir`` is its private staging directory: the attempt's current
    directory, with its declared inputs linked in; it writes its outputs there."""

    task: Task
    number: int  # 1-based
    workdir: Path

    @property
    def key(self) -> str:
        return f"{self.task.id}#{self.number}"


@runtime_checkable
class Executor(Protocol):
    """Runs attempts. Every submitted attempt yields exactly one :class:`TaskResult`.

    The result carries ``task_id``, ``attempt``, ``ok``, ``value`` (a callable's JSON-able return
    value), ``exit_code``, ``reason`` (``exit``, ``signal``, ``timeout``, ``out-of-memory``,
    ``cancelled``, ``lost``), a one-line ``message``, ``stderr_tail``, ``start``/``end`` (UTC
    epoch seconds) and ``host``. Input/output hashing is the pilot's (it owns the staging
    directories).
    """

    name: str

    def submit(self, attempt: Attempt) -> None:
        """Start the attempt now (never blocks on the attempt itself)."""

    def cancel(self, key: str) -> None:
        """Stop a running attempt; it still yields one result, with reason ``cancelled``.
        Unknown or finished keys are ignored."""

    def completions(self, timeout: float | None) -> list[TaskResult]:
        """Results of attempts that ended since the last call. Waits up to ``timeout`` seconds
        (``None``: until at least one is there) and returns ``[]`` on timeout."""

    def shutdown(self) -> None:
        """Stop every running attempt and release the executor's resources. Idempotent."""


def drain(results: queue.Queue[TaskResult], timeout: float | None) -> list[TaskResult]:
    """Wait up to ``timeout`` for the first result, then take whatever else is there (for an
    executor whose attempts end in other threads)."""
    try:
        collected = [results.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            collected.append(results.get_nowait())
        except queue.Empty:
            return collected
