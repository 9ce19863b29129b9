"""The one overrun rule, and the shortest time a job is planned for.

A running job keeps its resources until it ends, also once it has outlived its estimate. The
scheduler is told when that happens (an ``estimate_over`` event at the expected end; the live clock
finds such jobs itself) and extends the expected end as Tsafrir, Etsion and Feitelson do
("Backfilling using system-generated predictions rather than user runtime estimates", IEEE TPDS
18(6), 2007, section 4.2): to the job's timelimit when that is still ahead, else by the time it has
run so far (at least one second), so a job that keeps running is re-planned at doubling intervals.

A job whose estimate is zero or negative is planned for :data:`MIN_ESTIMATE` seconds: a zero-length
reservation holds nothing, and a policy could then start two jobs on the same processors at the
same instant. 0.1 s is the guard RLScheduler's order keys already apply to such estimates
(``HPCSimPickJobs.py``), so those keys are unchanged by it.
"""

from __future__ import annotations

import math

MIN_ESTIMATE = 0.1


def planning_estimate(estimate: float) -> float:
    """The estimate a policy plans with: ``estimate``, or :data:`MIN_ESTIMATE` when it is shorter
    (also for NaN, which compares false)."""
    return estimate if estimate >= MIN_ESTIMATE else MIN_ESTIMATE


def extended_end(start: float, now: float, timelimit: float | None) -> float:
    """The new expected end of a job started at ``start`` that is still running at ``now``,
    past its expected end (always later than ``now``)."""
    if timelimit is not None and not math.isnan(timelimit) and start + timelimit > now:
        return start + timelimit
    return now + max(now - start, 1.0)
