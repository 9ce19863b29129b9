"""Run a campaign in virtual time: the same dispatcher and policy as the live runtime.

Each launched attempt ends after ``duration(task)`` virtual seconds (default: the task's expected
runtime) with the value ``outcome(task)`` (default ``None``), or fails when ``fails(task,
attempt)`` says so. All attempts that end at the same instant are reported before the policy is
asked again, as the runtime reports every completion it finds in one poll.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hpcsched.campaigns.api import Campaign
from hpcsched.campaigns.dispatch import Counts, Dispatcher, Launch
from hpcsched.campaigns.estimates import RuntimeEstimates
from hpcsched.campaigns.task import DEFAULT_RUNTIME, Task, TaskResult
from hpcsched.core.pool import Pool
from hpcsched.policies.view import Policy
from hpcsched.sim.kernel import END, WAKE, EventKernel


@dataclass
class CampaignTrace:
    """What happened: every start as ``(time, task id, attempt)`` in start order, and the counts."""

    starts: list[tuple[float, str, int]] = field(default_factory=list)
    ends: list[tuple[float, str, int, bool]] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    makespan: float = 0.0

    @property
    def order(self) -> list[str]:
        return [tid for _, tid, _ in self.starts]


def simulate_campaign(
    campaign: Campaign,
    policy: Policy,
    pool: Pool,
    *,
    duration: Callable[[Task], float] | None = None,
    outcome: Callable[[Task], Any] | None = None,
    fails: Callable[[Task, int], bool] | None = None,
    until: float = float("inf"),
) -> CampaignTrace:
    def planned(task: Task) -> float:
        return task.runtime if task.runtime is not None else DEFAULT_RUNTIME

    duration = duration or planned
    trace = CampaignTrace()
    kernel = EventKernel()
    dispatcher = Dispatcher(campaign, policy, pool, estimates=RuntimeEstimates())
    dispatcher.begin(0.0)

    def launch(items: list[Launch], now: float) -> None:
        for item in items:
            trace.starts.append((now, item.task.id, item.number))
            kernel.schedule(now + max(0.0, duration(item.task)), END, (item, now))

    while True:
        now = kernel.now
        launch(dispatcher.step(now), now)
        if dispatcher.done() or now > until:
            break
        wake = dispatcher.next_wake()
        upcoming = kernel.peek()
        if wake is not None and wake > now and (upcoming is None or wake < upcoming):
            kernel.schedule(wake, WAKE, None)
        if not len(kernel):
            raise RuntimeError(
                f"the campaign is stuck at t={now:g}: {dispatcher.queued} queued, nothing running"
            )
        order, event = kernel.step()
        batch = [event] if order == END else []
        while kernel.peek() == kernel.now:
            order, event = kernel.step()
            if order == END:
                batch.append(event)
        for item, started in batch:
            failed = fails is not None and fails(item.task, item.number)
            result = TaskResult(
                task_id=item.task.id,
                attempt=item.number,
                ok=not failed,
                value=None if failed or outcome is None else outcome(item.task),
                exit_code=1 if failed else 0,
                reason="exit" if failed else None,
                message="failed (simulated)" if failed else "",
                start=started,
                end=kernel.now,
            )
            trace.ends.append((kernel.now, item.task.id, item.number, not failed))
            dispatcher.finish(result, kernel.now)
    trace.counts = dispatcher.counts
    trace.makespan = kernel.now
    return trace
