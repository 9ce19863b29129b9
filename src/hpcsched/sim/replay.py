"""Trace replay in virtual time with any policy object (the readable reference engine).

Each event (submission, end, estimate running out, a policy's wake-up) is applied, then the policy
decides; started jobs get an end event at ``start + runtime``. When a job outlives its estimate the
policy is told (``estimate_over``) and the estimate is extended as Tsafrir, Etsion and Feitelson
(TPDS 2007) do: to the job's timelimit if that is later, else doubled; the job itself is killed
only at its real timelimit, and only when ``kill_at_timelimit`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hpcsched.core.profile import Vector
from hpcsched.policies.view import EventKind, Policy, RunningJob, SchedulerView, WaitingJob
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

    def __len__(self) -> int:
        return len(self.submit)


@dataclass(frozen=True)
class Schedule:
    """What happened to each job: start, end (NaN when never run) and the backfill flag."""

    start: FloatArray
    end: FloatArray
    backfilled: npt.NDArray[np.bool_]


def _extended_estimate(start: float, now: float, timelimit: float) -> float:
    if timelimit == timelimit and start + timelimit > now:  # not NaN and still ahead
        return start + timelimit
    return now + max(now - start, 1.0)


def replay(jobs: JobArrays, policy: Policy, capacity: Vector) -> Schedule:
    """Run ``jobs`` through ``policy`` on a machine of ``capacity`` (every job must fit in it)."""
    n = len(jobs)
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    backfilled = np.zeros(n, dtype=bool)
    kernel = EventKernel(float(jobs.submit.min()) if n else 0.0)
    users = jobs.user or [""] * n
    for i in range(n):
        kernel.schedule(float(jobs.submit[i]), SUBMIT, i)
    waiting: dict[int, WaitingJob] = {}
    running: dict[int, RunningJob] = {}
    memory = None
    pending_wake: set[float] = set()
    while len(kernel):
        order, i = kernel.step()
        now = kernel.now
        kind: EventKind
        if order == SUBMIT:
            kind = "submit"
            waiting[i] = WaitingJob(
                i,
                float(jobs.submit[i]),
                tuple(int(x) for x in jobs.request[i]),
                float(jobs.estimate[i]),
                int(jobs.priority_class[i]),
                users[i],
            )
        elif order == END:
            kind = "end"
            del running[i]
            end[i] = now
        elif order == ESTIMATE_OVER:
            kind = "estimate_over"
            job = running.get(i)
            if job is None:
                continue
            new_end = _extended_estimate(job.start, now, float(jobs.timelimit[i]))
            running[i] = RunningJob(i, job.request, job.start, new_end, job.planned_end)
            if start[i] + jobs.runtime[i] > new_end:
                kernel.schedule(new_end, ESTIMATE_OVER, i)
        else:
            kind = "wake"
            pending_wake.discard(now)
        view = SchedulerView(
            now, capacity, list(waiting.values()), list(running.values()), [(kind, i)], memory
        )
        decision = policy.decide(view)
        memory = decision.memory
        for j in decision.start:
            job_w = waiting.pop(j)
            start[j] = now
            backfilled[j] = j in decision.backfilled
            running[j] = RunningJob(
                j, job_w.request, now, now + job_w.estimate, now + job_w.estimate
            )
            kernel.schedule(now + float(jobs.runtime[j]), END, j)
            if jobs.estimate[j] < jobs.runtime[j]:
                kernel.schedule(now + float(jobs.estimate[j]), ESTIMATE_OVER, j)
        if decision.wake is not None and decision.wake > now and decision.wake not in pending_wake:
            pending_wake.add(decision.wake)
            kernel.schedule(decision.wake, WAKE, -1)
    if waiting:
        raise RuntimeError(f"{len(waiting)} jobs never started (policy {policy.name} stalled)")
    return Schedule(start, end, backfilled)
