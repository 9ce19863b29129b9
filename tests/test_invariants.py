"""The scheduling rules, for every registered policy in every driver of the one scheduler state.

Random workloads (Hypothesis) with overruns (a job runs past its estimate), equal-time ties,
zero run times and two resources (processors and memory). In trace replay (reference and
compiled), campaign simulation and the live pilot (fake executor, fake clock):

- busy never exceeds capacity at any instant, jobs past their estimate included;
- every job starts exactly once;
- EASY never lets a backfilled job delay the head's reservation;
- PriorityBF never lets a lower class delay a higher class's reservation;
- conservative's reservations never over-commit the machine;
- the compiled kernel and the reference engine give the same schedule.

On the code before the scheduler core (commit a515725), the capacity rule failed here: two jobs
that outlived their estimates at the same instant let a third start on processors they still held.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcsched.core.profile import Profile
from hpcsched.policies.backfilling import BackfillPolicy
from hpcsched.policies.registry import registered_policies
from hpcsched.policies.view import Policy
from hpcsched.sim.fast import replay_fast
from hpcsched.sim.replay import replay
from hpcsched.sim.simulate import compiled_twin
from invariant_drivers import (
    CPUS,
    MEM,
    Job,
    Outcome,
    arrays,
    campaign_sim,
    pilot,
    replay_compiled,
    replay_reference,
)

POLICIES = registered_policies()


@st.composite
def workloads(draw: st.DrawFn, max_jobs: int = 14) -> list[Job]:
    n = draw(st.integers(1, max_jobs))
    jobs: list[Job] = []
    submit = 0.0
    for i in range(n):
        submit += draw(st.sampled_from([0, 0, 1, 5, 10]))  # many ties
        estimate = float(draw(st.integers(1, 30)))
        runtime = draw(
            st.sampled_from([0.0, estimate, estimate / 2, estimate * 2, estimate + 7, 1.0])
        )
        parent = draw(st.none() | st.integers(0, i - 1)) if i else None
        jobs.append(
            Job(
                submit=submit,
                runtime=float(runtime),
                estimate=estimate,
                cpus=draw(st.integers(1, CPUS)),
                mem=float(draw(st.sampled_from([0, 8, 32, MEM]))),
                cls=draw(st.integers(0, 2)),
                parent=parent,
            )
        )
    return jobs


def check_capacity(jobs: list[Job], out: Outcome, resources: int) -> None:
    need = np.array([[j.cpus, j.mem][:resources] for j in jobs], dtype=float)
    cap = np.array([CPUS, MEM][:resources], dtype=float)
    start = np.array([out.start.get(i, np.nan) for i in range(len(jobs))])
    end = np.array([out.end.get(i, np.nan) for i in range(len(jobs))])
    assert np.all(np.isfinite(start)) and np.all(np.isfinite(end)), "every job must run"
    for t in np.unique(start):
        busy = need[(start <= t) & (end > t)].sum(axis=0)
        assert np.all(busy <= cap + 1e-9), f"over-committed at t={t}: {busy} > {cap}"


def check_started_once(jobs: list[Job], out: Outcome) -> None:
    assert sorted(out.starts_seen) == list(range(len(jobs))), "a job started twice or never"


def _profile(view: object, started: list[int], reserved: dict[int, float], skip: int) -> Profile:
    profile = Profile.from_running(
        view.now,  # type: ignore[attr-defined]
        view.capacity,  # type: ignore[attr-defined]
        [(r.request, r.expected_end) for r in view.running],  # type: ignore[attr-defined]
    )
    waiting = {job.id: job for job in view.waiting}  # type: ignore[attr-defined]
    for i in started:
        profile.reserve(view.now, waiting[i].estimate, waiting[i].request)  # type: ignore[attr-defined]
    for i, t in reserved.items():
        if i != skip:
            profile.reserve(t, waiting[i].estimate, waiting[i].request)
    return profile


def check_decisions(policy: Policy, out: Outcome) -> None:
    variant = getattr(policy, "variant", "")
    for view, decision in out.log:
        waiting = {job.id: job for job in view.waiting}
        started = list(decision.start)
        if variant in ("easy", "prioritybf"):
            # a backfilled start never delays the reserved job(s) of classes not below it
            for job_id, reserved in decision.reservations.items():
                job, cls = waiting[job_id], waiting[job_id].priority_class
                lower = [i for i in started if waiting[i].priority_class >= cls]
                above = {
                    i: t
                    for i, t in decision.reservations.items()
                    if waiting[i].priority_class < cls
                }
                profile = _profile(view, lower, above, job_id)
                assert profile.earliest_start(job.request, job.estimate, reserved) == reserved, (
                    f"{policy.name} t={view.now}: job {job_id} pushed past its reservation"
                )
        if variant == "conservative":
            profile = _profile(view, started, dict(decision.reservations), -1)
            for free in profile.free:
                assert min(free) >= -1e-9, f"t={view.now}: reservations over-commit: {free}"


DRIVERS: dict[str, Callable[[list[Job], Policy], Outcome | None]] = {
    "replay-reference": replay_reference,
    "replay-compiled": replay_compiled,
    "campaign-sim": campaign_sim,
}


@pytest.mark.parametrize("driver", sorted(DRIVERS))
@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=workloads())
def test_rules_hold_in_every_driver(name: str, driver: str, jobs: list[Job]) -> None:
    policy = POLICIES[name]
    out = DRIVERS[driver](jobs, policy)
    if out is None:
        return  # the compiled kernel does not implement this policy: the reference runs it
    check_capacity(jobs, out, 1 if driver == "replay-compiled" else 2)
    check_started_once(jobs, out)
    check_decisions(policy, out)


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=workloads(max_jobs=10))
def test_rules_hold_in_the_live_pilot(name: str, jobs: list[Job]) -> None:
    policy = POLICIES[name]
    with tempfile.TemporaryDirectory() as tmp:
        out = pilot(jobs, policy, Path(tmp) / "run")
    check_capacity(jobs, out, 2)
    check_started_once(jobs, out)
    check_decisions(policy, out)


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=40, deadline=None)
@given(jobs=workloads())
def test_compiled_kernel_equals_reference(name: str, jobs: list[Job]) -> None:
    policy = POLICIES[name]
    if not (isinstance(policy, BackfillPolicy) and compiled_twin(policy)):
        return
    one = arrays(jobs, 1)
    fast, reference = replay_fast(one, policy, CPUS), replay(one, policy, (CPUS,))
    np.testing.assert_array_equal(fast.start, reference.start)
    np.testing.assert_array_equal(fast.backfilled, reference.backfilled)
