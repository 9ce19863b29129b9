"""Running tasks of a run again: ``hpcsched run wf.yaml --rerun TASK`` and the commands ``why``
prints for it.

``--rerun TASK`` runs TASK again whether it succeeded or failed, with every task that depends on
it (transitively), as ``make`` rebuilds what follows a changed target; what TASK needs runs only
if it has not succeeded (earlier successes are replayed from the journal). Other unfinished
tasks of the workflow are left for a plain ``hpcsched run`` (``--rerun`` runs that task alone).
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hpcsched.campaigns.task import Task
from hpcsched.runtime.journal import RunRecord


class RerunError(ValueError):
    """A ``--rerun`` id that is not in the workflow (one line, with the closest ids)."""


@dataclass(frozen=True)
class RerunPlan:
    tasks: list[Task]  #: what the run submits: the tasks redone and what they need, in order
    redo: frozenset[str]  #: run again even if they succeeded: the tasks named and dependents


def plan_rerun(tasks: list[Task], named: Iterable[str], workflow: str = "") -> RerunPlan:
    """The tasks to submit for ``--rerun`` of ``named`` (``tasks`` in topological order)."""
    ids = {task.id for task in tasks}
    for tid in named:
        if tid not in ids:
            close = difflib.get_close_matches(tid, ids, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see hpcsched tasks RUN_DIR"
            where = f"{workflow}: " if workflow else ""
            raise RerunError(f"--rerun {tid}: {where}no task {tid!r} in the workflow; {hint}")
    redo = set(named)
    for task in tasks:  # topological: a dependent comes after what it depends on
        if any(dep in redo for dep in task.depends):
            redo.add(task.id)
    by_id = {task.id: task for task in tasks}
    needed = set(redo)
    for task in reversed(tasks):
        if task.id in needed:
            needed.update(dep for dep in task.depends if dep in by_id)
    return RerunPlan([task for task in tasks if task.id in needed], frozenset(redo))


def rerun_command(record: RunRecord, task_id: str = "") -> str:
    """The ``hpcsched run`` command that resumes this run (succeeded tasks are kept, failed and
    blocked ones run again), or with ``task_id`` runs that task and its dependents alone.
    ``--run-dir`` only when the run dir is not the workflow's default."""
    workflow = next((str(r["workflow"]) for r in reversed(record.runs) if r.get("workflow")), "")
    if not workflow:
        return ""
    words = ["hpcsched", "run", workflow]
    if Path(record.run_dir).name != Path(workflow).stem + ".run":
        words += ["--run-dir", str(record.run_dir)]
    if task_id:
        words += ["--rerun", task_id]
    return shlex.join(words)
