"""The four drivers of the one scheduler state, each run on one generated workload.

Every driver returns what happened to each job (start, end) and the (view, decision) pairs its
policy saw, so that the invariants of ``test_invariants.py`` are checked the same way on all of
them: trace replay (reference and compiled), campaign simulation (virtual clock) and the live
pilot with a fake executor under a fake clock (the runtime's own loop, journal and staging).
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hpcsched.campaigns import Task
from hpcsched.campaigns.api import Context
from hpcsched.campaigns.task import TaskResult
from hpcsched.core.pool import Pool
from hpcsched.policies.backfilling import BackfillPolicy
from hpcsched.policies.view import Decision, Policy, SchedulerView
from hpcsched.runtime.executors.base import Attempt
from hpcsched.runtime.pilot import Pilot
from hpcsched.sim.campaign import simulate_campaign
from hpcsched.sim.fast import replay_fast
from hpcsched.sim.replay import JobArrays, replay
from hpcsched.sim.simulate import compiled_twin

CPUS, MEM = 8, 64.0


@dataclass(frozen=True)
class Job:
    """One generated job: released at ``submit`` (traces) or when ``parent`` ends (campaigns)."""

    submit: float
    runtime: float  # what it really runs (0 allowed; above the estimate = an overrun)
    estimate: float
    cpus: int
    mem: float
    cls: int
    parent: int | None = None


@dataclass
class Outcome:
    start: dict[int, float] = field(default_factory=dict)
    end: dict[int, float] = field(default_factory=dict)
    starts_seen: list[int] = field(default_factory=list)  # every start, repeats included
    log: list[tuple[SchedulerView, Decision]] = field(default_factory=list)


class Recorder:
    """Wraps a policy and keeps every (view, decision) pair; it never changes a decision.
    Attribute access goes through, so hints such as ``queue_key`` are the policy's."""

    def __init__(self, policy: Policy, log: list[tuple[SchedulerView, Decision]]) -> None:
        self.policy = policy
        self.log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self.policy, name)

    def decide(self, view: SchedulerView) -> Decision:
        decision = self.policy.decide(view)
        # the state's lists live on: keep what the policy saw
        seen = replace(view, waiting=list(view.waiting), running=list(view.running))
        self.log.append((seen, decision))
        return decision


def arrays(jobs: list[Job], resources: int) -> JobArrays:
    request = [[j.cpus, j.mem][:resources] for j in jobs]
    return JobArrays(
        submit=np.array([j.submit for j in jobs], dtype=float),
        runtime=np.array([j.runtime for j in jobs], dtype=float),
        estimate=np.array([j.estimate for j in jobs], dtype=float),
        timelimit=np.full(len(jobs), np.nan),
        request=np.array(request, dtype=np.int64).reshape(len(jobs), resources),
        priority_class=np.array([j.cls for j in jobs], dtype=np.int64),
    )


def replay_reference(jobs: list[Job], policy: Policy) -> Outcome:
    out = Outcome()
    schedule = replay(arrays(jobs, 2), Recorder(policy, out.log), (CPUS, MEM))
    for i in range(len(jobs)):
        out.start[i], out.end[i] = float(schedule.start[i]), float(schedule.end[i])
    out.starts_seen = [i for _, d in out.log for i in d.start]
    return out


def replay_compiled(jobs: list[Job], policy: Policy) -> Outcome | None:
    """Processors only (the kernel's machine); ``None`` for a policy it does not implement."""
    if not (isinstance(policy, BackfillPolicy) and compiled_twin(policy)):
        return None
    out = Outcome()
    schedule = replay_fast(arrays(jobs, 1), policy, CPUS)
    for i in range(len(jobs)):
        out.start[i], out.end[i] = float(schedule.start[i]), float(schedule.end[i])
    out.starts_seen = list(range(len(jobs)))
    return out


def _tasks(jobs: list[Job]) -> list[Task]:
    return [
        Task(
            id=f"j{i}",
            command="true",
            cpus=j.cpus,
            mem=j.mem,
            priority=j.cls,
            runtime=j.estimate,
        )
        for i, j in enumerate(jobs)
    ]


