"""``Profile.from_running`` (one pass, O(R log R)) builds exactly the profile of the reference
construction it replaced: one ``reserve(now, end - now, request)`` per running job in end order
(``Profile.from_running_by_reserve``). Both PriorityBF/EASY/conservative in ``sim`` and the
runtime plan on this profile, so any difference would change schedules."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcsched.core.profile import Profile, Vector


def reserve_one_by_one(
    now: float, capacity: Vector, running: list[tuple[Vector, float]]
) -> Profile:
    """The old construction written out here, independent of the class: repeated reserve()."""
    profile = Profile(now, capacity)
    for request, end in sorted(running, key=lambda item: item[1]):
        if end > now:
            profile.reserve(now, end - now, request)
    return profile


def assert_same(a: Profile, b: Profile) -> None:
    assert a.times == b.times
    assert a.free == b.free
    # same values bit for bit (no -0.0 against 0.0, no 1 ulp off)
    assert [tuple(map(math.copysign, f, (1.0,) * len(f))) for f in a.free] == [
        tuple(map(math.copysign, f, (1.0,) * len(f))) for f in b.free
    ]


NOWS = st.sampled_from(
    [0.0, 0.1, 1 / 3, 1.0, 3600.5, 12_345.678_9, 86_400.0 * 365, 2.0**24 + 0.25, 1.7e9, 2.0**40]
)
ENDS_AFTER = st.one_of(
    st.integers(-50, 500).map(float),  # ties and jobs already past their end
    st.floats(-10.0, 1e6, allow_nan=False),
    st.sampled_from([1e-9, 5e-324, 0.1, 0.3]),  # tiny offsets: the boundary may round
)


@st.composite
def machines(draw: st.DrawFn, whole: bool) -> tuple[float, Vector, list[tuple[Vector, float]]]:
    now = draw(NOWS)
    dims = draw(st.integers(1, 3))
    if whole:
        amount = st.integers(0, 64).map(float) | st.sampled_from([2.0**34, 3 * 2.0**30, 0.0])
    else:
        amount = st.floats(0.0, 64.0, allow_nan=False) | st.sampled_from([0.1, 0.2, 0.7])
    jobs = draw(
        st.lists(
            st.tuples(st.tuples(*[amount] * dims), ENDS_AFTER.map(lambda d: now + d)),
            max_size=40,
        )
    )
    capacity = tuple(
        sum(request[d] for request, _ in jobs) + draw(st.integers(0, 8)) for d in range(dims)
    )
    return now, capacity, jobs


@settings(max_examples=400, deadline=None)
@given(machines(whole=True))
def test_one_pass_equals_reserve_per_job_on_whole_amounts(case: tuple) -> None:
    now, capacity, jobs = case
    assert_same(Profile.from_running(now, capacity, jobs), reserve_one_by_one(now, capacity, jobs))


@settings(max_examples=200, deadline=None)
@given(machines(whole=False))
def test_fractional_amounts_give_the_same_profile_too(case: tuple) -> None:
    now, capacity, jobs = case
    assert_same(Profile.from_running(now, capacity, jobs), reserve_one_by_one(now, capacity, jobs))


@settings(max_examples=100, deadline=None)
@given(machines(whole=True), st.integers(1, 16).map(float), st.floats(0.5, 5000.0))
def test_policy_questions_get_the_same_answers(case: tuple, cpus: float, duration: float) -> None:
    now, capacity, jobs = case
    request = (min(cpus, capacity[0]), *(0.0 for _ in capacity[1:]))
    fast, slow = Profile.from_running(now, capacity, jobs), reserve_one_by_one(now, capacity, jobs)
    start = fast.earliest_start(request, duration, now)
    assert start == slow.earliest_start(request, duration, now)
    fast.reserve(start, duration, request)
    slow.reserve(start, duration, request)
    assert_same(fast, slow)


def test_whole_amounts_take_the_one_pass_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> Profile:
        raise AssertionError("fell back to reserve() per job")

    monkeypatch.setattr(Profile, "from_running_by_reserve", classmethod(refuse))
    jobs = [((2.0, 1.0, 2.0**33), 50.0), ((4.0, 0.0, 0.0), 20.0), ((1.0, 0.0, 0.0), 20.0)]
    profile = Profile.from_running(10.0, (8.0, 2.0, 2.0**35), iter(jobs))
    assert profile.times == [10.0, 20.0, 50.0]
    assert profile.free == [(1.0, 1.0, 3 * 2.0**33), (6.0, 1.0, 3 * 2.0**33), (8.0, 2.0, 2.0**35)]


def test_fractional_amounts_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = Profile.from_running_by_reserve.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Profile], *args: object) -> Profile:
        calls.append(1)
        return original(cls, *args)  # type: ignore[no-any-return]

    monkeypatch.setattr(Profile, "from_running_by_reserve", classmethod(spy))
    profile = Profile.from_running(0.0, (1.0,), [((0.1,), 5.0), ((0.2,), 7.0)])
    assert calls == [1]
    assert profile.free == [((1.0 - 0.1) - 0.2,), (1.0 - 0.2,), (1.0,)]


def test_many_running_jobs_build_in_one_pass() -> None:
    """O(R log R): the old construction needed ~R x steps = 1e10 vector subtractions here."""
    import time

    jobs = [((1.0,), float(1 + i % 50_000)) for i in range(200_000)]
    t0 = time.perf_counter()
    profile = Profile.from_running(0.0, (2e5,), jobs)
    assert time.perf_counter() - t0 < 20.0
    assert len(profile.times) == 50_001
    assert profile.free[0] == (0.0,) and profile.free[1] == (4.0,) and profile.free[-1] == (2e5,)
