"""The dispatcher rules the materials campaign leans on: expediting and cancelling.

- ``expedite`` changes a queued task's class, not its arrival: under FCFS/EASY (no priorities,
  the talk's baseline) the task keeps its place in the FIFO queue instead of being sent to the
  back; under PriorityBF it goes ahead of every class.
- ``cancel`` (the campaign's "remove every task made obsolete") looks only at unfinished tasks.
"""

from __future__ import annotations

from hpcsched.campaigns import Task, TaskResult
from hpcsched.campaigns.api import Context, StaticWorkflow
from hpcsched.campaigns.dispatch import Dispatcher
from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy


def t(tid: str, **kw: object) -> Task:
    return Task.model_validate({"id": tid, "command": "true", "runtime": 1, **kw})


def queue_after_expedite(policy: str) -> list[str]:
    """One cpu busy with ``busy``; ``low`` queued first at a low class, then three urgent
    tasks; ``low`` is expedited. The order the queue then drains in."""
    tasks = [t("busy"), t("low", priority=2), *(t(f"urgent{i}", priority=0) for i in range(3))]
    dispatcher = Dispatcher(StaticWorkflow(tasks), get_policy(policy), Pool.uniform(1, 1))
    dispatcher.begin(0.0)
    started = [launch.task.id for launch in dispatcher.step(0.0)]
    assert started == ["busy"]
    assert dispatcher.step(0.5) == []  # time passes; "low" is expedited later than it came
    assert dispatcher.expedite("low")
    now, running = 0.5, ["busy"]
    while running:
        now += 1.0
        dispatcher.finish(TaskResult(task_id=running.pop(), attempt=1, ok=True), now)
        running = [launch.task.id for launch in dispatcher.step(now)]
        started += running
    assert dispatcher.done()
    return started


def test_expedite_keeps_the_fifo_place_under_fcfs_and_easy() -> None:
    for policy in ("fcfs", "easy"):
        # it was queued before the urgent tasks: without priorities it stays ahead of them
        assert queue_after_expedite(policy) == ["busy", "low", "urgent0", "urgent1", "urgent2"]


def test_expedite_goes_ahead_of_every_class_under_prioritybf() -> None:
    assert queue_after_expedite("prioritybf") == ["busy", "low", "urgent0", "urgent1", "urgent2"]
    tasks = [t("busy"), t("urgent0", priority=0), t("low", priority=2)]
    dispatcher = Dispatcher(StaticWorkflow(tasks), get_policy("prioritybf"), Pool.uniform(1, 1))
    dispatcher.begin(0.0)
    dispatcher.step(0.0)
    dispatcher.expedite("low")
    dispatcher.finish(TaskResult(task_id="busy", attempt=1, ok=True), 1.0)
    assert [launch.task.id for launch in dispatcher.step(1.0)] == ["low"]


def test_expedited_tasks_keep_their_submit_time() -> None:
    tasks = [t("busy"), t("low", priority=2)]
    dispatcher = Dispatcher(StaticWorkflow(tasks), get_policy("fcfs"), Pool.uniform(1, 1))
    dispatcher.begin(0.0)
    dispatcher.step(0.0)
    assert dispatcher.step(5.0) == []  # time passes with "low" queued
    dispatcher.expedite("low")
    (job,) = dispatcher.view(5.0).waiting
    assert job.submit == 0.0 and job.priority_class == -1


class Chain:
    """Submits ``n`` independent tasks, then, at every result, cancels with a predicate that
    records what it was asked about."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.asked: list[list[str]] = []

    def start(self, ctx: Context) -> None:
        for i in range(self.n):
            ctx.submit(t(f"x{i}"))

    def on_result(self, task: Task, result: TaskResult, ctx: Context) -> None:
        seen: list[str] = []
        ctx.cancel(lambda other: seen.append(other.id) is None)  # asks about all, cancels all
        self.asked.append(seen)


def test_cancel_looks_only_at_unfinished_tasks() -> None:
    campaign = Chain(6)
    dispatcher = Dispatcher(campaign, get_policy("fcfs"), Pool.uniform(1, 2))
    dispatcher.begin(0.0)
    launched = [launch.task.id for launch in dispatcher.step(0.0)]
    assert launched == ["x0", "x1"]
    dispatcher.finish(TaskResult(task_id="x0", attempt=1, ok=True), 1.0)
    assert dispatcher.step(1.0) == []
    # x0 has finished: the predicate sees x1 (running) and the four queued, in submission order;
    # the four cancellations come back as results, and then only x1 is left unfinished
    assert campaign.asked == [["x1", "x2", "x3", "x4", "x5"]] + [["x1"]] * 4
    assert dispatcher.state("x2") == "cancelled" and dispatcher.state("x1") == "running"
    assert dispatcher.take_cancels() == ["x1"]
    dispatcher.finish(TaskResult(task_id="x1", attempt=1, ok=False, reason="cancelled"), 2.0)
    dispatcher.step(2.0)
    assert dispatcher.done()
    assert campaign.asked[-1] == []  # nothing unfinished is left to look at
