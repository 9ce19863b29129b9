"""Why a run failed, in the manner of ``pegasus-analyzer``: root causes first, the rest follows.

In a workflow one failure blocks everything downstream of it; listing every failed task buries
the one that matters. So the diagnosis reports the tasks that failed on their own (root causes),
each with its stderr tail and the downstream tasks it blocked, and counts the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hpcsched.runtime.journal import RunRecord
from hpcsched.runtime.task_states import is_blocked, state_counts

_LIST_AT_MOST = 10  # names listed in "blocks:" / "unfinished:" before "and N more"
_STDERR_LINES = 5


@dataclass(frozen=True)
class RootCause:
    """A task that failed on its own, and the tasks that failed because of it."""

    task_id: str
    reason: str  # exit, signal, timeout, out-of-memory, missing-input, missing-output, lost, ...
    message: str
    stderr_tail: str
    attempts: int
    blocked: list[str] = field(default_factory=list)  # submission order


@dataclass(frozen=True)
class Diagnosis:
    root_causes: list[RootCause]
    counts: dict[str, int]  # succeeded, failed (ran and failed), blocked, cancelled, unfinished
    unfinished: list[str]  # running or waiting, submission order
    ended: bool  # the journal has a run-ended event

    @property
    def blocked(self) -> int:
        return sum(len(cause.blocked) for cause in self.root_causes)


def _resolve_root(record: RunRecord, task_id: str) -> str:
    """The task at the origin of a dependency failure. The ``root`` of the ``failed`` event is
    normally it already; if it names another blocked task (or nothing usable) follow ``root``
    fields, then the task's ``depends``, until a task that failed on its own (or was cancelled)."""
    seen: set[str] = set()
    current = task_id
    while current not in seen:
        seen.add(current)
        rec = record.tasks.get(current)
        if rec is None or not is_blocked(rec):
            return current
        root = rec.failure[2] if rec.failure else ""
        if root and root != current and root not in seen:
            current = root
            continue
        broken = [
            dep
            for dep in rec.task.depends
            if dep in record.tasks and record.tasks[dep].state in ("failed", "cancelled")
        ]
        if not broken:
            return current
        current = broken[0]
    return current


def diagnose(record: RunRecord) -> Diagnosis:
    """Root causes (in submission order), what each blocked, and the counts of a run's tasks."""
    blocked: dict[str, list[str]] = {}
    for task_id, rec in record.tasks.items():
        if is_blocked(rec):
            blocked.setdefault(_resolve_root(record, task_id), []).append(task_id)
    causes: list[RootCause] = []
    for task_id, rec in record.tasks.items():
        own_failure = rec.state == "failed" and not is_blocked(rec)
        if not own_failure and task_id not in blocked:
            continue
        if rec.failure is not None and own_failure:
            reason, message = rec.failure[0], rec.failure[1]
        elif rec.state == "cancelled":
            reason, message = "cancelled", "cancelled"
        else:  # its dependants say it failed, the journal does not say how
            reason, message = "unknown", f"{task_id} is recorded as {rec.state}"
        last = rec.last_attempt
        result = last.result if last is not None else None
        causes.append(
            RootCause(
                task_id=task_id,
                reason=reason,
                message=message or (result.message if result else "") or reason,
                stderr_tail=result.stderr_tail if result else "",
                attempts=len(rec.attempts),
                blocked=blocked.pop(task_id, []),
            )
        )
    for root, ids in blocked.items():  # a root that was never submitted
        causes.append(RootCause(root, "unknown", f"{root} is not in the journal", "", 0, ids))
    unfinished = [tid for tid, rec in record.tasks.items() if rec.state in ("running", "waiting")]
    every = state_counts(record)
    counts = {key: every[key] for key in ("succeeded", "failed", "blocked", "cancelled")}
    counts["unfinished"] = len(unfinished)
    return Diagnosis(causes, counts, unfinished, record.ended is not None)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _names(ids: list[str]) -> str:
    shown = ", ".join(ids[:_LIST_AT_MOST])
    more = len(ids) - _LIST_AT_MOST
    return f"{shown} and {more} more" if more > 0 else shown


def _headline(cause: RootCause) -> str:
    what = cause.message
    if cause.reason not in ("exit", "unknown") and cause.reason not in what.lower():
        what = f"{cause.reason}: {what}"
    tries = f" after {_plural(cause.attempts, 'attempt')}" if cause.attempts else ""
    return f"✗ {cause.task_id} failed: {what}{tries}"


def render_diagnosis(
    d: Diagnosis, details: Mapping[str, list[str]] | None = None, rerun: str = ""
) -> str:
    """Plain text for a terminal or a log: a summary line, then one paragraph per root cause.

    ``details``: lines to print under a root cause instead of its stderr tail (``why`` gives the
    command, host, folder, captured files and both tails); ``rerun``: the command that runs the
    failed tasks again, printed last."""
    lines: list[str] = []
    if not d.root_causes:
        lines.append(f"no failures: {_plural(d.counts['succeeded'], 'task')} succeeded")
        if d.counts["cancelled"]:
            lines[-1] += f", {d.counts['cancelled']} cancelled"
    else:
        # failed (ran, and failed) apart from blocked (never ran): the counts of status and tasks
        head = f"{d.counts['failed']} failed, {d.counts['blocked']} blocked"
        if d.counts["blocked"]:
            head += " (never ran: a dependency failed)"
        if d.counts["cancelled"]:
            head += f", {d.counts['cancelled']} cancelled"
        lines.append(head)
        for cause in d.root_causes:
            lines += ["", _headline(cause)]
            tail = cause.stderr_tail.rstrip().splitlines()[-_STDERR_LINES:]
            if details is not None and cause.task_id in details:
                lines += details[cause.task_id]
            elif tail:
                lines.append(f"  stderr: {tail[0]}")
                lines += [f"          {line}" for line in tail[1:]]
            if cause.blocked:
                lines.append(f"  blocks: {_names(cause.blocked)}")
    if d.unfinished:
        prefix = "" if d.ended else "run did not end; "
        lines += ["", f"{prefix}{len(d.unfinished)} unfinished: {_names(d.unfinished)}"]
    elif not d.ended:
        lines += ["", "run did not end (no run-ended event)"]
    if rerun and d.root_causes:
        lines += ["", f"re-run all: {rerun}  (succeeded tasks are kept, the rest run again)"]
    return "\n".join(lines)
