"""The run journal: every event of a live run, appended to SQLite, folded back into a record.

The journal is what makes a run restartable after ``kill -9`` and analysable afterwards, so it is
append-only (one ``INSERT`` per event, never an update): a crash can lose at most the events not
yet flushed, never rewrite history, and a reader folding the events in ``seq`` order always sees a
prefix of what happened. Events are buffered and committed once per pilot loop turn in a single
transaction, which is what lets it keep up with thousands of events per second.

Durability: WAL mode with ``synchronous=NORMAL``. A committed transaction is in the WAL file (in
the OS page cache at least) before ``flush()`` returns, so it survives the process being killed,
which is the failure restart is for. It may lose the last transactions on a power cut or kernel
crash (the database stays consistent); that trade buys an fsync-free commit per loop turn.

What users do to files: the WAL is checkpointed into ``journal.sqlite`` every
:data:`CHECKPOINT_EVERY` seconds and when the run ends, so the database file alone holds the
history. After each commit the writer records how many events exist in ``journal.count`` (one
``pwrite``, no fsync: it survives ``kill -9`` like the WAL does). A reader that finds fewer events
than that count knows the ``-wal`` was deleted or damaged (SQLite silently drops WAL frames whose
checksum fails) and refuses the journal instead of folding a shortened history, which a restart
would take for unfinished work and run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from hpcsched.campaigns.task import Task, TaskResult

JOURNAL_NAME = "journal.sqlite"
COUNT_NAME = "journal.count"
#: seconds between WAL checkpoints while a run goes on (one more when it ends)
CHECKPOINT_EVERY = 2.0
_COUNT_WIDTH = 20

#: Event kinds, with the fields each one must carry (t is always required).
EVENT_KINDS: dict[str, tuple[bool, bool]] = {  # kind: (needs task_id, needs attempt)
    "run-started": (False, False),
    "submitted": (True, False),
    "started": (True, True),
    "committing": (True, True),
    "finished": (True, True),
    "retry": (True, True),
    "failed": (True, False),
    "cancelled": (True, False),
    "interrupted": (True, True),
    "invalidated": (True, False),  # succeeded, but to be done again (runtime/invalidate.py)
    "cleaned": (True, False),  # an intermediate output of the task deleted (runtime/cleanup.py)
    "run-ended": (False, False),
}

TaskRecordState = Literal["succeeded", "failed", "cancelled", "running", "waiting"]
_FINAL = ("succeeded", "failed", "cancelled")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, t REAL NOT NULL,"
    " wall REAL NOT NULL, kind TEXT NOT NULL, task_id TEXT, attempt INTEGER, data TEXT);"
    " CREATE INDEX IF NOT EXISTS events_task_id ON events (task_id);"
)
_INSERT = "INSERT INTO events (t, wall, kind, task_id, attempt, data) VALUES (?, ?, ?, ?, ?, ?)"


class JournalError(ValueError):
    """A run directory has no readable journal, or a task is not in it (one line, with a hint)."""


class Journal:
    """The writer. One per run directory; a restart opens the same journal and appends to it."""

    def __init__(self, run_dir: Path) -> None:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / JOURNAL_NAME
        if not self.path.exists():
            _create(self.path)
        self._db = sqlite3.connect(self.path)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            (seq,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise JournalError(f"{self.path}: not a journal ({exc}); use another run dir") from None
        self._buffer: list[tuple[float, float, str, str | None, int | None, str | None]] = []
        self._count = int(seq)
        self._count_fd = os.open(run_dir / COUNT_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        self._checkpointed = time.monotonic()
        self._write_count()

    def record(
        self,
        kind: str,
        *,
        t: float,
        task_id: str | None = None,
        attempt: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Buffer one event, stamped with the wall clock now (not at flush, which may be later).

        The data are serialised here, so a caller may mutate its dict afterwards and a value that
        is not JSON fails at the call that produced it rather than at the next flush.
        """
        needs = EVENT_KINDS.get(kind)
        if needs is None:
            raise ValueError(f"unknown journal event {kind!r}; one of {', '.join(EVENT_KINDS)}")
        if needs[0] and not task_id:
            raise ValueError(f"a {kind!r} event needs a task_id")
        if needs[1] and attempt is None:
            raise ValueError(f"a {kind!r} event needs an attempt number")
        payload = None if data is None else json.dumps(data, separators=(",", ":"))
        self._buffer.append((t, time.time(), kind, task_id, attempt, payload))

    def flush(self) -> None:
        """Commit the buffered events in one transaction (and checkpoint when one is due). On
        error the buffer is kept (and the transaction rolled back), so a later flush can still
        write them; the error is a :class:`JournalError` naming the cause."""
        if self._buffer:
            try:
                with self._db:
                    self._db.executemany(_INSERT, self._buffer)
            except (sqlite3.DatabaseError, OSError) as exc:  # a full disk, a quota, EFBIG
                raise JournalError(
                    f"{self.path}: cannot write the journal ({exc}); free space, then run again "
                    "to resume"
                ) from None
            self._count += len(self._buffer)
            self._buffer.clear()
            self._write_count()
        if time.monotonic() - self._checkpointed >= CHECKPOINT_EVERY:
            self.checkpoint()

    @property
    def pending(self) -> int:
        """Events recorded and not yet flushed."""
        return len(self._buffer)

    def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Copy the WAL into ``journal.sqlite`` (``PASSIVE`` never waits for readers; the final
        ``TRUNCATE`` also empties the WAL file). A busy reader only postpones it."""
        self._checkpointed = time.monotonic()
        with contextlib.suppress(sqlite3.OperationalError):
            self._db.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()

    def _write_count(self) -> None:
        os.pwrite(self._count_fd, f"{self._count:0{_COUNT_WIDTH}d}\n".encode(), 0)

    def close(self) -> None:
        """Flush, checkpoint the WAL into the database, and close."""
        try:
            self.flush()
            self.checkpoint("TRUNCATE")
        finally:
            self._db.close()
            os.close(self._count_fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


_FIX = "restore it from a backup, or run with --force to accept the loss"


def _create(path: Path) -> None:
    """Create an empty journal atomically: the schema is written to a side file that is renamed
    into place, so a kill during creation never leaves a ``journal.sqlite`` without its table
    (which a restart would have to refuse as damaged)."""
    side = path.with_name(f"{path.name}.creating")
    for leftover in ("", "-journal", "-wal", "-shm"):  # of a creation killed before its rename
        side.with_name(side.name + leftover).unlink(missing_ok=True)
    db = sqlite3.connect(side)
    try:
        db.executescript(_SCHEMA)
    finally:
        db.close()
    os.replace(side, path)


def written_count(run_dir: Path) -> int:
    """How many events the journal's writers committed (0 when ``journal.count`` is absent)."""
    try:
        text = (Path(run_dir) / COUNT_NAME).read_text(encoding="ascii")
        return int(text.strip() or 0)
    except (OSError, ValueError):
        return 0


