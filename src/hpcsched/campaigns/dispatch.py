"""The dispatcher: the bookkeeping both clocks share, between a campaign and a policy.

It owns the tasks' states, their dependencies, retries with backoff and the queue the policy sees,
and it is the campaign's :class:`~hpcsched.campaigns.api.Context`. It reads no clock and runs
nothing: its driver passes ``now`` in and carries the returned launches out (to virtual
completions in ``sim.campaign``, to an executor in ``runtime.pilot``). That is what lets one
campaign object run unchanged in simulation and in live execution, in the same order.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hpcsched.campaigns.api import Campaign, CampaignError, RequestTooLargeError, TaskState
from hpcsched.campaigns.dag import DagRank
from hpcsched.campaigns.estimates import RuntimeEstimates
from hpcsched.campaigns.task import Task, TaskResult
from hpcsched.core.pool import Pool
from hpcsched.core.profile import Vector
from hpcsched.policies.view import Policy, SchedulerView, WaitingJob
from hpcsched.scheduler.state import SchedulerState

#: reasons that no retry can cure
NOT_RETRIED = frozenset({"missing-input", "dependency-failed", "cancelled"})
#: reasons that are not the task's fault: retried without using up a retry
NOT_COUNTED = frozenset({"interrupted", "lost"})

EXPEDITED = -1  # the policy class of an expedited task: ahead of class 0
Emit = Callable[[str, str, "int | None", "dict[str, Any]"], None]


@dataclass(frozen=True, slots=True)
class Launch:
    """The policy started ``task``; this is its attempt ``number``."""

    task: Task
    number: int
    backfilled: bool = False


@dataclass(slots=True)
class Resume:
    """What an earlier run of the same campaign already did (from its journal)."""

    succeeded: Mapping[str, TaskResult] = field(default_factory=dict)
    attempts: Mapping[str, int] = field(default_factory=dict)  # attempt numbers already used
    submitted: frozenset[str] = frozenset()


@dataclass(slots=True)
class Counts:
    submitted: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    retried: int = 0
    replayed: int = 0  # successes taken from an earlier run's journal
    violations: int = 0  # starts the policy asked for that did not fit (refused)


def _noop_emit(kind: str, task_id: str, attempt: int | None, data: dict[str, Any]) -> None:
    return None


class Dispatcher:
    """Tasks in, launches out; the campaign's context. See the module docstring."""

    def __init__(
        self,
        campaign: Campaign,
        policy: Policy,
        pool: Pool,
        *,
        resume: Resume | None = None,
        emit: Emit | None = None,
        estimates: RuntimeEstimates | None = None,
    ) -> None:
        self.campaign = campaign
        self.policy = policy
        self.pool = pool
        self.resume = resume or Resume()
        self.emit = emit or _noop_emit
        self.estimates = estimates or RuntimeEstimates()
        self.counts = Counts()
        self._now = 0.0
        self._tasks: dict[str, Task] = {}
        self._state: dict[str, TaskState] = {}
        # unfinished tasks (held, waiting, retrying, running) in submission order: what cancel()
        # looks at, so a long campaign does not rescan every task it ever finished
        self._unfinished: dict[str, None] = {}
        self._ids: list[str] = []  # policy job id (an int) -> task id
        self._num: dict[str, int] = {}
        self._unmet: dict[str, set[str]] = {}
        self._dependents: dict[str, list[str]] = {}
        self._producer: dict[str, str] = {}
        self.scheduler = SchedulerState(policy, pool.capacity)
        self._running: set[str] = set()
        self._attempts: Counter[str] = Counter(dict(self.resume.attempts))
        self._failures: Counter[str] = Counter()
        self._retry_at: list[tuple[float, int, str]] = []
        self._results: deque[tuple[Task, TaskResult]] = deque()
        self._cancel_running: list[str] = []
        self._expedited: set[str] = set()
        self._root_of: dict[str, str] = {}  # failed task -> the task whose own failure caused it
        # a campaign that knows its whole DAG up front (StaticWorkflow) offers each task's ranks
        self._ranks: Mapping[str, DagRank] = getattr(campaign, "ranks", None) or {}

    # -- the campaign's context ----------------------------------------------------------------

    @property
    def now(self) -> float:
        return self._now

    def submit(self, task: Task) -> None:
        if task.id in self._tasks:
            raise CampaignError(f"task id {task.id!r} was submitted twice; ids must be unique")
        why = self.pool.refuses(task.cpus, task.gpus, task.mem, task.nodes)
        if why:
            fix = "lower its request or use a bigger pool"
            raise RequestTooLargeError(f"task {task.id!r} {why}; {fix}")
        deps = set(task.depends) | {self._producer[f] for f in task.inputs if f in self._producer}
        unknown = sorted(d for d in deps if d not in self._tasks)
        if unknown:
            raise CampaignError(
                f"task {task.id!r} depends on {', '.join(unknown)}, never submitted; "
                "submit dependencies first"
            )
        self._tasks[task.id] = task
        self._unfinished[task.id] = None
        self._num[task.id] = len(self._ids)
        self._ids.append(task.id)
        for name in task.outputs:
            self._producer.setdefault(name, task.id)
        self.counts.submitted += 1
        if task.id not in self.resume.submitted:
            self.emit("submitted", task.id, None, task.model_dump(mode="json"))
        replay = self.resume.succeeded.get(task.id)
        if replay is not None:
            self._state[task.id] = "running"  # _finish_ok expects it off the queue
            self.counts.replayed += 1
            self._finish_ok(task, replay, replayed=True)
            return
        failed = [d for d in sorted(deps) if self._state[d] in ("failed", "cancelled")]
        if failed:
            self._state[task.id] = "held"
            self._fail_for_good(task, self._dependency_failure(task, failed[0]), cause=failed[0])
            return
        unmet = {d for d in deps if self._state[d] != "succeeded"}
        for dep in unmet:
            self._dependents.setdefault(dep, []).append(task.id)
        if unmet:
            self._unmet[task.id] = unmet
            self._state[task.id] = "held"
        else:
            self._enqueue(task)

    def cancel(
        self,
        predicate: Callable[[Task], bool],
        *,
        message: str = "cancelled by the campaign",
        dependents_first: bool = False,
    ) -> int:
        """Cancel the unfinished tasks ``predicate`` picks. A task held by a cancelled one fails
        as blocked, unless ``dependents_first`` (a whole run stopped by its user): then each
        picked task is cancelled itself, newest first (dependents are submitted after what
        they depend on)."""
        chosen = [tid for tid in self._unfinished if predicate(self._tasks[tid])]
        for tid in reversed(chosen) if dependents_first else chosen:
            if self._state[tid] not in ("held", "waiting", "retrying", "running"):
                continue  # already failed with a dependency cancelled just before
            if self._state[tid] == "running":
                if tid not in self._cancel_running:  # final when the executor reports it
                    self._cancel_running.append(tid)
                continue
            if self._state[tid] == "waiting":
                self.scheduler.withdraw([self._num[tid]])
            task = self._tasks[tid]
            self._fail_for_good(task, self._failure(task, "cancelled", message), "cancelled")
        return len(chosen)

    def state(self, task_id: str) -> TaskState:
        return self._state.get(task_id, "unknown")

    def expedite(self, task_id: str) -> bool:
        self._expedited.add(task_id)
        if self._state.get(task_id) != "waiting":
            return False
        num = self._num[task_id]
        queued = self.scheduler.queued(num)
        assert queued is not None
        if queued.priority_class == EXPEDITED:
            return True
        # a new class, the same arrival: a policy without classes (FCFS, EASY) keeps the task
        # in its FIFO place instead of sending it to the back of the queue
        self.scheduler.withdraw([num])
        self._enqueue(self._tasks[task_id], submit=queued.submit)
        return True

    # -- the driver's side -----------------------------------------------------------------------

    def begin(self, now: float) -> None:
        self._now = now
        self.campaign.start(self)

    def step(self, now: float) -> list[Launch]:
        """Deliver results to the campaign, release retries that are due, ask the policy."""
        self._now = now
        while self._retry_at and self._retry_at[0][0] <= now:
            _, _, tid = heapq.heappop(self._retry_at)
            if self._state.get(tid) == "retrying":
                self._enqueue(self._tasks[tid])
        while self._results:
            task, result = self._results.popleft()
            self.campaign.on_result(task, result, self)
        return self._decide(now) if self.scheduler.waiting else []

    def finish(self, result: TaskResult, now: float) -> None:
        """An attempt ended (the executor's word, after the pilot committed its outputs)."""
        self._now = now
        task = self._tasks[result.task_id]
        if task.id in self._running:
            self._running.discard(task.id)
            self.scheduler.end(self._num[task.id], now)
        self.emit("finished", task.id, result.attempt, result.model_dump(mode="json"))
        if result.ok:
            self._finish_ok(task, result)
            return
        cancelled = task.id in self._cancel_running or result.reason == "cancelled"
        if cancelled:
            self._cancel_running = [t for t in self._cancel_running if t != task.id]
            self._fail_for_good(task, result, "cancelled")
            return
        counted = result.reason not in NOT_COUNTED
        if counted:
            self._failures[task.id] += 1
        if result.reason not in NOT_RETRIED and self._failures[task.id] <= task.retries:
            delay = task.backoff * 2 ** max(0, self._failures[task.id] - 1) if counted else 0.0
            self._state[task.id] = "retrying"
            self.counts.retried += 1
            self.emit("retry", task.id, result.attempt, {"delay": delay})
            heapq.heappush(self._retry_at, (now + delay, self._num[task.id], task.id))
            return
        self._fail_for_good(task, result)

    def take_cancels(self) -> list[str]:
        """Running tasks the campaign cancelled (the driver stops them)."""
        return [t for t in self._cancel_running if self._state.get(t) == "running"]

    def task(self, task_id: str) -> Task:
        return self._tasks[task_id]

    def attempt_of(self, task_id: str) -> int:
        return self._attempts[task_id]

    def next_wake(self) -> float | None:
        """When the driver must call :meth:`step` even if no attempt ends."""
        times = [self._retry_at[0][0]] if self._retry_at else []
        if self.scheduler.wake is not None:
            times.append(self.scheduler.wake)
        return min(times, default=None)

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def queued(self) -> int:
        return len(self.scheduler.waiting)

    def done(self) -> bool:
        counts = self.counts
        finished = counts.succeeded + counts.failed + counts.cancelled
        return finished == counts.submitted and not (self._results or self._running)

    # -- internals ---------------------------------------------------------------------------

    def _request(self, task: Task) -> Vector:
        return self.pool.request(task.cpus, task.gpus, task.mem)

    def _enqueue(self, task: Task, submit: float | None = None) -> None:
        self._state[task.id] = "waiting"
        job = WaitingJob(
            id=self._num[task.id],
            submit=self._now if submit is None else submit,
            request=self._request(task),
            estimate=self.estimates.estimate(task),
            priority_class=EXPEDITED if task.id in self._expedited else task.priority,
        )
        if (rank := self._ranks.get(task.id)) is not None:
            job = replace(job, bottom_level=rank.bottom_level, upward_rank=rank.upward_rank)
        self.scheduler.submit(job, timelimit=task.timeout)

    def view(self, now: float) -> SchedulerView:
        """What the policy is shown at ``now`` (also for benchmarks and inspection)."""
        return self.scheduler.view(now)

    def _decide(self, now: float) -> list[Launch]:
        outcome = self.scheduler.decide(now)
        launches: list[Launch] = []
        for job in outcome.started:
            tid = self._ids[job.id]
            task = self._tasks[tid]
            self._state[tid] = "running"
            self._running.add(tid)
            self._attempts[tid] += 1
            backfilled = job.id in outcome.backfilled
            launches.append(Launch(task, self._attempts[tid], backfilled))
            self.emit("started", tid, self._attempts[tid], {"backfilled": backfilled, "t": now})
        # a start the capacity rule refused leaves the task queued; the count reaches the summary
        self.counts.violations = len(self.scheduler.violations)
        return launches

    def _finish_ok(self, task: Task, result: TaskResult, replayed: bool = False) -> None:
        self._state[task.id] = "succeeded"
        self._unfinished.pop(task.id, None)
        self.counts.succeeded += 1
        if not replayed:
            self.estimates.observe(task, result.elapsed)
        self._results.append((task, result))
        for child in self._dependents.pop(task.id, []):
            unmet = self._unmet.get(child)
            if unmet is None:
                continue
            unmet.discard(task.id)
            if not unmet and self._state[child] == "held":
                del self._unmet[child]
                self._enqueue(self._tasks[child])

    def _failure(self, task: Task, reason: Any, message: str) -> TaskResult:
        return TaskResult(
            task_id=task.id,
            attempt=self._attempts[task.id],
            ok=False,
            reason=reason,
            message=message,
            start=self._now,
            end=self._now,
        )

    def _dependency_failure(self, task: Task, dep: str) -> TaskResult:
        return self._failure(task, "dependency-failed", f"dependency {dep!r} {self._state[dep]}")

    def _fail_for_good(
        self, task: Task, result: TaskResult, state: TaskState = "failed", cause: str = ""
    ) -> None:
        """Final failure (or cancellation); every held dependent fails with it, transitively.
        ``cause`` is the failed dependency when this is a dependency failure."""
        self._state[task.id] = state
        self._unfinished.pop(task.id, None)
        self._root_of[task.id] = self._root_of.get(cause, cause) if cause else task.id
        if state == "cancelled":
            self.counts.cancelled += 1
            self.emit("cancelled", task.id, None, {"message": result.message})
        else:
            self.counts.failed += 1
            data = {"reason": result.reason, "message": result.message}
            self.emit("failed", task.id, None, data | {"root": self._root_of[task.id]})
        self._results.append((task, result))
        self._unmet.pop(task.id, None)
        for child in self._dependents.pop(task.id, []):
            if self._state.get(child) == "held":
                child_task = self._tasks[child]
                failure = self._dependency_failure(child_task, task.id)
                self._fail_for_good(child_task, failure, cause=task.id)
