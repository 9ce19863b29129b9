"""The outcome / robust history features (:mod:`hpcsched.predict.features_history`) and the
template median of the ensemble: exact values on a hand-made history, and no peeking at jobs
that had not ended at a job's submit (their runtime, end *or state* may change freely)."""

from __future__ import annotations

import numpy as np
import polars as pl

from hpcsched.core.schema import conform
from hpcsched.predict import GradientBoostedRuntime
from hpcsched.predict.blend import select_blend, template_median
from hpcsched.predict.features import submission_features
from test_predict_estimators import synthetic_jobs

OUTCOME = (
    "h_prev_completed",
    "h_prev_at_limit",
    "h_prev_quick",
    "h_fail_rate_k",
    "h_at_limit_rate_k",
    "h_quick_rate_k",
    "since_prev_end",
)


def _with_states(jobs: pl.DataFrame, seed: int = 4) -> pl.DataFrame:
    """Random outcomes: a quarter failed, some cancelled, some killed at their limit."""
    rng = np.random.default_rng(seed)
    state = rng.choice(["completed", "failed", "cancelled"], jobs.height, p=[0.65, 0.25, 0.1])
    hit = rng.random(jobs.height) < 0.1
    runtime = np.where(hit, jobs["timelimit"].to_numpy(), jobs["runtime"].to_numpy())
    return jobs.with_columns(
        pl.Series("state", state),
        pl.Series("runtime", runtime),
        (pl.col("start") + pl.Series(runtime)).alias("end"),
    )


def _one_user() -> pl.DataFrame:
    # ends: 30 (quick, failed), 2000 (at limit), 2500 (completed); job 3 is submitted at 2600
    return conform(
        pl.DataFrame(
            {
                "user": ["u"] * 4,
                "submit": [0.0, 100.0, 2100.0, 2600.0],
                "start": [0.0, 1000.0, 2100.0, 2700.0],
                "end": [30.0, 2000.0, 2500.0, 3000.0],
                "runtime": [30.0, 1000.0, 400.0, 300.0],
                "timelimit": [600.0, 1000.0, 600.0, 600.0],
                "cpus": [4, 4, 4, 4],
                "state": ["failed", "timeout", "completed", "completed"],
            }
        )
    )


def test_outcome_features_on_a_known_history() -> None:
    f = submission_features(_one_user())
    # job 1 (submitted at 100): only job 0 (failed after 30 s, ended at 30) is known
    assert f["h_prev_completed"][1] == 0.0 and f["h_prev_quick"][1] == 1.0
    assert f["h_prev_at_limit"][1] == 0.0 and f["since_prev_end"][1] == 70.0
    # job 2 (at 2100): jobs 0 and 1 known; job 1 ran its whole 1000 s limit
    assert f["h_prev_at_limit"][2] == 1.0 and f["h_prev_quick"][2] == 0.0
    assert f["h_fail_rate_k"][2] == 1.0 and f["h_at_limit_rate_k"][2] == 0.5
    assert f["since_prev_end"][2] == 100.0
    # job 3 (at 2600): all three known, last one completed 100 s before
    row = f.row(3, named=True)
    assert (row["h_last1"], row["h_last2"], row["h_last3"], row["h_last4"]) == (
        400.0,
        1000.0,
        30.0,
        None,
    )
    assert row["h_prev_completed"] == 1.0 and row["since_prev_end"] == 100.0
    assert row["h_median_k"] == 400.0 and row["h_median_long"] == 400.0
    assert abs(row["h_fail_rate_k"] - 2 / 3) < 1e-12
    # same timelimit and cpus (600 s, 4): jobs 0 and 2 -> median of 30 and 400
    assert row["h_same_median_k"] == 215.0 and row["h_same_count"] == 2.0
    # nothing known before the first job
    assert all(f[c][0] is None for c in OUTCOME)


def test_a_source_without_states_is_not_read_as_failures() -> None:
    f = submission_features(_one_user().drop("state"))
    assert f["h_prev_completed"].null_count() == f.height
    assert f["h_fail_rate_k"].null_count() == f.height
    assert f["h_prev_quick"][1] == 1.0  # runtime outcomes still count


def test_outcomes_of_jobs_not_ended_at_submit_never_leak() -> None:
    jobs = _with_states(synthetic_jobs(1500))
    before = submission_features(jobs)
    flipped = {"completed": "failed", "failed": "completed", "cancelled": "completed"}
    rng = np.random.default_rng(5)
    for j in rng.choice(jobs.height, 25, replace=False):
        later = pl.col("end") >= float(jobs["submit"][int(j)])
        altered = jobs.with_columns(
            pl.when(later).then(pl.col("state").replace(flipped)).otherwise(pl.col("state")),
            pl.when(later).then(pl.col("runtime") * 9 + 1).otherwise(pl.col("runtime")),
            pl.when(later).then(pl.col("end") + 7000).otherwise(pl.col("end")),
        )
        assert submission_features(altered).row(int(j)) == before.row(int(j))
    # the check can fail: flipping the state of the user's last ended job changes the features
    j = jobs.height // 2
    user = jobs["user"][j]
    ended = jobs.with_row_index("i").filter(
        (pl.col("user") == user) & (pl.col("end") < jobs["submit"][j])
    )
    last = int(ended.sort("end")["i"][-1])
    altered = jobs.with_columns(
        pl.when(pl.int_range(pl.len()) == last)
        .then(pl.col("state").replace(flipped))
        .otherwise(pl.col("state"))
    )
    after = submission_features(altered)
    assert after["h_prev_completed"][j] == 1.0 - before["h_prev_completed"][j]


def test_learned_model_reads_states_from_its_fit_history() -> None:
    jobs = _with_states(synthetic_jobs(800))
    est = GradientBoostedRuntime(n_estimators=20).fit(jobs[:600])
    assert est.history_["state"].to_list() == jobs["state"][:600].to_list()
    assert "h_fail_rate_k" in est.feature_names_
    assert np.isfinite(est.predict(jobs[600:])).all()


def test_template_median_prefers_the_most_similar_jobs() -> None:
    f = submission_features(_one_user())
    got = template_median(f, [11.0, 22.0, 33.0, 44.0])
    # job 0: no history -> fallback; job 1 (limit 1000): no finished job with that limit;
    # job 2 (600 s, 4 cpus): job 0 only -> 30; job 3: median(30, 400)
    assert got.tolist() == [11.0, 22.0, 30.0, 215.0]


def test_ensemble_picks_the_template_mean_when_it_is_best() -> None:
    n = 3000
    rng = np.random.default_rng(1)
    actual = rng.uniform(100, 1000, n)
    submit = np.arange(n, dtype=float)
    noise = rng.normal(0, 300, n)
    learned = actual + noise
    base = {
        "alea": actual + 400.0,
        "user-last-two": actual - 400.0,
        "template": actual - noise,  # errs the other way: the mean is exact
    }
    point, chosen = select_blend(learned, base, actual, submit, submit + 10, [1000, 2000], 1000)
    assert chosen == ["lightgbm", "mean(lightgbm, template)"]
    assert np.allclose(point[2000:], actual[2000:])
