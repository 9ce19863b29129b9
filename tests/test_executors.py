"""One compliance suite for every executor: the ``Executor`` contract, on real processes.

Each executor runs the same checks: the local one (threads and a process pool) and the Dask one on
a real ``LocalCluster`` of worker processes over TCP. One executor per module keeps it fast.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcsched.campaigns.task import Task, TaskResult
from hpcsched.runtime.executors.attempt_runner import attempt_spec
from hpcsched.runtime.executors.base import Attempt, Executor
from hpcsched.runtime.executors.dask import DaskExecutor
from hpcsched.runtime.executors.dask_actor import AttemptRunner
from hpcsched.runtime.executors.local import LocalExecutor
from hpcsched.runtime.executors.slurm import SlurmExecutor

EXECUTORS = [
    "local",
    "dask",
    # a real slurmctld (tests/test_executor_slurm.py: skip without one, fail under CI=true)
    pytest.param("slurm-steps", marks=pytest.mark.slurm),
    pytest.param("slurm-jobs", marks=pytest.mark.slurm),
]
BUILTIN = "hpcsched.runtime.builtin_tasks"


def make(kind: str, workers: int = 2) -> LocalExecutor | DaskExecutor | SlurmExecutor:
    if kind == "local":
        return LocalExecutor(workers)
    if kind.startswith("slurm-"):
        from test_executor_slurm import slurm_executor

        return slurm_executor(kind.removeprefix("slurm-"), workers)
    executor = DaskExecutor(n_workers=workers, threads_per_worker=1)
    assert executor.address.startswith("tcp://")
    return executor


@pytest.fixture(scope="module", params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> Iterator[LocalExecutor | DaskExecutor]:
    built = make(request.param)
    assert isinstance(built, Executor)
    yield built
    built.shutdown()


def attempt(tmp_path: Path, task_id: str, **fields: object) -> Attempt:
    workdir = tmp_path / task_id
    workdir.mkdir()
    return Attempt(task=Task(id=task_id, **fields), number=1, workdir=workdir)  # type: ignore[arg-type]


def collect(executor: Executor, keys: set[str], timeout: float = 20.0) -> dict[str, TaskResult]:
    """One result per key, within ``timeout``; then make sure no second result follows."""
    results: dict[str, TaskResult] = {}
    deadline = time.monotonic() + timeout
    while set(results) != keys:
        assert time.monotonic() < deadline, f"no result for {sorted(keys - set(results))}"
        for result in executor.completions(0.5):
            key = f"{result.task_id}#{result.attempt}"
            assert key in keys and key not in results, f"unexpected or repeated result {key}"
            results[key] = result
    assert executor.completions(0.2) == []
    return results


def run_one(executor: Executor, run: Attempt, timeout: float = 20.0) -> TaskResult:
    executor.submit(run)
    return collect(executor, {run.key}, timeout)[run.key]


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie nobody reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def started(path: Path, timeout: float = 20.0) -> int:
    """The pid a command wrote to ``path`` once it runs."""
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    return int(path.read_text())


def gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_command_writes_in_its_workdir(executor: Executor, tmp_path: Path) -> None:
    run = attempt(tmp_path, "write", command="echo hello > out.txt; echo $HPCSCHED_TASK_ID")
    result = run_one(executor, run)
    assert result.ok and result.exit_code == 0 and result.reason is None
    assert (run.workdir / "out.txt").read_text() == "hello\n"
    assert (run.workdir / "stdout.txt").read_text() == "write\n"
    assert result.task_id == "write" and result.attempt == 1
    assert 0 < result.start <= result.end and result.host


def test_exit_status_and_stderr_tail(executor: Executor, tmp_path: Path) -> None:
    result = run_one(executor, attempt(tmp_path, "exit3", command="echo broken >&2; exit 3"))
    assert not result.ok and result.exit_code == 3 and result.reason == "exit"
    assert "broken" in result.stderr_tail
    assert result.message == "exit status 3"


def test_callable_returns_its_value(executor: Executor, tmp_path: Path) -> None:
    result = run_one(executor, attempt(tmp_path, "square", callable=f"{BUILTIN}:square", args=[7]))
    assert result.ok and result.value == 49


def test_raising_callable_is_an_exit(executor: Executor, tmp_path: Path) -> None:
    run = attempt(tmp_path, "raise", callable=f"{BUILTIN}:fail", args=["boom"])
    result = run_one(executor, run)
    assert not result.ok and result.reason == "exit" and result.exit_code == 1
    assert "RuntimeError" in result.message and "boom" in result.message
    assert "RuntimeError: boom" in result.stderr_tail


def test_timeout_kills_the_command(executor: Executor, tmp_path: Path) -> None:
    began = time.monotonic()
    result = run_one(executor, attempt(tmp_path, "slow", command="sleep 30", timeout=0.5))
    assert result.reason == "timeout" and not result.ok
    assert time.monotonic() - began < 5


def test_cancel_a_running_command(executor: Executor, tmp_path: Path) -> None:
    # The sleep is a grandchild: the whole process group must go, not only the shell.
    run = attempt(tmp_path, "cancelme", command="sleep 30 & echo $! > pid; wait")
    executor.submit(run)
    pid = started(run.workdir / "pid")
    executor.cancel(run.key)
    executor.cancel(run.key)  # twice: still one result
    result = collect(executor, {run.key})[run.key]
    assert result.reason == "cancelled" and not result.ok
    assert gone(pid), "the cancelled command is still running"


def test_many_small_callables(executor: Executor, tmp_path: Path) -> None:
    runs = [attempt(tmp_path, f"noop{i}", callable=f"{BUILTIN}:noop") for i in range(50)]
    for run in runs:
        executor.submit(run)
    results = collect(executor, {run.key for run in runs})
    assert len(results) == 50 and all(result.ok for result in results.values())


def test_memory_limit(executor: Executor, tmp_path: Path) -> None:
    hog = f"{sys.executable} -c 'b = bytearray(500 * 1024 * 1024)'"
    result = run_one(executor, attempt(tmp_path, "hog", command=hog, mem="50M"))
    assert result.reason == "out-of-memory" and not result.ok


def test_unknown_cancel_is_ignored(executor: Executor) -> None:
    executor.cancel("no-such-task#1")
    assert executor.completions(0.2) == []


@pytest.mark.parametrize("executor", ["dask"], indirect=True)
def test_dask_pool_counts_worker_threads(executor: DaskExecutor) -> None:
    pool = executor.pool()
    assert pool.total.cpus == 2 and pool.largest.cpus == 1
    assert pool.nodes == 1 and pool.source == "dask"


@pytest.mark.parametrize("kind", EXECUTORS)
def test_shutdown_stops_running_attempts_and_is_idempotent(kind: str, tmp_path: Path) -> None:
    executor = make(kind, workers=1)
    run = attempt(tmp_path, "left", command="sleep 30 & echo $! > pid; wait")
    executor.submit(run)
    pid = started(run.workdir / "pid")
    executor.shutdown()
    executor.shutdown()
    results = executor.completions(5)
    assert [(r.task_id, r.reason) for r in results] == [("left", "cancelled")]
    assert gone(pid), "shutdown left the command running"
    with pytest.raises(RuntimeError):
        executor.submit(attempt(tmp_path, "late", command="true"))


@pytest.mark.parametrize("executor", ["dask"], indirect=True)
def test_dask_attempt_runs_in_a_worker_process(executor: DaskExecutor, tmp_path: Path) -> None:
    result = run_one(executor, attempt(tmp_path, "where", callable="os:getpid"))
    assert result.ok and isinstance(result.value, int)
    workers = set(executor.client.run(os.getpid).values())
    assert result.value != os.getpid() and result.value in workers


def test_dask_holds_an_attempt_no_single_worker_has_room_for(tmp_path: Path) -> None:
    # 2 workers x 2 threads: a 1-cpu command on each leaves 2 cpus free pool-wide (what the pilot
    # checks) but 1 per worker, so a 2-cpu attempt must wait inside the executor, not fail.
    executor = DaskExecutor(n_workers=2, threads_per_worker=2)
    try:
        assert executor.pool().largest.cpus == 2
        first = attempt(tmp_path, "short", command="sleep 1")
        second = attempt(tmp_path, "long", command="sleep 2")
        wide = attempt(tmp_path, "wide", callable="os:getpid", cpus=2)
        dropped = attempt(tmp_path, "dropped", command="true", cpus=2)
        for run in (first, second, wide, dropped):
            executor.submit(run)
        executor.cancel(dropped.key)  # held, so it never starts: reported at once
        [cancelled] = executor.completions(0.5)
        assert (cancelled.task_id, cancelled.reason) == ("dropped", "cancelled")
        results = collect(executor, {first.key, second.key, wide.key})
        assert all(result.ok for result in results.values())
        # It started once a worker had 2 threads free: when the first command ended.
        assert results[wide.key].start >= results[first.key].end - 0.05
        assert results[wide.key].end <= results[second.key].end
    finally:
        executor.shutdown()


def test_dask_worker_lost_while_running(tmp_path: Path) -> None:
    executor = DaskExecutor(n_workers=2, threads_per_worker=1)
    try:
        # The shell's parent is the worker process that runs the attempt.
        run = attempt(tmp_path, "doomed", command="echo $$ > pid; echo $PPID > worker; sleep 30")
        executor.submit(run)
        shell = started(run.workdir / "pid")
        os.kill(started(run.workdir / "worker"), signal.SIGKILL)
        result = collect(executor, {run.key})[run.key]
        assert result.reason == "lost" and not result.ok
        os.killpg(shell, signal.SIGKILL)  # its own session: it outlived its worker
        assert executor.pool().total.cpus == 1
        runs = [attempt(tmp_path, f"after{i}", callable=f"{BUILTIN}:noop") for i in range(3)]
        for later in runs:
            executor.submit(later)
        assert all(r.ok for r in collect(executor, {later.key for later in runs}).values())
    finally:
        executor.shutdown()


def test_dask_runner_honours_a_cancel_that_overtook_its_run(tmp_path: Path) -> None:
    # The actor class itself, in this process: a cancel that arrives before its run (the calls
    # may travel on different connections) stops the run from starting.
    runner = AttemptRunner(1)
    run = attempt(tmp_path, "overtaken", command="echo ran > out.txt")
    assert asyncio.run(runner.cancel(run.key)) is False
    result = TaskResult.model_validate(asyncio.run(runner.run(attempt_spec(run))))
    assert result.reason == "cancelled" and not (run.workdir / "out.txt").exists()
    again = TaskResult.model_validate(asyncio.run(runner.run(attempt_spec(run))))
    assert again.ok and (run.workdir / "out.txt").read_text() == "ran\n"


def test_local_result_that_cannot_be_read_is_lost_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpcsched.runtime.executors import local

    def unreadable(*args: object) -> TaskResult:
        return TaskResult.model_validate({"task_id": "x", "attempt": "not a number", "ok": True})

    monkeypatch.setattr(local, "_result_of", unreadable)
    executor = LocalExecutor(1)
    try:  # before: the done-callback raised, no result was ever reported, the pilot hung
        result = run_one(executor, attempt(tmp_path, "sq", callable=f"{BUILTIN}:square", args=[3]))
    finally:
        executor.shutdown()
    assert not result.ok and result.reason == "lost"
    assert "its result could not be read (ValidationError" in result.message
