"""The scheduling benchmark gives PriorityBF the size classes every command defaults to (without
them it is EASY job for job) and decides once an instant, after all of that instant's arrivals."""

from __future__ import annotations

import numpy as np
import pytest

from hpcsched.policies.presets import PRESETS
from hpcsched.policies.view import Decision, SchedulerView
from hpcsched.sim import bench_scheduling as bench
from hpcsched.sim.bench_policies import size_classes
from hpcsched.sim.bench_scheduling import BenchOptions, Case
from hpcsched.sim.instance import SchedulingInstance


def wide_behind_small() -> SchedulingInstance:
    # job 0 fills the 4 nodes for 10 s; at 1 eighteen 1-node 100 s jobs queue; at 2 a 4-node job
    # (with job 0 above the 90th percentile of nodes: class 0; the small jobs class 1)
    n = 20
    release = np.array([0] + [1] * 18 + [2])
    duration = np.array([10] + [100] * 18 + [10])
    nodes = np.array([4] + [1] * 18 + [4])
    return SchedulingInstance(
        name="wide",
        release=release,
        duration=duration,
        demand=nodes.reshape(n, 1),
        capacity=(4,),
        resources=("nodes",),
        weight=np.ones(n, dtype=np.int64),
        user=tuple(f"u{i % 3}" for i in range(n)),
        group=("g",) * n,
    )


def _start_of_last(policy: str) -> float:
    outcome = bench.measure(wide_behind_small(), Case("wide", 20, 0, policy), BenchOptions())
    return float(outcome.start[-1])


def test_prioritybf_gets_the_size_classes_and_starts_the_wide_job_first() -> None:
    assert size_classes(wide_behind_small()).tolist() == [0] + [1] * 18 + [0]
    # EASY keeps arrival order: the small jobs take the nodes in waves of four from 10 on, the
    # wide job starts after the last wave; PriorityBF starts the class-0 job when job 0 ends
    assert _start_of_last("easy") == 510.0
    assert _start_of_last("prioritybf") == 10.0


class Counting:
    """FCFS that counts the instants it is asked at."""

    name = "counting"

    def __init__(self) -> None:
        self.asked: list[float] = []

    def decide(self, view: SchedulerView) -> Decision:
        self.asked.append(view.now)
        return PRESETS["fcfs"].decide(view)


def test_a_burst_of_arrivals_is_one_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting()
    monkeypatch.setitem(bench.POLICIES, "counting", lambda *_: counting)
    outcome = bench.measure(wide_behind_small(), Case("wide", 20, 0, "counting"), BenchOptions())
    assert outcome.row["violations"] == 0
    # asked once at 1 s for its eighteen arrivals (after every event it would be eighteen times)
    assert counting.asked.count(1.0) == 1 and len(counting.asked) == len(set(counting.asked))
