"""The "similar job" template features (same user and executable / timelimit / size) and the
online choice of the ensemble: neither may use a job that had not ended at the time it is used."""

from __future__ import annotations

import numpy as np
import polars as pl

from hpcsched.predict.evaluate import chronological, select_blend
from hpcsched.predict.features import submission_features
from test_predict_estimators import synthetic_jobs


def _with_swf_codes(jobs: pl.DataFrame) -> pl.DataFrame:
    """Give each job an SWF executable and queue number (-1: unknown, as in PWA traces)."""
    rng = np.random.default_rng(3)
    app = rng.integers(-1, 6, jobs.height)
    return jobs.with_columns(
        pl.Series("swf_executable", app), pl.Series("swf_queue", rng.integers(-1, 3, jobs.height))
    )


def test_template_features_never_see_jobs_ending_after_submit() -> None:
    jobs = _with_swf_codes(synthetic_jobs(1200))
    before = submission_features(jobs)
    template = [c for c in before.columns if c.startswith(("h_app_", "h_tl_", "h_same_"))]
    assert len(template) == 12  # last, mean, median and count per template
    assert set(before["app"].unique()) == {"", *map(str, range(6))}  # -1 -> unknown
    rng = np.random.default_rng(2)
    for j in rng.choice(jobs.height, 20, replace=False):
        later = pl.col("end") >= float(jobs["submit"][int(j)])
        altered = jobs.with_columns(
            pl.when(later).then(pl.col("runtime") * 5 + 7).otherwise(pl.col("runtime")),
            pl.when(later).then(pl.col("end") + 3000).otherwise(pl.col("end")),
        )
        assert submission_features(altered).row(int(j)) == before.row(int(j))
    # the check can fail: a finished earlier job with the same user and executable does count
    j = int(np.flatnonzero(jobs["swf_executable"].to_numpy() >= 0)[-1])
    same = (
        (jobs["user"] == jobs["user"][j])
        & (jobs["swf_executable"] == jobs["swf_executable"][j])
        & (jobs["end"] < jobs["submit"][j])
    )
    assert bool(same.any()) and jobs["swf_executable"][j] >= 0
    altered = jobs.with_columns(
        pl.when(pl.Series(same)).then(pl.col("runtime") + 999).otherwise(pl.col("runtime"))
    )
    after = submission_features(altered)
    assert after["h_app_last1"][j] == before["h_app_last1"][j] + 999


def test_select_blend_uses_only_outcomes_known_at_the_block_start() -> None:
    n = 4000
    rng = np.random.default_rng(0)
    actual = rng.uniform(100, 1000, n)
    submit = np.arange(n, dtype=float)
    end = submit + 50.0
    learned = actual + rng.normal(0, 300, n)  # noisy
    base = {"alea": actual + 20.0, "user-last-two": actual + 500.0}
    blocks = [1000, 2000, 3000]
    point, chosen = select_blend(learned, base, actual, submit, end, blocks, 1000)
    assert chosen[0] == "lightgbm"  # nothing scored yet
    assert chosen[1] == chosen[2] == "mean(lightgbm, alea)"
    assert np.allclose(point[2000:], (learned[2000:] + base["alea"][2000:]) / 2)
    # outcomes of jobs not ended before block 2 starts cannot change its choice
    spoiled = actual.copy()
    spoiled[1950:] = 1e9
    _, again = select_blend(learned, base, spoiled, submit, end, blocks, 1000)
    assert again[1] == chosen[1]


def test_ensemble_is_scored_on_the_same_jobs_as_lightgbm() -> None:
    jobs = synthetic_jobs(4000)
    plain = chronological(jobs, "lightgbm", model_params={"n_estimators": 30})
    ensemble = chronological(jobs, "lightgbm-ensemble", model_params={"n_estimators": 30})
    assert (plain.scored == ensemble.scored).all()
    assert len(ensemble.extra["blend_choices"]) == plain.retrains
    assert np.all(ensemble.point <= jobs.sort("submit")["timelimit"].to_numpy())
