"""The serial schedule-generation scheme, and the exact optimum of a tiny instance by enumeration.

The serial scheme (Kelley 1963; Kolisch, "Serial and parallel resource-constrained project
scheduling methods revisited", EJOR 90, 1996) takes the jobs in a list order and puts each at the
earliest time at or after its release at which it fits, for its whole duration, beside the jobs
already placed (possibly before them, in a hole). Over all list orders it generates exactly the
*active* schedules (Sprecher, Kolisch & Drexl, "Semi-active, active, and non-delay schedules for
the resource-constrained project scheduling problem", EJOR 80, 1995), and for a regular objective
(one that never improves when a job ends later: the makespan, Σ w·C) some active schedule is
optimal. So enumerating all ``n!`` orders is an exact solver; it is the reference the tests hold
CP-SAT and the lower bounds to, for ``n`` up to about 7.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations
from typing import Literal

import numpy as np

from hpcsched.sim.instance import SchedulingInstance

Objective = Literal["makespan", "weighted_completion", "lexicographic"]


def serial_schedule(inst: SchedulingInstance, order: Sequence[int]) -> dict[int, int]:
    """Each job of ``order`` at its earliest feasible start beside the jobs placed before it."""
    placed: list[tuple[int, int, np.ndarray]] = []  # (start, end, demand)
    capacity = np.asarray(inst.capacity, dtype=np.int64)
    starts: dict[int, int] = {}
    for i in order:
        release, length, need = int(inst.release[i]), int(inst.duration[i]), inst.demand[i]
        # the earliest feasible start is the release or the end of a placed job (Kolisch 1996)
        candidates = sorted({release} | {end for _, end, _ in placed if end > release})
        for t in candidates:
            if _fits(placed, capacity, need, t, t + length):
                starts[i] = t
                placed.append((t, t + length, need))
                break
    return starts


def _fits(
    placed: list[tuple[int, int, np.ndarray]],
    capacity: np.ndarray,
    need: np.ndarray,
    start: int,
    end: int,
) -> bool:
    # usage is piecewise constant and only rises at a start: checking [start, end) at ``start``
    # and at each placed start inside it is enough
    points = [start] + [s for s, _, _ in placed if start < s < end]
    for t in points:
        used = sum((q for s, e, q in placed if s <= t < e), np.zeros_like(capacity))
        if np.any(used + need > capacity):
            return False
    return True


def objective_value(inst: SchedulingInstance, starts: dict[int, int], objective: Objective) -> int:
    """The makespan, Σ w·C or (for ``lexicographic``) Σ w·C of a complete schedule."""
    ends = {i: s + int(inst.duration[i]) for i, s in starts.items()}
    if objective == "makespan":
        return max(ends.values(), default=0)
    return sum(int(inst.weight[i]) * e for i, e in ends.items())


def brute_force(inst: SchedulingInstance, objective: Objective) -> tuple[int, int]:
    """The optimal (makespan, Σ w·C) pair for ``objective`` over every list order.

    ``makespan`` minimises the makespan (second entry: the best Σ w·C among those schedules, not
    claimed optimal); ``weighted_completion`` minimises Σ w·C (first entry: that schedule's
    makespan); ``lexicographic`` minimises the pair in order.
    """
    best: tuple[int, int] | None = None
    for order in permutations(range(len(inst))):
        starts = serial_schedule(inst, order)
        pair = (
            objective_value(inst, starts, "makespan"),
            objective_value(inst, starts, "weighted_completion"),
        )
        key = pair if objective != "weighted_completion" else (pair[1], pair[0])
        if best is None or key < best:
            best = key
    if best is None:
        return (0, 0)
    return best if objective != "weighted_completion" else (best[1], best[0])
