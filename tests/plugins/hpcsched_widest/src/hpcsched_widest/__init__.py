"""A third-party policy, as a site would write one: no import of hpcsched's engine internals, only
the policy protocol (an object with ``name`` and ``decide(view) -> Decision``).

Widest first: the waiting jobs are taken by decreasing first resource (processors), then by
arrival; each starts if it fits in what is free now. No reservations, no backfilling.
"""

from __future__ import annotations

from hpcsched.policies.view import Decision, SchedulerView


class WidestFirst:
    name = "widest"

    def decide(self, view: SchedulerView) -> Decision:
        free = list(view.capacity)
        for job in view.running:
            free = [f - r for f, r in zip(free, job.request, strict=True)]
        start = []
        for job in sorted(view.waiting, key=lambda j: (-j.request[0], j.submit, j.id)):
            if all(r <= f for r, f in zip(job.request, free, strict=True)):
                free = [f - r for f, r in zip(free, job.request, strict=True)]
                start.append(job.id)
        return Decision(start=start)


POLICY = WidestFirst()
