"""Lower bounds on the makespan and on Σ w·C of a multi-resource instance, independent of CP-SAT.

Every scheduler's result is reported with its gap to these bounds, so a bound must be valid for
*every* feasible schedule (non-preemptive jobs, release dates, a cumulative capacity per
resource). Each rule below says why it is valid; the tests check them against the enumerated
optimum of tiny instances (:mod:`hpcsched.sim.brute_force`).

Makespan (the maximum of):

* the critical bound: no job ends before ``r_i + p_i``;
* the energy bound with release dates, per resource: the jobs released at or after ``t`` need
  ``Σ p_i·q_ir`` resource-seconds, at most ``C_r`` per second, all after ``t`` (the "energetic"
  reasoning of Baptiste, Le Pape & Nuijten, *Constraint-Based Scheduling*, 2001, ch. 3, with the
  window ``[t, ∞)``);
* the wide-jobs bound: jobs that pairwise cannot run together (on some resource
  ``q_ir + q_jr > C_r``) run one after another, a one-machine problem whose makespan with release
  dates is met by taking them in release order (Lawler 1973's rule for 1|r_j|C_max), i.e. the
  energy bound above with one unit per job.

Σ w·C (the maximum of):

* ``Σ w_i (r_i + p_i)``;
* per resource, the energy-scaled single machine: at every instant give each running job
  ``q_ir`` of the machine's speed ``C_r``; job ``i`` then does its work ``p_i·q_ir`` exactly
  between its start and its end, so any feasible schedule is a processor-sharing schedule on one
  machine of speed ``C_r`` that meets release dates and deadlines ``C_i``; preemptive EDF meets
  the same deadlines (Horn 1974), so the optimum of ``1|r_j,pmtn|Σ w_j C_j`` on that machine is a
  lower bound. It is computed exactly only where it is easy: with equal weights SRPT solves
  ``1|r_j,pmtn|Σ C_j`` (Schrage 1968); with unequal weights we drop the release dates, and Smith's
  ratio rule (WSPT, 1956) solves ``1||Σ w_j C_j``, where preemption does not help (McNaughton 1959);
* the same on a set of wide jobs (pairwise exclusive, so a true single machine of speed 1),
  the other jobs counted at ``r_i + p_i``.
"""

from __future__ import annotations

import heapq

import numpy as np
import numpy.typing as npt

from hpcsched.sim.instance import SchedulingInstance

IntArray = npt.NDArray[np.int64]

#: above this many jobs the pairwise-conflict clique is not built (an n×n table); the per-resource
#: "needs more than half" sets still are
_CLIQUE_LIMIT = 2000


def makespan_lower_bound(inst: SchedulingInstance) -> int:
    """The largest of the critical, energy and wide-jobs bounds (module docstring)."""
    if not len(inst):
        return 0
    bound = int((inst.release + inst.duration).max())
    for r, capacity in enumerate(inst.capacity):
        work = inst.duration * inst.demand[:, r]
        if capacity > 0 and work.any():
            bound = max(bound, _release_energy_bound(inst.release, work, capacity))
    for clique in wide_job_sets(inst):
        bound = max(bound, _release_energy_bound(inst.release[clique], inst.duration[clique], 1))
    return bound


def weighted_completion_lower_bound(inst: SchedulingInstance) -> int:
    """The largest of ``Σ w(r+p)``, the energy-scaled machines and the wide-jobs machines."""
    if not len(inst):
        return 0
    weight = inst.weight
    own = weight * (inst.release + inst.duration)
    bound = int(own.sum())
    equal = bool((weight == weight[0]).all())
    for r, capacity in enumerate(inst.capacity):
        work = inst.duration * inst.demand[:, r]
        if capacity > 0 and work.any():
            # times scaled by C_r make the machine's speed 1 and every quantity an integer
            scaled = _single_machine_bound(inst.release * capacity, work, weight, equal)
            bound = max(bound, -(-scaled // capacity))
    for clique in wide_job_sets(inst):
        inside = _single_machine_bound(
            inst.release[clique], inst.duration[clique], weight[clique], equal
        )
        outside = int(own.sum() - own[clique].sum())
        bound = max(bound, inside + outside)
    return bound


def wide_job_sets(inst: SchedulingInstance) -> list[IntArray]:
    """Sets of at least two jobs no two of which fit together: per resource the jobs needing more
    than half of it, and one clique of the conflict graph grown greedily from the longest jobs."""
    sets: list[IntArray] = []
    demand, capacity = inst.demand, np.asarray(inst.capacity, dtype=np.int64)
    for r in range(len(capacity)):
        wide = np.flatnonzero(2 * demand[:, r] > capacity[r])
        if len(wide) > 1:
            sets.append(wide)
    n = len(inst)
    if 1 < n <= _CLIQUE_LIMIT:
        conflict = np.zeros((n, n), dtype=bool)
        for r in range(len(capacity)):
            conflict |= demand[:, r, None] + demand[None, :, r] > capacity[r]
        clique: list[int] = []
        for i in np.argsort(-inst.duration, kind="stable"):
            if all(conflict[i, j] for j in clique):
                clique.append(int(i))
        if len(clique) > 1:
            sets.append(np.asarray(sorted(clique), dtype=np.int64))
    return sets


def _release_energy_bound(release: IntArray, work: IntArray, capacity: int) -> int:
    """``max_t t + ⌈Σ_{r_i >= t} work_i / capacity⌉`` over the distinct releases ``t``."""
    order = np.argsort(-release, kind="stable")
    tail = np.cumsum(work[order])  # work released at or after release[order[j]]
    rel = release[order]
    # for ties keep the last index of each release (all the work released at or after it)
    last = np.r_[rel[1:] != rel[:-1], True]
    return int((rel[last] + -(-tail[last] // capacity)).max())


def _single_machine_bound(release: IntArray, work: IntArray, weight: IntArray, equal: bool) -> int:
    """A lower bound on ``1|r_j,pmtn|Σ w_j C_j`` (module docstring): SRPT with equal weights,
    else WSPT without release dates, never below ``Σ w (r + work)``."""
    floor = int((weight * (release + work)).sum())
    if equal:
        return max(floor, int(weight[0]) * sum(_srpt_completions(release, work)))
    order = sorted(range(len(work)), key=lambda i: (work[i] * 1.0 / weight[i], i))
    clock, total = 0, 0
    for i in order:
        clock += int(work[i])
        total += int(weight[i]) * clock
    return max(floor, total)


def _srpt_completions(release: IntArray, work: IntArray) -> list[int]:
    """Completion times of preemptive shortest-remaining-processing-time on one machine of speed
    1 (optimal for ``1|r_j,pmtn|Σ C_j``, Schrage 1968)."""
    arrivals = sorted(range(len(work)), key=lambda i: (int(release[i]), i))
    ready: list[tuple[int, int]] = []  # (remaining, job)
    done: list[int] = []
    clock, k = 0, 0
    while k < len(arrivals) or ready:
        if not ready:
            clock = max(clock, int(release[arrivals[k]]))
        while k < len(arrivals) and release[arrivals[k]] <= clock:
            j = arrivals[k]
            heapq.heappush(ready, (int(work[j]), j))
            k += 1
        remaining, j = heapq.heappop(ready)
        horizon = int(release[arrivals[k]]) if k < len(arrivals) else None
        if horizon is None or clock + remaining <= horizon:
            clock += remaining
            done.append(clock)
        else:
            heapq.heappush(ready, (remaining - (horizon - clock), j))
            clock = horizon
    return done
