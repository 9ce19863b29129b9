"""Which finished tasks a resumed run does again: those whose command changed, or whose outputs
are missing or changed, since they succeeded, and every task that depends on one of them.

``make`` rebuilds a target older than its sources; a run's journal knows more than timestamps:
what each successful attempt ran (its task's action, or the one stamped on its ``started`` event
when the workflow had changed) and the sha256 and size of every output it committed
(``runtime/staging.py``). A task is done again when any of these no longer holds; a size that
differs spares reading the file, an equal one is hashed. The pilot journals an ``invalidated``
event for each task found here before anything runs, so the decision survives a crash: a task
invalidated stays undone until it succeeds again, even if its dependency was redone meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from hpcsched.campaigns.task import Task
from hpcsched.runtime.journal import AttemptRecord, RunRecord, TaskRecord
from hpcsched.runtime.staging import hash_file


@dataclass(frozen=True)
class Stale:
    """A finished task to run again, and why (one clause, for ``TASK: re-run (WHY)``)."""

    task_id: str
    reason: str

    def line(self) -> str:
        return f"{self.task_id}: re-run ({self.reason})"


def stale_tasks(
    tasks: list[Task], record: RunRecord, done: Collection[str], work_dir: Path
) -> list[Stale]:
    """The tasks of ``done`` (what the resume would replay) to run again, in the order of
    ``tasks`` (topological: a dependent after what it depends on). A task's own cause comes
    before "depends on" (it says more).

    An intermediate output deleted on purpose (journaled ``cleaned``, ``runtime/cleanup.py``) is
    not missing, unless a task that still has to run reads it: then its producer runs again.
    Which tasks still run depends on which are stale, so this repeats until no producer is added
    (each pass adds one at least, so at most one pass per task)."""
    cleaned = {rel: tid for tid, rec in record.tasks.items() for rel in rec.cleaned}
    needed: dict[str, str] = {}  # producer of a cleaned file -> why a reader needs it again
    while True:
        stale = _stale(tasks, record, done, Path(work_dir), cleaned, needed)
        runs = {task.id for task in tasks if task.id not in done or task.id in stale}
        more: dict[str, str] = {}
        for task in tasks:
            for rel in task.inputs if task.id in runs else ():
                producer = cleaned.get(os.path.normpath(rel))
                if producer is not None and producer not in runs and producer not in needed:
                    more.setdefault(
                        producer, f"its output {rel} was cleaned up and {task.id} reads it"
                    )
        if not more:
            return list(stale.values())
        needed.update(more)


def _stale(
    tasks: list[Task],
    record: RunRecord,
    done: Collection[str],
    work_dir: Path,
    cleaned: dict[str, str],
    needed: dict[str, str],
) -> dict[str, Stale]:
    stale: dict[str, Stale] = {}
    # a file a later task writes again (Pegasus' inout, a log appended to) is the later task's to
    # check: its first writer's sha256 is expected to differ
    last_writer = {rel: task.id for task in tasks for rel in task.outputs}
    for task in tasks:
        rec = record.tasks.get(task.id)
        if task.id not in done or rec is None:
            continue
        rewritten = {rel for rel in task.outputs if last_writer[rel] != task.id}
        gone = {rel for rel in task.outputs if cleaned.get(os.path.normpath(rel)) == task.id}
        reason = _own_reason(task, rec, work_dir, rewritten, gone) or needed.get(task.id)
        if reason is None:
            dep = next((d for d in task.depends if d in stale), None)
            reason = None if dep is None else f"depends on {dep}"
        if reason is not None:
            stale[task.id] = Stale(task.id, reason)
    return stale


def changed_actions(tasks: list[Task], record: RunRecord) -> frozenset[str]:
    """Tasks whose action differs from the one journaled when they were first submitted: their
    attempts stamp what they run on their ``started`` event (:func:`ran`)."""
    return frozenset(
        task.id
        for task in tasks
        if task.id in record.tasks and record.tasks[task.id].task.action() != task.action()
    )


def ran(rec: TaskRecord, attempt: AttemptRecord) -> str:
    """What an attempt ran: its stamp, else the action of the task as first submitted."""
    return attempt.command or rec.task.action()


def _own_reason(
    task: Task,
    rec: TaskRecord,
    work_dir: Path,
    rewritten: Collection[str] = (),
    cleaned: Collection[str] = (),
) -> str | None:
    last = next((a for a in reversed(rec.attempts) if a.result is not None and a.result.ok), None)
    if last is None or last.result is None:
        return None
    if ran(rec, last) != task.action():
        what = "command" if task.command is not None else "callable or its arguments"
        return f"its {what} changed since it succeeded"
    recorded = {f.path: f for f in last.result.outputs}
    for rel in task.outputs:
        path = work_dir / rel
        if not path.is_file():
            if rel in cleaned:
                continue  # deleted on purpose once its readers succeeded (runtime/cleanup.py)
            return f"its output {rel} is missing"
        if rel in rewritten:
            continue  # a later task wrote it again: that task checks its content
        was = recorded.get(rel)
        if was is None:
            return f"its output {rel} was not declared when it succeeded"
        if path.stat().st_size != was.size or hash_file(path, rel).sha256 != was.sha256:
            return f"its output {rel} changed: sha256 differs"
    return None
