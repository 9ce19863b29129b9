"""An upper bound on a new job's runtime (or peak memory) at a chosen coverage, from a history.

``fit_bound(history)`` learns :class:`~hpcsched.predict.learned.GradientBoostedRuntime` on the
older part of the history and calibrates it, split-conformally, on the newest part (jobs ended
after the training cut; their features only use jobs ended before their own submit, so the scores
are honest out-of-sample errors). Mondrian groups: users with and without history, by the size
of the point prediction. The result
answers ``upper(jobs)`` and ``point(jobs)`` for new submissions given as job-table rows
(``user, account, partition, qos, nodes, cpus, gpus, mem_req, timelimit, submit, name``); an
unseen user is simply a job with no history features. Runtime bounds are capped at the job's
timelimit: Slurm kills a job at its limit, so reserving longer can never help.

Stable interface (``advise`` uses it): ``fit_bound(history, *, target, coverage) -> FittedBound``;
``FittedBound.upper(jobs) -> np.ndarray`` (s or bytes) and ``FittedBound.point(jobs)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from hpcsched.predict.conformal import (
    MIN_SCORES,
    apply_margin,
    conformal_quantile,
    log_score,
    mondrian_groups,
)
from hpcsched.predict.features import REQUEST_OF, submission_features, target_column
from hpcsched.predict.learned import GradientBoostedRuntime, _history_rows

FloatArray = npt.NDArray[np.float64]

#: Below this many jobs with a known outcome no model is learnt: the bound is the request.
MIN_HISTORY = 100
#: Share of the history (newest jobs) kept apart to calibrate the bound.
CALIBRATION_SHARE = 0.2


@dataclass
class FittedBound:
    """A fitted runtime/memory bound; see :func:`fit_bound`."""

    target: str
    coverage: float
    history: pl.DataFrame
    model: GradientBoostedRuntime | None
    margins: dict[
        int, float
    ]  # Mondrian group (conformal.mondrian_groups) -> log margin; -1: pooled
    fallback: float  # point prediction when there is no model and no request (history median)
    known: int = 0  # jobs with a known outcome in the history it was fitted on

    @property
    def needed(self) -> int:
        """The fewest jobs with a known outcome a model is learnt from (:data:`MIN_HISTORY`)."""
        return MIN_HISTORY

    def _features(self, jobs: pl.DataFrame) -> pl.DataFrame:
        return submission_features(jobs, history=self.history, target=self.target)

    def _request(self, jobs: pl.DataFrame) -> FloatArray:
        column = REQUEST_OF[target_column(self.target)]
        if column not in jobs.columns:
            return np.full(jobs.height, np.nan)
        values = jobs[column].cast(pl.Float64).fill_null(np.nan).to_numpy()
        return np.where(values > 0, values, np.nan)

    def _cap(self, jobs: pl.DataFrame) -> FloatArray | None:
        return self._request(jobs) if target_column(self.target) == "runtime" else None

    def point(self, jobs: pl.DataFrame) -> FloatArray:
        """The point prediction (s or bytes) for each of ``jobs``."""
        request = self._request(jobs)
        if self.model is None:
            return np.where(np.isfinite(request), request, self.fallback)
        p = self.model.predict_features(self._features(jobs))
        cap = self._cap(jobs)
        return p if cap is None else np.where(np.isfinite(cap), np.minimum(p, cap), p)

    def upper(self, jobs: pl.DataFrame, *, capped: bool = True) -> FloatArray:
        """An upper bound (s or bytes) holding for ``coverage`` of jobs like the history's;
        ``capped=False``: a runtime bound not cut at the job's timelimit (for a job that hit its
        limit, or for checking the coverage itself)."""
        request = self._request(jobs)
        if self.model is None:
            return np.where(np.isfinite(request), request, np.inf)
        features = self._features(jobs)
        p = self.model.predict_features(features)
        group = mondrian_groups(features["h_count"].to_numpy() > 0, p)
        pooled = self.margins.get(-1, np.inf)
        margin = np.array([self.margins.get(int(g), pooled) for g in group])
        return apply_margin(p, margin, self._cap(jobs) if capped else None)


#: The steps :func:`fit_bound` reports to ``progress``: features, model, calibration.
FIT_STEPS = 3


def fit_bound(
    history: pl.DataFrame,
    *,
    target: str = "runtime",
    coverage: float = 0.95,
    progress: Callable[[int, int], None] | None = None,
) -> FittedBound:
    """Learn a bound from ``history`` (finished jobs as job-table rows, any order);
    ``progress(done, FIT_STEPS)`` is called after each step (all at once when nothing is learnt)."""

    def step(done: int) -> None:
        if progress is not None:
            progress(done, FIT_STEPS)

    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be between 0 and 1 (exclusive), not {coverage}")
    column = target_column(target)
    known = history.filter(
        pl.col(column).is_not_null() & pl.col("end").is_not_null() & pl.col("submit").is_not_null()
    ).sort("submit", maintain_order=True)
    rows = _history_rows(known)
    values = known[column].cast(pl.Float64).to_numpy() if known.height else np.array([])
    fallback = float(np.median(values)) if len(values) else np.nan
    if known.height < MIN_HISTORY:
        step(FIT_STEPS)
        return FittedBound(target, coverage, rows, None, {}, fallback, known.height)
    features = submission_features(known, target=target)
    step(1)
    first_calibration = int(known.height * (1.0 - CALIBRATION_SHARE))
    cut = float(known["submit"][first_calibration])
    train = (known["end"].to_numpy() < cut)[:first_calibration]
    model = GradientBoostedRuntime(target=target)
    model.fit_features(
        features[:first_calibration].filter(pl.Series(train)), values[:first_calibration][train]
    )
    step(2)
    calib = features[first_calibration:]
    # Scores on the uncapped point: capping at the timelimit changes no job's coverage (a job
    # that ran within its limit is covered by min(bound, limit) exactly when by the bound).
    point = model.predict_features(calib)
    scores = log_score(values[first_calibration:], point)
    group = mondrian_groups(calib["h_count"].to_numpy() > 0, point)
    margins = {-1: conformal_quantile(scores, coverage)}  # -1: the pooled margin
    for g in np.unique(group):
        mine = scores[group == g]
        if len(mine) >= MIN_SCORES:
            margins[int(g)] = conformal_quantile(mine, coverage)
    step(3)
    return FittedBound(target, coverage, rows, model, margins, fallback, known.height)
