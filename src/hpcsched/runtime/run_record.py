"""A run's history folded from its journal events: tasks, their attempts and the run's starts.

:func:`apply_event` folds one journal event (``runtime/journal.py`` reads them in ``seq`` order)
into a :class:`RunRecord`; the record answers what a restart, ``status``, ``why`` and ``export``
ask: what succeeded, which attempts never finished, which were being committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hpcsched.campaigns.task import Task, TaskResult

TaskRecordState = Literal["succeeded", "failed", "cancelled", "running", "waiting"]
_FINAL = ("succeeded", "failed", "cancelled")


@dataclass
class AttemptRecord:
    """One attempt as the journal saw it. ``started_wall`` is the ``started`` event's wall clock
    (or the ``finished`` one's for an attempt that ended without a ``started`` event)."""

    number: int
    started_wall: float
    workdir: str = ""
    backfilled: bool = False
    committing: TaskResult | None = None  # the executor said ok; outputs were being moved
    result: TaskResult | None = None  # the final word on the attempt
    interrupted: bool = False  # the runtime died while it ran (marked on restart)
    command: str = ""  # what it ran, stamped when not the submitted task's action (invalidate.py)


@dataclass
class TaskRecord:
    """A task's history. ``state`` is ``waiting`` when it is submitted with no live attempt
    (queued, held by dependencies, or between a failed attempt and its retry)."""

    task: Task
    submitted_wall: float
    attempts: list[AttemptRecord] = field(default_factory=list)
    state: TaskRecordState = "waiting"
    failure: tuple[str, str, str] | None = None  # reason, message, root task id
    cleaned: set[str] = field(default_factory=set)  # outputs deleted since its last success

    @property
    def last_attempt(self) -> AttemptRecord | None:
        return self.attempts[-1] if self.attempts else None

    def attempt(self, number: int) -> AttemptRecord | None:
        """The attempt with that number (searched from the newest, where lookups land)."""
        for attempt in reversed(self.attempts):
            if attempt.number == number:
                return attempt
        return None


@dataclass
class RunRecord:
    """Everything a journal says: tasks in submission order, one ``runs`` entry per (re)start."""

    run_dir: Path
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    ended: dict[str, Any] | None = None
    events: int = 0

    def succeeded(self) -> dict[str, TaskResult]:
        """The successful result of every succeeded task (what a restart need not run again)."""
        return {  # a later ok attempt overwrites an earlier one: the last success wins
            task_id: attempt.result
            for task_id, rec in self.tasks.items()
            if rec.state == "succeeded"
            for attempt in rec.attempts
            if attempt.result is not None and attempt.result.ok
        }

    def unfinished_attempts(self) -> list[tuple[str, int]]:
        """Attempts that started and never finished nor were marked interrupted: on restart the
        pilot writes ``interrupted`` for each (after finishing :meth:`pending_commits`)."""
        return [
            (task_id, attempt.number)
            for task_id, rec in self.tasks.items()
            for attempt in rec.attempts
            if attempt.result is None and not attempt.interrupted
        ]

    def pending_commits(self) -> list[tuple[str, int, TaskResult]]:
        """Attempts that succeeded and were being committed when the run died. Their outputs
        may be half moved; re-running the (idempotent) commit and writing ``finished`` saves the
        work. They are also in :meth:`unfinished_attempts` until then."""
        return [
            (task_id, attempt.number, attempt.committing)
            for task_id, rec in self.tasks.items()
            for attempt in rec.attempts
            if attempt.committing is not None and attempt.result is None
        ]

    def retried_count(self) -> int:
        """Attempts made beyond each task's first (retries after failure and after restarts)."""
        return sum(max(0, len(rec.attempts) - 1) for rec in self.tasks.values())


def apply_event(
    record: RunRecord,
    kind: str,
    wall: float,
    task_id: str | None,
    number: int | None,
    data: dict[str, Any],
) -> None:
    """Fold one event. Events for a task never submitted are ignored (nothing to attach to)."""
    if kind == "run-started":
        record.runs.append(data)
        return
    if kind == "run-ended":
        record.ended = data
        return
    if task_id is None:
        return
    rec = record.tasks.get(task_id)
    if kind == "submitted":
        if rec is None:  # a restarted campaign resubmits: the history stands
            record.tasks[task_id] = TaskRecord(task=Task.model_validate(data), submitted_wall=wall)
        return
    if rec is None:
        return
    attempt = rec.attempt(number) if number is not None else None
    if kind == "started" and number is not None:
        workdir, backfilled = str(data.get("workdir", "")), bool(data.get("backfilled"))
        command = str(data.get("command", ""))
        rec.attempts.append(AttemptRecord(number, wall, workdir, backfilled, command=command))
        rec.state, rec.failure = "running", None
    elif kind == "committing" and attempt is not None:
        attempt.committing = TaskResult.model_validate(data)
    elif kind == "finished" and number is not None:
        if attempt is None:  # ended before it started (e.g. its inputs were missing)
            attempt = AttemptRecord(number=number, started_wall=wall)
            rec.attempts.append(attempt)
        attempt.result = TaskResult.model_validate(data)
        if attempt.result.ok:  # a success stands even if a cancel raced it
            rec.state, rec.failure = "succeeded", None
            rec.cleaned.clear()  # its outputs were written again
        elif rec.state not in _FINAL:
            rec.state = "waiting"
    elif kind == "retry" and rec.state not in _FINAL:
        rec.state = "waiting"
    elif kind == "failed":
        reason = str(data.get("reason", "exit"))
        rec.state = "failed"
        rec.failure = (reason, str(data.get("message", "")), str(data.get("root") or task_id))
    elif kind == "cancelled":
        rec.state = "cancelled"
    elif kind == "interrupted" and attempt is not None and attempt.result is None:
        attempt.interrupted = True  # (an attempt that has its final word cannot be interrupted)
        if rec.state == "running":
            rec.state = "waiting"
    elif kind == "cleaned":
        rec.cleaned.add(str(data.get("file", "")))
    elif kind == "invalidated" and rec.state == "succeeded":
        rec.state = "waiting"  # its success no longer counts: replayed never, run again
