"""Is a planned schedule feasible? Every job once, not before its release, capacity never exceeded.

Usage is piecewise constant and only rises at a start, so checking the usage at each distinct
start time covers every instant.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hpcsched.sim.instance import SchedulingInstance


def first_violation(inst: SchedulingInstance, starts: Mapping[int, int]) -> str | None:
    """``None`` when ``starts`` is a feasible schedule of every job of ``inst``, else one line
    saying which job breaks which rule."""
    n = len(inst)
    missing = sorted(set(range(n)) - set(starts))
    if missing:
        return f"job {missing[0]} has no start ({len(missing)} of {n} jobs missing)"
    extra = sorted(set(starts) - set(range(n)))
    if extra:
        return f"job {extra[0]} is not in the instance ({n} jobs, ids 0..{n - 1})"
    begin = np.asarray([starts[i] for i in range(n)], dtype=np.int64)
    early = np.flatnonzero(begin < inst.release)
    if len(early):
        i = int(early[0])
        return f"job {i} starts at {begin[i]} before its release {inst.release[i]}"
    end = begin + inst.duration
    for t in np.unique(begin):
        running = (begin <= t) & (t < end)
        used = inst.demand[running].sum(axis=0)
        over = np.flatnonzero(used > np.asarray(inst.capacity))
        if len(over):
            r = int(over[0])
            return (
                f"at t={t} the running jobs use {used[r]} {inst.resources[r]} of {inst.capacity[r]}"
            )
    return None
