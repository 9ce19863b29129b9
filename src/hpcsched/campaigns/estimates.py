"""The runtime a policy plans a task with: the spec's, else history's, else a default.

History is the mean elapsed time of the finished attempts of the same kind (the task's ``kind``,
or its id): in this run, and in earlier runs when the pilot seeds it from a journal.
"""

from __future__ import annotations

from collections.abc import Iterable

from hpcsched.campaigns.task import DEFAULT_RUNTIME, Task


class RuntimeEstimates:
    def __init__(self, default: float = DEFAULT_RUNTIME) -> None:
        self.default = default
        self._total: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def observe(self, task: Task, elapsed: float) -> None:
        label = task.label
        self._total[label] = self._total.get(label, 0.0) + max(elapsed, 0.0)
        self._count[label] = self._count.get(label, 0) + 1

    def seed(self, history: Iterable[tuple[Task, float]]) -> RuntimeEstimates:
        for task, elapsed in history:
            self.observe(task, elapsed)
        return self

    def estimate(self, task: Task) -> float:
        if task.runtime is not None:
            return task.runtime
        count = self._count.get(task.label)
        if count:
            # never plan with zero: a zero-length reservation would let anything backfill
            return max(self._total[task.label] / count, 1e-3)
        return self.default
