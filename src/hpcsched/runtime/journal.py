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
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hpcsched.runtime.run_record import (
    AttemptRecord,
    RunRecord,
    TaskRecord,
    TaskRecordState,
    apply_event,
)

__all__ = [
    "EVENT_KINDS",
    "AttemptRecord",
    "Journal",
    "JournalError",
    "RunRecord",
    "TaskRecord",
    "TaskRecordState",
    "read_journal",
]

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
            apply_event(record, kind, wall, task_id, attempt, payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise JournalError(
                f"{path}: event {seq} ({kind}) is malformed: {where}: {first['msg']}"
            ) from None
    return record
