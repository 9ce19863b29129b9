"""One parameterised backfilling engine (the readable reference).

The variants, each a few lines over one availability profile:

- ``none``: list scheduling; jobs start in queue order while they fit.
- ``easy``: EASY (Lifka 1995; pyss ``easy_backfill_scheduler.py``): the blocked head gets the one
  reservation; a later job starts now if it fits now for its whole estimate without touching the
  head's reservation (that is: it ends by the shadow time or uses only the extra processors).
- ``conservative``: every waiting job holds a reservation (Mu'alem & Feitelson 2001; pyss
  ``conservative_scheduler.py``); a new job gets the earliest slot that delays nobody, and after a
  job ends every reservation is re-fitted earlier, in queue order.
- ``prioritybf``: PriorityBF (Gainaru, Klasky, Pallez, Euro-Par 2025): jobs sorted by
  (priority class, queue order); one profile per class; the first blocked job holds the single
  system-wide reservation (in every profile); any other blocked job of class p is added only to the
  profiles of classes p+1 and below, so lower classes cannot delay it and equal classes may
  (EASY inside a queue, conservative between queues). With one class it is exactly EASY.
- ``rlscheduler``: the restricted variant of RLScheduler's environment (Zhang et al. SC'20,
  ``HPCSimPickJobs.py``): the blocked head keeps its place; its shadow time is computed once,
  when it first blocks; other jobs, in FCFS order, start if they fit now and
  ``now + estimate < shadow``.

``replan`` makes conservative plan afresh at every pass, in the queue order of that moment, as
Slurm's backfill scheduler does each cycle (``sched/backfill``: every job it tests, in priority
order, gets the earliest start that delays no job before it); the kept plan is pyss's.

``release`` says when a running job's resources count as free: at its expected end ("estimate",
pyss's CPU snapshot) or only when its end event is processed ("event", RLScheduler's cluster).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from operator import attrgetter
from typing import Any

from hpcsched.core.profile import Profile, Vector, fits, minus
from hpcsched.policies.conservative import conservative_pass
from hpcsched.policies.multifactor import DEFAULT_MAX_AGE
from hpcsched.policies.order import DYNAMIC_KEYS, ORDER_KEYS, Key, order_key
from hpcsched.policies.view import Decision, SchedulerView, WaitingJob

BACKFILL_VARIANTS = ("none", "easy", "conservative", "rlscheduler", "prioritybf")
DYNAMIC_ORDERS = DYNAMIC_KEYS  # keys that read ``now`` (the wait so far)
RELEASE_MODES = ("estimate", "event")
#: PriorityBF with the runtime's hints checks whether any job left could start now after this
#: many jobs that could not, then after twice as many, and so on
CHECK_AFTER = 16


@dataclass(frozen=True, slots=True)
class BackfillPolicy:
    """The engine's parameters; presets in :mod:`hpcsched.policies.presets` name common ones."""

    name: str = "easy"
    order: str = "fcfs"
    backfill: str = "easy"
    backfill_order: str | None = None  # order of the backfill scan (None: queue order)
    sticky_head: bool = False  # a blocked head keeps its place even if a better job arrives
    release: str = "estimate"
    # the multifactor order's age term (slurm.conf PriorityWeightAge, PriorityMaxAge)
    age_weight: float = 0.0
    max_age: float = DEFAULT_MAX_AGE
    # conservative only: plan every pass afresh in the current order (Slurm's backfill cycle)
    # instead of keeping reservations, so a later job of higher priority moves ahead
    replan: bool = False

    def __post_init__(self) -> None:
        if self.order not in ORDER_KEYS:
            order_key(self.order)  # raises the one-line error
        if self.backfill_order is not None:
            order_key(self.backfill_order)
        if self.backfill not in BACKFILL_VARIANTS:
            raise ValueError(
                f"unknown backfill variant {self.backfill!r}; choose one of "
                + ", ".join(BACKFILL_VARIANTS)
            )
        if self.release not in RELEASE_MODES:
            raise ValueError(f"release must be one of {RELEASE_MODES}, not {self.release!r}")

    def _key(self, name: str) -> Key:
        return order_key(name, age_weight=self.age_weight, max_age=self.max_age)

    def decide(self, view: SchedulerView) -> Decision:
        ordered = self._ordered(view)
        if self.backfill == "none":
            return self._list_schedule(view, ordered)
        if self.backfill == "easy":
            return self._easy(view, ordered)
        if self.backfill == "conservative":
            return self._conservative(view, ordered)
        if self.backfill == "prioritybf":
            return self._prioritybf(view)
        return self._rlscheduler(view, ordered)

    # -- helpers -----------------------------------------------------------------------------

    def queue_key(self) -> Callable[[WaitingJob], tuple[float, ...]] | None:
        """The queue order as a key of the job alone, when it does not depend on ``now`` or on
        memory; a caller that keeps its queue sorted by it may pass ``presorted=True``."""
        if self.order in DYNAMIC_ORDERS or self.sticky_head or self.backfill == "rlscheduler":
            return None
        key = self._key(self.order)
        if self.backfill == "prioritybf":
            return lambda job: (job.priority_class, *key(job, 0.0))
        return lambda job: key(job, 0.0)

    def _ordered(self, view: SchedulerView) -> list[WaitingJob]:
        key = self._key(self.order)
        now = view.now
        if view.presorted and not self.sticky_head:
            return list(view.waiting)
        ordered = sorted(view.waiting, key=lambda job: key(job, now))
        memory = view.memory if isinstance(view.memory, dict) else {}
        head = memory.get("head") if self.sticky_head else None
        if head is not None:
            for i, job in enumerate(ordered):
                if job.id == head:
                    ordered.insert(0, ordered.pop(i))
                    break
        return ordered

    def _ends(self, view: SchedulerView) -> list[float]:
        """Each running job's end as the profile counts it."""
        if self.release == "event":
            # resources come back only at the end event: an overdue job ends "imminently"
            # (nextafter when now + 1e-9 rounds back to now, i.e. from now >= 2**24 s on)
            now = view.now
            soon = max(now + 1e-9, math.nextafter(now, math.inf))
            return [max(r.expected_end, soon) for r in view.running]
        return [r.expected_end for r in view.running]

    def _profile(self, view: SchedulerView) -> Profile:
        running = [(r.request, end) for r, end in zip(view.running, self._ends(view), strict=True)]
        return Profile.from_running(view.now, view.capacity, running)

    def _free_now(self, view: SchedulerView) -> Vector:
        free = view.capacity
        for job in view.running:
            if self.release == "event" or job.expected_end > view.now:
                free = minus(free, job.request)
        return free

    @staticmethod
    def _decision(
        ordered: Sequence[WaitingJob],
        started: list[int],
        reservations: dict[int, float],
        memory: Any,
        scanned: int | None = None,
    ) -> Decision:
        """Mark as backfilled every started job that overtook a job still waiting (only the first
        ``scanned`` jobs can have started when the scan stopped early)."""
        started_set = set(started)
        backfilled: set[int] = set()
        blocked = False
        for job in ordered if scanned is None else ordered[:scanned]:
            if job.id in started_set:
                if blocked:
                    backfilled.add(job.id)
            else:
                blocked = True
        return Decision(started, backfilled, reservations, memory)

    # -- variants ----------------------------------------------------------------------------

    def _list_schedule(self, view: SchedulerView, ordered: list[WaitingJob]) -> Decision:
        free = self._free_now(view)
        started: list[int] = []
        head = None
        for job in ordered:
            if not fits(job.request, free):
                head = job.id
                break
            started.append(job.id)
            free = minus(free, job.request)
        return self._decision(ordered, started, {}, {"head": head})

    def _easy(self, view: SchedulerView, ordered: list[WaitingJob]) -> Decision:
        now = view.now
        profile = self._profile(view)
        started: list[int] = []
        i = 0
        while i < len(ordered) and fits(ordered[i].request, profile.free_at(now)):
            job = ordered[i]
            started.append(job.id)
            profile.reserve(now, job.estimate, job.request)
            i += 1
        reservations: dict[int, float] = {}
        head_id = None
        if i < len(ordered):
            head = ordered[i]
            head_id = head.id
            shadow = profile.earliest_start(head.request, head.estimate, now)
            profile.reserve(shadow, head.estimate, head.request)
            reservations[head.id] = shadow
            tail = ordered[i + 1 :]
            if self.backfill_order is not None:
                key = self._key(self.backfill_order)
                tail = sorted(tail, key=lambda job: key(job, now))
            scanned = i + 1
            for job in tail:
                free = profile.free_at(now)
                if view.smallest is not None and not fits(view.smallest, free):
                    break  # nothing left in the queue fits in what is free now
                scanned += 1
                if fits(job.request, free) and (
                    profile.earliest_start(job.request, job.estimate, now) == now
                ):
                    started.append(job.id)
                    profile.reserve(now, job.estimate, job.request)
            if self.backfill_order is None:
                return self._decision(ordered, started, reservations, {"head": head_id}, scanned)
        return self._decision(ordered, started, reservations, {"head": head_id})

    def _conservative(self, view: SchedulerView, ordered: list[WaitingJob]) -> Decision:
        key = self.queue_key() if view.presorted else None
        shares = [
            (r.id, r.request, end) for r, end in zip(view.running, self._ends(view), strict=True)
        ]
        if self.replan:
            view, key = replace(view, memory=None), None
        return conservative_pass(view, ordered, key, shares)

    def _prioritybf(self, view: SchedulerView) -> Decision:
        now = view.now
        if view.presorted:
            ordered = list(view.waiting)
        else:
            key = self._key(self.order)
            ordered = sorted(view.waiting, key=lambda job: (job.priority_class, *key(job, now)))
        # Jobs come in class order, so a class's profile is made when its first job is met: a
        # copy of `later`, which has received every reservation that targets classes not seen
        # yet (all of them target every class above the job's own).
        later = self._profile(view)
        profiles: dict[int, Profile] = {}
        free = self._free_now(view)
        started: list[int] = []
        reservations: dict[int, float] = {}
        system_reservation = False
        scanned, check = 0, CHECK_AFTER
        shortest: float | None = None
        for job in ordered:
            if view.smallest is not None and not fits(view.smallest, free):
                break  # nothing left in the queue fits in what is free now
            scanned += 1
            level = job.priority_class
            if level not in profiles:
                profiles[level] = later.copy()
            t = profiles[level].earliest_start(job.request, job.estimate, now)
            if t == now:
                started.append(job.id)
                free = minus(free, job.request)
                targets = list(profiles)
            elif not system_reservation:
                system_reservation = True
                reservations[job.id] = t
                targets = list(profiles)
            else:
                reservations[job.id] = t
                targets = [other for other in profiles if other > level]
            # take(), not reserve(): the compiled loop, which also merges equal neighbouring
            # steps (answers do not change; ten thousand reservations stay cheap)
            end = t + job.estimate
            for other in targets:
                profiles[other].take(t, end, job.request)
            later.take(t, end, job.request)
            if t != now and view.smallest is not None and scanned - len(started) == check:
                check *= 2  # checked after 16, 32, 64... blocked jobs: linear in all
                if shortest is None:  # of the jobs left now, so a bound for those left later
                    rest = islice(ordered, scanned, None)
                    shortest = min(map(attrgetter("estimate"), rest), default=math.inf)
                soonest = now + shortest
                if all(
                    p.first_short_of(view.smallest, now) < soonest for p in (profiles[level], later)
                ):
                    break  # every job left would overlap a time too full for any request
        return self._decision(ordered, started, reservations, None, scanned)

    def _rlscheduler(self, view: SchedulerView, ordered: list[WaitingJob]) -> Decision:
        now = view.now
        memory = dict(view.memory or {})
        free = self._free_now(view)
        # running jobs by planned end (start + requested time, even for a job that outlived it,
        # as RLScheduler does), ties in start order (their list is append-ordered); under
        # release="estimate" a job past its expected end is already counted in `free`
        ends = [
            (r.expected_end if r.planned_end is None else r.planned_end, r.request)
            for r in view.running
            if self.release == "event" or r.expected_end > now
        ]
        started: list[int] = []
        queue = list(ordered)
        while queue:
            head = queue[0]
            if fits(head.request, free):
                started.append(head.id)
                free = minus(free, head.request)
                ends.append((now + head.estimate, head.request))
                queue.pop(0)
                memory = {}
                continue
            if memory.get("head") != head.id:
                available, shadow = free, now
                for end, request in sorted(ends, key=lambda item: item[0]):
                    available = tuple(a + r for a, r in zip(available, request, strict=True))
                    shadow = end
                    if fits(head.request, available):
                        break
                memory = {"head": head.id, "shadow": shadow}
            shadow = memory["shadow"]
            for job in sorted(queue[1:], key=lambda j: (j.submit, j.id)):
                if now + job.estimate < shadow and fits(job.request, free):
                    started.append(job.id)
                    free = minus(free, job.request)
                    ends.append((now + job.estimate, job.request))
            break
        return self._decision(ordered, started, {}, memory)
