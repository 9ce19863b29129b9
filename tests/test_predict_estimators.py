"""Runtime predictors on synthetic histories: the scikit-learn contract, the baselines' rules,
no leakage from the future into the features, conformal coverage, and the bound's interface."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.base import clone

from hpcsched.core.schema import conform
from hpcsched.predict import (
    AleaUserRatio,
    GradientBoostedRuntime,
    RequestedWalltime,
    UserLastTwo,
    fit_bound,
)
from hpcsched.predict.conformal import (
    adaptive_margin,
    apply_margin,
    conformal_quantile,
    rolling_margin,
)
from hpcsched.predict.features import submission_features


def synthetic_jobs(n: int = 3000, users: int = 20, seed: int = 0) -> pl.DataFrame:
    """Each user has a typical runtime and asks for ~3x it; runtimes vary +-30 % around it."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, n)
    typical = np.exp(rng.uniform(np.log(60), np.log(20000), users))
    runtime = np.minimum(typical[user] * np.exp(rng.normal(0, 0.3, n)), typical[user] * 3)
    submit = np.cumsum(rng.exponential(300.0, n))
    start = submit + rng.exponential(600.0, n)
    return conform(
        pl.DataFrame(
            {
                "job_id": [str(i) for i in range(n)],
                "user": [f"u{u}" for u in user],
                "account": [f"a{u % 4}" for u in user],
                "submit": submit,
                "start": start,
                "end": start + runtime,
                "runtime": runtime,
                "timelimit": np.ceil(typical[user] * 3 / 60) * 60,
                "cpus": rng.integers(1, 64, n),
                "mem_req": typical[user] * 1e6,
                "mem_used": typical[user] * 5e5 * np.exp(rng.normal(0, 0.1, n)),
                "state": ["completed"] * n,
                "name": [f"job{u}_{i % 3}" for i, u in enumerate(user)],
            }
        )
    )


ESTIMATORS = [
    RequestedWalltime(),
    UserLastTwo(),
    AleaUserRatio(),
    AleaUserRatio(order="file"),
    GradientBoostedRuntime(n_estimators=20),
]


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_estimator_contract(est: object) -> None:
    jobs = synthetic_jobs(600)
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()  # type: ignore[attr-defined]
    assert not [k for k in vars(fresh) if k.endswith("_")], "no learned state before fit"
    assert fresh.fit(jobs[:400]) is fresh  # type: ignore[attr-defined]
    assert [k for k in vars(fresh) if k.endswith("_")], "learned state ends in _"
    out = fresh.predict(jobs[400:])  # type: ignore[attr-defined]
    assert out.shape == (200,) and np.isfinite(out).all()


def _two_users() -> pl.DataFrame:
    # u1: runs 100 s (ends 200), 300 s (ends 600), then submits at 500 and at 700
    return conform(
        pl.DataFrame(
            {
                "user": ["u1", "u1", "u1", "u1"],
                "submit": [0.0, 100.0, 500.0, 700.0],
                "start": [100.0, 300.0, 2000.0, 2000.0],
                "end": [200.0, 600.0, 2400.0, 2100.0],
                "runtime": [100.0, 300.0, 400.0, 100.0],
                "timelimit": [1000.0, 1000.0, 2000.0, 500.0],
                "cpus": [1, 1, 1, 1],
            }
        )
    )


def test_user_last_two_uses_only_runs_completed_before_submit() -> None:
    jobs = _two_users()
    got = UserLastTwo().fit(jobs.head(0)).predict(jobs)
    # job 0: nothing known -> request; job 1 (t=100): job 0 still running -> request;
    # job 2 (t=500): job 0 done -> 100; job 3 (t=700): jobs 0 and 1 done -> (100+300)/2
    assert got.tolist() == [1000.0, 1000.0, 100.0, 200.0]


def test_alea_completed_vs_file_order() -> None:
    jobs = _two_users()
    completed = AleaUserRatio().fit(jobs.head(0)).predict(jobs)
    # job 3 (t=700): ratios of done jobs 0.1 and 0.3 -> 500 x 0.3
    assert completed.tolist() == [1000.0, 1000.0, 2000.0 * 0.1, 500.0 * 0.3]
    file_order = AleaUserRatio(order="file").fit(jobs.head(0)).predict(jobs)
    # file order sees every previous job, finished or not (rung 4's protocol)
    assert file_order.tolist() == [1000.0, 100.0, 2000.0 * 0.3, 500.0 * 0.3]


def test_fit_history_feeds_predictions() -> None:
    jobs = _two_users()
    got = UserLastTwo().fit(jobs[:2]).predict(jobs[2:])
    assert got.tolist() == [100.0, 200.0]


