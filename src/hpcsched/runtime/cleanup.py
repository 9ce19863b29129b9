"""Intermediate files deleted from the work directory after their last reader (``run --cleanup``).

``pegasus-plan --cleanup inplace`` (its default) adds cleanup jobs that remove a file from the
scratch directory once every job that uses it is done
(https://pegasus.isi.edu/documentation/user-guide/optimizing-workflows-for-efficiency.html).
Here the same rule is a decision with no I/O: :meth:`CleanupPlan.due` says which files may go
given the tasks that succeeded, and the pilot of ``hpcsched run`` (``runtime/run_control.py``)
journals ``cleaned`` (flushed) before it deletes, so a resumed run knows the file was removed on
purpose: ``runtime/invalidate.py`` does not take it for a missing output, unless a task that
still has to run reads it (then its producer runs again). A reader that failed leaves the file
in place: a retry or ``--rerun`` needs it.

What counts as intermediate: in a Pegasus workflow, an ``output`` use with ``stageOut: false``
(nothing asked for it after the run); in the project's YAML format, with ``--cleanup inplace``,
an output another job reads. A file two jobs write (an ``inout`` rewrite) is never deleted.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from hpcsched.campaigns.task import Task

CleanupMode = Literal["none", "inplace"]


@dataclass(frozen=True)
class CleanupPlan:
    """Which task writes each intermediate file and which tasks read it (files relative to the
    work directory, as :func:`os.path.normpath` spells them)."""

    producer: dict[str, str]  #: file -> the task writing it
    readers: dict[str, frozenset[str]]  #: file -> the tasks reading it (none: only its producer)

    def due(self, succeeded: Collection[str], files: Iterable[str] | None = None) -> list[str]:
        """The files (of ``files``, default all) whose producer and every reader succeeded."""
        return [
            rel
            for rel in (self.producer if files is None else files)
            if rel in self.producer
            and self.producer[rel] in succeeded
            and all(reader in succeeded for reader in self.readers[rel])
        ]

    def files_of(self, task: Task) -> list[str]:
        """The intermediate files a task writes or reads (what its success may free)."""
        named = (os.path.normpath(rel) for rel in (*task.outputs, *task.inputs))
        return list(dict.fromkeys(rel for rel in named if rel in self.producer))


def plan_cleanup(tasks: list[Task], intermediates: Collection[str]) -> CleanupPlan:
    """The plan for ``intermediates`` among the outputs of ``tasks`` (all of the workflow's,
    also those a ``--rerun`` leaves out: their reads count)."""
    wanted = {os.path.normpath(rel) for rel in intermediates}
    writers: dict[str, list[str]] = {}
    reading: dict[str, set[str]] = {}
    for task in tasks:
        for rel in task.outputs:
            writers.setdefault(os.path.normpath(rel), []).append(task.id)
        for rel in task.inputs:
            reading.setdefault(os.path.normpath(rel), set()).add(task.id)
    producer = {rel: ids[0] for rel, ids in writers.items() if rel in wanted and len(ids) == 1}
    readers = {rel: frozenset(reading.get(rel, set()) - {producer[rel]}) for rel in producer}
    return CleanupPlan(producer, readers)


def read_outputs(tasks: list[Task]) -> set[str]:
    """The outputs another task reads: the intermediates of a workflow that marks none itself."""
    read = {os.path.normpath(rel) for task in tasks for rel in task.inputs}
    return {rel for task in tasks for rel in task.outputs if os.path.normpath(rel) in read}


def cleanup_for(
    tasks: list[Task], intermediates: Collection[str] | None, mode: str | None
) -> CleanupPlan | None:
    """``run --cleanup MODE``'s plan: by default ``inplace`` for a workflow that marks its
    intermediates (``intermediates`` not None: Pegasus) and ``none`` for others, whose outputs
    another job reads are deleted only when asked (``inplace``)."""
    if mode is None:
        mode = "none" if intermediates is None else "inplace"
    if mode == "none":
        return None
    return plan_cleanup(tasks, read_outputs(tasks) if intermediates is None else intermediates)
