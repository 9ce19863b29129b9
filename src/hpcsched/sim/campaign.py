"""Run a campaign in virtual time: the same dispatcher and policy as the live runtime.

Each launched attempt ends after ``duration(task)`` virtual seconds (default: the task's expected
runtime) with the value ``outcome(task)`` (default ``None``), or fails when ``fails(task,
attempt)`` says so. All attempts that end at the same instant are reported before the policy is
asked again, as the runtime reports every completion it finds in one poll. The loop is the live
pilot's (:func:`hpcsched.campaigns.loop.drive`); only the clock differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hpcsched.campaigns.api import Campaign
from hpcsched.campaigns.dispatch import Counts, Dispatcher, Launch
from hpcsched.campaigns.estimates import RuntimeEstimates
from hpcsched.campaigns.loop import drive
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


class VirtualClock:
    """The loop's clock in virtual time: an attempt ends ``duration(task)`` seconds after it
    starts (the event kernel keeps the ends); waiting jumps to the next end or wake-up."""

    def __init__(
        self,
        trace: CampaignTrace,
        duration: Callable[[Task], float],
        outcome: Callable[[Task], Any] | None,
        fails: Callable[[Task, int], bool] | None,
    ) -> None:
        self.kernel = EventKernel()
        self.trace = trace
        self.duration = duration
        self.outcome = outcome
        self.fails = fails

    def now(self) -> float:
        return self.kernel.now

    def launch(self, launch: Launch) -> bool:
        now = self.kernel.now
        self.trace.starts.append((now, launch.task.id, launch.number))
        self.kernel.schedule(now + max(0.0, self.duration(launch.task)), END, (launch, now))
        return False

    def wait(self, wake: float | None) -> list[TaskResult]:
        kernel = self.kernel
        upcoming = kernel.peek()
        if wake is not None and wake > kernel.now and (upcoming is None or wake < upcoming):
            kernel.schedule(wake, WAKE, None)
        if not len(kernel):
            raise RuntimeError(f"the campaign is stuck at t={kernel.now:g}: nothing will happen")
        order, event = kernel.step()
        batch = [event] if order == END else []
        while kernel.peek() == kernel.now:
            order, event = kernel.step()
            if order == END:
                batch.append(event)
        return [self._result(item, started) for item, started in batch]

    def stuck(self, dispatcher: Dispatcher) -> None:
        raise RuntimeError(
            f"the campaign is stuck at t={self.kernel.now:g}: {dispatcher.queued} queued, "
            "nothing running"
        )

    def _result(self, item: Launch, started: float) -> TaskResult:
        failed = self.fails is not None and self.fails(item.task, item.number)
        now = self.kernel.now
        self.trace.ends.append((now, item.task.id, item.number, not failed))
        return TaskResult(
            task_id=item.task.id,
            attempt=item.number,
            ok=not failed,
            value=None if failed or self.outcome is None else self.outcome(item.task),
            exit_code=1 if failed else 0,
            reason="exit" if failed else None,
            message="failed (simulated)" if failed else "",
            start=started,
            end=now,
        )


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

    trace = CampaignTrace()
    clock = VirtualClock(trace, duration or planned, outcome, fails)
    dispatcher = Dispatcher(campaign, policy, pool, estimates=RuntimeEstimates())
    drive(dispatcher, clock, lambda result: dispatcher.finish(result, clock.now()), until=until)
    trace.counts = dispatcher.counts
    trace.makespan = clock.now()
    return trace
