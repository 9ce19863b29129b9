"""The compiled engine gives the reference engine's schedules bit for bit (start, end, backfilled).

(a) every pyss golden file under every preset; (b) random workloads: every variant, several queue
orders (static and dynamic), both release modes, sticky head on and off, with overrun estimates
(estimate_over), equal submit and end times, zero run times and priority classes; (c) a
3,000-job window of SDSC-SP2 read by a tiny local SWF parser.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from hpcsched.policies.backfilling import BACKFILL_VARIANTS, BackfillPolicy
from hpcsched.policies.presets import PRESETS
from hpcsched.sim.replay import JobArrays, Schedule, replay
from hpcsched.sim.simulate import compiled_twin, fast_engine_available

from conftest import GOLDEN, TRACES, require_shared

if fast_engine_available():
    from hpcsched.sim.fast import replay_fast


@pytest.fixture(autouse=True)
def _compiled() -> None:
    if not fast_engine_available():
        pytest.fail("the compiled engine is not built (pip install -e .)")


def assert_same(jobs: JobArrays, policy: BackfillPolicy, capacity: int) -> Schedule:
    reference = replay(jobs, policy, (capacity,))
    fast = replay_fast(jobs, policy, capacity)
    for field in ("start", "end", "backfilled"):
        ours, theirs = getattr(fast, field), getattr(reference, field)
        differ = np.flatnonzero(~((ours == theirs) | (np.isnan(ours) & np.isnan(theirs))))
        assert differ.size == 0, (
            f"{policy}: {field} differs for jobs {differ[:5].tolist()}: "
            f"fast {ours[differ[:5]].tolist()} vs reference {theirs[differ[:5]].tolist()}"
        )
    return fast


def job_arrays(
    submit: np.ndarray,
    runtime: np.ndarray,
    estimate: np.ndarray,
    procs: np.ndarray,
    timelimit: np.ndarray | None = None,
    classes: np.ndarray | None = None,
) -> JobArrays:
    n = len(submit)
    return JobArrays(
        submit=np.asarray(submit, dtype=np.float64),
        runtime=np.asarray(runtime, dtype=np.float64),
        estimate=np.asarray(estimate, dtype=np.float64),
        timelimit=np.asarray(estimate if timelimit is None else timelimit, dtype=np.float64),
        request=np.asarray(procs, dtype=np.int64).reshape(-1, 1),
        priority_class=np.zeros(n, np.int64) if classes is None else np.asarray(classes, np.int64),
    )


# -- (a) pyss golden files ------------------------------------------------------------------


def golden_files() -> list[str]:
    folder = GOLDEN / "pyss"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else ["missing"]


def read_pyss(path: Path) -> JobArrays:
    rows = [line.split()[:5] for line in path.read_text().splitlines() if line.split()]
    data = np.array([[float(x) for x in row] for row in rows if not row[0].startswith("#")])
    submit, _, estimate, procs, runtime = data.T
    return job_arrays(submit, runtime, estimate, procs)


# the presets the kernel accelerates (``slurm`` re-plans by a dynamic priority: reference only)
TWINS = {name: policy for name, policy in PRESETS.items() if compiled_twin(policy)}


@pytest.mark.parametrize("preset", sorted(TWINS))
@pytest.mark.parametrize("name", golden_files())
def test_golden_files(name: str, preset: str) -> None:
    jobs = read_pyss(require_shared(GOLDEN / "pyss" / name))
    assert_same(jobs, TWINS[preset], 100)


# -- (b) random workloads -------------------------------------------------------------------


def random_jobs(seed: int, n: int = 40, capacity: int = 16) -> JobArrays:
    """Integer times on a coarse grid (equal submit and end times), a fifth of the estimates
    short of the run time (estimate_over), some zero run times; every fourth seed uses
    non-integer times instead."""
    rng = np.random.default_rng(seed)
    submit = np.cumsum(rng.choice([0, 0, 0, 5, 10, 30, 100], size=n)).astype(np.float64)
    runtime = rng.choice([0, 10, 20, 50, 100, 300, 1000], size=n, p=[0.05] + [0.95 / 6] * 6)
    estimate = runtime * rng.choice([1.0, 1.0, 2.0, 5.0, 0.5, 0.3], size=n)
    estimate = np.where(estimate > 0, np.round(estimate), 60.0)
    if seed % 4 == 3:
        submit = submit * 0.37 + rng.random(n) * (rng.random(n) < 0.3)
        runtime, estimate = runtime * 1.13, estimate * 0.91
    timelimit = np.where(rng.random(n) < 0.5, estimate * 2, np.nan)
    procs = np.minimum(capacity, rng.choice([1, 1, 2, 4, 8, capacity // 2, capacity], size=n))
    classes = rng.integers(0, 3, size=n)
    return job_arrays(submit, runtime, estimate, procs, timelimit, classes)


SEEDS = range(30)
ORDERS = ("fcfs", "sjf", "f1", "f4", "wfp3", "unicep")


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("variant", BACKFILL_VARIANTS)
def test_random_workloads(variant: str, order: str) -> None:
    overruns = 0
    for seed in SEEDS:
        jobs = random_jobs(seed)
        overruns += int(np.sum(jobs.estimate < jobs.runtime))
        policy = BackfillPolicy(
            f"{variant}-{order}-{seed}",
            order=order,
            backfill=variant,
            backfill_order=(None, "sjf", "wfp3")[seed % 3] if variant == "easy" else None,
            sticky_head=seed % 2 == 1,
            release=("estimate", "event")[seed // 2 % 2],
        )
        assert_same(jobs, policy, 16)
    assert overruns > 0


@pytest.mark.parametrize("origin", [2.0**24, 1e9])
@pytest.mark.parametrize("variant", BACKFILL_VARIANTS)
def test_large_times_and_odd_classes(variant: str, origin: float) -> None:
    """Trace times past 2**24 s (where now + 1e-9 == now), zero requests, sparse class labels."""
    for seed in range(10):
        base = random_jobs(100 + seed)
        procs = base.request[:, 0].copy()
        procs[::7] = 0
        classes = np.array([-1, 5, 7])[base.priority_class]
        jobs = job_arrays(
            base.submit + origin, base.runtime, base.estimate, procs, base.timelimit, classes
        )
        for release in ("estimate", "event"):
            assert_same(
                jobs, BackfillPolicy("x", order="sjf", backfill=variant, release=release), 16
            )


# -- fixed reference bugs: both engines agree on the fix ------------------------------------


@pytest.mark.parametrize("variant", ["easy", "conservative", "prioritybf"])
def test_event_release_does_not_depend_on_the_time_origin(variant: str) -> None:
    """Under release="event" an overdue job holds its processors until its end event, also
    once now + 1e-9 rounds back to now (the reference freed it early from ~1.7e7 s on)."""
    policy = BackfillPolicy("x", order="sjf", backfill=variant, release="event")
    starts = []
    for origin in (0.0, 1e8):
        jobs = job_arrays(np.array([0, 10, 10]) + origin, [10, 100, 5], [10, 100, 5], [1, 1, 1])
        starts.append(assert_same(jobs, policy, 1).start - origin)
    assert starts[0].tolist() == starts[1].tolist()


def test_rlscheduler_counts_an_overdue_job_once() -> None:
    """Under release="estimate" a job past its expected end is free already; the shadow must not
    add it again (the reference did, so the head's shadow was `now` and nothing backfilled)."""
    jobs = job_arrays([0, 0, 100, 200], [100, 1000, 100, 50], [100, 1000, 100, 50], [5, 5, 8, 2])
    policy = BackfillPolicy("rl", order="fcfs", backfill="rlscheduler", release="estimate")
    schedule = assert_same(jobs, policy, 10)
    assert schedule.start.tolist() == [0.0, 0.0, 1000.0, 200.0]
    assert schedule.backfilled.tolist() == [False, False, False, True]


def test_inputs_are_validated() -> None:
    jobs = job_arrays([0, 1], [5, 5], [5, 5], [4, 9])
    with pytest.raises(ValueError, match="job 1 requests 9 processors"):
        replay_fast(jobs, PRESETS["easy"], 8)
    two = JobArrays(jobs.submit, jobs.runtime, jobs.estimate, jobs.timelimit,
                    np.ones((2, 2), np.int64), jobs.priority_class)  # fmt: skip
    with pytest.raises(ValueError, match="one resource"):
        replay_fast(two, PRESETS["easy"], 8)
    empty = job_arrays(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    assert replay_fast(empty, PRESETS["easy"], 8).start.size == 0


# -- (c) a window of a real trace -----------------------------------------------------------


def read_swf(path: Path, max_procs: int) -> JobArrays:
    """Strong-filter-like parse: procs = allocated else requested, keep run time > 0,
    requested time > 0 and 1..max_procs processors, clip run times to the requested time."""
    rows = []
    with gzip.open(path, "rt") as lines:
        for line in lines:
            f = line.split()
            if len(f) != 18 or line.startswith(";"):
                continue
            submit, runtime, requested = float(f[1]), float(f[3]), float(f[8])
            procs = int(f[4]) if int(f[4]) > 0 else int(f[7])
            if runtime > 0 and requested > 0 and 1 <= procs <= max_procs:
                rows.append((submit, min(runtime, requested), requested, procs))
    submit, runtime, requested, procs = np.array(rows).T
    return job_arrays(submit, runtime, requested, procs)


def size_classes(procs: np.ndarray) -> np.ndarray:
    """PriorityBF's size rule: above the 90th percentile class 0, below the 80th class 2."""
    p90, p80 = np.percentile(procs, 90), np.percentile(procs, 80)
    return np.where(procs > p90, 0, np.where(procs < p80, 2, 1))


@pytest.fixture(scope="module")
def sdsc_window() -> JobArrays:
    jobs = read_swf(require_shared(TRACES / "SDSC-SP2-1998-4.2-cln.swf.gz"), 128)
    assert len(jobs) == 53_999  # the strong filter's count (VALIDATION.md rung 3)
    window = slice(24_000, 27_000)
    procs = jobs.request[window, 0]
    return job_arrays(
        jobs.submit[window],
        jobs.runtime[window],
        jobs.estimate[window],
        procs,
        jobs.timelimit[window],
        size_classes(procs),
    )


WINDOW_POLICIES = {
    **TWINS,
    "rlscheduler-f1": BackfillPolicy("rl", order="f1", backfill="rlscheduler", release="event"),
    "easy-wfp3-event": BackfillPolicy("x", order="wfp3", backfill="easy", release="event"),
}


@pytest.mark.slow
@pytest.mark.parametrize("policy", sorted(WINDOW_POLICIES))
def test_sdsc_window(sdsc_window: JobArrays, policy: str) -> None:
    assert_same(sdsc_window, WINDOW_POLICIES[policy], 128)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["easy", "conservative"])
def test_sdsc_window_with_short_estimates(sdsc_window: JobArrays, variant: str) -> None:
    """Estimates of a third of the requested time: thousands of estimate_over extensions."""
    jobs = job_arrays(
        sdsc_window.submit,
        sdsc_window.runtime,
        np.ceil(sdsc_window.estimate / 3),
        sdsc_window.request[:, 0],
        sdsc_window.timelimit,
    )
    assert np.sum(jobs.estimate < jobs.runtime) > 500
    assert_same(jobs, BackfillPolicy(variant, backfill=variant), 128)
