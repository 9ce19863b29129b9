"""The run journal: append-only events, folded back into a record a restart and an analysis use."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hpcsched.campaigns.task import Task, TaskResult
from hpcsched.runtime.journal import Journal, JournalError, read_journal


def _task(task_id: str, **kw: object) -> Task:
    return Task.model_validate({"id": task_id, "command": f"run {task_id}", **kw})


def _result(task_id: str, attempt: int, ok: bool = True, **kw: object) -> dict[str, object]:
    fields = {"task_id": task_id, "attempt": attempt, "ok": ok, "start": 100.0, "end": 110.0}
    return TaskResult.model_validate({**fields, **kw}).model_dump(mode="json")


def _run_started(journal: Journal, **kw: object) -> None:
    data = {"workflow": "wf.yaml", "policy": "easy", "executor": "local", "pool": "local:4"}
    data |= {"host": "login1", "pid": 42, "user": "ana", "argv": ["hpcsched", "run"], **kw}
    journal.record("run-started", t=0.0, data=data)


def test_wal_mode_and_normal_sync(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run")
    assert (tmp_path / "run" / "journal.sqlite").is_file()
    assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    other = sqlite3.connect(tmp_path / "run" / "journal.sqlite")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent
    other.close()
    journal.close()


def test_record_validates_kind_and_fields(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        with pytest.raises(ValueError, match="unknown journal event 'begun'"):
            journal.record("begun", t=0.0)
        with pytest.raises(ValueError, match="needs a task_id"):
            journal.record("submitted", t=0.0, data={})
        with pytest.raises(ValueError, match="needs an attempt number"):
            journal.record("started", t=0.0, task_id="a")
        with pytest.raises(TypeError):  # not JSON: fails here, not at the next flush
            journal.record("run-ended", t=0.0, data={"x": object()})


def test_fold_of_a_run(tmp_path: Path) -> None:
    a, b, c, d = _task("a"), _task("b", retries=1), _task("c", depends=["b"]), _task("d")
    with Journal(tmp_path) as journal:
        _run_started(journal)
        for task in (a, b, c, d):
            journal.record("submitted", t=1.0, task_id=task.id, data=task.model_dump(mode="json"))
        journal.record("started", t=2.0, task_id="a", attempt=1, data={"workdir": "/w/a/1"})
        journal.record("committing", t=3.0, task_id="a", attempt=1, data=_result("a", 1))
        journal.record("finished", t=3.0, task_id="a", attempt=1, data=_result("a", 1, value=7))
        journal.record("started", t=2.0, task_id="b", attempt=1, data={"backfilled": True})
        journal.flush()
        mid = read_journal(tmp_path)
        assert mid.tasks["b"].state == "running"
        assert mid.tasks["c"].state == "waiting"
        bad = _result("b", 1, ok=False, reason="exit", exit_code=2, message="exit status 2")
        journal.record("finished", t=4.0, task_id="b", attempt=1, data=bad)
        journal.record("retry", t=4.0, task_id="b", attempt=1, data={"delay": 1.0})
        journal.record("started", t=5.0, task_id="b", attempt=2, data={})
        journal.record("finished", t=6.0, task_id="b", attempt=2, data=bad | {"attempt": 2})
        journal.record("failed", t=6.0, task_id="b", data={"reason": "exit", "message": "x"})
        failed_c = {"reason": "dependency-failed", "message": "b failed", "root": "b"}
        journal.record("failed", t=6.0, task_id="c", data=failed_c)
        journal.record("cancelled", t=6.5, task_id="d")
        journal.record("run-ended", t=7.0, data={"summary": {"succeeded": 1}})
    record = read_journal(tmp_path)
    assert list(record.tasks) == ["a", "b", "c", "d"]  # submission order
    assert record.events == 17
    assert record.runs[0]["user"] == "ana"
    assert record.ended == {"summary": {"succeeded": 1}}
    assert record.tasks["b"].task == b
    states = {tid: rec.state for tid, rec in record.tasks.items()}
    assert states == {"a": "succeeded", "b": "failed", "c": "failed", "d": "cancelled"}
    assert record.tasks["b"].failure == ("exit", "x", "b")  # root defaults to itself
    assert record.tasks["c"].failure == ("dependency-failed", "b failed", "b")
    first, second = record.tasks["b"].attempts
    assert (first.number, first.backfilled, first.result and first.result.exit_code) == (1, True, 2)
    assert second.number == 2 and not second.backfilled
    assert record.tasks["a"].attempts[0].workdir == "/w/a/1"
    assert record.tasks["a"].attempts[0].committing is not None
    assert record.succeeded() == {"a": TaskResult.model_validate(_result("a", 1, value=7))}
    assert record.retried_count() == 1
    assert record.unfinished_attempts() == []
    assert record.pending_commits() == []
    wall = record.tasks["a"].submitted_wall
    assert record.tasks["a"].attempts[0].started_wall >= wall > 1e9  # epoch seconds


def test_restart_helpers_and_second_run(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        _run_started(journal)
        for tid in ("a", "b", "c", "d"):
            journal.record("submitted", t=0.0, task_id=tid, data=_task(tid).model_dump())
            journal.record("started", t=1.0, task_id=tid, attempt=1, data={})
        journal.record("committing", t=2.0, task_id="b", attempt=1, data=_result("b", 1))
        journal.record("finished", t=2.0, task_id="c", attempt=1, data=_result("c", 1))
        # the pilot is killed here: a and b never finish, d was being cancelled
        journal.record("cancelled", t=2.0, task_id="d")
    record = read_journal(tmp_path)
    assert record.ended is None
    assert record.unfinished_attempts() == [("a", 1), ("b", 1), ("d", 1)]
    [(tid, n, committed)] = record.pending_commits()
    assert (tid, n, committed.ok) == ("b", 1, True)
    assert {t: r.state for t, r in record.tasks.items()} == {
        "a": "running",
        "b": "running",
        "c": "succeeded",
        "d": "cancelled",
    }
    # the restart: a new journal on the same run directory appends
    with Journal(tmp_path) as journal:
        _run_started(journal, pid=43)
        journal.record("submitted", t=0.0, task_id="a", data=_task("a").model_dump())  # again
        journal.record("finished", t=0.5, task_id="b", attempt=1, data=_result("b", 1))
        journal.record("interrupted", t=0.5, task_id="a", attempt=1)
        journal.record("interrupted", t=0.5, task_id="b", attempt=1)  # too late: it finished
        journal.record("interrupted", t=0.5, task_id="d", attempt=1)
        journal.record("started", t=1.0, task_id="a", attempt=2, data={})
    record = read_journal(tmp_path)
    assert [run["pid"] for run in record.runs] == [42, 43]
    assert record.unfinished_attempts() == [("a", 2)]
    assert record.pending_commits() == []
    rec_a = record.tasks["a"]
    assert [(x.number, x.interrupted) for x in rec_a.attempts] == [(1, True), (2, False)]
    assert rec_a.state == "running"
    assert record.tasks["d"].state == "cancelled"  # interrupted does not revive it
    assert not record.tasks["b"].attempts[0].interrupted
    assert set(record.succeeded()) == {"b", "c"}
    assert record.retried_count() == 1


def test_a_late_failed_result_does_not_undo_a_cancel(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        journal.record("submitted", t=0.0, task_id="x", data=_task("x").model_dump())
        journal.record("started", t=1.0, task_id="x", attempt=1, data={})
        journal.record("cancelled", t=2.0, task_id="x")
        killed = _result("x", 1, ok=False, reason="cancelled", message="cancelled")
        journal.record("finished", t=2.1, task_id="x", attempt=1, data=killed)
    record = read_journal(tmp_path)
    assert record.tasks["x"].state == "cancelled"
    assert record.unfinished_attempts() == []


def test_ten_thousand_events_in_one_flush(tmp_path: Path) -> None:
    task = _task("t0").model_dump(mode="json")
    with Journal(tmp_path) as journal:
        for i in range(2000):
            tid = f"t{i}"
            journal.record("submitted", t=i, task_id=tid, data=task | {"id": tid})
            journal.record("started", t=i, task_id=tid, attempt=1, data={"workdir": "w"})
            journal.record("committing", t=i, task_id=tid, attempt=1, data=_result(tid, 1))
            journal.record("finished", t=i, task_id=tid, attempt=1, data=_result(tid, 1))
            journal.record("retry", t=i, task_id=tid, attempt=1, data={"delay": 0})
        journal.flush()
    record = read_journal(tmp_path)
    assert record.events == 10_000
    assert len(record.succeeded()) == 2000


def test_reading_while_a_writer_is_open(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.record("submitted", t=0.0, task_id="a", data=_task("a").model_dump())
    journal.flush()
    journal.record("started", t=1.0, task_id="a", attempt=1, data={})  # not flushed yet
    assert read_journal(tmp_path).tasks["a"].state == "waiting"
    journal.flush()
    assert read_journal(tmp_path).tasks["a"].state == "running"
    journal.record("finished", t=2.0, task_id="a", attempt=1, data=_result("a", 1))
    journal.flush()
    assert read_journal(tmp_path).tasks["a"].state == "succeeded"
    journal.close()
    assert read_journal(tmp_path).events == 3


def test_flushed_events_survive_kill_9(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from hpcsched.runtime.journal import Journal
        journal = Journal(Path({str(tmp_path)!r}))
        journal.record("run-started", t=0.0, data={{"pid": os.getpid()}})
        journal.flush()
        journal.record("run-ended", t=1.0, data={{}})  # buffered only: lost
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert proc.returncode == -9
    record = read_journal(tmp_path)
    assert len(record.runs) == 1 and record.ended is None
    with Journal(tmp_path) as journal:  # and the restart can append to it
        journal.record("run-started", t=0.0, data={})
    assert len(read_journal(tmp_path).runs) == 2


def test_missing_or_foreign_run_dirs(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no such run directory") as err:
        read_journal(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "nope").exists()
    with pytest.raises(JournalError, match=r"it has no journal\.sqlite"):
        read_journal(tmp_path)
    (tmp_path / "journal.sqlite").write_text("not sqlite at all " * 100)
    with pytest.raises(JournalError, match="not a journal"):
        read_journal(tmp_path)
    with pytest.raises(JournalError, match="not a journal"):
        Journal(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    db = sqlite3.connect(other / "journal.sqlite")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="not a journal"):
        read_journal(other)


def test_a_kill_while_the_journal_is_created_leaves_no_tableless_journal(tmp_path: Path) -> None:
    # found by CI: a restart refused 'journal.sqlite: damaged or not a journal (no such table:
    # events)' after a SIGKILL between the database file's creation and its schema
    script = textwrap.dedent(
        f"""
        import os, signal, sqlite3, types
        from pathlib import Path
        from hpcsched.runtime import journal
        class Killed:  # the connection of a process killed before the schema is written
            def __init__(self, db):
                self.db = db
            def executescript(self, sql):
                os.kill(os.getpid(), signal.SIGKILL)
            def __getattr__(self, name):
                return getattr(self.db, name)
        def connect(*args, **kwargs):
            return Killed(sqlite3.connect(*args, **kwargs))
        journal.sqlite3 = types.SimpleNamespace(
            connect=connect, DatabaseError=sqlite3.DatabaseError, Connection=sqlite3.Connection
        )
        journal.Journal(Path({str(tmp_path)!r}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert proc.returncode == -9
    assert not (tmp_path / "journal.sqlite").exists()
    assert (tmp_path / "journal.sqlite.creating").exists()  # the side file the kill left
    with Journal(tmp_path) as journal:  # the restart creates the journal over the leftover
        journal.record("run-started", t=0.0, data={})
    assert len(read_journal(tmp_path).runs) == 1
    assert not (tmp_path / "journal.sqlite.creating").exists()
