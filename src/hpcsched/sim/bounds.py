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
  ``q_ir`` of the machine's speed ``C_r``; job ``i`` then does its work ``p_i·q_ir`` at a constant
  rate exactly between its start and its end, so any feasible schedule is a processor-sharing
  (fractional) schedule on one machine that meets the release dates and in which job ``i``'s
  work has its mean busy time ``M_i = C_i - p_i/2``. Two bounds follow:

  - with equal weights, preemptive EDF meets the same deadlines ``C_i`` (Horn 1974), so the
    optimum of ``1|r_j,pmtn|Σ C_j`` on that machine, which SRPT attains (Schrage 1968), is a bound;
  - with any weights, Goemans' mean-busy-time relaxation: ``Σ w_j M_j`` over every fractional
    one-machine schedule with release dates is minimised by preemptive WSPT (Goemans, SODA 1997;
    Goemans, Queyranne, Schulz, Skutella & Wang, SIAM J. Discrete Math. 15, 2002), so
    ``Σ w_i (M_i^{PWSPT} + p_i/2)`` is a bound (a job that does not use the resource counts at
    ``r_i + p_i``);
* the same on a set of wide jobs (pairwise exclusive: a true single machine, ``C_i = M_i + p_i/2``
  in every schedule), the other jobs counted at ``r_i + p_i``.
"""

from __future__ import annotations

import heapq
import math
from fractions import Fraction

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
    weight, duration = inst.weight, inst.duration
    own = weight * (inst.release + duration)
    bound = int(own.sum())
    equal = bool((weight == weight[0]).all())
    for r, capacity in enumerate(inst.capacity):
        work = duration * inst.demand[:, r]
        if capacity <= 0 or not work.any():
            continue
        # times scaled by C_r make the machine's speed 1 and every quantity an integer
        scaled_release = inst.release * capacity
        if equal:
            srpt = int(weight[0]) * sum(_srpt_completions(scaled_release, work))
            bound = max(bound, -(-srpt // capacity))
        uses = work > 0
        busy = _weighted_mean_busy_time(scaled_release[uses], work[uses], weight[uses])
        total = busy / capacity + Fraction(int((weight * duration)[uses].sum()), 2)
        bound = max(bound, math.ceil(total + int(own[~uses].sum())))
    for clique in wide_job_sets(inst):
        release, length, w = inst.release[clique], duration[clique], weight[clique]
        outside = int(own.sum() - own[clique].sum())
        inside = _weighted_mean_busy_time(release, length, w) + Fraction(int((w * length).sum()), 2)
        if equal:
            inside = max(inside, Fraction(int(w[0]) * sum(_srpt_completions(release, length))))
        bound = max(bound, math.ceil(inside) + outside)
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


def _weighted_mean_busy_time(release: IntArray, work: IntArray, weight: IntArray) -> Fraction:
    """``Σ w_j M_j`` of preemptive WSPT on one machine of speed 1 (at every instant the released
    job of the largest ``w_j / work_j``), the minimum over fractional schedules (Goemans 1997).
    ``M_j`` is the mean time at which job ``j``'s work is done; every ``work_j`` must be > 0."""
    n = len(work)
    arrivals = sorted(range(n), key=lambda i: (int(release[i]), i))
    ready: list[tuple[Fraction, int]] = []  # (work / weight, job): the WSPT order
    remaining = [int(x) for x in work]
    twice_moment = [0] * n  # Σ over the job's pieces [a, b) of b² - a²
    clock, k = 0, 0
    while k < n or ready:
        if not ready:
            clock = max(clock, int(release[arrivals[k]]))
        while k < n and release[arrivals[k]] <= clock:
            j = arrivals[k]
            heapq.heappush(ready, (Fraction(int(work[j]), int(weight[j])), j))
            k += 1
        _, j = ready[0]
        until = clock + remaining[j]
        if k < n:
            until = min(until, int(release[arrivals[k]]))
        twice_moment[j] += until * until - clock * clock
        remaining[j] -= until - clock
        clock = until
        if not remaining[j]:
            heapq.heappop(ready)
    return sum(
        (Fraction(int(weight[j]) * twice_moment[j], 2 * int(work[j])) for j in range(n)),
        Fraction(0),
    )


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