def _check_integrity(db: sqlite3.Connection, path: Path) -> None:
    problems = [row[0] for row in db.execute("PRAGMA integrity_check(3)").fetchall()]
    if problems != ["ok"]:
        raise JournalError(f"{path}: damaged ({'; '.join(problems)}); {_FIX}")


def set_aside(run_dir: Path) -> list[Path]:
    """Rename a damaged journal's files out of the way (``--force``); returns their new names."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    moved = []
    for name in (JOURNAL_NAME, f"{JOURNAL_NAME}-wal", f"{JOURNAL_NAME}-shm", COUNT_NAME):
        path = Path(run_dir) / name
        if path.exists():
            moved.append(path.rename(path.with_name(f"{name}.damaged-{stamp}")))
    return moved


def read_journal(run_dir: Path, *, check: bool = False, trust_count: bool = True) -> RunRecord:
    """Fold a run directory's journal into a :class:`RunRecord`.

    Opens the database read-only, so it works while the pilot is writing (WAL readers see the
    last committed flush) and never creates a journal by mistake. A journal with fewer events
    than its writers committed is refused (see the module docstring); ``check`` also runs
    ``PRAGMA integrity_check`` (what a restart does before it trusts the history);
    ``trust_count=False`` accepts a shortened history (``--force``).
    """
    run_dir = Path(run_dir)
    path = run_dir / JOURNAL_NAME
    if not run_dir.is_dir():
        raise JournalError(f"{run_dir}: no such run directory (give the directory a run wrote)")
    # the count before the events: a live writer only adds to both
    written = written_count(run_dir) if trust_count else 0
    if not path.is_file():
        if written:
            raise JournalError(
                f"{path}: missing, but {written} events were written to it; restore it, or "
                "run with --force to start the run over"
            )
        raise JournalError(f"{run_dir}: not a run directory, it has no {JOURNAL_NAME}")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if check:
                _check_integrity(db, path)
            rows = db.execute(
                "SELECT seq, wall, kind, task_id, attempt, data FROM events ORDER BY seq"
            ).fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{path}: damaged or not a journal ({exc}); {_FIX}") from None
    last = rows[-1][0] if rows else 0
    if last < written:
        raise JournalError(
            f"{path}: damaged: it holds {last} events but {written} were written (its -wal was "
            f"deleted or corrupted); {_FIX}"
        )
    record = RunRecord(run_dir=run_dir, events=len(rows))
    for seq, wall, kind, task_id, attempt, data in rows:
        payload = {} if data is None else json.loads(data)
        try:
            _apply(record, kind, wall, task_id, attempt, payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise JournalError(
                f"{path}: event {seq} ({kind}) is malformed: {where}: {first['msg']}"
            ) from None
    return record


def _apply(
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
