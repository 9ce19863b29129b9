"""Issue 22 (runtime) and issue 16 item 5: bounded retries for every kind of failure, one owner
per run directory, a journal that refuses damage instead of forgetting, no traceback for a
missing input. Each test reproduces a defect a review found."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fault_harness import final_json, hpcsched, ledger, start, status, wait_for
from hpcsched.campaigns import Task, TaskResult
from hpcsched.campaigns.api import StaticWorkflow
from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy
from hpcsched.runtime.executors.base import Attempt
from hpcsched.runtime.infra import LOST_RETRIES, RESTART_RETRIES
from hpcsched.runtime.journal import Journal, JournalError, read_journal
from hpcsched.runtime.orphans import kill_orphans
from hpcsched.runtime.pilot import Pilot


def test_a_missing_input_fails_its_task_and_prints_the_summary(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "jobs:\n  - id: a\n    command: 'cat missing.txt > b.txt'\n    inputs: [missing.txt]\n"
        "    outputs: [b.txt]\n  - id: b\n    command: 'cat b.txt'\n    inputs: [b.txt]\n"
    )
    proc = hpcsched("run", str(wf))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    reason = "input 'missing.txt' does not exist (declared by job a)"
    assert "0/2 succeeded, 1 failed, 1 blocked, 0 retried" in proc.stdout
    assert f"a failed (missing-input): {reason}; blocks 1 task" in proc.stdout
    proc = hpcsched("run", str(wf), "--json", "--run-dir", str(tmp_path / "second"))
    assert proc.returncode == 1, proc.stderr
    summary = final_json(proc)
    assert (summary["tasks"], summary["succeeded"], summary["failed"]) == (2, 0, 1)
    assert summary["blocked"] == 1
    assert summary["root_causes"] == [
        {"task": "a", "reason": "missing-input", "message": reason, "blocks": 1}
    ]


def test_a_worker_that_dies_is_retried_a_bounded_number_of_times(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text("jobs:\n  - id: die\n    callable: 'os:_exit'\n    args: [1]\n    retries: 0\n")
    proc = hpcsched("run", str(wf), "--cpus", "1", "--json", timeout=60)
    assert proc.returncode == 1, proc.stderr
    summary = final_json(proc)
    assert summary["failed"] == 1
    (root,) = summary["root_causes"]
    assert root["reason"] == "infrastructure"
    assert "worker process lost (it exited with status 1)" in root["message"]
    assert status(tmp_path / "wf.run") is not None
    info = status(tmp_path / "wf.run")
    assert info is not None and info["attempts"] == {"die": 1 + LOST_RETRIES}


class LosingExecutor:
    """Loses every attempt, as an executor whose attempt runner raises or whose worker vanished."""

    name = "losing"

    def __init__(self) -> None:
        self.done: list[TaskResult] = []
        self.submitted = 0

    def submit(self, attempt: Attempt) -> None:
        self.submitted += 1
        self.done.append(
            TaskResult(
                task_id=attempt.task.id,
                attempt=attempt.number,
                ok=False,
                reason="lost",
                message="attempt runner raised (RuntimeError: boom)",
            )
        )

    def cancel(self, key: str) -> None:
        return None

    def completions(self, timeout: float | None) -> list[TaskResult]:
        done, self.done = self.done, []
        return done

    def shutdown(self) -> None:
        return None


def test_an_executor_that_loses_every_attempt_ends_with_retries_plus_the_limit(
    tmp_path: Path,
) -> None:
    runner = LosingExecutor()
    tasks = [Task(id="x", callable="math:sqrt", args=[4], retries=2, backoff=0.0)]
    pilot = Pilot(
        StaticWorkflow(tasks), get_policy("fcfs"), Pool.uniform(1, 1), runner, tmp_path, tmp_path
    )
    summary = pilot.run()
    assert summary.failed == 1
    assert runner.submitted == 1 + LOST_RETRIES + 2
    assert summary.root_causes[0]["reason"] == "infrastructure"


def test_a_huge_backoff_waits_without_overflow(tmp_path: Path) -> None:
    script = (
        "from pathlib import Path\n"
        "from hpcsched.campaigns import Task\n"
        "from hpcsched.campaigns.api import StaticWorkflow\n"
        "from hpcsched.core.pool import Pool\n"
        "from hpcsched.policies.registry import get_policy\n"
        "from hpcsched.runtime.executors.local import LocalExecutor\n"
        "from hpcsched.runtime.pilot import Pilot\n"
        "if __name__ == '__main__':\n"
        "    task = Task(id='x', command='exit 1', retries=1, backoff=2592000.0)\n"
        f"    run = Path({str(tmp_path)!r})\n"
        "    Pilot(StaticWorkflow([task]), get_policy('fcfs'), Pool.uniform(1, 1),\n"
        "          LocalExecutor(1), run / 'run', run).run()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)  # the first attempt failed; its retry is due in 30 days (the most allowed)
    proc.kill()
    _, err = proc.communicate(timeout=30)
    assert "Error" not in err, err
    info = status(tmp_path / "run")
    assert info is not None and info["attempts"] == {"x": 1} and info["retried"] == 0


def test_a_task_that_kills_the_runtime_is_journaled_and_bounded(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text("jobs:\n  - id: k\n    command: 'kill -9 $PPID'\n    retries: 0\n")
    proc = hpcsched("run", str(wf), "--json")
    assert proc.returncode == -9
    info = status(tmp_path / "wf.run")
    assert info is not None, "the journal lost the attempt that killed the runtime"
    assert info["tasks"] == 1 and info["attempts"] == {"k": 1} and not info["ended"]
    for _ in range(RESTART_RETRIES + 1):
        proc = hpcsched("run", str(wf), "--json")
        if proc.returncode != -9:
            break
    assert proc.returncode == 1, proc.stderr
    (root,) = final_json(proc)["root_causes"]
    assert root["reason"] == "infrastructure" and "runtime died" in root["message"]


def test_two_runs_on_one_directory_the_second_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    wf = tmp_path / "wf.yaml"
    wf.write_text(f"jobs:\n  - id: a\n    command: 'echo a >> {outside}/ledger.txt; sleep 3'\n")
    first = start(str(wf), "--json")
    try:
        time.sleep(1.0)
        second = hpcsched("run", str(wf), "--json")
    finally:
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert second.returncode == 2
    (line,) = second.stderr.strip().splitlines()
    assert f"pid {first.pid} on host {socket.gethostname()}" in line and "already being run" in line
    assert (outside / "ledger.txt").read_text() == "a\n"
    assert read_journal(tmp_path / "wf.run").tasks["a"].attempts[0].number == 1
    assert len(read_journal(tmp_path / "wf.run").runs) == 1


def test_orphan_cleanup_touches_only_the_attempts_the_journal_left_running(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    procs = {}
    for tid in ("mine", "other"):
        folder = run / "attempts" / f"{tid}.1"
        folder.mkdir(parents=True)
        env = os.environ | {
            "HPCSCHED_TASK_ID": tid,
            "HPCSCHED_ATTEMPT": "1",
            "HPCSCHED_WORKDIR": str(folder),
        }
        # the command moved away from its folder: found by its environment
        procs[tid] = subprocess.Popen(
            ["sleep", "30"], cwd=tmp_path, env=env, start_new_session=True
        )
    try:
        assert kill_orphans(run, {("mine", 1)}) == 1
        assert procs["mine"].wait(timeout=10) == -9
        assert procs["other"].poll() is None
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def test_status_sees_a_finished_task_while_the_run_waits(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "jobs:\n  - id: quick\n    command: 'true'\n  - id: slow\n    command: 'sleep 4'\n"
    )
    run = start(str(wf), "--cpus", "2", "--json")
    try:
        seen = wait_for(
            lambda: (status(tmp_path / "wf.run") or {}).get("succeeded") == 1, timeout=3.0
        )
    finally:
        run.communicate(timeout=60)
    assert seen, "status still shows the quick task as running"
    assert not (tmp_path / "wf.run" / "journal.sqlite-wal").exists() or (
        (tmp_path / "wf.run" / "journal.sqlite-wal").stat().st_size == 0
    )


def _journal_killed_with_a_big_wal(run: Path) -> int:
    """A writer that commits 3,000 events in 30 flushes and dies before any checkpoint."""
    script = (
        "import os\nfrom pathlib import Path\nfrom hpcsched.runtime.journal import Journal\n"
        f"j = Journal(Path({str(run)!r}))\n"
        "for i in range(3000):\n"
        "    j.record('run-started', t=float(i), data={'pad': 'x' * 100})\n"
        "    if i % 100 == 99: j.flush()\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    return (run / "journal.sqlite-wal").stat().st_size


@pytest.mark.parametrize("damage", ["corrupt", "delete"])
def test_a_damaged_wal_is_refused_not_forgotten(tmp_path: Path, damage: str) -> None:
    size = _journal_killed_with_a_big_wal(tmp_path)
    wal = tmp_path / "journal.sqlite-wal"
    assert size > 40_000
    if damage == "corrupt":
        with wal.open("r+b") as f:
            f.seek(20_000)
            f.write(os.urandom(64))
    else:
        wal.unlink()
    with pytest.raises(JournalError, match="damaged"):
        read_journal(tmp_path)
    proc = hpcsched("status", str(tmp_path))
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "damaged" in line and "--force" in line


def test_a_damaged_database_page_fails_the_integrity_check(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        for i in range(3000):
            journal.record("run-started", t=float(i), data={"pad": "y" * 100})
    path = tmp_path / "journal.sqlite"
    data = bytearray(path.read_bytes())
    page = 4096
    last = len(data) // page - 1
    data[last * page + 8 : last * page + 200] = os.urandom(192)
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="damaged"):
        read_journal(tmp_path, check=True)


def test_a_killed_run_with_a_damaged_wal_is_not_rerun_without_force(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    lines = ["jobs:"]
    for i in range(40):
        lines += [f"  - id: t{i}", f"    command: 'echo t{i} >> {tmp_path}/ledger.txt'"]
    needs = ", ".join(f"t{i}" for i in range(40))
    lines += ["  - id: k", "    command: 'kill -9 $PPID'", f"    depends: [{needs}]"]
    wf.write_text("\n".join(lines) + "\n")
    assert hpcsched("run", str(wf), "--cpus", "2").returncode == -9
    assert sum(ledger(tmp_path).values()) == 40
    wal = tmp_path / "wf.run" / "journal.sqlite-wal"
    with wal.open("r+b") as f:
        f.seek(wal.stat().st_size // 3)
        f.write(os.urandom(64))
    proc = hpcsched("run", str(wf), "--cpus", "2")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "damaged" in line
    assert sum(ledger(tmp_path).values()) == 40  # nothing ran again
    # --force accepts the loss: the journal is taken as it is; what it forgot runs again
    proc = hpcsched("run", str(wf), "--cpus", "2", "--force", timeout=60)
    assert proc.returncode == -9  # k kills the runtime again: the run resumed past t0..t39
    assert set(ledger(tmp_path)) == {f"t{i}" for i in range(40)}
    info = status(tmp_path / "wf.run")
    assert info is not None and info["tasks"] == 41 and info["succeeded"] == 40


def test_force_sets_an_unreadable_journal_aside_and_starts_over(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(f"jobs:\n  - id: a\n    command: 'echo a >> {tmp_path}/ledger.txt'\n")
    assert hpcsched("run", str(wf)).returncode == 0
    journal = tmp_path / "wf.run" / "journal.sqlite"
    journal.write_bytes(b"")  # truncated to nothing: an empty database, not a fresh run
    proc = hpcsched("run", str(wf))
    assert proc.returncode == 2 and "damaged" in proc.stderr
    assert ledger(tmp_path)["a"] == 1
    assert hpcsched("run", str(wf), "--force").returncode == 0
    assert ledger(tmp_path)["a"] == 2
    assert list((tmp_path / "wf.run").glob("journal.sqlite.damaged-*"))


class OneQuickOneSlow:
    """Ends the first attempt at once and the others only after ``hold`` seconds."""

    name = "fake"

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.pending: list[TaskResult] = []
        self.slow: list[TaskResult] = []
        self.due = 0.0

    def submit(self, attempt: Attempt) -> None:
        result = TaskResult(task_id=attempt.task.id, attempt=attempt.number, ok=True)
        if self.pending or self.slow:
            self.slow.append(result)
            self.due = time.monotonic() + self.hold
        else:
            self.pending.append(result)

    def cancel(self, key: str) -> None:
        return None

    def completions(self, timeout: float | None) -> list[TaskResult]:
        if self.pending:
            done, self.pending = self.pending, []
            return done
        now = time.monotonic()
        until = self.due if timeout is None else min(self.due, now + timeout)
        time.sleep(max(0.0, until - now))
        if time.monotonic() >= self.due:
            done, self.slow = self.slow, []
            return done
        return []

    def shutdown(self) -> None:
        return None


def test_the_journal_is_flushed_while_the_pilot_waits(tmp_path: Path) -> None:
    import threading

    tasks = [Task(id="quick", callable="math:sqrt", args=[1]), Task(id="slow", command="x")]
    pilot = Pilot(
        StaticWorkflow(tasks),
        get_policy("fcfs"),
        Pool.uniform(1, 2),
        OneQuickOneSlow(hold=3.0),
        tmp_path,
        tmp_path,
    )
    thread = threading.Thread(target=pilot.run)
    thread.start()
    time.sleep(1.0)
    try:
        record = read_journal(tmp_path)
        assert record.tasks["quick"].state == "succeeded"
        assert record.tasks["slow"].state == "running"
    finally:
        thread.join(30)


@pytest.mark.parametrize("keep", [0, 0.5])
def test_a_truncated_journal_is_refused_not_taken_for_a_fresh_run(
    tmp_path: Path, keep: float
) -> None:
    with Journal(tmp_path) as journal:
        for i in range(2000):
            journal.record("run-started", t=float(i), data={"pad": "z" * 100})
    path = tmp_path / "journal.sqlite"
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])
    with pytest.raises(JournalError, match="damaged"):
        read_journal(tmp_path, check=True)


def test_the_dask_executor_bounds_a_task_no_worker_can_hold(tmp_path: Path) -> None:
    from hpcsched.runtime.executors.dask import DaskExecutor

    # a pool of the workers' sum (2 cpus), as a campaign given its own pool has; no worker has 2
    runner = DaskExecutor(n_workers=2, threads_per_worker=1)
    try:
        tasks = [Task(id="wide", command="true", cpus=2)]
        fcfs, pool = get_policy("fcfs"), Pool.uniform(1, 2)
        summary = Pilot(StaticWorkflow(tasks), fcfs, pool, runner, tmp_path, tmp_path).run()
    finally:
        runner.shutdown()
    assert summary.failed == 1
    (root,) = summary.root_causes
    assert root["reason"] == "infrastructure" and "no live Dask worker" in root["message"]
    assert len(read_journal(tmp_path).tasks["wide"].attempts) == 1 + LOST_RETRIES
