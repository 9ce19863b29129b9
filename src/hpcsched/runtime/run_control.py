"""Steering a run: ``hpcsched cancel RUN_DIR`` from outside, ``run --rerun TASK`` at its start.

``cancel`` writes a request file, ``RUN_DIR/cancel``, and the pilot that owns the directory
(``run.lock``) looks for it at every loop turn (at most :data:`CHECK_EVERY` apart): it cancels
every unfinished task once (queued and held ones at once, running ones through the executor,
which kills their process groups), then ends as usual, with its summary and a ``cancelled`` event
for each task in the journal. A file rather than a signal works from any host that sees the run
directory, and a request made while the pilot is busy is not lost. The pilot deletes a request
left from before it started, so running the same command again resumes the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpcsched.campaigns.api import StaticWorkflow
from hpcsched.campaigns.dispatch import Counts, Resume
from hpcsched.campaigns.task import TaskResult
from hpcsched.runtime.cleanup import CleanupPlan
from hpcsched.runtime.invalidate import Stale, changed_actions, stale_tasks
from hpcsched.runtime.journal import Journal, JournalError, read_journal
from hpcsched.runtime.lock import live_owner
from hpcsched.runtime.pilot import Pilot
from hpcsched.runtime.summary import RunSummary

CANCEL_NAME = "cancel"
CHECK_EVERY = 0.1  # seconds between two looks for the request file
CANCEL_MESSAGE = "cancelled by hpcsched cancel"


def request_cancel(run_dir: Path) -> str:
    """Ask the live run of ``run_dir`` to stop; returns its owner ("pid N on host H ...").
    :class:`JournalError` (one line) when no run is going on there."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise JournalError(f"{run_dir}: no such run directory (give the directory a run wrote)")
    owner = live_owner(run_dir)
    if owner is None:
        raise JournalError(
            f"{run_dir}: no run is going on there (nothing to cancel); see hpcsched status"
        )
    note = {"pid": os.getpid(), "host": socket.gethostname(), "at": time.time()}
    partial = run_dir / f"{CANCEL_NAME}.partial"
    partial.write_text(json.dumps(note) + "\n")
    partial.replace(run_dir / CANCEL_NAME)  # whole or absent: the pilot never reads half of it
    return owner


class ControlledPilot(Pilot):
    """The pilot of ``hpcsched run``: it also obeys a cancel request (see the module), runs the
    tasks of ``redo`` again even if the journal says they succeeded (``--rerun``), on resume
    runs again finished tasks whose command or outputs changed and their dependents
    (``runtime/invalidate.py``), deletes intermediate files once their readers succeeded
    (``cleanup``, ``runtime/cleanup.py``), and counts blocked tasks apart from failed ones."""

    _cancel_checked = 0.0
    _cancelled = False
    _blocked = 0
    _cleaned = 0
    redo: frozenset[str] = frozenset()
    #: told one line per finished task a resume runs again, and why (runtime/invalidate.py)
    notice: Callable[[str], None] | None = None
    _stamped: frozenset[str] = frozenset()
    #: the intermediate files to delete after their last reader (None: keep every file)
    cleanup: CleanupPlan | None = None
    _succeeded: set[str]

    def _recover(self) -> tuple[Resume, list[Any]]:
        resume, history = super()._recover()
        kept = {tid: r for tid, r in resume.succeeded.items() if tid not in self.redo}
        tasks = self.campaign.tasks if isinstance(self.campaign, StaticWorkflow) else []
        if resume.submitted and tasks:
            record = read_journal(self.run_dir)
            self._stamped = changed_actions(tasks, record)
            stale = stale_tasks(tasks, record, kept, self.work_dir)
            self._invalidate(stale)
            kept = {tid: r for tid, r in kept.items() if tid not in {s.task_id for s in stale}}
        self._succeeded = set(kept)
        if self.cleanup is not None and (due := self.cleanup.due(kept)):
            with Journal(self.run_dir) as journal:  # what a killed run's last readers left
                self._clean(journal, due)
        return Resume(kept, resume.attempts, resume.submitted), history

    def _clean(self, journal: Journal, files: list[str]) -> None:
        """Journal ``cleaned`` for each file there (durably: a resume must know it went on
        purpose), then delete it."""
        assert self.cleanup is not None
        there = [rel for rel in files if (self.work_dir / rel).is_file()]
        for rel in there:
            task_id = self.cleanup.producer[rel]
            self._note(journal, "cleaned", t=self.now(), task_id=task_id, data={"file": rel})
        if there:
            journal.flush()
        for rel in there:
            (self.work_dir / rel).unlink(missing_ok=True)
        self._cleaned += len(there)

    def _invalidate(self, stale: list[Stale]) -> None:
        """Journal each stale task (durably, before anything runs) and say why it runs again."""
        if not stale:
            return
        with Journal(self.run_dir) as journal:
            for s in stale:
                self._note(
                    journal, "invalidated", t=0.0, task_id=s.task_id, data={"reason": s.reason}
                )
        for s in stale:
            if self.notice is not None:
                self.notice(s.line())

    @property
    def cancel_path(self) -> Path:
        return self.run_dir / CANCEL_NAME

    def _run(self) -> RunSummary:
        # under the lock: a request from before this run started is not for it
        with contextlib.suppress(FileNotFoundError):
            self.cancel_path.unlink()
        return super()._run()

    def _emit(self, kind: str, task_id: str, attempt: int | None, data: dict[str, Any]) -> None:
        if kind == "started" and task_id in self._stamped:  # what it runs, for a later resume
            data["command"] = self._dispatcher.task(task_id).action()
        if kind == "failed" and data.get("reason") == "dependency-failed":
            self._blocked += 1
        super()._emit(kind, task_id, attempt, data)
        if kind == "finished" and data.get("ok") and self.cleanup is not None:
            assert self._journal is not None
            self._succeeded.add(task_id)
            files = self.cleanup.files_of(self._dispatcher.task(task_id))
            self._clean(self._journal, self.cleanup.due(self._succeeded, files))

    def _summary(self, counts: Counts) -> RunSummary:
        """The summary with blocked tasks counted apart from failed ones, and the files cleaned."""
        summary = super()._summary(counts)
        blocked = self._blocked
        return dataclasses.replace(
            summary, failed=summary.failed - blocked, blocked=blocked, cleaned=self._cleaned
        )

    def wait(self, wake: float | None) -> list[TaskResult]:
        results = super().wait(wake)
        now = time.monotonic()
        if not self._cancelled and now - self._cancel_checked >= CHECK_EVERY:
            self._cancel_checked = now
            if self.cancel_path.exists():
                self._cancelled = True
                self._dispatcher.cancel(
                    lambda task: True, message=CANCEL_MESSAGE, dependents_first=True
                )
        return results
