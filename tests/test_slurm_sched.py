"""Slurm's two scheduling loops (``hpcsched.policies.slurm_sched``), decision by decision: no
clock, no cluster, each rule against the Slurm source it comes from."""

from __future__ import annotations

import pytest

from hpcsched.core.profile import Profile
from hpcsched.policies.slurm_sched import SlurmScheduler
from hpcsched.policies.view import RunningJob, SchedulerView, WaitingJob


def waiting(id_: int, request: tuple[int, ...], estimate: float, priority: float) -> WaitingJob:
    return WaitingJob(id_, 0.0, request, estimate, priority=priority)


def view(
    now: float,
    jobs: list[WaitingJob],
    running: list[RunningJob],
    capacity: tuple[int, ...] = (8,),
) -> SchedulerView:
    return SchedulerView(now=now, capacity=capacity, waiting=jobs, running=running)


POLICY = SlurmScheduler(bf_interval=2.0, bf_resolution=60.0, node_cpus=2)


def test_main_pass_keeps_strict_priority_and_stops_the_blocked_pool_only() -> None:
    # pool 0 has 2 of 4 free: the 4-cpu job blocks it, so the 1-cpu job behind it waits
    # (job_scheduler.c: no more jobs "in this partition or on nodes in this partition");
    # pool 1 is other nodes and goes on
    running = [RunningJob(9, (2, 0), 0.0, 100.0)]
    jobs = [
        waiting(1, (4, 0), 10.0, 300.0),
        waiting(2, (1, 0), 10.0, 200.0),
        waiting(3, (0, 1), 10.0, 100.0),
    ]
    decision = POLICY.decide(view(1.0, jobs, running, capacity=(4, 4)))
    assert decision.start == [3]
    assert decision.wake == 2.0  # the next backfill cycle


def test_backfill_starts_a_job_only_at_its_cycle() -> None:
    # the head waits for the running job (ends at 100); a 10-s job fits before that, but only
    # the backfill loop may start it, and it runs every bf_interval seconds
    running = [RunningJob(9, (6,), 0.0, 100.0)]
    jobs = [waiting(1, (8,), 50.0, 300.0), waiting(2, (2,), 10.0, 100.0)]
    assert POLICY.decide(view(1.0, jobs, running)).start == []
    decision = POLICY.decide(view(2.0, jobs, running))
    assert decision.start == [2] and decision.backfilled == {2}
    assert decision.reservations == {1: 100.0}


@pytest.mark.parametrize(
    ("now", "head_start", "fits"),
    [
        (58.0, 120.0, True),  # the 60-s job ends at 118, before the reservation at 120
        (58.0, 119.0, False),  # 119 is rounded down to 60: the job would end inside it
        (60.0, 120.0, False),  # it would end at the very second the reservation starts
        (60.0, 180.0, True),
    ],
)
def test_backfill_plans_in_bf_resolution_slots(now: float, head_start: float, fits: bool) -> None:
    # backfill.c rounds a reservation's start down to bf_resolution and counts an end at its
    # first second as overlapping (node_space[j].begin_time <= end_time)
    running = [RunningJob(9, (4,), 0.0, head_start)]
    jobs = [waiting(1, (8,), 60.0, 300.0), waiting(2, (1,), 60.0, 100.0)]
    decision = POLICY.decide(view(now, jobs, running))
    assert decision.reservations[1] == head_start
    assert (decision.start == [2]) is fits


def test_a_reservation_holds_whole_nodes_without_counting_running_jobs_twice() -> None:
    profile = Profile.from_running(0.0, (8,), [((3,), 50.0)])
    profile.hold(0.0, 50.0, (6,))  # 5 free before the start: all of it is held, not 6
    assert profile.free_at(0.0) == (0,)
    assert profile.free_at(50.0) == (8,)


def test_the_site_file_times_the_loops() -> None:
    from pathlib import Path

    from hpcsched.advise.site import load_site
    from hpcsched.policies.registry import get_policy
    from hpcsched.sim.priority import site_age, with_age, with_scheduler

    site = load_site(Path(__file__).resolve().parents[1] / "examples" / "site-local.yaml")
    policy = with_scheduler(with_age(get_policy("slurm"), site_age(site)), site)
    assert isinstance(policy, SlurmScheduler)
    # slurm.conf SchedulerParameters=bf_interval=2; bf_resolution its default; 2-CPU nodes
    assert (policy.bf_interval, policy.bf_resolution, policy.node_cpus) == (2.0, 60.0, 2)
    assert policy.age_weight == 1000.0
    default = get_policy("slurm")
    assert isinstance(default, SlurmScheduler) and default.bf_interval == 30.0
