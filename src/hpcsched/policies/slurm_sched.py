"""Slurm's two schedulers (``SchedulerType=sched/backfill``) as one policy: when and how each
starts jobs.

Slurm starts a job from one of two loops, and sacct says which (``Flags=SchedMain`` or
``SchedBackfill``). A replay that starts every job the instant it fits is early by up to a
backfill interval and, because its early starts take processors Slurm left idle, wrong further down
the queue. The rules, with their sources (Slurm 22.05):

- **Main scheduler**, after every event that may let a job start (submission, release, end: "a
  quick and simple scheduling attempt at events such as job submission or completion",
  https://slurm.schedmd.com/sched_config.html). It takes jobs "in a strict priority order and once
  any job ... in a partition is left pending, no other jobs in that partition will be scheduled";
  ``_schedule()`` in ``src/slurmctld/job_scheduler.c`` also removes the partition's nodes ("Do not
  schedule more jobs in this partition or on nodes in this partition"), so partitions that share
  nodes stop together: here a blocked job stops its pool. No backfill.
- **Backfill scheduler**, every ``bf_interval`` seconds (slurm.conf(5): "The number of seconds
  between backfill iterations", default 30). It plans every waiting job in priority order: a job
  starts now if it fits now for its whole time limit without touching the reservation of a job
  before it; otherwise it gets a reservation at its earliest start (a conservative plan, made
  afresh each cycle).
- **Its plan is coarse** (``src/plugins/sched/backfill/backfill.c``): a reservation's start and
  end are rounded down to ``bf_resolution`` seconds (default 60) of the wall clock
  (``start_time = (start_time / backfill_resolution) * backfill_resolution``), it holds at least
  one such slot (``_add_reservation``), and a job that would end at the very second a reservation
  begins overlaps it (``node_space[j].begin_time <= end_time``). So a backfill candidate must end
  before the rounded-down start of every reservation ahead of it: a 60-s job does not fit in front
  of a reservation 60 s away unless that reservation starts on a minute boundary.

Simplifications, said once here: the backfill loop runs at the multiples of ``bf_interval`` of the
wall clock (Slurm's runs ``bf_interval`` after its last cycle ended, and only when something
changed, so its phase drifts: a backfilled start can be off by up to ``bf_interval``);
``sched_min_interval``, ``default_queue_depth`` and ``bf_max_job_test`` do not limit either loop.
With nodes of ``node_cpus`` processors and jobs that each ask one pool for whole processors, both
loops keep every job on particular nodes and the backfill plan reserves particular nodes
(:mod:`hpcsched.policies.slurm_nodes`: Slurm's backfill map is of nodes, ``_add_reservation``
takes the job's nodes out of it). Otherwise a reservation holds whole nodes' worth of processors
but not particular nodes; from its rounded-down start to the job's earliest start it holds only
what running jobs leave free (those nodes are the job's, running jobs and all), so nothing is
counted twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hpcsched.core.profile import Profile, Vector, fits, minus
from hpcsched.policies.multifactor import DEFAULT_MAX_AGE, multifactor_key
from hpcsched.policies.slurm_nodes import (
    NodeReservation,
    choose_nodes,
    memory_of,
    plan_job,
    state_from,
)
from hpcsched.policies.view import Decision, SchedulerView, WaitingJob

#: slurm.conf(5) defaults of SchedulerParameters' bf_interval and bf_resolution, seconds
DEFAULT_BF_INTERVAL = 30.0
DEFAULT_BF_RESOLUTION = 60.0
#: Slurm's clock ticks in whole seconds: "ends at the second a reservation begins" is any end
#: later than this much before it
_SECOND = 1.0


@dataclass(frozen=True, slots=True)
class SlurmScheduler:
    """Slurm's main and backfill schedulers over the multifactor priority order."""

    name: str = "slurm"
    bf_interval: float = DEFAULT_BF_INTERVAL  # SchedulerParameters bf_interval, seconds
    bf_resolution: float = DEFAULT_BF_RESOLUTION  # SchedulerParameters bf_resolution, seconds
    # the multifactor order's age term (slurm.conf PriorityWeightAge, PriorityMaxAge)
    age_weight: float = 0.0
    max_age: float = DEFAULT_MAX_AGE
    order: str = "multifactor"  # what the pools' size checks read
    node_cpus: int = 1  # processors of a node: a reservation holds whole nodes

    def __post_init__(self) -> None:
        if not (self.bf_interval > 0 and self.bf_resolution > 0):
            raise ValueError("bf_interval and bf_resolution must be positive seconds")

    def queue_key(self) -> None:
        return None  # the age term reads ``now``

    def backfill_due(self, now: float) -> bool:
        """Is ``now`` one of the backfill loop's cycles?"""
        return abs(now - round(now / self.bf_interval) * self.bf_interval) < 1e-6

    def next_backfill(self, now: float) -> float:
        return (math.floor(now / self.bf_interval + 1e-9) + 1) * self.bf_interval

    def decide(self, view: SchedulerView) -> Decision:
        key = multifactor_key(self.age_weight, self.max_age)
        ordered = sorted(view.waiting, key=lambda job: key(job, view.now))
        if self._per_node(view):
            decision = self._nodes(view, ordered, self.backfill_due(view.now))
        elif self.backfill_due(view.now):
            decision = self._backfill(view, ordered)
        else:
            decision = self._main(view, ordered)
        if len(decision.start) < len(ordered):
            decision.wake = self.next_backfill(view.now)
        return decision

    def _per_node(self, view: SchedulerView) -> bool:
        """Plan node by node (:mod:`hpcsched.policies.slurm_nodes`) when the pools are whole
        nodes of ``node_cpus`` processors and every job asks one pool for whole processors."""
        n = self.node_cpus
        if n <= 1 or any(c % n or c != int(c) for c in view.capacity):
            return False
        requests = [j.request for j in view.waiting] + [r.request for r in view.running]
        return all(
            sum(1 for u in request if u) <= 1 and all(u == int(u) for u in request)
            for request in requests
        )

    def _nodes(self, view: SchedulerView, ordered: list[WaitingJob], backfill: bool) -> Decision:
        """Both loops with each job on its nodes (the plan's memory: where each job runs)."""
        now = view.now
        running = [
            (r.id, _pool(r.request), int(sum(r.request)), r.expected_end)
            for r in view.running
            if r.expected_end > now
        ]
        state = state_from(view.memory, self.node_cpus, view.capacity, running)
        started: list[int] = []
        if not backfill:
            stopped: set[int] = set()
            for job in ordered:
                pool, cpus = _pool(job.request), int(sum(job.request))
                if pool in stopped:
                    continue
                chosen = choose_nodes(state.free(pool), cpus)
                if chosen is not None:
                    started.append(job.id)
                    state.place(job.id, pool, chosen, now + job.estimate)
                else:
                    stopped.add(pool)
            return Decision(started, memory=memory_of(state))
        backfilled: set[int] = set()
        plan: list[NodeReservation] = []
        reservations: dict[int, float] = {}
        for job in ordered:
            pool, cpus = _pool(job.request), int(sum(job.request))
            res = self.bf_resolution
            found = plan_job(state, plan, pool, cpus, job.estimate, now, res)
            if found is None:
                continue
            if found[0] <= now:
                started.append(job.id)
                if reservations:
                    backfilled.add(job.id)
                state.place(job.id, pool, found[1], now + job.estimate)
            else:
                reservations[job.id] = found[0]
        return Decision(started, backfilled, reservations, memory=memory_of(state))

    def _free_now(self, view: SchedulerView) -> Vector:
        free = view.capacity
        for job in view.running:
            if job.expected_end > view.now:
                free = minus(free, job.request)
        return free

    def _whole_nodes(self, request: Vector, capacity: Vector) -> Vector:
        """A reservation's processors rounded up to whole nodes (within the pool)."""
        n = self.node_cpus
        pairs = zip(request, capacity, strict=True)
        return tuple(min(-(-units // n) * n, cap) for units, cap in pairs)

    def _main(self, view: SchedulerView, ordered: list[WaitingJob]) -> Decision:
        """Strict priority order; a job that does not fit stops every pool it asks for."""
        free = self._free_now(view)
        stopped: set[int] = set()
        started: list[int] = []
        for job in ordered:
            pools = {k for k, units in enumerate(job.request) if units > 0}
            if pools & stopped:
                continue
            if fits(job.request, free):
                started.append(job.id)
                free = minus(free, job.request)
            else:
                stopped |= pools
        return Decision(started)

    def _backfill(self, view: SchedulerView, ordered: list[WaitingJob]) -> Decision:
        now = view.now
        running = [(r.request, r.expected_end) for r in view.running]
        profile = Profile.from_running(now, view.capacity, running)
        res = self.bf_resolution
        started: list[int] = []
        backfilled: set[int] = set()
        reservations: dict[int, float] = {}
        for job in ordered:
            t = profile.earliest_start(job.request, job.estimate, now)
            if t == now:
                started.append(job.id)
                if reservations:
                    backfilled.add(job.id)
                profile.reserve(now, job.estimate, job.request)
                continue
            reservations[job.id] = t
            # rounded down to the plan's resolution, at least one slot, and one second earlier:
            # a job ending at the reservation's first second overlaps it
            first = max(math.floor(t / res) * res, now)
            last = max(math.floor((t + job.estimate) / res) * res, first + res)
            first = max(first - _SECOND + 1e-6, now)
            request = self._whole_nodes(job.request, view.capacity)
            profile.hold(first, min(t, last), request)
            profile.reserve(t, last - t, request)
        return Decision(started, backfilled, reservations)


def _pool(request: Vector) -> int:
    """The one pool a job asks for (the first, for a job that asks for nothing)."""
    return next((k for k, units in enumerate(request) if units), 0)