def test_features_never_see_jobs_ending_after_submit() -> None:
    jobs = synthetic_jobs(1500)
    before = submission_features(jobs)
    rng = np.random.default_rng(1)
    for j in rng.choice(jobs.height, 25, replace=False):
        t = float(jobs["submit"][int(j)])
        later = pl.col("end") >= t
        altered = jobs.with_columns(
            pl.when(later).then(pl.col("runtime") * 7 + 13).otherwise(pl.col("runtime")),
            pl.when(later).then(pl.col("mem_used") * 3).otherwise(pl.col("mem_used")),
            pl.when(later).then(pl.col("end") + 5000).otherwise(pl.col("end")),
        )
        after = submission_features(altered)
        assert after.row(int(j)) == before.row(int(j))
    # the check can fail: altering a job that ended before does change a later job's features
    j = int(jobs.height // 2)
    earlier = jobs["end"] < jobs["submit"][j]
    altered = jobs.with_columns(
        pl.when(pl.Series(earlier)).then(pl.col("runtime") + 999).otherwise(pl.col("runtime"))
    )
    assert submission_features(altered).row(j) != before.row(j)


def test_conformal_quantile_is_the_finite_sample_rank() -> None:
    scores = np.arange(1.0, 20.0)  # 19 scores: rank ceil(20 x 0.9) = 18
    assert conformal_quantile(scores, 0.9) == 18.0
    assert conformal_quantile(np.arange(5.0), 0.95) == np.inf  # too few for 95 %


@pytest.mark.parametrize("coverage", [0.8, 0.95])
def test_rolling_conformal_reaches_its_coverage(coverage: float) -> None:
    rng = np.random.default_rng(3)
    n = 20000
    point = np.exp(rng.uniform(2, 9, n))
    group = (rng.random(n) < 0.3).astype(np.int64)
    noise = rng.normal(0, np.where(group == 1, 1.5, 0.4))  # two groups, two spreads
    actual = np.expm1(np.log1p(point) + noise)
    submit = np.arange(n, dtype=float)
    end = submit + rng.exponential(50.0, n)
    margin = rolling_margin(
        np.log1p(actual) - np.log1p(point), end, group, submit, group, coverage=coverage
    )
    bound = apply_margin(point, margin, None)
    later = submit > 2000
    for g in (0, 1):  # Mondrian: each group is covered, not only the pool
        covered = np.mean(bound[later & (group == g)] >= actual[later & (group == g)])
        assert covered == pytest.approx(coverage, abs=0.02)


def test_bound_caps_at_timelimit_and_handles_new_users() -> None:
    jobs = synthetic_jobs(3000)
    history, new = jobs[:2500], jobs[2500:]
    bound = fit_bound(history, coverage=0.9)
    upper, point = bound.upper(new), bound.point(new)
    limit = new["timelimit"].to_numpy()
    assert (upper <= limit).all() and (point <= upper + 1e-9).all()
    assert np.mean(upper >= new["runtime"].to_numpy()) >= 0.85
    submission = new.select(
        pl.lit("somebody-new").alias("user"),
        "account",
        "partition",
        "qos",
        "nodes",
        "cpus",
        "gpus",
        "mem_req",
        "timelimit",
        pl.lit(None, dtype=pl.Float64).alias("submit"),
        "name",
    )
    assert np.isfinite(bound.upper(submission)).all()
    memory = fit_bound(history, target="memory", coverage=0.9)
    mem_upper = memory.upper(new)
    assert np.mean(mem_upper >= new["mem_used"].to_numpy()) >= 0.85


def test_bound_without_enough_history_is_the_request() -> None:
    jobs = synthetic_jobs(50)
    bound = fit_bound(jobs[:40])
    assert bound.model is None
    assert bound.upper(jobs[40:]).tolist() == jobs[40:]["timelimit"].to_list()


def test_adaptive_margin_makes_up_for_scores_that_arrive_late() -> None:
    # errors grow over time and a score is seen only once its job has ended, so the window
    # of ended jobs lags: the plain rolling bound falls short, the adaptive one recovers
    rng = np.random.default_rng(5)
    n = 30000
    point = np.full(n, 1000.0)
    spread = np.linspace(0.3, 2.0, n)
    actual = np.expm1(np.log1p(point) + rng.normal(0, 1.0, n) * spread)
    submit = np.arange(n, dtype=float) * 10.0
    end = submit + actual
    scores = np.log1p(actual) - np.log1p(point)
    group = np.zeros(n, dtype=np.int64)
    later = submit > 50000
    plain = apply_margin(
        point, rolling_margin(scores, end, group, submit, group, coverage=0.9), None
    )
    adaptive = apply_margin(
        point,
        adaptive_margin(
            scores, end, group, submit, coverage=0.9, point=point, actual=actual, cap=None
        ),
        None,
    )
    plain_cov = np.mean(plain[later] >= actual[later])
    adaptive_cov = np.mean(adaptive[later] >= actual[later])
    assert plain_cov < 0.89
    assert adaptive_cov >= 0.89 and adaptive_cov > plain_cov + 0.01
