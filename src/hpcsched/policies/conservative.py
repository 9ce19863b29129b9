"""Conservative backfilling with a plan kept from pass to pass.

The rules are pyss's (``conservative_scheduler.py``; Mu'alem & Feitelson, IEEE TPDS 12(6), 2001):
every waiting job holds a reservation; a new job takes the earliest slot that delays nobody; after
a job ends every reservation is re-fitted as early as it can go, in queue order. When a running job
outgrows its estimate, pyss makes every reservation again from scratch; here only the reservations
that overlap the time the extension takes are placed again (in queue order), the others keep their
slots (the compiled kernel does the same; the two are pinned to each other by tests).

Rebuilding the profile of running jobs and reservations at every pass, as a direct reading of those
rules does, costs O(n) reservations per pass, and re-fitting all n of them after every end O(n²):
a 1,000-task workflow took close to a minute. The :class:`ConservativePlan` keeps the profile
between passes and applies what changed: an early end gives its remaining slot back, started jobs
keep theirs, new jobs are placed, withdrawn ones give their slot back. The re-fit after an end
only re-places the jobs that can move. A job is at its earliest start when it is placed or
checked; afterwards it can start earlier only if capacity came back somewhere (a *hole*: an early
end, a withdrawn or moved reservation) with room for its request before its reserved end. Each
hole keeps the most that is free inside it, refreshed whenever a reservation lands on it, so a
consumed hole stops matching. Jobs that match no hole are skipped without touching the profile;
the schedules are the re-fit's own (pinned by tests against the direct reading and the compiled
kernel).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpcsched.core import profile as profile_module
from hpcsched.core.profile import Profile, Vector, fits
from hpcsched.policies.conservative_holes import Holes
from hpcsched.policies.view import Decision, SchedulerView, WaitingJob

#: a running job as the plan sees it: id, request, expected end under the policy's release rule
RunningShare = tuple[int, Vector, float]


def _boundary(now: float, end: float) -> float:
    """Where a running job's share of the profile ends (none when it has ended)."""
    return end if end > now else -math.inf


