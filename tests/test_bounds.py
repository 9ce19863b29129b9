"""The independent lower bounds: never above the enumerated optimum, and strong where they should
be; the serial scheme and the feasibility check they are judged with."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from hpcsched.sim.bounds import (
    makespan_lower_bound,
    weighted_completion_lower_bound,
    wide_job_sets,
)
from hpcsched.sim.brute_force import brute_force, serial_schedule
from hpcsched.sim.instance import SchedulingInstance
from hpcsched.sim.schedule_check import first_violation
from scheduling_instances import tiny_instances


def _instance(
    release: list[int],
    duration: list[int],
    demand: list[list[int]],
    capacity: tuple[int, ...],
    weight: list[int] | None = None,
) -> SchedulingInstance:
    n, k = len(release), len(capacity)
    return SchedulingInstance(
        name="hand",
        release=np.asarray(release, dtype=np.int64),
        duration=np.asarray(duration, dtype=np.int64),
        demand=np.asarray(demand, dtype=np.int64).reshape(n, k),
        capacity=capacity,
        resources=("nodes", "gpus")[:k],
        weight=np.asarray(weight or [1] * n, dtype=np.int64),
        user=("u",) * n,
        group=("g",) * n,
    )


@settings(max_examples=60, deadline=None)
@given(tiny_instances())
def test_the_bounds_never_exceed_the_enumerated_optimum(inst: SchedulingInstance) -> None:
    best_makespan, _ = brute_force(inst, "makespan")
    _, best_weighted = brute_force(inst, "weighted_completion")
    assert int((inst.release + inst.duration).max()) <= makespan_lower_bound(inst) <= best_makespan
    floor = int((inst.weight * (inst.release + inst.duration)).sum())
    assert floor <= weighted_completion_lower_bound(inst) <= best_weighted


@settings(max_examples=40, deadline=None)
@given(tiny_instances())
def test_every_serial_schedule_is_feasible(inst: SchedulingInstance) -> None:
    order = list(range(len(inst)))[::-1]
    starts = serial_schedule(inst, order)
    assert first_violation(inst, starts) is None


def test_the_energy_bound_sees_jobs_that_must_share_a_resource() -> None:
    # four jobs of 3 s, each half the machine, released at 0: 12 node-s of work on 2 nodes; the
    # critical bound says 3, the energy bound 6 (and 6 is optimal)
    inst = _instance([0, 0, 0, 0], [3, 3, 3, 3], [[1]] * 4, (2,))
    assert makespan_lower_bound(inst) == 6 == brute_force(inst, "makespan")[0]


def test_the_energy_bound_counts_from_each_release() -> None:
    # a late burst: 3 full-machine jobs of 2 s released at 10 cannot end before 16
    inst = _instance([0, 10, 10, 10], [1, 2, 2, 2], [[2]] * 4, (2,))
    assert makespan_lower_bound(inst) == 16


def test_wide_jobs_run_one_after_another() -> None:
    # 3 of 4 GPUs each: no two together although the node resource has room; the GPU energy
    # bound alone gives ceil(3*5*3/4) = 12, the wide-jobs bound 15
    inst = _instance([0, 0, 0], [5, 5, 5], [[1, 3]] * 3, (8, 4))
    assert [list(s) for s in wide_job_sets(inst)] == [[0, 1, 2], [0, 1, 2]]
    assert makespan_lower_bound(inst) == 15 == brute_force(inst, "makespan")[0]


def test_equal_weights_get_schrages_srpt_bound() -> None:
    # two full-machine jobs at 0 of 4 and 1 s: SRPT ends them at 1 and 5, sum 6 (optimal);
    # Σ (r + p) says only 5
    inst = _instance([0, 0], [4, 1], [[2], [2]], (2,))
    assert weighted_completion_lower_bound(inst) == 6 == brute_force(inst, "weighted_completion")[1]


def test_unequal_weights_get_smiths_ratio_rule() -> None:
    # same jobs, weights 1 and 3: WSPT runs the short heavy job first, 3*1 + 1*5 = 8
    inst = _instance([0, 0], [4, 1], [[2], [2]], (2,), weight=[1, 3])
    assert weighted_completion_lower_bound(inst) == 8 == brute_force(inst, "weighted_completion")[1]


def test_the_feasibility_check_names_the_broken_rule() -> None:
    inst = _instance([0, 2], [3, 3], [[2], [1]], (2,))
    assert first_violation(inst, {0: 0, 1: 3}) is None
    assert first_violation(inst, {0: 0}) == "job 1 has no start (1 of 2 jobs missing)"
    assert first_violation(inst, {0: 0, 1: 1}) == "job 1 starts at 1 before its release 2"
    assert first_violation(inst, {0: 0, 1: 2}) == "at t=2 the running jobs use 3 nodes of 2"
    assert (
        first_violation(inst, {0: 0, 1: 3, 7: 0})
        == "job 7 is not in the instance (2 jobs, ids 0..1)"
    )


def test_unequal_weights_keep_their_release_dates_in_goemans_bound() -> None:
    # a long light job at 0 and a short heavy one at 1, both the whole machine: preemptive WSPT
    # runs the long one [0,1) and [2,5), the short one [1,2): Σ w (M + p/2) = 4.75 + 6 -> 11;
    # dropping the release dates (Smith's rule) would give only 8, Σ w (r + p) 10; optimum 12
    inst = _instance([0, 1], [4, 1], [[2], [2]], (2,), weight=[1, 3])
    assert weighted_completion_lower_bound(inst) == 11
    assert brute_force(inst, "weighted_completion")[1] == 12
