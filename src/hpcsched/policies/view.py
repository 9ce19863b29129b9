"""What a policy is told and what it answers.

A policy is a pure decision function (Batsim's protocol, Dask's ``handle_stimulus``): it gets
``now``, the events since its last decision, the waiting jobs, the running jobs and the memory it
returned last time, and answers which jobs start now, the reservations it holds (for inspection and
for the clock to wake it) and its new memory. It does no I/O and reads no clock, so the simulator
and the live runtime drive the very same objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from hpcsched.core.profile import Vector

EventKind = Literal["submit", "end", "wake", "estimate_over"]


@dataclass(frozen=True, slots=True)
class WaitingJob:
    """A queued job as the policy sees it. ``submit`` is trace-relative for replay."""

    id: int
    submit: float
    request: Vector
    estimate: float
    priority_class: int = 0
    user: str = ""
    priority: float = 0.0  # Slurm's multifactor priority without its age term (multifactor order)
    # a DAG's ranks, from whoever knows the whole graph (hpcsched.campaigns.dag); 0 outside a DAG
    bottom_level: float = 0.0  # longest estimated path from this task to an exit task, inclusive
    upward_rank: float = 0.0  # HEFT's rank_u: the bottom level with the edges' transfer times


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A running job; ``expected_end`` is extended when the job outlives its estimate,
    ``planned_end`` (start + estimate at start) never is."""

    id: int
    request: Vector
    start: float
    expected_end: float
    planned_end: float | None = None


@dataclass(frozen=True, slots=True)
class SchedulerView:
    now: float
    capacity: Vector
    waiting: Sequence[WaitingJob]  # in arrival order
    running: Sequence[RunningJob]
    events: Sequence[tuple[EventKind, int]] = ()
    memory: Any = None
    # Hints from a caller that keeps its queue sorted (the live runtime with 10,000 queued tasks):
    # ``presorted`` promises ``waiting`` is already in the policy's ``queue_key`` order;
    # ``smallest`` is a component-wise lower bound of the waiting requests, so a policy may stop
    # scanning once it no longer fits in what is free now. Neither changes which jobs start.
    presorted: bool = False
    smallest: Vector | None = None


@dataclass(slots=True)
class Decision:
    start: list[int] = field(default_factory=list)
    backfilled: set[int] = field(default_factory=set)
    reservations: Mapping[int, float] = field(default_factory=dict)
    memory: Any = None
    wake: float | None = None  # call me again at this time even if nothing else happens


@runtime_checkable
class Policy(Protocol):
    """Anything with a name and a ``decide`` method is a policy."""

    @property
    def name(self) -> str: ...

    def decide(self, view: SchedulerView) -> Decision: ...
