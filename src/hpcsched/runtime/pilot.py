"""The pilot: the live clock. Campaign -> dispatcher -> policy -> executor, journaled.

The loop is the simulator's with one thing changed (SimPy's ``rt`` lesson): instead of jumping to
the next event it waits for the executor to report completions (or for the next retry to come
due). Each turn it hands the completions to the dispatcher, lets the campaign react, asks the
policy what starts, launches it, and commits the journal.

Exactly-once outputs: an attempt writes into its own staging directory; when it succeeds the pilot
journals ``committing``, moves the declared outputs into the work directory, then journals
``finished``. After a crash, a ``committing`` without ``finished`` is completed (the move is
idempotent) instead of being run again, and an attempt that never finished is retried.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hpcsched.campaigns.api import Campaign
from hpcsched.campaigns.dispatch import Counts, Dispatcher, Launch, Resume
from hpcsched.campaigns.estimates import RuntimeEstimates
from hpcsched.campaigns.task import Task, TaskResult
from hpcsched.core.pool import Pool
from hpcsched.policies.view import Policy
from hpcsched.runtime.executors.base import Attempt, Executor
from hpcsched.runtime.journal import Journal, RunRecord, read_journal
from hpcsched.runtime.orphans import kill_orphans
from hpcsched.runtime.staging import attempt_dir, commit, hash_inputs, prepare

# Journal commits are batched: losing the last 50 ms of events to a kill only means those attempts
# look unfinished and are run again (a "committing" record is always flushed before outputs move).
FLUSH_EVERY = 0.05
Progress = Callable[[Counts, int, int], None]  # counts, running, queued
#: Sees every journal record (keyword arguments: kind, run, t, task_id, attempt, data) and returns
#: nothing: observers never decide (runtime/events.py writes them as JSON lines).
Observer = Callable[..., None]


@dataclass(frozen=True)
class RunSummary:
    tasks: int
    succeeded: int
    failed: int
    cancelled: int
    retried: int
    replayed: int
    wall_seconds: float
    run_dir: str
    policy: str
    executor: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Pilot:
    def __init__(
        self,
        campaign: Campaign,
        policy: Policy,
        pool: Pool,
        executor: Executor,
        run_dir: Path,
        work_dir: Path,
        *,
        progress: Progress | None = None,
        label: str = "",
        observer: Observer | None = None,
    ) -> None:
        self.campaign = campaign
        self.policy = policy
        self.pool = pool
        self.executor = executor
        self.run_dir = Path(run_dir).resolve()
        self.work_dir = Path(work_dir).resolve()
        self.progress = progress
        self.label = label
        self.observer = observer
        self._t0 = 0.0
        self._journal: Journal | None = None
        self._cancels_sent: set[str] = set()
        self._flushed = 0.0
        self._shared = self.run_dir / "attempts"

    def now(self) -> float:
        return time.monotonic() - self._t0

    def run(self) -> RunSummary:
        self._t0 = time.monotonic()
        resumed = (self.run_dir / "journal.sqlite").exists()
        resume, history = self._recover()
        journal = self._journal = Journal(self.run_dir)
        self._shared.mkdir(exist_ok=True)
        self._note(journal, "run-started", t=0.0, data=self._identity(), seen={"resumed": resumed})
        estimates = RuntimeEstimates().seed(history)
        dispatcher = Dispatcher(
            self.campaign,
            self.policy,
            self.pool,
            resume=resume,
            emit=self._emit,
            estimates=estimates,
        )
        self._dispatcher = dispatcher
        try:
            dispatcher.begin(self.now())
            while True:
                for launch in dispatcher.step(self.now()):
                    self._launch(launch)
                for tid in dispatcher.take_cancels():
                    key = f"{tid}#{dispatcher.attempt_of(tid)}"
                    if key not in self._cancels_sent:
                        self._cancels_sent.add(key)
                        self.executor.cancel(key)
                if self.now() - self._flushed >= FLUSH_EVERY:
                    journal.flush()
                    self._flushed = self.now()
                if self.progress is not None:
                    self.progress(dispatcher.counts, dispatcher.running, dispatcher.queued)
                if dispatcher.done():
                    break
                wake = dispatcher.next_wake()
                if dispatcher.running == 0 and wake is None:
                    raise RuntimeError(
                        f"{dispatcher.queued} task(s) queued but the policy starts none on an idle "
                        f"pool ({self.pool.describe()}); is policy {self.policy.name!r} correct?"
                    )
                timeout = None if wake is None else max(0.0, wake - self.now())
                for result in self.executor.completions(timeout):
                    self._complete(result)
        finally:
            summary = self._summary(dispatcher.counts)
            self._note(journal, "run-ended", t=self.now(), data=summary.as_dict())
            journal.close()
        return summary

    # -- restart ---------------------------------------------------------------------------------

    def _recover(self) -> tuple[Resume, list[Any]]:
        """Finish what a killed run left half done; tell the dispatcher what is already done."""
        if not (self.run_dir / "journal.sqlite").exists():
            return Resume(), []
        kill_orphans(self.run_dir / "attempts")
        record = read_journal(self.run_dir)
        journal = Journal(self.run_dir)
        try:
            committed = set()
            for tid, number, result in record.pending_commits():
                committed.add((tid, number))
                task = record.tasks[tid].task
                files, error = commit(task, attempt_dir(self.run_dir, tid, number), self.work_dir)
                done = self._with_files(result, task, files, error)
                self._note(
                    journal,
                    "finished",
                    t=0.0,
                    task_id=tid,
                    attempt=number,
                    data=done.model_dump(mode="json"),
                )
            for tid, number in record.unfinished_attempts():
                if (tid, number) in committed:
                    continue
                self._note(journal, "interrupted", t=0.0, task_id=tid, attempt=number)
        finally:
            journal.close()
        record = read_journal(self.run_dir)
        return self._resume_from(record), self._history(record)

    @staticmethod
    def _resume_from(record: RunRecord) -> Resume:
        return Resume(
            succeeded=record.succeeded(),
            attempts={tid: len(rec.attempts) for tid, rec in record.tasks.items()},
            submitted=frozenset(record.tasks),
        )

    @staticmethod
    def _history(record: RunRecord) -> list[Any]:
        return [
            (record.tasks[tid].task, result.elapsed) for tid, result in record.succeeded().items()
        ]

    def _note(
        self,
        journal: Journal,
        kind: str,
        *,
        t: float,
        task_id: str | None = None,
        attempt: int | None = None,
        data: dict[str, Any] | None = None,
        seen: dict[str, Any] | None = None,
    ) -> None:
        """Journal one event, then show it to the observer (``seen``: extra fields for it only).

        An observer that raises is dropped with one warning: watching must never stop a run.
        """
        journal.record(kind, t=t, task_id=task_id, attempt=attempt, data=data)
        if self.observer is None:
            return
        try:
            self.observer(
                kind=kind,
                run=str(self.run_dir),
                t=t,
                task_id=task_id,
                attempt=attempt,
                data={**(data or {}), **(seen or {})},
            )
        except Exception as exc:  # any observer bug must not end the run
            warnings.warn(f"event observer dropped after an error: {exc}", stacklevel=2)
            self.observer = None

    # -- one turn's work -------------------------------------------------------------------------

    def _emit(self, kind: str, task_id: str, attempt: int | None, data: dict[str, Any]) -> None:
        assert self._journal is not None
        if kind == "started" and attempt is not None:
            data["workdir"] = str(self._workdir(self._dispatcher.task(task_id), attempt))
        self._note(self._journal, kind, t=self.now(), task_id=task_id, attempt=attempt, data=data)

    def _workdir(self, task: Task, number: int) -> Path:
        # A callable that declares no files has nothing to stage or commit: it runs in the shared
        # staging root instead of a folder of its own (no mkdir at thousands of tasks a second).
        if task.command is None and not task.inputs and not task.outputs:
            return self._shared
        return attempt_dir(self.run_dir, task.id, number)

    def _launch(self, launch: Launch) -> None:
        task = launch.task
        workdir = self._workdir(task, launch.number)
        error = None if workdir is self._shared else prepare(task, workdir, self.work_dir)
        if error is not None:
            wall = time.time()
            self._dispatcher.finish(
                TaskResult(
                    task_id=task.id,
                    attempt=launch.number,
                    ok=False,
                    reason="missing-input",
                    message=error,
                    start=wall,
                    end=wall,
                    host=socket.gethostname(),
                ),
                self.now(),
            )
            return
        self.executor.submit(Attempt(task, launch.number, workdir))

    def _complete(self, result: TaskResult) -> None:
        task = self._dispatcher.task(result.task_id)
        if result.ok and (task.outputs or task.inputs):
            assert self._journal is not None
            self._note(
                self._journal,
                "committing",
                t=self.now(),
                task_id=task.id,
                attempt=result.attempt,
                data=result.model_dump(mode="json"),
            )
            self._journal.flush()  # durable before any output moves
            workdir = attempt_dir(self.run_dir, task.id, result.attempt)
            files, error = commit(task, workdir, self.work_dir)
            result = self._with_files(result, task, files, error)
        self._dispatcher.finish(result, self.now())

    def _with_files(
        self, result: TaskResult, task: Any, files: list[Any], error: str | None
    ) -> TaskResult:
        if error is not None:
            return result.model_copy(
                update={"ok": False, "reason": "missing-output", "message": error}
            )
        return result.model_copy(
            update={"outputs": files, "inputs": hash_inputs(task, self.work_dir)}
        )

    # -- reporting -------------------------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        return {
            "workflow": self.label,
            "policy": self.policy.name,
            "executor": getattr(self.executor, "name", type(self.executor).__name__),
            "pool": self.pool.describe(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "user": getpass.getuser(),
            "argv": sys.argv,
            "work_dir": str(self.work_dir),
        }

    def _summary(self, counts: Counts) -> RunSummary:
        return RunSummary(
            tasks=counts.submitted,
            succeeded=counts.succeeded,
            failed=counts.failed,
            cancelled=counts.cancelled,
            retried=counts.retried,
            replayed=counts.replayed,
            wall_seconds=round(self.now(), 3),
            run_dir=str(self.run_dir),
            policy=self.policy.name,
            executor=getattr(self.executor, "name", type(self.executor).__name__),
        )
