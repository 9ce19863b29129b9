"""One name per task state, shared by ``status``, ``tasks``, ``why`` and ``export``, and the
per-task table of ``hpcsched tasks``.

The journal folds a task that never started because a dependency failed into ``failed`` with the
reason ``dependency-failed``. Users read that as a second failure, so every command names it
``blocked`` (the word of pegasus-analyzer's "blocked by" and of Slurm's ``DependencyNeverSatisfied``
jobs): failed means it ran and failed, blocked means it never ran because of another task.
"""

from __future__ import annotations

from typing import Any, Final

from hpcsched.runtime.journal import RunRecord, TaskRecord

#: Every state a task is shown in, in the order ``status`` lists them.
TASK_STATES: Final = ("succeeded", "failed", "blocked", "cancelled", "running", "waiting")


def is_blocked(rec: TaskRecord) -> bool:
    """Failed without running on its own account: a dependency failed."""
    return (
        rec.state == "failed" and rec.failure is not None and rec.failure[0] == "dependency-failed"
    )


def task_state(rec: TaskRecord) -> str:
    """The task's state as every command shows it (one of :data:`TASK_STATES`)."""
    return "blocked" if is_blocked(rec) else rec.state


def state_counts(record: RunRecord) -> dict[str, int]:
    """How many tasks are in each state (every state listed, zeros included)."""
    counts = dict.fromkeys(TASK_STATES, 0)
    for rec in record.tasks.values():
        counts[task_state(rec)] += 1
    return counts


def _times(rec: TaskRecord) -> tuple[float | None, float | None]:
    """The first attempt's start and the last attempt's end (None while it runs or never ran)."""
    if not rec.attempts:
        return None, None
    first, last = rec.attempts[0], rec.attempts[-1]
    start = first.result.start if first.result and first.result.start else first.started_wall
    end = last.result.end if last.result is not None and last.result.end else None
    return start, end


def task_rows(record: RunRecord) -> list[dict[str, Any]]:
    """One row per task in submission order: id, state, attempts, start, end (epoch seconds),
    duration (seconds, first start to last end) and the reason of a failure or a block."""
    rows = []
    for task_id, rec in record.tasks.items():
        start, end = _times(rec)
        rows.append(
            {
                "task": task_id,
                "state": task_state(rec),
                "attempts": len(rec.attempts),
                "start": start,
                "end": end,
                "duration": end - start if start is not None and end is not None else None,
                "reason": rec.failure[0] if rec.failure is not None else None,
            }
        )
    return rows
