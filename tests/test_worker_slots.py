"""The local executor's worker processes (one pipe each, no pool threads): a cancel kills the
one call, a dying worker loses only its own attempt, calls beyond the workers wait their turn,
and a thread's result wakes a wait on busy workers. Real forkserver processes throughout."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcsched.campaigns.task import TaskResult
from hpcsched.runtime.executors.local import LocalExecutor
from test_executors import attempt

BUILTIN = "hpcsched.runtime.builtin_tasks"


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    built = LocalExecutor(2)
    yield built
    built.shutdown()


def results(executor: LocalExecutor, count: int, timeout: float = 20.0) -> dict[str, TaskResult]:
    found: dict[str, TaskResult] = {}
    deadline = time.monotonic() + timeout
    while len(found) < count:
        assert time.monotonic() < deadline, f"only {sorted(found)} ended"
        for result in executor.completions(0.5):
            assert result.task_id not in found, f"two results for {result.task_id}"
            found[result.task_id] = result
    assert executor.completions(0.2) == []
    return found


def worker_pids(executor: LocalExecutor) -> set[int]:
    return {w.process.pid for w in executor._slots._workers if w.process.pid is not None}


def test_cancelling_a_running_call_kills_only_its_worker(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    executor.submit(attempt(tmp_path, "long", callable=f"{BUILTIN}:sleep", args=[30]))
    executor.submit(attempt(tmp_path, "short", callable=f"{BUILTIN}:sleep", args=[1]))
    time.sleep(0.5)
    before = worker_pids(executor)
    started = time.monotonic()
    executor.cancel("long#1")
    executor.cancel("long#1")  # twice: still one result
    found = results(executor, 2)
    assert time.monotonic() - started < 10, "the cancel waited for the call to end"
    assert (found["long"].reason, found["long"].message) == ("cancelled", "cancelled while it ran")
    assert found["short"].ok
    assert len(before - worker_pids(executor)) == 1  # one worker killed, the other kept
    executor.submit(attempt(tmp_path, "after", callable=f"{BUILTIN}:square", args=[3]))
    assert results(executor, 1)["after"].value == 9


def test_a_worker_that_dies_loses_only_its_own_attempt(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    executor.submit(attempt(tmp_path, "calm", callable=f"{BUILTIN}:sleep", args=[1.5]))
    executor.submit(attempt(tmp_path, "die", callable="os:_exit", args=[3]))
    found = results(executor, 2)
    assert found["calm"].ok  # a broken ProcessPoolExecutor failed every call in flight
    assert (found["die"].reason, found["die"].message) == (
        "lost",
        "worker process lost (it exited with status 3)",
    )
    executor.submit(attempt(tmp_path, "next", callable=f"{BUILTIN}:square", args=[4]))
    assert results(executor, 1)["next"].value == 16


def test_calls_beyond_the_workers_wait_their_turn(executor: LocalExecutor, tmp_path: Path) -> None:
    for i in range(6):
        executor.submit(attempt(tmp_path, f"c{i}", callable=f"{BUILTIN}:sleep", args=[0.3]))
    executor.cancel("c5#1")  # still queued: it never runs
    found = results(executor, 6)
    assert (found["c5"].reason, found["c5"].message) == ("cancelled", "cancelled before it ran")
    ran = sorted((r.start, r.end) for tid, r in found.items() if tid != "c5")
    assert all(r.ok for tid, r in found.items() if tid != "c5")
    for i, (start, _) in enumerate(ran):  # never more than 2 at once
        assert sum(s <= start < e for s, e in ran[:i]) < 2, ran


def test_a_command_result_wakes_a_wait_on_busy_workers(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    executor.submit(attempt(tmp_path, "busy", callable=f"{BUILTIN}:sleep", args=[5]))
    time.sleep(0.3)
    executor.submit(attempt(tmp_path, "quick", command="true"))
    started = time.monotonic()
    first = executor.completions(4.0)
    assert [r.task_id for r in first] == ["quick"]
    assert time.monotonic() - started < 2.0
    assert results(executor, 1)["busy"].ok


def test_shutdown_cancels_running_and_queued_calls(tmp_path: Path) -> None:
    executor = LocalExecutor(1)
    executor.submit(attempt(tmp_path, "running", callable=f"{BUILTIN}:sleep", args=[30]))
    executor.submit(attempt(tmp_path, "queued", callable=f"{BUILTIN}:sleep", args=[30]))
    time.sleep(0.5)
    processes = [w.process for w in executor._slots._workers]
    started = time.monotonic()
    executor.shutdown()
    assert time.monotonic() - started < 10
    found = {r.task_id: r.message for r in executor.completions(1)}
    assert found == {"running": "cancelled while it ran", "queued": "cancelled before it ran"}
    assert processes and not any(process.is_alive() for process in processes)


def test_a_script_that_never_shuts_the_executor_down_still_exits(tmp_path: Path) -> None:
    script = tmp_path / "forgetful.py"
    script.write_text(
        "from pathlib import Path\n"
        "from hpcsched.campaigns.task import Task\n"
        "from hpcsched.runtime.executors.base import Attempt\n"
        "from hpcsched.runtime.executors.local import LocalExecutor\n"
        "if __name__ == '__main__':\n"
        "    executor = LocalExecutor(2)\n"
        f"    task = Task(id='a', callable='{BUILTIN}:square', args=[5])\n"
        "    executor.submit(Attempt(task, 1, Path('.')))\n"
        "    print(executor.completions(20)[0].value)\n"
    )
    # before: multiprocessing's exit hook joined a worker that waited for its next call
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "25"), proc.stderr


def test_a_worker_cancelled_after_it_answered_is_not_used_again(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    executor.submit(attempt(tmp_path, "quick", callable=f"{BUILTIN}:square", args=[2]))
    time.sleep(1.0)  # its answer waits in the pipe, not collected yet
    executor.cancel("quick#1")  # kills a worker that already answered
    (result,) = results(executor, 1).values()
    assert result.reason == "cancelled"  # a call that finished anyway, as before
    for i in range(4):  # before: the killed worker was taken again and the next call was lost
        executor.submit(attempt(tmp_path, f"next{i}", callable=f"{BUILTIN}:square", args=[i]))
    assert {tid: r.value for tid, r in results(executor, 4).items()} == {
        f"next{i}": i * i for i in range(4)
    }
