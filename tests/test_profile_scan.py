"""The compiled profile loops (``core/_profile_scan.pyx``, issue 16) against their Python
references: the earliest start of a request, a request taken from or given back to a range of
steps (bit for bit, ``-0.0`` included), the hole scan of conservative's re-fit, and whole
schedules (conservative, slurm, EASY, PriorityBF; trace replay with int requests and campaign
simulation with float ones, processors and memory) with the compiled loops and without them."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from operator import le

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcsched.core import profile as profile_module
from hpcsched.core.profile import Profile, Vector, minus, plus
from hpcsched.policies.conservative import ConservativePlan
from hpcsched.policies.registry import get_policy
from hpcsched.policies.view import Decision, Policy, SchedulerView
from hpcsched.sim.replay import Schedule, replay
from invariant_drivers import CPUS, MEM, Job, arrays, campaign_sim, replay_reference

scan = pytest.importorskip("hpcsched.core._profile_scan")

AMOUNTS = st.sampled_from([0.0, 1.0, 2.0, 0.1, 0.2, 0.7, 3.5, 2.0**40]) | st.integers(0, 8)
TIMES = st.sampled_from([0.0, 0.1, 1 / 3, 1.0, 7.5, 30.0]) | st.floats(0.0, 100.0)


@st.composite
def profiles(draw: st.DrawFn) -> tuple[Profile, int]:
    """A profile after random takes and gives (it may be over-committed: the loops must not
    care), and its number of resources."""
    dims = draw(st.integers(1, 3))
    capacity = tuple(float(draw(st.integers(4, 16))) for _ in range(dims))
    profile = Profile(draw(st.sampled_from([0.0, 0.5, 1e6])), capacity)
    origin = profile.times[0]
    for _ in range(draw(st.integers(0, 25))):
        start = origin + draw(TIMES)
        length = draw(TIMES)
        request = tuple(draw(AMOUNTS) for _ in range(dims))
        if draw(st.booleans()):
            profile.take(start, start + length, request)
        else:
            profile.give(start, start + length, request)
    # the last step must hold the idle machine, as in every plan (requests fit in the end)
    if not all(map(le, profile.free[-1], capacity)):
        profile.times.append(profile.times[-1] + 1.0)
        profile.free.append(capacity)
    return profile, dims


def bits(free: list[Vector]) -> list[tuple[float, ...]]:
    """Values with their sign (``-0.0`` is not ``0.0`` here) and their types."""
    return [tuple((type(v), math.copysign(1.0, v) if v == 0 else v) for v in step) for step in free]


@settings(max_examples=300, deadline=None)
@given(case=profiles(), data=st.data())
def test_earliest_start_equals_the_python_scan(
    case: tuple[Profile, int], data: st.DataObject
) -> None:
    profile, dims = case
    request = tuple(data.draw(AMOUNTS) for _ in range(dims))
    duration = data.draw(TIMES)
    after = profile.times[0] + data.draw(TIMES)
    k = profile._index(after)
    try:
        expected: float | None = profile.earliest_start_by_scan(request, duration, after, k)
    except ValueError:
        expected = None
    got = scan.earliest_start(profile.times, profile.free, request, duration, after, k)
    assert got == expected and type(got) is type(expected)


@settings(max_examples=300, deadline=None)
@given(case=profiles(), data=st.data())
def test_adding_to_steps_equals_plus_and_minus(
    case: tuple[Profile, int], data: st.DataObject
) -> None:
    profile, dims = case
    request = tuple(data.draw(AMOUNTS) for _ in range(dims))
    i = data.draw(st.integers(0, len(profile.free)))
    j = data.draw(st.integers(i, len(profile.free)))
    give = data.draw(st.booleans())
    expected = list(profile.free)
    for k in range(i, j):
        expected[k] = (plus if give else minus)(expected[k], request)
    got = list(profile.free)
    scan.add_to_steps(got, i, j, request, give)
    assert bits(got) == bits(expected)


@settings(max_examples=300, deadline=None)
@given(case=profiles(), data=st.data())
def test_a_range_taken_or_given_and_the_most_free_equal_the_python_loops(
    case: tuple[Profile, int], data: st.DataObject
) -> None:
    profile, dims = case
    request = tuple(data.draw(AMOUNTS) for _ in range(dims))
    start = profile.times[0] + data.draw(TIMES)
    end = start + data.draw(TIMES) if data.draw(st.booleans()) else data.draw(TIMES)
    until = max(start, end)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(profile_module, "compiled_scan", None)
        expected_most = profile.max_free(start, until)
    assert bits([profile.max_free(start, until)]) == bits([expected_most])
    for op in ("give", "take"):
        compiled, python = profile.copy(), profile.copy()
        getattr(compiled, op)(start, end, request)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(profile_module, "compiled_scan", None)
            getattr(python, op)(start, end, request)
        assert compiled.times == python.times
        assert bits(compiled.free) == bits(python.free)


def test_a_request_of_another_length_is_refused_in_one_line() -> None:
    profile = Profile(0.0, (4.0, 8.0))
    with pytest.raises(ValueError, match="different lengths"):
        profile.earliest_start((1.0,), 5.0, 0.0)
    with pytest.raises(ValueError, match="different lengths"):
        profile.take(0.0, 5.0, (1.0,))


@settings(max_examples=300, deadline=None)
@given(
    holes=st.lists(
        st.tuples(TIMES, st.integers(0, 9), st.tuples(AMOUNTS, AMOUNTS)), max_size=12
    ).map(sorted),
    end=TIMES,
    since=st.integers(-1, 9),
    request=st.tuples(AMOUNTS, AMOUNTS),
)
def test_the_hole_scan_offers_the_holes_of_the_python_filter(
    holes: list[tuple[float, int, Vector]], end: float, since: int, request: Vector
) -> None:
    items = [[start, seq, start + 1.0, most] for start, seq, most in holes]
    expected = []
    for k, hole in enumerate(items):
        if hole[0] >= end:
            break
        if hole[1] > since and all(map(le, request, hole[3])):
            expected.append(k)
    got, k = [], scan.next_hole(items, 0, end, since, request)
    while k >= 0:
        got.append(k)
        k = scan.next_hole(items, k + 1, end, since, request)
    assert got == expected


@given(
    holes=st.lists(st.tuples(TIMES, st.integers(0, 9), st.tuples(AMOUNTS, AMOUNTS)), max_size=12),
    now=st.none() | TIMES,
    smallest=st.none() | st.tuples(AMOUNTS, AMOUNTS),
    since=st.none() | st.integers(-1, 9),
)
def test_the_kept_holes_are_those_of_the_python_filter(
    holes: list[tuple[float, int, Vector]],
    now: float | None,
    smallest: Vector | None,
    since: int | None,
) -> None:
    items = [[start, seq, start + 1.0, most] for start, seq, most in holes]
    expected = [
        h
        for h in items
        if (since is None or h[1] > since)
        and (now is None or h[2] > now)
        and (smallest is None or all(map(le, smallest, h[3])))
    ]
    got = scan.kept_holes(items, now, smallest, since)
    assert got == expected and all(a is b for a, b in zip(got, expected, strict=True))


@st.composite
def workloads(draw: st.DrawFn, max_jobs: int = 30) -> list[Job]:
    """Busy queues with early ends (the costly re-fit), overruns and fractional estimates."""
    n = draw(st.integers(1, max_jobs))
    jobs, submit = [], 0.0
    for _ in range(n):
        submit += draw(st.sampled_from([0.0, 0.0, 0.5, 1.0, 5.0]))
        estimate = draw(st.sampled_from([1.0, 2.5, 10.0, 1 / 3])) * draw(st.integers(1, 12))
        runtime = draw(
            st.sampled_from([estimate, estimate / 2, estimate / 7, 0.0, estimate * 2, 1.0])
        )
        jobs.append(
            Job(
                submit=submit,
                runtime=float(runtime),
                estimate=float(estimate),
                cpus=draw(st.integers(1, CPUS)),
                mem=float(draw(st.sampled_from([0, 8, 32, MEM]))),
                cls=0,
                parent=None,
            )
        )
    return jobs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=workloads())
def test_schedules_are_those_of_the_python_loops(jobs: list[Job]) -> None:
    for name in ("conservative", "slurm-plan", "slurm", "easy", "prioritybf"):
        policy = get_policy(name)
        compiled = [replay_reference(jobs, policy), campaign_sim(jobs, policy)]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(profile_module, "compiled_scan", None)
            python = [replay_reference(jobs, policy), campaign_sim(jobs, policy)]
        for a, b in zip(compiled, python, strict=True):
            assert a.start == b.start and a.end == b.end


def cascade() -> list[Job]:
    """Hundreds of jobs queued at once, most ending well before their estimates."""
    rng = random.Random(16)
    jobs = []
    for i in range(300):
        estimate = float(rng.choice([10, 17, 30, 59]))
        jobs.append(
            Job(
                submit=float(i // 100),
                runtime=rng.choice([estimate, estimate / 3, 1.0, 0.5]),
                estimate=estimate,
                cpus=rng.choice([1, 1, 2, 3, CPUS]),
                mem=float(rng.choice([0, 8, 32])),
                cls=0,
            )
        )
    return jobs


def test_a_long_queue_with_early_ends_gets_the_schedule_of_the_python_loops() -> None:
    """Long cascades of re-fits, thousands of holes (the benchmark's case, smaller)."""
    jobs = cascade()
    policy = get_policy("conservative")
    compiled = campaign_sim(jobs, policy)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(profile_module, "compiled_scan", None)
        python = campaign_sim(jobs, policy)
    assert compiled.start == python.start


@pytest.mark.parametrize(("dims", "scale"), [(1, 1.0), (2, 0.1), (3, 1 / 3), (2, 0), (2, None)])
def test_a_long_queue_with_early_ends_keeps_the_plan_of_the_python_loops(
    dims: int, scale: float | None
) -> None:
    """The same cascade, every plan compared bit for bit (the compiled re-fit's arrays, and
    its lists when amounts are ints)."""
    jobs = cascade()
    compiled, compiled_plans = replay_reshaped(jobs, dims, scale)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(profile_module, "compiled_scan", None)
        python, python_plans = replay_reshaped(jobs, dims, scale)
    assert compiled_plans == python_plans
    assert np.array_equal(compiled.start, python.start, equal_nan=True)


class Reshaped:
    """A policy seen through requests of ``dims`` resources scaled by ``scale`` (``None``: the
    replay's ints as they are; ``0``: a float capacity and int requests; floats make amounts
    that round), which records the plan after every decision: the profile (bit for bit), the
    reservations, the holes (not the per-shape marks: only the compiled scan keeps them)."""

    def __init__(self, policy: Policy, dims: int, scale: float | None) -> None:
        self.policy, self.dims, self.scale = policy, dims, scale
        self.plans: list[tuple[object, ...]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.policy, name)

    def amounts(self, request: Vector | None, capacity: bool = False) -> Vector | None:
        if request is None:
            return None
        shaped = (*request, *request[:1])[: self.dims]  # the third resource mirrors the first
        if self.scale is None:
            return shaped
        if self.scale == 0:  # float capacity, int requests: the profile's floats, mixed
            return tuple(map(float, shaped)) if capacity else shaped
        return tuple(x * self.scale * (1.0 + d) for d, x in enumerate(shaped))

    def decide(self, view: SchedulerView) -> Decision:
        seen = replace(
            view,
            capacity=self.amounts(view.capacity, capacity=True),
            waiting=[replace(j, request=self.amounts(j.request)) for j in view.waiting],
            running=[replace(r, request=self.amounts(r.request)) for r in view.running],
            smallest=self.amounts(view.smallest),
        )
        decision = self.policy.decide(seen)
        plan = decision.memory
        if isinstance(plan, ConservativePlan):
            self.plans.append(
                (
                    list(plan.profile.times),
                    bits(plan.profile.free),
                    dict(plan.held),
                    [(*h[:3], *bits([h[3]])) for h in plan.holes.items],
                    list(plan.starts),
                    dict(plan.checked),
                    plan.seq,
                )
            )
        return decision


def replay_reshaped(
    jobs: list[Job], dims: int, scale: float | None
) -> tuple[Schedule, list[tuple[object, ...]]]:
    policy = Reshaped(get_policy("conservative"), dims, scale)
    capacity = (CPUS, int(MEM))[: min(dims, 2)]
    schedule = replay(arrays(jobs, min(dims, 2)), policy, capacity, strict=False)
    return schedule, policy.plans


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    jobs=workloads(),
    dims=st.integers(1, 3),
    scale=st.sampled_from([None, 0, 1.0, 0.5, 0.1, 1 / 3, 0.7]),
)
def test_the_compiled_refit_keeps_the_plan_of_the_python_loops(
    jobs: list[Job], dims: int, scale: float | None
) -> None:
    """Every plan after every decision, bit for bit: int and float amounts (float ones that
    round), 1-3 resources, early ends, overruns, ties and zero run times."""
    compiled, compiled_plans = replay_reshaped(jobs, dims, scale)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(profile_module, "compiled_scan", None)
        python, python_plans = replay_reshaped(jobs, dims, scale)
    assert compiled_plans == python_plans
    assert np.array_equal(compiled.start, python.start, equal_nan=True)
    assert np.array_equal(compiled.end, python.end, equal_nan=True)
    assert compiled.violations == python.violations


