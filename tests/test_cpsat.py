"""CP-SAT as the exact reference: equal to enumeration where it proves optimality, honest where it
does not, its plan executed unchanged through the replay engine by ``PlannedStarts``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings

from hpcsched.policies.planned import PlannedStarts
from hpcsched.policies.presets import PRESETS
from hpcsched.policies.view import RunningJob, SchedulerView, WaitingJob
from hpcsched.sim.bounds import makespan_lower_bound, weighted_completion_lower_bound
from hpcsched.sim.brute_force import brute_force, serial_schedule
from hpcsched.sim.cpsat import hint_is_feasible, plan_and_replay, solve
from hpcsched.sim.instance import SchedulingInstance
from hpcsched.sim.replay import replay
from scheduling_instances import random_instance, tiny_instances


def _never_over(inst: SchedulingInstance, starts: dict[int, int]) -> None:
    """Time-indexed check, independent of the code under test: every start at or after its
    release, and at every integer instant the running jobs fit."""
    assert set(starts) == set(range(len(inst)))
    for i, s in starts.items():
        assert s >= inst.release[i]
    end = max(s + int(inst.duration[i]) for i, s in starts.items())
    for t in range(end):
        used = sum(
            (inst.demand[i] for i, s in starts.items() if s <= t < s + inst.duration[i]),
            np.zeros(len(inst.capacity), dtype=np.int64),
        )
        assert (used <= np.asarray(inst.capacity)).all(), f"over capacity at t={t}"


def _easy_starts(inst: SchedulingInstance) -> dict[int, int]:
    done = replay(inst.job_arrays(), PRESETS["easy"], inst.capacity)
    return {i: int(s) for i, s in enumerate(done.start)}


@settings(max_examples=25, deadline=None)
@given(tiny_instances())
def test_a_proof_equals_the_enumerated_optimum(inst: SchedulingInstance) -> None:
    for objective in ("makespan", "weighted_completion", "lexicographic"):
        result = solve(inst, objective, workers=1, time_limit=5.0)
        assert result.status == "optimal" and result.proven
        makespan, weighted = brute_force(inst, objective)
        expected = makespan if objective == "makespan" else weighted
        assert result.objective_value == expected == result.bound
        if objective != "weighted_completion":
            assert result.makespan == makespan and result.makespan_proven
        _never_over(inst, result.starts)
        lower = makespan_lower_bound if objective == "makespan" else weighted_completion_lower_bound
        assert lower(inst) <= expected


@settings(max_examples=15, deadline=None)
@given(tiny_instances())
def test_the_plan_replays_exactly(inst: SchedulingInstance) -> None:
    result, schedule = plan_and_replay(inst, "weighted_completion", workers=1, time_limit=5.0)
    assert schedule.violations == 0
    assert [int(s) for s in schedule.start] == [result.starts[i] for i in range(len(inst))]
    assert list(schedule.end) == [result.starts[i] + inst.duration[i] for i in range(len(inst))]


@settings(max_examples=15, deadline=None)
@given(tiny_instances())
def test_a_plan_with_idle_time_replays_exactly(inst: SchedulingInstance) -> None:
    # every start 3 s late: no start falls on a release or an end, so only the policy's wake
    # brings the replay back at each planned start
    late = {i: s + 3 for i, s in serial_schedule(inst, range(len(inst))).items()}
    done = replay(inst.job_arrays(), PlannedStarts(late), inst.capacity, strict=True)
    assert [int(s) for s in done.start] == [late[i] for i in range(len(inst))]
    assert done.violations == 0


def test_a_time_limit_too_short_for_a_proof_says_so() -> None:
    inst = random_instance(80, seed=3)
    hint = _easy_starts(inst)
    result = solve(inst, "weighted_completion", workers=1, time_limit=0.05, hint=hint)
    assert not result.proven and result.status == "feasible"
    assert result.bound is not None and result.objective_value is not None
    assert weighted_completion_lower_bound(inst) <= result.objective_value
    assert result.bound <= result.objective_value
    hinted = sum(int(inst.weight[i]) * (s + int(inst.duration[i])) for i, s in hint.items())
    assert result.objective_value <= hinted  # the warm start is the worst it can return
    _never_over(inst, result.starts)


def test_the_lexicographic_pair_says_whether_its_makespan_is_proven() -> None:
    inst = random_instance(80, seed=4)
    result = solve(inst, "lexicographic", workers=1, time_limit=0.1, hint=_easy_starts(inst))
    assert not result.proven and result.status == "feasible"
    assert result.makespan is not None and result.makespan_bound is not None
    assert result.makespan_bound <= result.makespan
    assert result.makespan_proven == (result.makespan_bound == result.makespan)
    _never_over(inst, result.starts)


def test_a_heuristic_schedule_is_a_hint_cp_sat_accepts() -> None:
    inst = random_instance(12, seed=5)
    hint = _easy_starts(inst)
    assert hint_is_feasible(inst, hint)
    crowded = {i: int(inst.release[i]) for i in range(len(inst))}  # everyone at release
    assert not hint_is_feasible(inst, crowded)
    result = solve(inst, "makespan", workers=1, time_limit=5.0, hint=hint)
    assert result.proven and result.objective_value is not None
    assert result.objective_value <= max(s + int(inst.duration[i]) for i, s in hint.items())


def test_a_bad_hint_or_objective_is_one_clear_error() -> None:
    inst = random_instance(6, seed=6)
    crowded = {i: int(inst.release[i]) for i in range(len(inst))}
    with pytest.raises(ValueError, match=r"the hint is not a feasible schedule: at t=\d+"):
        solve(inst, "makespan", hint=crowded)
    with pytest.raises(ValueError, match="objective 'flow' is not one of makespan"):
        solve(inst, "flow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time_limit > 0"):
        solve(inst, "makespan", time_limit=0)


def _view(now: float, waiting: list[WaitingJob], running: list[RunningJob]) -> SchedulerView:
    return SchedulerView(now=now, capacity=(4.0,), waiting=waiting, running=running)


def test_planned_starts_starts_what_is_due_and_fits_and_wakes_for_the_next() -> None:
    jobs = [WaitingJob(i, 0.0, (2.0,), 5.0) for i in range(4)]
    policy = PlannedStarts({0: 0.0, 1: 3.0, 2: 3.0, 3: 9.0})
    # at 3: jobs 1 and 2 are due; 2 nodes are held by a job ending at 8, so only job 1 fits
    busy = [RunningJob(9, (2.0,), 0.0, 8.0)]
    decision = policy.decide(_view(3.0, jobs[1:], busy))
    assert decision.start == [1] and decision.wake == 9.0
    # a job whose expected end is now counts as free: the instant's end may come after this call
    ending = [RunningJob(9, (2.0,), 0.0, 3.0)]
    assert policy.decide(_view(3.0, jobs[1:], ending)).start == [1, 2]
    assert policy.decide(_view(0.0, jobs, [])).start == [0]
    with pytest.raises(KeyError, match="job 7 has no planned start"):
        policy.decide(_view(0.0, [WaitingJob(7, 0.0, (1.0,), 1.0)], []))


def test_importing_the_solver_module_does_not_load_or_tools() -> None:
    code = "import sys, hpcsched.sim.cpsat; print('ortools' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
