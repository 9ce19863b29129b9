"""Which nodes Slurm gives a job and the backfill plan kept per node
(``hpcsched.policies.slurm_nodes``), against what the local cluster's controller logged
(``scontrol setdebugflags +Backfill,SelectType``, Slurm 22.05, nodes n[1-4] of 2 processors)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpcsched.policies.slurm_nodes import NodeReservation, NodeState, choose_nodes, plan_job
from hpcsched.policies.slurm_sched import SlurmScheduler
from hpcsched.policies.view import RunningJob, SchedulerView, WaitingJob


@pytest.mark.parametrize(
    ("free", "cpus", "nodes"),
    [
        ([2, 2, 2, 2], 2, {0: 2}),  # JobId=1036 -> n1: the first node that holds it whole
        ([0, 2, 2, 2], 1, {1: 1}),  # JobId=1037 -> n2
        ([0, 1, 2, 2], 2, {2: 2}),  # JobId=1041 -> n3: n2's one processor is not enough
        ([2, 1, 0, 2], 4, {0: 2, 1: 1, 3: 1}),  # JobId=1046 -> n[1-2,4]: the larger run first
        ([2, 2, 0, 2], 1, {3: 1}),  # JobId=1043 -> n4: runs n[1-2] (4) and n4 (2), the tighter
        ([2, 2, 0, 1], 2, {0: 2}),  # JobId=1045 -> n1: only n[1-2] holds 2
        ([0, 2, 0, 1], 1, {3: 1}),  # JobId=1047 -> n4
        ([2, 2, 0, 2], 6, {0: 2, 1: 2, 3: 2}),  # JobId=1049 -> n[1-2,4]
        ([0, 1, 2, 0], 1, {1: 1}),  # JobId=1028 -> n2: the fewest free that still hold it
        ([1, 0, 1, 0], 3, None),  # not enough anywhere
    ],
)
def test_node_choice_is_the_controllers(
    free: list[int], cpus: int, nodes: dict[int, int] | None
) -> None:
    assert choose_nodes(free, cpus) == nodes


@given(free=st.lists(st.integers(0, 4), min_size=1, max_size=8), cpus=st.integers(1, 12))
def test_a_choice_takes_exactly_the_job_and_never_more_than_a_node_has(
    free: list[int], cpus: int
) -> None:
    chosen = choose_nodes(free, cpus)
    if sum(free) < cpus:
        assert chosen is None
        return
    assert chosen is not None and sum(chosen.values()) == cpus
    assert all(0 < c <= free[node] for node, c in chosen.items())


def state(running: dict[int, tuple[dict[int, int], float]]) -> NodeState:
    return NodeState(2, [8], {j: (0, nodes, end) for j, (nodes, end) in running.items()})


def test_a_reservation_holds_its_nodes_against_a_job_that_would_reach_it() -> None:
    # the controller's "Test JobId=1040 ... on n[1-2]": n3 is reserved from 60 (a 2-cpu job
    # waiting for the 1-cpu job there to end at 70), so a 1-cpu job of 120 s cannot start on
    # n3's free processor now; a processor count (1 free, nothing reserved before 60 on it)
    # would start it
    nodes = state({1: ({0: 2}, 200.0), 2: ({1: 2}, 200.0), 3: ({2: 1}, 70.0), 4: ({3: 2}, 200.0)})
    plan: list[NodeReservation] = []
    assert plan_job(nodes, plan, 0, 2, 120.0, 10.0, 60.0) == (70.0, {2: 2})
    assert plan == [NodeReservation(60.0, 180.0, 0, frozenset({2}))]
    assert plan_job(nodes, plan, 0, 1, 120.0, 10.0, 60.0) != (10.0, {2: 1})
    # a job short enough to end before the reservation's rounded start takes that processor
    assert plan_job(nodes, plan, 0, 1, 40.0, 10.0, 60.0) == (10.0, {2: 1})


def test_reservations_that_meet_at_a_slot_boundary_do_not_clash() -> None:
    # "JobId=1034 to start at 02:44:48, end at 02:46:00 on nodes n3" and "JobId=1049 ... start
    # at 02:46:44 ... on nodes n[1-3]": the first ends at the minute the second begins
    nodes = state({1: ({0: 2, 1: 2, 2: 1, 3: 2}, 70.0)})
    plan = [NodeReservation(120.0, 240.0, 0, frozenset({0, 1, 2}))]
    start, chosen = plan_job(nodes, plan, 0, 2, 90.0, 10.0, 60.0) or (None, None)
    assert (start, chosen) == (70.0, {0: 2})
    assert plan[-1] == NodeReservation(60.0, 120.0, 0, frozenset({0}))


def test_the_policy_keeps_each_running_job_on_its_nodes_between_decisions() -> None:
    policy = SlurmScheduler(bf_interval=2.0, bf_resolution=60.0, node_cpus=2)
    jobs = [WaitingJob(1, 0.0, (2,), 100.0), WaitingJob(2, 0.0, (1,), 100.0)]
    first = policy.decide(SchedulerView(1.0, (8,), jobs, []))
    assert first.start == [1, 2] and first.memory == {1: (0, {0: 2}), 2: (0, {1: 1})}
    running = [RunningJob(1, (2,), 1.0, 101.0), RunningJob(2, (1,), 1.0, 101.0)]
    waiting = [WaitingJob(3, 0.0, (2,), 10.0)]
    later = policy.decide(SchedulerView(3.0, (8,), waiting, running, memory=first.memory))
    assert later.start == [3] and later.memory[3] == (0, {2: 2})  # n3: n2 has one processor
