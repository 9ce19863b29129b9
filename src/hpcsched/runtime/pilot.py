"""The pilot: the live clock. Campaign -> dispatcher -> policy -> executor, journaled.

The loop is the simulator's, :func:`hpcsched.campaigns.loop.drive`, with one thing changed
(SimPy's ``rt`` lesson): the pilot is its clock, and instead of jumping to the next event it waits
for the executor to report completions (or for the next retry to come due, at most
:data:`MAX_WAIT`). Each turn the dispatcher gets the completions, the campaign reacts, the policy
says what starts, the pilot launches it and commits the journal.

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
from pathlib import Path
from typing import Any

from hpcsched.campaigns.api import Campaign
from hpcsched.campaigns.dispatch import Counts, Dispatcher, Launch, Resume
from hpcsched.campaigns.estimates import RuntimeEstimates
from hpcsched.campaigns.loop import drive
from hpcsched.campaigns.task import Task, TaskResult
from hpcsched.core.pool import Pool
from hpcsched.policies.view import Policy
from hpcsched.runtime.executors.base import Attempt, Executor
from hpcsched.runtime.infra import InfraBudget
from hpcsched.runtime.journal import (
    Journal,
    JournalError,
    RunRecord,
    read_journal,
    set_aside,
    written_count,
)
from hpcsched.runtime.lock import RunLock
from hpcsched.runtime.orphans import kill_orphans
from hpcsched.runtime.staging import attempt_dir, commit, hash_inputs, prepare
from hpcsched.runtime.summary import RootCauses, RunSummary

# Journal commits are batched: losing the last 50 ms of events to a kill only means those attempts
# look unfinished and are run again (a "committing" record is always flushed before outputs move).
FLUSH_EVERY = 0.05
MAX_WAIT = 1.0  # seconds: the loop turns at least this often (flush, checkpoint, clamp retries)
Progress = Callable[[Counts, int, int], None]  # counts, running, queued
#: Sees every journal record (keyword arguments: kind, run, t, task_id, attempt, data) and returns
#: nothing: observers never decide (runtime/events.py writes them as JSON lines).
Observer = Callable[..., None]


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
        force: bool = False,
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
        self.force = force  # take a damaged journal as it is (or set it aside) instead of refusing
        self._t0 = 0.0
        self._journal: Journal | None = None
        self._cancels_sent: set[str] = set()
        self._flushed = 0.0
        self._shared = self.run_dir / "attempts"
        self._infra = InfraBudget()
        self._roots = RootCauses()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def run(self) -> RunSummary:
        self._t0 = time.monotonic()
        lock = RunLock(self.run_dir)
        lock.acquire()  # before anything reads, kills or writes: one owner per run directory
        try:
            return self._run()
        finally:
            lock.release()

    def _run(self) -> RunSummary:
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
        ok = False
        try:
            self._loop(journal, dispatcher)
            ok = True
        finally:
            summary = self._summary(dispatcher.counts)
            self._end(journal, summary, quiet=not ok)
        return summary

    def _loop(self, journal: Journal, dispatcher: Dispatcher) -> None:
        """:func:`~hpcsched.campaigns.loop.drive` with this pilot as its wall clock (``launch``,
        ``wait``, ``stuck``); after each decision: cancellations, batched flush, progress."""

        def after_step() -> None:
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

        drive(dispatcher, self, self._complete, after_step=after_step)

    # -- the wall clock (campaigns.loop.Clock) ----------------------------------------------------

    def wait(self, wake: float | None) -> list[TaskResult]:
        assert self._journal is not None
        return self.executor.completions(self._wait(self._journal, wake))

    def stuck(self, dispatcher: Dispatcher) -> None:
        raise RuntimeError(
            f"{dispatcher.queued} task(s) queued but the policy starts none on an idle "
            f"pool ({self.pool.describe()}); is policy {self.policy.name!r} correct?"
        )

    def _wait(self, journal: Journal, wake: float | None) -> float:
        """How long to wait for completions: until the next wake, but never past the next flush
        of buffered events (so ``status`` sees a finished task while the run waits) nor past
        :data:`MAX_WAIT` (a retry due in 30 days, or never, is no timestamp to wait for)."""
        now = self.now()
        timeout = MAX_WAIT if wake is None else min(MAX_WAIT, max(0.0, wake - now))
        if journal.pending:
            timeout = min(timeout, max(0.0, self._flushed + FLUSH_EVERY - now))
        return timeout

    def _end(self, journal: Journal, summary: RunSummary, *, quiet: bool) -> None:
        """Journal ``run-ended`` and close (checkpointing the WAL). After an error (``quiet``) a
        journal that cannot be written, e.g. on a full disk, must not hide the first error."""
        try:
            self._note(journal, "run-ended", t=self.now(), data=summary.as_dict())
            journal.close()
        except JournalError:
            if not quiet:
                raise

    # -- restart ---------------------------------------------------------------------------------

    def _recover(self) -> tuple[Resume, list[Any]]:
        """Finish what a killed run left half done; tell the dispatcher what is already done."""
        self._infra = InfraBudget()
        if not (self.run_dir / "journal.sqlite").exists() and not written_count(self.run_dir):
            return Resume(), []
        record = self._trusted_record()
        if record is None:
            return Resume(), []
        kill_orphans(self.run_dir, _live_attempts(record))
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
        self._infra.seed(record)
        return self._resume_from(record), self._history(record)

    def _trusted_record(self) -> RunRecord | None:
        """The journal, checked. Damaged, it is refused; with ``force`` a readable one is taken
        as it is (work whose end was lost runs again) and an unreadable one is set aside (None:
        a fresh run)."""
        try:
            return read_journal(self.run_dir, check=True)
        except JournalError as exc:
            if not self.force:
                raise
            warnings.warn(f"--force: {exc}", stacklevel=2)
        try:
            return read_journal(self.run_dir, check=True, trust_count=False)
        except JournalError:
            moved = ", ".join(path.name for path in set_aside(self.run_dir))
            warnings.warn(f"--force: the damaged journal was moved aside: {moved}", stacklevel=2)
            return None

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
        if kind == "failed":
            self._roots.see(task_id, data)
        self._note(self._journal, kind, t=self.now(), task_id=task_id, attempt=attempt, data=data)

    def _workdir(self, task: Task, number: int) -> Path:
        # A callable that declares no files has nothing to stage or commit: it runs in the shared
        # staging root instead of a folder of its own (no mkdir at thousands of tasks a second).
        if task.command is None and not task.inputs and not task.outputs:
            return self._shared
        return attempt_dir(self.run_dir, task.id, number)

    def launch(self, launch: Launch) -> bool:
        """Start the attempt; True when it ended at once instead (missing input, or a task that
        keeps killing the runtime)."""
        task = launch.task
        if _child_of_ours(task) and self._journal is not None and self._journal.pending:
            # durable before it runs: a task that kills this process (kill -9 $PPID) leaves its
            # attempt in the journal, to be marked interrupted and counted. (A pooled callable
            # runs in a pool worker, not under us: its turn stays batched.)
            self._journal.flush()
            self._flushed = self.now()
        workdir = self._workdir(task, launch.number)
        refused = self._infra.refuses(task.id)
        if refused is not None:
            self._settle(launch, "infrastructure", refused)
            return True
        error = None if workdir is self._shared else prepare(task, workdir, self.work_dir)
        if error is not None:
            self._settle(launch, "missing-input", error)
            return True
        self.executor.submit(Attempt(task, launch.number, workdir))
        return False

    def _settle(self, launch: Launch, reason: Any, message: str) -> None:
        wall = time.time()
        result = TaskResult(
            task_id=launch.task.id,
            attempt=launch.number,
            ok=False,
            reason=reason,
            message=message,
            start=wall,
            end=wall,
            host=socket.gethostname(),
        )
        self._dispatcher.finish(result, self.now())

    def _complete(self, result: TaskResult) -> None:
        task = self._dispatcher.task(result.task_id)
        result = self._infra.charge(result)
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
            root_causes=self._roots.listed(),
        )


def _live_attempts(record: RunRecord) -> set[tuple[str, int]]:
    """The attempts a killed run left running: the only ones whose processes may be killed."""
    return set(record.unfinished_attempts())


def _child_of_ours(task: Task) -> bool:
    """Whether the attempt may run as a child process of the pilot (a command, or a callable
    with a timeout), and so could kill it."""
    return task.command is not None or task.timeout is not None