class Released:
    """The campaign of a generated workload: roots at the start, a child when its parent ends."""

    def __init__(self, jobs: list[Job]) -> None:
        tasks = _tasks(jobs)
        self.roots = [t for t, j in zip(tasks, jobs, strict=True) if j.parent is None]
        self.children: dict[str, list[Task]] = {}
        for task, j in zip(tasks, jobs, strict=True):
            if j.parent is not None:
                self.children.setdefault(f"j{j.parent}", []).append(task)

    def start(self, ctx: Context) -> None:
        for task in self.roots:
            ctx.submit(task)

    def on_result(self, task: Task, result: TaskResult, ctx: Context) -> None:
        for child in self.children.get(task.id, []):
            ctx.submit(child)


def _pool() -> Pool:
    return Pool.uniform(1, CPUS, mem=MEM)


def campaign_sim(jobs: list[Job], policy: Policy) -> Outcome:
    out = Outcome()
    runtimes = {f"j{i}": j.runtime for i, j in enumerate(jobs)}
    trace = simulate_campaign(
        Released(jobs), Recorder(policy, out.log), _pool(), duration=lambda t: runtimes[t.id]
    )
    for t, tid, _ in trace.starts:
        out.start[int(tid[1:])] = t
        out.starts_seen.append(int(tid[1:]))
    for t, tid, _, _ in trace.ends:
        out.end[int(tid[1:])] = t
    return out


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0


class FakeExecutor:
    """Runs nothing: an attempt ends ``runtime`` fake seconds after it was submitted."""

    name = "fake"

    def __init__(self, clock: FakeClock, runtimes: dict[str, float]) -> None:
        self.clock = clock
        self.runtimes = runtimes
        self.pending: list[tuple[float, int, Attempt, float]] = []
        self.seq = 0

    def submit(self, attempt: Attempt) -> None:
        self.seq += 1
        end = self.clock.now + self.runtimes[attempt.task.id]
        heapq.heappush(self.pending, (end, self.seq, attempt, self.clock.now))

    def cancel(self, key: str) -> None:
        pass

    def completions(self, timeout: float | None) -> list[TaskResult]:
        if not self.pending:
            if timeout is not None:
                self.clock.now += timeout
            return []
        end = self.pending[0][0]
        if timeout is not None and self.clock.now + timeout < end:
            self.clock.now += timeout
            return []
        self.clock.now = max(self.clock.now, end)
        done = []
        while self.pending and self.pending[0][0] <= self.clock.now:
            _, _, attempt, started = heapq.heappop(self.pending)
            done.append(
                TaskResult(
                    task_id=attempt.task.id,
                    attempt=attempt.number,
                    ok=True,
                    exit_code=0,
                    start=started,
                    end=self.clock.now,
                )
            )
        return done

    def shutdown(self) -> None:
        pass


class FakeClockPilot(Pilot):
    """The live pilot (journal, staging, its loop) with time read from a fake clock."""

    def __init__(self, clock: FakeClock, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def now(self) -> float:
        return self.clock.now

    def _wait(self, journal: Any, wake: float | None) -> float | None:
        # The pilot's caps (1 s, the next 50 ms flush) are wall-clock turns of its loop; on a
        # fake clock a timeout advances time, so wait exactly until the next wake.
        return None if wake is None else max(0.0, wake - self.clock.now)


def pilot(jobs: list[Job], policy: Policy, run_dir: Path) -> Outcome:
    out = Outcome()
    clock = FakeClock()
    runtimes = {f"j{i}": j.runtime for i, j in enumerate(jobs)}
    executor = FakeExecutor(clock, runtimes)
    starts: list[tuple[float, str]] = []
    submit = executor.submit

    def recording_submit(attempt: Attempt) -> None:
        starts.append((clock.now, attempt.task.id))
        submit(attempt)

    executor.submit = recording_submit  # type: ignore[method-assign]
    ends: list[tuple[float, str]] = []
    completions = executor.completions

    def recording_completions(timeout: float | None) -> list[TaskResult]:
        done = completions(timeout)
        ends.extend((clock.now, r.task_id) for r in done)
        return done

    executor.completions = recording_completions  # type: ignore[method-assign]
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    FakeClockPilot(
        clock, Released(jobs), Recorder(policy, out.log), _pool(), executor, run_dir, run_dir
    ).run()
    assert time.monotonic() - started < 60
    for t, tid in starts:
        out.start[int(tid[1:])] = t
        out.starts_seen.append(int(tid[1:]))
    for t, tid in ends:
        out.end[int(tid[1:])] = t
    return out