@dataclass(slots=True)
class ConservativePlan:
    """Running jobs and every reservation, as one profile (see the module docstring)."""

    capacity: Vector
    profile: Profile
    held: dict[int, float] = field(default_factory=dict)  # waiting job -> reserved start
    jobs: dict[int, WaitingJob] = field(default_factory=dict)  # as they were placed
    checked: dict[int, int] = field(default_factory=dict)  # job -> seq it was last earliest at
    running: dict[int, tuple[float, Vector]] = field(default_factory=dict)  # share's end, request
    holes: Holes = field(default_factory=Holes)
    starts: list[tuple[float, int]] = field(default_factory=list)  # heap, lazily cleaned
    seq: int = 0

    @classmethod
    def fresh(cls, view: SchedulerView, shares: Sequence[RunningShare]) -> ConservativePlan:
        now = view.now
        profile = Profile.from_running(now, view.capacity, [(r, e) for _, r, e in shares])
        plan = cls(view.capacity, profile)
        plan.running = {i: (_boundary(now, e), r) for i, r, e in shares}
        return plan

    # -- changes to the profile ------------------------------------------------------------------

    def give_back(self, start: float, end: float, request: Vector) -> None:
        """Capacity comes back on ``[start, end)``: give it to the profile and record the hole."""
        if end <= start:
            return
        self.profile.give(start, end, request)
        self.seq += 1
        self.holes.add(self.seq, start, end, self.profile.max_free(start, end))

    def take_range(self, start: float, end: float, request: Vector) -> None:
        if end > start:
            self.profile.take(start, end, request)

    def place(self, job: WaitingJob, now: float) -> None:
        t = self.profile.earliest_start(job.request, job.estimate, now)
        self.take_range(t, t + job.estimate, job.request)
        self.held[job.id] = t
        self.jobs[job.id] = job
        self.checked[job.id] = self.seq
        heapq.heappush(self.starts, (t, job.id))

    def refit(self, job: WaitingJob, t: float, now: float, after: float) -> None:
        """Move a reservation as early as it goes; only a real move leaves a hole behind.
        ``after``: no start before it can be better (see :meth:`may_move`)."""
        end = t + job.estimate
        self.profile.give(t, end, job.request)
        earlier = self.profile.earliest_start(job.request, job.estimate, max(now, after))
        if earlier == t:
            self.profile.take(t, end, job.request)
            self.checked[job.id] = self.seq
            return
        self.take_range(earlier, earlier + job.estimate, job.request)
        self.seq += 1
        self.holes.add(self.seq, t, end, self.profile.max_free(t, end))
        self.held[job.id] = earlier
        self.checked[job.id] = self.seq
        heapq.heappush(self.starts, (earlier, job.id))

    def unplace(self, job_id: int) -> WaitingJob:
        """Take a reservation out (its slot becomes a hole)."""
        t = self.held.pop(job_id)
        job = self.jobs.pop(job_id)
        self.checked.pop(job_id, None)
        self.give_back(t, t + job.estimate, job.request)
        return job

    def may_move(self, job: WaitingJob, t: float, smallest: Vector | None) -> float | None:
        """Can capacity that came back since the job was last checked let it start earlier?
        The job was at its earliest then, so a better start must put some of its run inside a
        hole with room for it: it is after that hole's start less the job's estimate (returned;
        ``None`` when no hole can help)."""
        first = self.holes.first_help(
            self.checked[job.id], t + job.estimate, job.request, self.profile, smallest
        )
        return None if first is None else first - job.estimate

    # -- keeping up with the view ----------------------------------------------------------------

    def catch_up(
        self, view: SchedulerView, shares: Sequence[RunningShare]
    ) -> list[WaitingJob] | None:
        """Apply ends, changed running shares, time and the queue's changes. Returns the jobs
        whose reservations an overrun displaced (to be placed again), or ``None`` when the view
        does not match the plan (then it is made again)."""
        now = view.now
        overran = set()
        for kind, job_id in view.events:
            if kind == "end":
                known = self.running.pop(job_id, None)
                if known is None:
                    return None
                if known[0] > now:
                    self.give_back(now, known[0], known[1])
            elif kind == "estimate_over":
                overran.add(job_id)
        if len(shares) != len(self.running):
            return None
        taken: list[tuple[float, float]] = []
        for job_id, request, end in shares:
            known = self.running.get(job_id)
            if known is None:
                return None
            want = _boundary(now, end)
            have = known[0] if known[0] > now else -math.inf
            if want != have:  # an overrun, or overdue under release="event"
                if want > have:
                    self.take_range(max(have, now), want, request)
                    if job_id in overran:
                        taken.append((max(have, now), want))
                else:
                    self.give_back(max(want, now), have, request)
                self.running[job_id] = (want, request)
        self.profile.advance(now)
        smallest = view.smallest
        # a hole with no room for the smallest waiting request can help no waiting job, ever:
        # what it holds only shrinks, and capacity that comes back later makes a new hole
        self.holes.expire(now, smallest)
        fresh = sum(1 for kind, i in view.events if kind == "submit" and i not in self.held)
        if len(view.waiting) != len(self.held) + fresh:
            present = {job.id for job in view.waiting}
            for job_id in [i for i in self.held if i not in present]:
                self.unplace(job_id)
        if not taken:
            return []
        # what an overrun took may overlap reservations: those are placed again, in queue order
        displaced = [
            i
            for i, t in self.held.items()
            if any(t < b and t + self.jobs[i].estimate > a for a, b in taken)
        ]
        return [self.unplace(i) for i in displaced]


