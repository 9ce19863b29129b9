"""Trace replay in virtual time with any policy object (the readable reference engine).

Each event (submission, end, estimate running out, a policy's wake-up) is applied, then the policy
decides; started jobs get an end event at ``start + runtime``. When a job outlives its estimate the
policy is told (``estimate_over``) and the estimate is extended as Tsafrir, Etsion and Feitelson
(TPDS 2007) do: to the job's timelimit if that is later, else doubled; the job itself is killed
only at its real timelimit, and only when ``kill_at_timelimit`` is set.

``cycle`` says when the policy decides: after every single event (None, pyss's rule, which the
published numbers depend on); once an instant, after all of its events (0); or only at multiples
of ``cycle`` seconds, as Slurm's scheduler passes do (``bf_interval``): an event between two passes
waits for the next one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hpcsched.core.profile import Vector
from hpcsched.policies.view import Policy, WaitingJob
from hpcsched.scheduler.state import SchedulerState
from hpcsched.sim.kernel import END, ESTIMATE_OVER, SUBMIT, WAKE, EventKernel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class JobArrays:
    """The columns the engine needs, one entry per job, in trace order."""

    submit: FloatArray
    runtime: FloatArray  # actual run time (already cut at the timelimit when jobs are killed)
    estimate: FloatArray
    timelimit: FloatArray  # NaN = none
    request: IntArray  # shape (n, k): k resource dimensions (processors alone for traces)
    priority_class: IntArray
    user: list[str] | None = None
    priority: FloatArray | None = None  # multifactor priority without age (None: all 0)

    def __len__(self) -> int:
        return len(self.submit)


@dataclass(frozen=True)
class Schedule:
    """What happened to each job: start, end (NaN when never run) and the backfill flag."""

    start: FloatArray
    end: FloatArray
    backfilled: npt.NDArray[np.bool_]
    violations: int = 0  # starts refused by the capacity rule (only when not strict)


def replay(
    jobs: JobArrays,
    policy: Policy,
    capacity: Vector,
    *,
    strict: bool = True,
    cycle: float | None = None,
) -> Schedule:
    """Run ``jobs`` through ``policy`` on a machine of ``capacity`` (every job must fit in it).

    With ``strict`` (the default) a start that breaks the capacity rule raises
    :class:`~hpcsched.scheduler.state.PolicyError`; otherwise it is refused and counted in
    ``Schedule.violations``.
    """
    n = len(jobs)
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    backfilled = np.zeros(n, dtype=bool)
    kernel = EventKernel(float(jobs.submit.min()) if n else 0.0)
    users = jobs.user or [""] * n
    priority = jobs.priority if jobs.priority is not None else np.zeros(n)
    for i in range(n):
        kernel.schedule(float(jobs.submit[i]), SUBMIT, i)
    state = SchedulerState(policy, capacity, strict=strict, pyss_order=True)
    pending_wake: set[float] = set()
    while len(kernel):
        order, i = kernel.step()
        now = kernel.now
        if order == SUBMIT:
            timelimit = float(jobs.timelimit[i])
            state.submit(
                WaitingJob(
                    i,
                    float(jobs.submit[i]),
                    tuple(int(x) for x in jobs.request[i]),
                    float(jobs.estimate[i]),
                    int(jobs.priority_class[i]),
                    users[i],
                    float(priority[i]),
                ),
                timelimit=None if timelimit != timelimit else timelimit,
            )
        elif order == END:
            state.end(i, now)
            end[i] = now
        elif order == ESTIMATE_OVER:
            # every overrun of this instant is applied before the policy decides: a job still
            # marked as ending now would count as free (see scheduler.state)
            over = [i]
            while kernel.peek() == now and kernel.next_order() == ESTIMATE_OVER:
                over.append(kernel.step()[1])
            extended = False
            for j in over:
                new_end = state.estimate_over(j, now)
                if new_end is None:
                    continue  # it already ended: nothing to decide
                extended = True
                if start[j] + jobs.runtime[j] > new_end:
                    kernel.schedule(new_end, ESTIMATE_OVER, j)
            if not extended:
                continue
        else:
            pending_wake.discard(now)
        if cycle is not None:
            if kernel.peek() == now:
                continue  # the rest of this instant first: one decision sees all of it
            tick = math.ceil(now / cycle) * cycle if cycle > 0 else now
            if tick > now:
                if tick not in pending_wake:
                    pending_wake.add(tick)
                    kernel.schedule(tick, WAKE, -1)
                continue
        outcome = state.decide(now)
        for job in outcome.started:
            j = job.id
            start[j] = now
            backfilled[j] = j in outcome.backfilled
            kernel.schedule(now + float(jobs.runtime[j]), END, j)
            if job.estimate < jobs.runtime[j]:
                kernel.schedule(now + job.estimate, ESTIMATE_OVER, j)
        wake = outcome.wake
        if wake is not None and wake > now and wake not in pending_wake:
            pending_wake.add(wake)
            kernel.schedule(wake, WAKE, -1)
    if state.waiting:
        raise RuntimeError(
            f"{len(state.waiting)} jobs never started (policy {policy.name} stalled)"
        )
    return Schedule(start, end, backfilled, len(state.violations))
