"""The scheduler state: the one object every clock drives (sans I/O, in the manner of Dask's
``WorkerState``).

It holds the waiting queue (kept in the policy's ``queue_key`` order when the policy has one,
with the smallest request as a hint), the running set with expected ends, the events since the
last decision and the policy's memory. Drivers feed it stimuli (``submit``, ``withdraw``,
``end``, ``estimate_over``) and call :meth:`SchedulerState.decide` with the time; it asks the
policy, checks the answer against the one capacity rule and applies it. Trace replay, simulated
campaigns and the live pilot all use it; none of them keeps a queue or an overrun rule of its own.

The capacity rule. A running job holds its request until the driver reports its end. Campaign
and live drivers apply every end of an instant before they decide, so a job still running at its
expected end has outlived its estimate: :meth:`decide` extends it (that is how the virtual clock
of a campaign and the wall clock learn of overruns). Trace replay keeps pyss's order of the
events of one instant (overruns, then submissions, then ends; ``pyss_order``), on which the
published numbers depend: every overrun of the instant is delivered first, together, so a job
still marked as ending *now* does end now, and it counts as free (pyss's early release). A start
that does not fit what is free now is refused and counted as a violation (or raised, with
``strict``); the job stays queued.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hpcsched.core.profile import Vector, fits, minus
from hpcsched.policies.view import EventKind, Policy, RunningJob, SchedulerView, WaitingJob
from hpcsched.scheduler.overrun import extended_end, planning_estimate


class PolicyError(RuntimeError):
    """A policy broke the scheduler's rules (a bug in the policy, never the user's input)."""


@dataclass(frozen=True, slots=True)
class Violation:
    """A start the scheduler refused: ``job`` needed ``request``, only ``free`` was free."""

    time: float
    job: int
    request: Vector
    free: Vector
    why: str


@dataclass(slots=True)
class Outcome:
    """What one decision did: the jobs started (in the policy's order), which of them were
    backfilled, the reservations the policy reported, and when it wants to be asked again."""

    started: list[WaitingJob] = field(default_factory=list)
    backfilled: set[int] = field(default_factory=set)
    reservations: Mapping[int, float] = field(default_factory=dict)
    wake: float | None = None


class SchedulerState:
    """See the module docstring. Job ids are integers chosen by the driver, unique per state."""

    def __init__(
        self,
        policy: Policy,
        capacity: Vector,
        *,
        strict: bool = False,
        name: str = "",
        pyss_order: bool = False,
    ) -> None:
        self.policy = policy
        self.pyss_order = pyss_order
        self.capacity = tuple(float(c) for c in capacity)
        self.strict = strict
        self.violations: list[Violation] = []
        self._key: Callable[[WaitingJob], Any] | None = getattr(policy, "queue_key", lambda: None)()
        self._waiting: list[WaitingJob] = []  # sorted by _key when there is one
        self._queued: dict[int, WaitingJob] = {}
        self._shapes: Counter[Vector] = Counter()
        self._smallest: Vector | None = None
        self._running: dict[int, RunningJob] = {}
        self._timelimit: dict[int, float | None] = {}
        self._ends: list[tuple[float, int]] = []  # (expected end, id), lazily cleaned
        self._events: list[tuple[EventKind, int]] = []
        self._memory: Any = None
        self._wake: float | None = None
        self._started_ever: set[int] = set()

    # -- stimuli ----------------------------------------------------------------------------------

    def submit(self, job: WaitingJob, *, timelimit: float | None = None) -> None:
        """Queue ``job`` (its estimate becomes the planning estimate, at least 0.1 s)."""
        if job.id in self._queued or job.id in self._running:
            raise ValueError(f"job {job.id} is already queued or running")
        estimate = planning_estimate(job.estimate)
        if estimate != job.estimate:
            job = replace(job, estimate=estimate)
        if self._key is not None:
            insort(self._waiting, job, key=self._key)
        else:
            self._waiting.append(job)
        self._queued[job.id] = job
        self._timelimit[job.id] = timelimit
        self._shapes[job.request] += 1
        if self._smallest is not None:
            self._smallest = tuple(map(min, self._smallest, job.request))
        self._events.append(("submit", job.id))

    def withdraw(self, job_ids: Iterable[int]) -> list[WaitingJob]:
        """Take queued jobs out without starting them (cancelled, or to be queued anew)."""
        ids = set(job_ids)
        removed = [self._queued.pop(i) for i in ids]
        for job in removed:
            self._shapes[job.request] -= 1
            if not self._shapes[job.request]:
                del self._shapes[job.request]
                self._smallest = None  # recomputed from the (few) shapes on demand
        self._drop_from_queue(removed, ids)
        return removed

    def end(self, job_id: int, now: float) -> None:
        """The driver saw ``job_id`` end at ``now``."""
        del self._running[job_id]
        self._timelimit.pop(job_id, None)
        self._events.append(("end", job_id))

    def estimate_over(self, job_id: int, now: float) -> float | None:
        """``job_id`` is still running at its expected end: extend it (the one overrun rule).
        Returns the new expected end, or ``None`` when the job is not running any more."""
        job = self._running.get(job_id)
        if job is None:
            return None
        new_end = extended_end(job.start, now, self._timelimit.get(job_id))
        self._running[job_id] = RunningJob(job.id, job.request, job.start, new_end, job.planned_end)
        heapq.heappush(self._ends, (new_end, job_id))
        self._events.append(("estimate_over", job_id))
        return new_end

    # -- the decision -----------------------------------------------------------------------------

    def decide(self, now: float) -> Outcome:
        """Ask the policy what starts at ``now`` and apply it (see the module docstring)."""
        self._extend_overdue(now)
        if not self._waiting:
            # nothing to decide; the events wait for the next decision (a policy that keeps a
            # plan from pass to pass must still hear of every end and overrun)
            self._wake = None
            return Outcome()
        decision = self.policy.decide(self.view(now))
        self._events = []
        self._memory = decision.memory
        self._wake = decision.wake
        outcome = Outcome(reservations=decision.reservations, wake=decision.wake)
        if not decision.start:
            return outcome
        free = self.free_now(now)
        started: list[WaitingJob] = []
        for num in decision.start:
            job = self._queued.get(num)
            if job is None:
                self._refuse(now, num, (), free, self._not_waiting(num))
                continue
            if not fits(job.request, free):
                why = f"needs {_fmt(job.request)} but only {_fmt(free)} is free"
                self._refuse(now, num, job.request, free, why)
                continue
            free = minus(free, job.request)
            self._queued.pop(num)
            self._shapes[job.request] -= 1
            if not self._shapes[job.request]:
                del self._shapes[job.request]
                self._smallest = None
            end = now + job.estimate
            self._running[num] = RunningJob(num, job.request, now, end, end)
            heapq.heappush(self._ends, (end, num))
            self._started_ever.add(num)
            started.append(job)
        self._drop_from_queue(started, {job.id for job in started})
        outcome.started = started
        outcome.backfilled = {job.id for job in started if job.id in decision.backfilled}
        return outcome

    def view(self, now: float) -> SchedulerView:
        """What the policy is shown at ``now`` (also for benchmarks and inspection)."""
        return SchedulerView(
            now=now,
            capacity=self.capacity,
            waiting=self._waiting,
            running=list(self._running.values()),
            events=self._events,
            memory=self._memory,
            presorted=self._key is not None,
            smallest=self._smallest_request(),
        )

    # -- queries ----------------------------------------------------------------------------------

    def free_now(self, now: float) -> Vector:
        """Capacity minus every running job; in pyss's order, except those whose expected end
        is ``now`` (see the module docstring)."""
        free = self.capacity
        for job in self._running.values():
            if job.expected_end > now or not self.pyss_order:
                free = minus(free, job.request)
        return free

    @property
    def waiting(self) -> list[WaitingJob]:
        return self._waiting

    @property
    def running(self) -> Mapping[int, RunningJob]:
        return self._running

    def queued(self, job_id: int) -> WaitingJob | None:
        return self._queued.get(job_id)

    @property
    def wake(self) -> float | None:
        """When the policy asked to be woken (only meaningful while jobs wait)."""
        return self._wake if self._waiting else None

    # -- internals --------------------------------------------------------------------------------

    def _extend_overdue(self, now: float) -> None:
        """The clocks' share of the overrun rule: a running job at or past its expected end is
        extended here (strictly past it in pyss's order, where its end may still come at this
        instant; see the module docstring)."""
        ends = self._ends
        while ends and (ends[0][0] < now or (ends[0][0] == now and not self.pyss_order)):
            end, num = heapq.heappop(ends)
            job = self._running.get(num)
            if job is None or job.expected_end != end:
                continue  # ended, or already extended (a newer entry is in the heap)
            self.estimate_over(num, now)

    def _drop_from_queue(self, removed: list[WaitingJob], ids: set[int]) -> None:
        key = self._key
        if key is not None and len(removed) < 64:
            for job in removed:
                # keys end with the job id, so each is unique: find it by bisection
                i = bisect_left(self._waiting, key(job), key=key)
                if i < len(self._waiting) and self._waiting[i] is job:
                    del self._waiting[i]
                else:
                    self._waiting.remove(job)
        elif removed:
            self._waiting = [job for job in self._waiting if job.id not in ids]

    def _smallest_request(self) -> Vector | None:
        if self._smallest is None and self._shapes:
            shapes = list(self._shapes)
            self._smallest = tuple(min(values) for values in zip(*shapes, strict=True))
        return self._smallest

    def _not_waiting(self, num: int) -> str:
        if num in self._running:
            return "it is already running"
        if num in self._started_ever:
            return "it has already run"
        return "it is not queued"

    def _refuse(self, now: float, num: int, request: Vector, free: Vector, why: str) -> None:
        violation = Violation(now, num, request, free, why)
        if self.strict:
            raise PolicyError(
                f"policy {self.policy.name!r} started job {num} at t={now:g}: {why}; "
                "this is a bug in the policy"
            )
        self.violations.append(violation)


def _fmt(vector: Vector) -> str:
    return "(" + ", ".join(f"{v:g}" for v in vector) + ")"
