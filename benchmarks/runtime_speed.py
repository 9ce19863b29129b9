"""Runtime speed: dispatch rate, one policy decision with 10,000 queued tasks, Dask overhead.

    python benchmarks/runtime_speed.py [--tasks 5000] [--dask-tasks 2000] [--no-dask]

Each figure comes with a reference measured in the same run:
- local dispatch: no-op callables through the whole pilot (policy, journal, staging, local
  executor) against the same calls submitted straight to a warm ProcessPoolExecutor, all at once
  and kept at ``--cpus`` in flight (as the pilot keeps its executor);
- one decision: PriorityBF with 10,000 queued tasks in 3 classes, the pool full and one task just
  ended (the event that triggers decisions in a live run), with the runtime's hints (presorted
  queue, smallest request) against the same decision from a plain view;
- Dask: the pilot with the Dask executor against raw ``client.submit`` + ``wait`` of the same
  function on the same LocalCluster.
Targets (issue 3): >= 2,000 tasks/s, <= 1 ms per decision, Dask <= 1.5x raw.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from hpcsched.campaigns import Task
from hpcsched.campaigns.api import StaticWorkflow
from hpcsched.campaigns.dispatch import Dispatcher
from hpcsched.campaigns.task import TaskResult
from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy
from hpcsched.policies.view import SchedulerView
from hpcsched.runtime.builtin_tasks import noop
from hpcsched.runtime.pilot import Pilot

NOOP = "hpcsched.runtime.builtin_tasks:noop"


def noop_tasks(n: int) -> list[Task]:
    return [Task(id=f"t{i}", callable=NOOP, runtime=0.01, priority=i % 3) for i in range(n)]


def pilot_rate(executor: Any, n: int, cpus: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        pilot = Pilot(
            StaticWorkflow(noop_tasks(n)),
            get_policy("prioritybf"),
            Pool.uniform(1, cpus),
            executor,
            Path(folder) / "run",
            Path(folder),
        )
        summary = pilot.run()
    assert summary.succeeded == n, summary
    return n / summary.wall_seconds


def local_dispatch(n: int, cpus: int) -> dict[str, float]:
    from hpcsched.runtime.executors.local import LocalExecutor

    executor = LocalExecutor(max_workers=cpus)
    try:
        pilot_rate(executor, 200, cpus)  # warm the process pool
        ours = pilot_rate(executor, n, cpus)
    finally:
        executor.shutdown()
    with ProcessPoolExecutor(cpus) as pool:
        wait([pool.submit(noop) for _ in range(200)])
        started = time.perf_counter()
        wait([pool.submit(noop) for _ in range(n)])
        raw = n / (time.perf_counter() - started)
        paced = paced_rate(pool, n, cpus)
    return {"pilot_tasks_per_s": ours, "raw_pool_tasks_per_s": raw, "paced_pool_tasks_per_s": paced}


def paced_rate(pool: ProcessPoolExecutor, n: int, cpus: int) -> float:
    """The pool kept at ``cpus`` calls in flight, as the pilot keeps its executor."""
    started, sent, done = time.perf_counter(), 0, 0
    running: set[Any] = set()
    while done < n:
        while len(running) < cpus and sent < n:
            running.add(pool.submit(noop))
            sent += 1
        finished, running = wait(running, return_when=FIRST_COMPLETED)
        done += len(finished)
    return n / (time.perf_counter() - started)


def one_decision(queued: int, cpus: int, repeat: int) -> dict[str, float]:
    policy = get_policy("prioritybf")
    pool = Pool.uniform(1, cpus)
    tasks = [
        Task(id=f"q{i}", callable=NOOP, runtime=10 + i % 50, priority=i % 3, cpus=1 + i % 2)
        for i in range(queued + cpus)
    ]
    dispatcher = Dispatcher(StaticWorkflow(tasks), policy, pool)
    dispatcher.begin(0.0)
    first = dispatcher.step(0.0)  # fills the pool
    assert dispatcher.queued >= queued - cpus and dispatcher.running == len(first)
    hinted, plain = [], []
    now = 1.0
    for launch in first[:repeat]:
        dispatcher.finish(
            TaskResult(task_id=launch.task.id, attempt=1, ok=True, start=0.0, end=now), now
        )
        view = dispatcher.view(now)
        started = time.perf_counter()
        decision = policy.decide(view)
        hinted.append(time.perf_counter() - started)
        bare = SchedulerView(now, view.capacity, list(view.waiting), view.running)
        started = time.perf_counter()
        reference = policy.decide(bare)
        plain.append(time.perf_counter() - started)
        assert decision.start == reference.start
        dispatcher.step(now)  # apply it, so the next sample starts from a full pool again
        now += 1.0
    return {
        "queued": float(dispatcher.queued),
        "decision_ms_median": statistics.median(hinted) * 1e3,
        "decision_ms_max": max(hinted) * 1e3,
        "plain_view_ms_median": statistics.median(plain) * 1e3,
    }


def conservative_decision(queued: int, cpus: int, repeat: int, *, early: bool) -> dict[str, float]:
    """Conservative backfilling's decision (through the dispatcher, as the runtime makes it)
    with ``queued`` tasks, every one holding a reservation, after running tasks end: at their
    estimate (``early=False``; all ends of the instant applied first, as the pilot does) or well
    before it (an early end re-fits the queue: the costly case)."""
    policy = get_policy("conservative")
    tasks = [
        Task(id=f"q{i}", callable=NOOP, runtime=10 + i % 50, priority=i % 3, cpus=1 + i % 2)
        for i in range(queued + cpus)
    ]
    dispatcher = Dispatcher(StaticWorkflow(tasks), policy, Pool.uniform(1, cpus))
    dispatcher.begin(0.0)
    started = time.perf_counter()
    ends = sorted((launch.task.runtime or 0.0, launch.task.id) for launch in dispatcher.step(0.0))
    first = time.perf_counter() - started
    samples = []
    for k in range(repeat):
        now = 1.0 + 0.01 * k if early else ends[0][0]
        finished = [ends.pop(0)]  # early: one task; on time: every task ending now
        while not early and ends and ends[0][0] <= now:
            finished.append(ends.pop(0))
        for _, tid in finished:
            dispatcher.finish(TaskResult(task_id=tid, attempt=1, ok=True, start=0.0, end=now), now)
        started = time.perf_counter()
        launched = dispatcher.step(now)
        samples.append(time.perf_counter() - started)
        ends = sorted(
            ends + [(now + (item.task.runtime or 0.0), item.task.id) for item in launched]
        )
    return {
        "queued": float(dispatcher.queued),
        "first_pass_s": first,
        "decision_ms_median": statistics.median(samples) * 1e3,
        "decision_ms_max": max(samples) * 1e3,
    }


def dask_overhead(n: int, workers: int) -> dict[str, float]:
    from distributed import wait as dask_wait

    from hpcsched.runtime.executors.dask import DaskExecutor

    executor = DaskExecutor(n_workers=workers)
    try:
        client = executor.client
        dask_wait([client.submit(noop, pure=False) for _ in range(200)])
        started = time.perf_counter()
        dask_wait([client.submit(noop, pure=False) for _ in range(n)])
        raw = n / (time.perf_counter() - started)
        ours = pilot_rate(executor, n, workers)
    finally:
        executor.shutdown()
    return {"pilot_tasks_per_s": ours, "raw_client_submit_tasks_per_s": raw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--dask-tasks", type=int, default=2000)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()

    local = local_dispatch(args.tasks, args.cpus)
    print(
        f"local dispatch, {args.tasks} no-op tasks on {args.cpus} cpus: "
        f"{local['pilot_tasks_per_s']:,.0f} tasks/s through the pilot "
        f"(target >= 2,000); raw ProcessPoolExecutor {local['raw_pool_tasks_per_s']:,.0f}/s "
        f"(all submitted at once), {local['paced_pool_tasks_per_s']:,.0f}/s ({args.cpus} in "
        f"flight, as the pilot runs); ratio pilot/paced pool "
        f"{local['pilot_tasks_per_s'] / local['paced_pool_tasks_per_s']:.2f}"
    )
    decision = one_decision(args.queued, cpus=64, repeat=50)
    print(
        f"one PriorityBF decision, {decision['queued']:,.0f} queued, full pool of 64: "
        f"median {decision['decision_ms_median']:.3f} ms, max {decision['decision_ms_max']:.3f} ms "
        f"(target <= 1 ms); plain view {decision['plain_view_ms_median']:.1f} ms; "
        f"ratio plain/hinted "
        f"{decision['plain_view_ms_median'] / decision['decision_ms_median']:.0f}x"
    )
    for early, repeat in ((False, 30), (True, 5)):
        cons = conservative_decision(args.queued, cpus=64, repeat=repeat, early=early)
        print(
            f"one conservative decision, {cons['queued']:,.0f} queued (each reserved), pool of 64, "
            f"{'an early end' if early else 'ends at their estimates'}: median "
            f"{cons['decision_ms_median']:.1f} ms, max {cons['decision_ms_max']:.1f} ms "
            f"(target <= 10 ms); placing all {args.queued:,} took {cons['first_pass_s']:.2f} s"
        )
    if not args.no_dask:
        dask = dask_overhead(args.dask_tasks, workers=args.cpus)
        ratio = dask["raw_client_submit_tasks_per_s"] / dask["pilot_tasks_per_s"]
        print(
            f"dask, {args.dask_tasks} no-op tasks on a {args.cpus}-worker LocalCluster: "
            f"{dask['pilot_tasks_per_s']:,.0f} tasks/s through the pilot, raw client.submit "
            f"{dask['raw_client_submit_tasks_per_s']:,.0f}/s; slowdown {ratio:.2f}x "
            f"(target <= 1.5x)"
        )


if __name__ == "__main__":
    main()
