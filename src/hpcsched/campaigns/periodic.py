"""Periodic tasks as a first-class helper, with misses counted.

"Every ``every`` completions of kind X, submit a task at class c; it must start within ``within``
further completions of X" (PriorityBF's drift checks, validation, logging: low priority, never
starved). The helper is called from the campaign's ``on_result``; at each completion of X it looks
at the instances it submitted: one that has left the queue started in time, one still queued after
``within`` completions is a miss (counted once, and its lag kept).

Under a flood of higher-class work a low class can wait for ever: PriorityBF lets no lower class
delay a higher one. So the helper guards its deadline (``guard=True``): when an instance has one
completion left before it would miss, it asks the dispatcher to expedite it (it then goes ahead of
every class at the next decision, taking the resources the next completion frees). It does so
once ``expedite_after`` completions have passed without it starting (default 1: the instance first
gets one chance to fill a gap at its own low class). Completions that arrive together are all seen
before the next decision, so ``within - expedite_after`` should exceed the number of tasks that can
end at once; a miss that happens anyway is counted, never hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hpcsched.campaigns.api import Context
from hpcsched.campaigns.task import Task, TaskResult


@dataclass
class Periodic:
    every: int
    of_kind: str
    make: Callable[[int], Task]  # n (1, 2, ...) -> the n-th periodic task
    within: int
    guard: bool = True
    expedite_after: int = 1
    completions: int = 0
    submitted: int = 0
    started_in_time: int = 0
    misses: int = 0
    max_lag: int = 0  # most completions of X seen while an instance was still queued
    _pending: dict[str, int] = field(default_factory=dict)  # task id -> completions at submit

    def __post_init__(self) -> None:
        if self.every < 1 or self.within < 1:
            raise ValueError("every and within are counts of completions, at least 1")
        if not 0 <= self.expedite_after < self.within:
            raise ValueError("expedite_after must be at least 0 and below within")

    def on_result(self, task: Task, result: TaskResult, ctx: Context) -> None:
        if task.kind != self.of_kind or not result.ok:
            return
        self.completions += 1
        for tid, at in list(self._pending.items()):
            lag = self.completions - at
            if ctx.state(tid) not in ("waiting", "held"):
                self.started_in_time += 1
                del self._pending[tid]
            elif lag >= self.within:
                self.misses += 1
                self.max_lag = max(self.max_lag, lag)
                del self._pending[tid]
            else:
                self.max_lag = max(self.max_lag, lag)
                if self.guard and lag >= self.expedite_after:
                    ctx.expedite(tid)
        if self.completions % self.every == 0:
            self.submitted += 1
            instance = self.make(self.submitted)
            ctx.submit(instance)
            self._pending[instance.id] = self.completions
            if self.guard and self.expedite_after == 0:
                ctx.expedite(instance.id)

    def summary(self) -> dict[str, int]:
        return {
            "submitted": self.submitted,
            "started_in_time": self.started_in_time,
            "misses": self.misses,
            "max_lag": self.max_lag,
            "pending": len(self._pending),
        }
