"""Failure analysis and export of a run journal, from realistic event sequences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from hpcsched.campaigns.task import Task, TaskResult
from hpcsched.core.schema import JOB_TABLE_SCHEMA, STATES, conform
from hpcsched.runtime.analyze import diagnose, render_diagnosis
from hpcsched.runtime.export import journal_to_job_table, provenance
from hpcsched.runtime.journal import Journal, JournalError, RunRecord, read_journal


class Run:
    """Writes the events a pilot would, with a fake clock for the result times."""

    def __init__(self, run_dir: Path, user: str = "ana") -> None:
        self.journal = Journal(run_dir)
        self.run_dir = run_dir
        self.now = 1_700_000_000.0
        started = {"workflow": "w.yaml", "policy": "easy", "executor": "local", "pool": "4"}
        started |= {"host": "h", "pid": 1, "user": user, "argv": ["hpcsched", "run"]}
        self.journal.record("run-started", t=0.0, data=started)

    def submit(self, task_id: str, **kw: Any) -> Task:
        task = Task.model_validate({"id": task_id, "command": f"./{task_id}.sh", **kw})
        self.journal.record("submitted", t=0.0, task_id=task_id, data=task.model_dump(mode="json"))
        return task

    def attempt(
        self, task_id: str, n: int, *, ok: bool = True, finish: bool = True, **kw: Any
    ) -> None:
        self.journal.record(
            "started", t=0.0, task_id=task_id, attempt=n, data={"workdir": f"/r/{task_id}/{n}"}
        )
        if not finish:
            return
        start, self.now = self.now, self.now + 10.0
        result = TaskResult(task_id=task_id, attempt=n, ok=ok, start=start, end=self.now, **kw)
        if ok:
            self.journal.record(
                "committing", t=0, task_id=task_id, attempt=n, data=result.model_dump()
            )
        self.journal.record("finished", t=0.0, task_id=task_id, attempt=n, data=result.model_dump())

    def fail(self, task_id: str, reason: str, message: str, root: str | None = None) -> None:
        data = {"reason": reason, "message": message, "root": root or task_id}
        self.journal.record("failed", t=0.0, task_id=task_id, data=data)

    def end(self) -> RunRecord:
        self.journal.record("run-ended", t=1.0, data={"summary": {}})
        return self.read()

    def read(self) -> RunRecord:
        self.journal.flush()
        return read_journal(self.run_dir)


def _chain(tmp_path: Path, report_root: str = "make") -> Run:
    """make -> use -> report; make fails three times (two retries)."""
    run = Run(tmp_path)
    run.submit("make", retries=2, outputs=["m.out"])
    run.submit("use", depends=["make"], inputs=["m.out"])
    run.submit("report", depends=["use"])
    run.submit("side")
    run.attempt("side", 1)
    for n in (1, 2, 3):
        run.attempt(
            "make", n, ok=False, reason="exit", exit_code=1, message="exit status 1",
            stderr_tail="compiling\nerror: undefined symbol foo\n",
        )  # fmt: skip
        if n < 3:
            run.journal.record("retry", t=0.0, task_id="make", attempt=n, data={"delay": 1.0})
    run.fail("make", "exit", "exit status 1")
    run.fail("use", "dependency-failed", "dependency make failed", "make")
    run.fail("report", "dependency-failed", "dependency use failed", report_root)
    return run


@pytest.mark.parametrize("report_root", ["make", "use", ""])
def test_a_failed_chain_has_one_root_cause(tmp_path: Path, report_root: str) -> None:
    d = diagnose(_chain(tmp_path, report_root).end())
    [cause] = d.root_causes
    assert (cause.task_id, cause.reason, cause.attempts) == ("make", "exit", 3)
    assert cause.blocked == ["use", "report"]  # transitively, in submission order
    assert "undefined symbol foo" in cause.stderr_tail
    # the two that never ran are blocked, not failed: one name in status, tasks, why and export
    assert d.counts == {
        "succeeded": 1,
        "failed": 1,
        "blocked": 2,
        "cancelled": 0,
        "unfinished": 0,
    }
    text = render_diagnosis(d)
    assert text.splitlines()[:3] == [
        "1 failed, 2 blocked (never ran: a dependency failed)",
        "",
        "✗ make failed: exit status 1 after 3 attempts",
    ]
    assert "  stderr: compiling\n          error: undefined symbol foo" in text
    assert text.endswith("  blocks: use, report")


def test_timeout_and_out_of_memory_root_causes(tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.submit("sim", timeout=5)
    run.submit("train", mem="4G")
    run.submit("post", depends=["sim"])
    run.submit("eval", depends=["train"])
    run.submit("both", depends=["sim", "train"])
    run.attempt("sim", 1, ok=False, reason="timeout", message="killed after 5 s")
    run.fail("sim", "timeout", "killed after 5 s")
    run.attempt("train", 1, ok=False, reason="out-of-memory", message="out-of-memory (4 GiB)")
    run.fail("train", "out-of-memory", "out-of-memory (4 GiB)")
    run.fail("post", "dependency-failed", "dependency sim failed", "sim")
    run.fail("both", "dependency-failed", "dependency sim failed", "sim")
    run.fail("eval", "dependency-failed", "dependency train failed", "train")
    d = diagnose(run.end())
    assert [(c.task_id, c.reason, c.blocked) for c in d.root_causes] == [
        ("sim", "timeout", ["post", "both"]),
        ("train", "out-of-memory", ["eval"]),
    ]
    text = render_diagnosis(d)
    assert text.startswith("2 failed, 3 blocked (never ran: a dependency failed)\n")
    assert "✗ sim failed: timeout: killed after 5 s after 1 attempt\n" in text
    assert "✗ train failed: out-of-memory (4 GiB) after 1 attempt\n" in text


def test_a_clean_run_and_an_unfinished_one(tmp_path: Path) -> None:
    run = Run(tmp_path / "clean")
    for tid in ("a", "b", "c"):
        run.submit(tid)
        run.attempt(tid, 1)
    assert render_diagnosis(diagnose(run.end())) == "no failures: 3 tasks succeeded"
    run = Run(tmp_path / "live")
    for tid in ("a", "b", "c"):
        run.submit(tid)
    run.attempt("a", 1)
    run.attempt("b", 1, finish=False)
    d = diagnose(run.read())
    assert not d.ended and d.unfinished == ["b", "c"]
    assert render_diagnosis(d) == (
        "no failures: 1 task succeeded\n\nrun did not end; 2 unfinished: b, c"
    )


def test_job_table_states_and_schema(tmp_path: Path) -> None:
    run = _chain(tmp_path)
    run.submit("big", cpus=8, gpus=2, nodes=2, mem="2G", priority=1, timeout=600, kind="train")
    run.attempt("big", 1, ok=False, reason="timeout", exit_code=None, message="timed out")
    run.fail("big", "timeout", "timed out")
    run.submit("oom")
    run.attempt("oom", 1, ok=False, reason="out-of-memory", exit_code=137)
    run.fail("oom", "out-of-memory", "")
    run.submit("gone")
    run.journal.record("cancelled", t=0.0, task_id="gone")
    run.submit("live")
    run.attempt("live", 1, finish=False)
    run.submit("again", retries=1)
    run.attempt("again", 1, ok=False, reason="exit", exit_code=3)
    run.journal.record("retry", t=0.0, task_id="again", attempt=1, data={"delay": 2})
    run.submit("queued")
    table = journal_to_job_table(run.read())
    assert dict(zip(table.columns, table.dtypes, strict=False)) == {
        **JOB_TABLE_SCHEMA,
        "runtime_attempts": pl.Int64(),
        "runtime_reason": pl.String(),
        "depends": pl.String(),
    }
    assert table.equals(conform(table))
    rows = {row["job_id"]: row for row in table.iter_rows(named=True)}
    states = {tid: (row["state"], row["runtime_reason"]) for tid, row in rows.items()}
    assert states == {
        "make": ("failed", "exit"),
        "use": ("blocked", "dependency-failed"),
        "report": ("blocked", "dependency-failed"),
        "side": ("completed", None),
        "big": ("timeout", "timeout"),
        "oom": ("out_of_memory", "out-of-memory"),
        "gone": ("cancelled", "cancelled"),
        "live": ("running", None),
        "again": ("pending", "exit"),
        "queued": ("pending", None),
    }
    assert set(table["state"]) <= set(STATES)
    make, big = rows["make"], rows["big"]
    assert (make["runtime_attempts"], make["exit_code"], make["runtime"]) == (3, 1, 10.0)
    assert make["user"] == "ana" and make["source"] == "runtime" and make["name"] == "make"
    assert make["mem_req"] is None and make["timelimit"] is None
    assert (big["cpus"], big["gpus"], big["nodes"], big["priority_class"]) == (8, 2, 2, 1)
    assert (big["mem_req"], big["timelimit"], big["name"]) == (2 * 1024**3, 600.0, "train")
    assert rows["live"]["start"] is not None and rows["live"]["end"] is None
    assert rows["use"]["start"] is None and rows["queued"]["backfilled"] is None
    assert rows["again"]["start"] is None  # pending again: its last attempt is history
    path = tmp_path / "jobs.parquet"
    table.write_parquet(path)
    assert pl.read_parquet(path).equals(table)


def test_empty_journal_exports_an_empty_table(tmp_path: Path) -> None:
    Journal(tmp_path).close()
    table = journal_to_job_table(read_journal(tmp_path))
    assert table.height == 0 and list(table.columns)[:21] == list(JOB_TABLE_SCHEMA)


def test_provenance_per_attempt(tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.submit("make", retries=1, inputs=["src.c"], outputs=["m.out"])
    run.attempt("make", 1, ok=False, reason="exit", exit_code=2, message="exit status 2")
    files = {
        "inputs": [{"path": "src.c", "sha256": "ab" * 32, "size": 5}],
        "outputs": [{"path": "m.out", "sha256": "cd" * 32, "size": 9}],
    }
    run.attempt("make", 2, host="node7", exit_code=0, **files)
    record = run.end()
    first, second = provenance(record, "make")
    assert first["number"] == 1 and first["ok"] is False and first["exit_code"] == 2
    assert first["message"] == "exit status 2" and first["outputs"] == []
    assert second["action"] == "./make.sh" and second["command"] == "./make.sh"
    assert second["callable"] is None and second["host"] == "node7"
    assert second["inputs"] == files["inputs"] and second["outputs"] == files["outputs"]
    assert second["end"] - second["start"] == 10.0
    with pytest.raises(JournalError, match="no task 'mak' in the journal; did you mean make"):
        provenance(record, "mak")
