"""One compliance test for every policy (presets and anything registered by entry point).

Invariants on random workloads (Hypothesis): capacity is never exceeded; no job starts before it
is submitted; EASY never delays the head's reservation; PriorityBF never lets a lower class delay a
higher class's reservation; with one class PriorityBF is EASY, schedule for schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcsched.core.profile import Profile
from hpcsched.policies.backfilling import BackfillPolicy
from hpcsched.policies.presets import PRESETS
from hpcsched.policies.registry import registered_policies
from hpcsched.policies.view import Decision, Policy, SchedulerView
from hpcsched.sim.replay import JobArrays, Schedule, replay

CAPACITY = 16


@st.composite
def workloads(draw: st.DrawFn, *, classes: int = 3, exact_or_over: bool = False) -> JobArrays:
    n = draw(st.integers(1, 30))
    gaps = draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))
    runtimes = draw(st.lists(st.integers(1, 60), min_size=n, max_size=n))
    slack = draw(st.lists(st.integers(0, 60), min_size=n, max_size=n))
    procs = draw(st.lists(st.integers(1, CAPACITY), min_size=n, max_size=n))
    cls = draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n))
    runtime = np.array(runtimes, dtype=float)
    # estimates never below the runtime: reservations are then guarantees
    estimate = runtime + np.array(slack, dtype=float)
    return JobArrays(
        submit=np.cumsum(gaps).astype(float),
        runtime=runtime,
        estimate=estimate,
        timelimit=estimate.copy(),
        request=np.array(procs, dtype=np.int64).reshape(-1, 1),
        priority_class=np.array(cls, dtype=np.int64),
    )


@dataclass
class Recorder:
    """Wraps a policy and keeps every (view, decision) pair; it never changes a decision."""

    policy: Policy
    log: list[tuple[SchedulerView, Decision]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.policy.name

    def decide(self, view: SchedulerView) -> Decision:
        decision = self.policy.decide(view)
        self.log.append((view, decision))
        return decision


def all_policies() -> list[Policy]:
    return list(registered_policies().values())


def check_capacity_and_submit(jobs: JobArrays, schedule: Schedule) -> None:
    assert np.all(np.isfinite(schedule.start)), "every job must run"
    assert np.all(schedule.start >= jobs.submit), "a job started before its submission"
    procs = jobs.request[:, 0]
    for t in np.unique(schedule.start):
        busy = procs[(schedule.start <= t) & (schedule.end > t)].sum()
        assert busy <= CAPACITY, f"capacity exceeded at t={t}: {busy} > {CAPACITY}"


@settings(max_examples=60, deadline=None)
@given(jobs=workloads())
def test_every_policy_respects_capacity_and_submit_times(jobs: JobArrays) -> None:
    for policy in all_policies():
        check_capacity_and_submit(jobs, replay(jobs, policy, (CAPACITY,)))


@settings(max_examples=80, deadline=None)
@given(jobs=workloads())
def test_easy_never_delays_the_heads_reservation(jobs: JobArrays) -> None:
    for policy in (PRESETS["easy"], PRESETS["easy-sjbf"]):
        recorder = Recorder(policy)
        schedule = replay(jobs, recorder, (CAPACITY,))
        for view, decision in recorder.log:
            for job_id, reserved in decision.reservations.items():
                assert schedule.start[job_id] <= reserved, (
                    f"{policy.name}: job {job_id} reserved at {reserved} (t={view.now}) "
                    f"started at {schedule.start[job_id]}"
                )


@settings(max_examples=80, deadline=None)
@given(jobs=workloads())
def test_conservative_never_delays_any_reservation(jobs: JobArrays) -> None:
    recorder = Recorder(PRESETS["conservative"])
    schedule = replay(jobs, recorder, (CAPACITY,))
    for _, decision in recorder.log:
        for job_id, reserved in decision.reservations.items():
            assert schedule.start[job_id] <= reserved


@settings(max_examples=80, deadline=None)
@given(jobs=workloads())
def test_prioritybf_lower_class_never_delays_a_higher_reservation(jobs: JobArrays) -> None:
    recorder = Recorder(PRESETS["prioritybf"])
    replay(jobs, recorder, (CAPACITY,))
    cls = jobs.priority_class
    for view, decision in recorder.log:
        if not decision.reservations:
            continue
        waiting = {job.id: job for job in view.waiting}
        system = min(decision.reservations, key=lambda j: (cls[j], waiting[j].submit, j))
        for job_id, reserved in decision.reservations.items():
            p = cls[job_id]
            profile = Profile.from_running(
                view.now, view.capacity, [(r.request, r.expected_end) for r in view.running]
            )
            for started in decision.start:
                if cls[started] > p:  # lower classes only
                    profile.reserve(view.now, waiting[started].estimate, waiting[started].request)
            for other, t in decision.reservations.items():
                if other != job_id and (other == system or cls[other] < p):
                    profile.reserve(t, waiting[other].estimate, waiting[other].request)
            job = waiting[job_id]
            assert profile.earliest_start(job.request, job.estimate, reserved) == reserved, (
                f"t={view.now}: a lower-class start displaced job {job_id} (class {p}) "
                f"from its reservation at {reserved}"
            )


@settings(max_examples=80, deadline=None)
@given(jobs=workloads(classes=1))
def test_prioritybf_with_one_class_is_easy(jobs: JobArrays) -> None:
    easy = replay(jobs, PRESETS["easy"], (CAPACITY,))
    pbf = replay(jobs, PRESETS["prioritybf"], (CAPACITY,))
    np.testing.assert_array_equal(easy.start, pbf.start)
    np.testing.assert_array_equal(easy.backfilled, pbf.backfilled)


def test_a_registered_third_party_policy_is_found() -> None:
    # the built-in presets come through the same entry-point group third parties use
    found = registered_policies()
    assert set(PRESETS) <= set(found)
    assert all(isinstance(p, BackfillPolicy) for p in PRESETS.values())