def conservative_pass(
    view: SchedulerView,
    ordered: Sequence[WaitingJob],
    key: Callable[[WaitingJob], Any] | None,
    shares: Sequence[RunningShare],
) -> Decision:
    """One conservative decision. ``ordered`` is the queue in policy order; ``key`` is that order
    as a static key when the view is presorted by it (then only changed jobs are visited unless
    jobs ended); ``shares`` are the running jobs with their ends under the release rule."""
    now = view.now
    kinds = {kind for kind, _ in view.events}
    plan = view.memory if isinstance(view.memory, ConservativePlan) else None
    displaced = None
    if plan is not None and plan.capacity == view.capacity:
        displaced = plan.catch_up(view, shares)
    if plan is None or displaced is None:
        plan = ConservativePlan.fresh(view, shares)
        displaced = []
    refit = "end" in kinds
    if refit or key is None or not plan.held:
        visit: Sequence[WaitingJob] = ordered
    else:
        fresh = {i for kind, i in view.events if kind == "submit" and i not in plan.held}
        changed = [job for job in view.waiting if job.id in fresh] if fresh else []
        changed += [plan.jobs[i] for i in _due(plan, now)]
        changed += displaced
        visit = sorted({job.id: job for job in changed}.values(), key=key)
    start_seq = plan.seq
    profile = plan.profile
    visited_all = visit is ordered
    compiled_scan = profile_module.compiled_scan
    if refit and compiled_scan is not None:
        # the same loop compiled: may_move, refit and the hole scan on the plan's own objects
        compiled_scan.refit_pass(plan, visit, now, view.smallest)
        visit = ()
    for job in visit:
        t = plan.held.get(job.id)
        if t is None:
            plan.place(job, now)
        elif t > now:
            if not refit:
                continue
            after = plan.may_move(job, t, view.smallest)
            if after is not None:
                plan.refit(job, t, now, after)
            else:
                plan.checked[job.id] = plan.seq
        elif _displaced(job, t, now, profile.free_at(now)):
            plan.place(plan.unplace(job.id), now)
    if refit:
        # every job was checked in this pass: older holes can help none of them
        plan.holes.keep_newer(start_seq)
    return _decision(view, plan, ordered, key, visited_all)


def _displaced(job: WaitingJob, t: float, now: float, free: Vector) -> bool:
    """A reservation that is due can no longer start as planned and needs a new slot: the
    profile (its own slot included) is over-committed now, or a late wake (live clock, ``t`` before
    ``now``) finds too little free for it. A due job whose slot still holds is left alone: giving
    its slot back and taking it again would leave a hole behind and re-fit the whole queue."""
    if any(f < 0 for f in free):
        return True
    return t < now and not fits(job.request, free)


def _due(plan: ConservativePlan, now: float) -> list[int]:
    """Jobs whose reservation is at or before ``now``: the top of the heap, walked in place
    (the entries stay for the decision)."""
    heap, found, stack = plan.starts, [], [0] if plan.starts else []
    while stack:
        k = stack.pop()
        t, i = heap[k]
        if t > now:
            continue
        if plan.held.get(i) == t:
            found.append(i)
        stack.extend(c for c in (2 * k + 1, 2 * k + 2) if c < len(heap))
    return found


def _decision(
    view: SchedulerView,
    plan: ConservativePlan,
    ordered: Sequence[WaitingJob],
    key: Callable[[WaitingJob], Any] | None,
    visited_all: bool,
) -> Decision:
    now = view.now
    starts = plan.starts
    due: dict[int, WaitingJob] = {}
    while starts and starts[0][0] <= now:
        t, i = heapq.heappop(starts)
        if plan.held.get(i) == t:
            due[i] = plan.jobs[i]
    backfilled: set[int] = set()
    if visited_all or key is None:
        # one walk of the queue, up to its last due job (after an early end often none is)
        started: list[int] = []
        blocked = False
        left = len(due)
        for job in ordered:
            if not left:
                break
            if job.id not in due:
                blocked = True
                continue
            started.append(job.id)
            left -= 1
            if blocked:
                backfilled.add(job.id)
    else:
        # a started job was backfilled when a job ahead of it in the queue still waits
        chosen = sorted(due.values(), key=key)
        started = [job.id for job in chosen]
        for k, job in enumerate(chosen):
            if bisect_left(view.waiting, key(job), key=key) > k:
                backfilled.add(job.id)
    for i in started:
        t = plan.held.pop(i)
        job = plan.jobs.pop(i)
        plan.checked.pop(i, None)
        end = now + job.estimate
        if t != now:  # a late wake (live clock): the job holds [now, now + estimate) instead
            plan.profile.give(now, t + job.estimate, job.request)
            plan.profile.take(now, end, job.request)
        plan.running[i] = (end, job.request)
    while starts and plan.held.get(starts[0][1]) != starts[0][0]:
        heapq.heappop(starts)
    wake = starts[0][0] if starts else None
    decision = Decision(started, backfilled, dict(plan.held), plan)
    decision.wake = wake
    return decision