class WithoutMemo:
    """The compiled loops, with the re-fit scanning every job from its hole."""

    def __getattr__(self, name: str) -> object:
        return getattr(scan, name)

    def refit_pass(self, *args: object) -> None:
        scan.refit_pass(*args, memo=False)


def plans_without_memo(
    jobs: list[Job], dims: int, scale: float | None
) -> tuple[Schedule, list[tuple[object, ...]]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(profile_module, "compiled_scan", WithoutMemo())
        return replay_reshaped(jobs, dims, scale)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    jobs=workloads(max_jobs=60),
    dims=st.integers(1, 3),
    scale=st.sampled_from([None, 1.0, 0.1, 1 / 3]),
)
def test_the_memo_of_stays_changes_no_plan(jobs: list[Job], dims: int, scale: float | None) -> None:
    """A scan that begins where a job that stayed proved nothing fits (``_Stays``) finds what
    the scan from the hole finds: every plan bit for bit, with the memo and without it."""
    memo, memo_plans = replay_reshaped(jobs, dims, scale)
    plain, plain_plans = plans_without_memo(jobs, dims, scale)
    assert memo_plans == plain_plans
    assert np.array_equal(memo.start, plain.start, equal_nan=True)


@pytest.mark.parametrize(("dims", "scale"), [(1, 1.0), (2, 0.1), (3, 1 / 3)])
def test_the_memo_of_stays_changes_no_plan_in_a_long_cascade(
    dims: int, scale: float | None
) -> None:
    assert (
        replay_reshaped(cascade(), dims, scale)[1] == plans_without_memo(cascade(), dims, scale)[1]
    )
