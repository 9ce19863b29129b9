"""The budget for infrastructure failures: attempts that ended through no fault the task reported.

The dispatcher does not count an attempt that was ``lost`` (its worker died: ``os._exit``, the
OOM killer, an attempt runner that raised, a Dask task no worker can hold) or ``interrupted`` (the
runtime died while it ran) against the task's ``retries``: it was not the task's failure. Retried
without a bound, a task that kills its worker, or ``hpcsched run`` itself (``kill -9 $PPID``),
would be retried forever. So the pilot keeps this separate, small budget per task:

- :data:`LOST_RETRIES` losses are retried free; every loss beyond that is reported as
  ``infrastructure`` (a failure the dispatcher counts against ``retries``), so a task is tried at
  most ``1 + LOST_RETRIES + retries`` times and then fails with the reason;
- an attempt interrupted more than :data:`RESTART_RETRIES` times (across restarts of the run, read
  from the journal) is not started again: it fails as ``infrastructure`` without running. The
  bound is larger because a SIGKILL from outside interrupts whatever runs, innocent or not, and a
  restart starts the interrupted tasks first, so kills that come soon after each restart hit the
  same innocent tasks again and again (with a bound of 5, the crash-safety test's 20 kills failed
  a task now and then on a loaded machine; found by CI).
"""

from __future__ import annotations

from collections import Counter

from hpcsched.campaigns.task import TaskResult
from hpcsched.runtime.journal import RunRecord

LOST_RETRIES = 3
RESTART_RETRIES = 10


class InfraBudget:
    """Counts ``lost`` and ``interrupted`` attempts per task and says when the budget is spent."""

    def __init__(self) -> None:
        self.lost: Counter[str] = Counter()
        self.interrupted: Counter[str] = Counter()

    def seed(self, record: RunRecord) -> InfraBudget:
        """Count what earlier starts of the run recorded."""
        for task_id, rec in record.tasks.items():
            for attempt in rec.attempts:
                if attempt.interrupted:
                    self.interrupted[task_id] += 1
                elif attempt.result is not None and attempt.result.reason == "lost":
                    self.lost[task_id] += 1
        return self

    def charge(self, result: TaskResult) -> TaskResult:
        """Count a lost attempt; beyond the budget, return it as a counted failure."""
        if result.ok or result.reason != "lost":
            return result
        self.lost[result.task_id] += 1
        n = self.lost[result.task_id]
        if n <= LOST_RETRIES:
            return result
        message = (
            f"{result.message} (lost {n} times, more than the {LOST_RETRIES} retries allowed for "
            "infrastructure failures; now counted against the task's retries)"
        )
        return result.model_copy(update={"reason": "infrastructure", "message": message})

    def refuses(self, task_id: str) -> str | None:
        """Why the task must not start again (its attempts keep killing the runtime), or None."""
        n = self.interrupted[task_id]
        if n <= RESTART_RETRIES:
            return None
        return (
            f"the runtime died {n} times while {task_id} ran (does it kill its parent?); more "
            f"than the {RESTART_RETRIES} allowed, so it is not started again"
        )
