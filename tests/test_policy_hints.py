"""The live runtime's hints (a presorted queue, a lower bound of requests) never change a decision.

The runtime keeps 10,000 queued tasks sorted and tells the policy the smallest request so that one
decision stays under a millisecond; the policy must then start exactly the jobs it would have
started from the plain view.
"""

from __future__ import annotations

from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from hpcsched.policies import backfilling
from hpcsched.policies.presets import PRESETS
from hpcsched.policies.view import RunningJob, SchedulerView, WaitingJob

CAPACITY = (8.0, 2.0, 64.0)


@st.composite
def views(draw: st.DrawFn) -> SchedulerView:
    now = 100.0
    running: list[RunningJob] = []
    used = [0.0, 0.0, 0.0]
    for i in range(draw(st.integers(0, 6))):
        req = (float(draw(st.integers(1, 3))), float(draw(st.integers(0, 1))), 8.0)
        if all(u + r <= c for u, r, c in zip(used, req, CAPACITY, strict=True)):
            used = [u + r for u, r in zip(used, req, strict=True)]
            end = now + draw(st.integers(1, 50))
            running.append(RunningJob(1000 + i, req, now - 5, float(end)))
    waiting = [
        WaitingJob(
            id=i,
            submit=float(draw(st.integers(0, 99))),
            request=(float(draw(st.integers(1, 8))), float(draw(st.integers(0, 2))), 8.0),
            estimate=float(draw(st.integers(1, 60))),
            priority_class=draw(st.integers(0, 3)),
        )
        for i in range(draw(st.integers(0, 40)))
    ]
    return SchedulerView(now=now, capacity=CAPACITY, waiting=waiting, running=running)


@settings(max_examples=300, deadline=None)
@given(views())
def test_hints_give_the_same_starts(view: SchedulerView) -> None:
    assert_same_starts(view)


@settings(max_examples=300, deadline=None)
@given(views(), st.sampled_from([1, 2, 3]))
def test_prioritybf_stopping_early_gives_the_same_starts(view: SchedulerView, after: int) -> None:
    # PriorityBF stops scanning once no job left could start now, checked after CHECK_AFTER
    # blocked jobs (16), then 32...; checked from the first blocked job on here
    with patch.object(backfilling, "CHECK_AFTER", after):
        assert_same_starts(view)


def assert_same_starts(view: SchedulerView) -> None:
    for name, policy in PRESETS.items():
        key = policy.queue_key()
        plain = policy.decide(view)
        if key is None:
            continue
        ordered = sorted(view.waiting, key=key)
        smallest = (
            tuple(min(v) for v in zip(*(j.request for j in ordered), strict=True))
            if ordered
            else None
        )
        hinted = SchedulerView(
            now=view.now,
            capacity=view.capacity,
            waiting=ordered,
            running=view.running,
            presorted=True,
            smallest=smallest,
        )
        fast = policy.decide(hinted)
        assert fast.start == plain.start, name
        assert fast.backfilled == plain.backfilled, name


def test_queue_key_is_none_for_orders_that_read_the_clock() -> None:
    assert PRESETS["easy"].queue_key() is not None
    assert PRESETS["prioritybf"].queue_key() is not None
    from hpcsched.policies.registry import get_policy

    assert get_policy("easy", order="wfp3").queue_key() is None
    assert get_policy("fcfs", backfill="rlscheduler").queue_key() is None
