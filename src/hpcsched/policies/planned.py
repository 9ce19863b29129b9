"""Plan-then-execute: a policy that starts each job at the time a plan gave it.

An offline plan (CP-SAT's, :mod:`hpcsched.sim.cpsat`, or any other) is *executed* through the
same scheduler state and capacity check as every online policy, so a plan that is not feasible
shows up as a refused start, not as a number nobody checked. The policy starts every waiting job
whose planned start has come, in planned-start order, when it fits what is free now (with exact
durations it always does once the instant's ends are in), and asks to be woken at the next
planned start of a job still waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hpcsched.core.profile import Vector, fits, minus
from hpcsched.policies.view import Decision, SchedulerView


@dataclass(frozen=True)
class PlannedStarts:
    """Start job ``i`` at ``starts[i]`` (or as soon after as it fits); a job with no planned
    start is a caller's error and raises ``KeyError`` naming it."""

    starts: Mapping[int, float] = field(repr=False)
    name: str = "cpsat"

    def decide(self, view: SchedulerView) -> Decision:
        now = view.now
        due: list[tuple[float, int, Vector]] = []
        later: list[tuple[float, int, Vector]] = []
        for job in view.waiting:
            if job.id not in self.starts:
                raise KeyError(f"job {job.id} has no planned start in plan {self.name!r}")
            planned = float(self.starts[job.id])
            (due if planned <= now else later).append((planned, job.id, job.request))
        # a job whose expected end is now counts as free: the replay's order of one instant may
        # deliver its end after this decision (scheduler.state, pyss's early release)
        free = view.capacity
        for running in view.running:
            if running.expected_end > now:
                free = minus(free, running.request)
        start: list[int] = []
        for _, num, request in sorted(due):
            if fits(request, free):
                free = minus(free, request)
                start.append(num)
        wake = min((planned for planned, _, _ in later), default=None)
        return Decision(start=start, wake=wake)
