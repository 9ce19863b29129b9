"""The Campaign API: an agent that creates tasks as results arrive.

A campaign has two methods, ``start(ctx)`` and ``on_result(task, result, ctx)``; through the
context it submits tasks, cancels queued or running ones and reads the clock. It never talks to an
executor, so the same object runs in virtual time (``hpcsched.sim.campaign``) and in the live
runtime (``hpcsched.runtime``). A static DAG is a campaign whose ``start`` submits every task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, Protocol, runtime_checkable

from hpcsched.campaigns.dag import DagRank, Transfers, dag_ranks
from hpcsched.campaigns.task import Task, TaskResult

TaskState = Literal[
    "held",  # waiting for its dependencies
    "waiting",  # queued: the policy decides when it starts
    "running",
    "retrying",  # failed, waiting for its backoff before the next attempt
    "succeeded",
    "failed",
    "cancelled",
    "unknown",  # never submitted
]
FINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class RequestTooLargeError(ValueError):
    """A task asks for more than any worker of the pool has; it would wait for ever."""


class CampaignError(ValueError):
    """A campaign asked for something impossible (duplicate id, unknown dependency)."""


class Context(Protocol):
    """What a campaign may do."""

    @property
    def now(self) -> float:
        """Seconds since the campaign started (virtual in ``sim``, wall clock in the runtime)."""

    def submit(self, task: Task) -> None:
        """Queue a task. Raises :class:`RequestTooLargeError` or :class:`CampaignError`."""

    def cancel(self, predicate: Callable[[Task], bool]) -> int:
        """Cancel every unfinished task the predicate selects; returns how many."""

    def state(self, task_id: str) -> TaskState:
        """Where a task is now."""

    def expedite(self, task_id: str) -> bool:
        """Put a queued task ahead of every priority class (a deadline is close); returns
        whether it was queued."""


@runtime_checkable
class Campaign(Protocol):
    def start(self, ctx: Context) -> None: ...

    def on_result(self, task: Task, result: TaskResult, ctx: Context) -> None: ...


class StaticWorkflow:
    """A static DAG as a campaign: ``start`` submits every task; dependencies do the rest.

    Knowing the whole graph up front, it offers each task's ``ranks`` (bottom level, upward rank
    with the edges' ``transfers``) to the dispatcher, for the DAG-aware queue orders."""

    def __init__(self, tasks: Iterable[Task], transfers: Transfers | None = None) -> None:
        self.tasks = list(tasks)
        self.ranks: dict[str, DagRank] = dag_ranks(self.tasks, transfers=transfers)

    def start(self, ctx: Context) -> None:
        for task in self.tasks:
            ctx.submit(task)

    def on_result(self, task: Task, result: TaskResult, ctx: Context) -> None:
        return None
