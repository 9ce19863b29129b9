"""A run's journal as a job table (the canonical schema), a task's provenance, the start order.

Exporting to the job table is what lets a live run be compared with a simulation or a Slurm trace
by the same metrics code: one row per task, its last attempt, Slurm-like states.
"""

from __future__ import annotations

import difflib
from typing import Any

import polars as pl

from hpcsched.core.schema import JOB_TABLE_SCHEMA, conform
from hpcsched.runtime.invalidate import ran
from hpcsched.runtime.journal import AttemptRecord, JournalError, RunRecord, TaskRecord

#: A failure reason's canonical job state; reasons not listed are "failed".
_FAILED_STATE = {
    "timeout": "timeout",
    "out-of-memory": "out_of_memory",
    "dependency-failed": "blocked",  # never ran: the one name status, tasks and why use too
    "cancelled": "cancelled",
}
_STATE = {"succeeded": "completed", "failed": "failed", "running": "running"}
_EXTRA_SCHEMA: dict[str, pl.DataType] = {
    "runtime_attempts": pl.Int64(),
    "runtime_reason": pl.String(),
    # the task's dependencies, comma-separated task ids: the exported run replays as a DAG
    # (``hpcsched simulate export.parquet``)
    "depends": pl.String(),
}


def _state_and_reason(rec: TaskRecord) -> tuple[str, str | None]:
    last = rec.last_attempt
    result = last.result if last is not None else None
    if rec.state == "failed" and rec.failure is not None:
        return _FAILED_STATE.get(rec.failure[0], "failed"), rec.failure[0]
    if rec.state == "cancelled":
        return "cancelled", "cancelled"
    if rec.state == "waiting":  # between attempts, say why the last one did not end it
        if last is not None and last.interrupted:
            return "pending", "interrupted"
        return "pending", result.reason if result is not None and not result.ok else None
    return _STATE[rec.state], None


def _row(rec: TaskRecord, user: str | None) -> dict[str, Any]:
    state, reason = _state_and_reason(rec)
    last = rec.last_attempt
    result = last.result if last is not None else None
    start: float | None = None
    end: float | None = None
    if last is not None and state == "running":
        start = last.started_wall
    elif last is not None and last.result is not None and state != "pending":
        start, end = last.result.start or last.started_wall, last.result.end or None
    task = rec.task
    return {
        "job_id": task.id,
        "user": user,
        "priority_class": task.priority,
        "submit": rec.submitted_wall,
        "start": start,
        "end": end,
        "runtime": end - start if start is not None and end is not None else None,
        "timelimit": task.timeout,
        "nodes": task.nodes,
        "cpus": task.cpus,
        "gpus": task.gpus,
        "mem_req": task.mem or None,
        "state": state,
        "exit_code": result.exit_code if result is not None and state != "pending" else None,
        "backfilled": last.backfilled if last is not None and state != "pending" else None,
        "name": task.label,
        "source": "runtime",
        "runtime_attempts": len(rec.attempts),
        "runtime_reason": reason,
        "depends": ",".join(task.depends),
    }


def journal_to_job_table(record: RunRecord) -> pl.DataFrame:
    """One row per task in submission order, conformed to the canonical job table (plus
    ``runtime_attempts``, ``runtime_reason`` and ``depends``). Tasks blocked by a failed
    dependency are ``blocked`` with ``runtime_reason = "dependency-failed"``, as ``status`` and
    ``why`` say."""
    user = next((str(run["user"]) for run in reversed(record.runs) if run.get("user")), None)
    rows = [_row(rec, user) for rec in record.tasks.values()]
    schema = {**JOB_TABLE_SCHEMA, **_EXTRA_SCHEMA}
    columns = {name: [row.get(name) for row in rows] for name in schema}
    return conform(pl.DataFrame(columns, schema=schema))


def _files(result: Any, which: str) -> list[dict[str, Any]]:
    if result is None:
        return []
    return [f.model_dump() for f in getattr(result, which)]


def _attempt(rec: TaskRecord, attempt: AttemptRecord) -> dict[str, Any]:
    task = rec.task
    result = attempt.result or attempt.committing
    action = ran(rec, attempt)  # the workflow may have changed since the task was submitted
    return {
        "number": attempt.number,
        "action": action,
        "command": action if task.command is not None else None,
        "callable": task.callable,
        "args": list(task.args),
        "kwargs": dict(task.kwargs),
        "workdir": attempt.workdir,
        "backfilled": attempt.backfilled,
        "inputs": _files(result, "inputs"),
        "outputs": _files(result, "outputs"),
        "host": result.host if result else None,
        "start": result.start if result else attempt.started_wall,
        "end": result.end if result else None,
        "exit_code": result.exit_code if result else None,
        "ok": attempt.result.ok if attempt.result else None,
        "reason": "interrupted" if attempt.interrupted else (result.reason if result else None),
        "message": result.message if result else "",
        "stderr_tail": result.stderr_tail if result else "",
    }


def provenance(record: RunRecord, task_id: str) -> list[dict[str, Any]]:
    """What each attempt of a task ran, on what files (with hashes), where, and how it ended.
    An attempt still running (or interrupted) has ``end`` None; ``ok`` is None until finished."""
    rec = record.tasks.get(task_id)
    if rec is None:
        close = difflib.get_close_matches(task_id, list(record.tasks), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "list the run's tasks"
        raise JournalError(f"{record.run_dir}: no task {task_id!r} in the journal; {hint}")
    return [_attempt(rec, attempt) for attempt in rec.attempts]


def start_order(record: RunRecord) -> list[str]:
    """Task ids in the order their attempts started (wall clock; a retried task appears once per
    attempt): what a live run did, to set beside a simulation's order."""
    starts = sorted(
        (attempt.started_wall, task_id)
        for task_id, rec in record.tasks.items()
        for attempt in rec.attempts
    )
    return [task_id for _, task_id in starts]
