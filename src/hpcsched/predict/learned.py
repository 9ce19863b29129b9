"""Gradient-boosted runtime (or peak memory) prediction from submission-time features.

HARP (Vallabhajosyula and Ramnath) and Soysal et al. (2019) predict a job's needs from the site's
own history; trees on the features of :mod:`hpcsched.predict.features` do that here (LightGBM, Ke
et al. NeurIPS 2017). The default loss is L1 on the raw target: the median minimises the mean
absolute error, the figure every table reports. Measured on KTH-SP2 (strong filter, the
chronological protocol of :mod:`.evaluate`): MAE 4,105 s with L1 on runtime, 6,191 s with L2 on
log-runtime, 4,189 s with L1 on runtime/timelimit weighted by the timelimit (measured before the
queue features ``since_prev_submit`` etc. were added); later, L1 on log1p(runtime) 4,560 s vs
4,083 s raw. Row and feature subsampling (``subsample=0.8, colsample_bytree=0.7``, bagging: less
variance between refits) lowered MAE on KTH, SDSC-SP2 and CTC by 1-2 %; other leaf counts,
learning rates, tree counts and ``min_child_samples`` changed it by < 3 % either way (noise).
``objective="quantile"`` with ``alpha`` gives a quantile model.

The outcome, median and last-five features of :mod:`.features_history` (seed 0, MAE s, KTH /
SDSC-SP2 / CTC): 3,939 / 3,629 / 6,432 without, 3,933 / 3,590 / 6,369 with all of them (seed 1 on
SDSC: 3,621 -> 3,585); the outcome group alone 3,927 / 3,621 / 6,396, the medians alone 3,901 /
3,594 / 6,372. Not kept, measured on KTH with them: template values divided by the timelimit
3,918 (noise); weighting training jobs by recency (half-life 30 / 60 / 90 days) 4,240 / 4,074 /
4,054 (worse: old jobs still teach); the system's load at submit (queued and running jobs, busy
processors) 3,935.

Issue 5 asks for an MAE >= 20 % below the better of Alea and user-last-two on KTH-SP2 as well, i.e.
<= ~3,349 s (Alea: 4,186; this model 3,933, the ensemble 3,833). Measured with seed 0 and the
default protocol (KTH MAE; ensemble in brackets), none kept: the user's jobs running or queued
at submit (how many, longest and shortest elapsed so far, elapsed/timelimit, cpus in use, jobs of
the same timelimit (and cpus) running and their elapsed, same-timelimit jobs queued; the elapsed
time is a lower bound of a running job's runtime, its end is not read) 3,912 (3,837), SDSC-SP2
3,617 vs 3,590; local time (the trace's UnixStartTime and TimeZone: hour, weekday, seconds to the
next 07:00 / 08:00 / 17:00) 3,902-3,909; a two-stage mixture (a classifier "runs to its limit"
and quantile models at 0.5-0.97 of the other jobs, the median of the mixture) 4,213, its mean
with this model 4,003; L1 on runtime/timelimit weighted by the timelimit 4,074 (in a median with
this model and the template median 3,838); seeds 1-4 3,909-3,951, the mean of five seeds 3,903;
1,000 trees of 63 leaves 4,052, 600 trees 3,961, learning rate 0.1 3,987; an online per-user
correction by the median or mean of the user's last 1-10 residuals (additive or ratio, full or
half) 3,872-4,388; refits every 700 / 350 / 150 jobs instead of 1,423 (a protocol change, 2-9x
the fits) 3,920 / 3,853 / 3,835 (3,828 / 3,800 / 3,789). Why the gap stays: 63 % of KTH's
absolute error comes from the 15 % of scored jobs asking > 10 h (MAE 17,202 s, Alea 17,494);
their outcome is bimodal (36 % run to the limit, many stop within minutes) and the model is
already calibrated there (56 % under-predicted). Even a leaky random 5-fold split (the user's
*future* jobs in training) reaches only 3,525 (15.8 %) with these features; 1,000 trees of 63
leaves reach 3,357 there but 4,052 in time order (the gain was memorised near-duplicates).

``X`` is a polars DataFrame of job-table rows in submission order. ``fit(X, y)`` learns from those
jobs (``y``: their runtimes, or peak memory); ``predict(X)`` predicts new jobs, and uses as history
both the jobs seen at fit time and the rows of ``X`` that ended before each job's submit ("history
so far", exactly what a scheduler knows when a job arrives).
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.base import BaseEstimator, RegressorMixin

from hpcsched.predict.features import CATEGORICAL, feature_names, submission_features, target_column

FloatArray = npt.NDArray[np.float64]

#: Columns a history row needs (what :func:`submission_features` reads of the past).
HISTORY_COLUMNS = (
    "user",
    "submit",
    "start",
    "end",
    "timelimit",
    "cpus",
    "runtime",
    "mem_req",
    "mem_used",
    "swf_executable",
    "state",
)


_STRING: dict[str, type[pl.DataType]] = {"user": pl.String, "state": pl.String}


def _history_rows(frame: pl.DataFrame) -> pl.DataFrame:
    cols = [
        pl.col(c).cast(_STRING.get(c, pl.Float64))
        if c in frame.columns
        else pl.lit(None, dtype=_STRING.get(c, pl.Float64)).alias(c)
        for c in HISTORY_COLUMNS
    ]
    return frame.select(cols)


class GradientBoostedRuntime(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """LightGBM on submission-time features; target ``runtime`` (s) or ``memory`` (bytes)."""

    def __init__(
        self,
        target: str = "runtime",
        objective: str = "l1",
        alpha: float = 0.5,
        n_estimators: int = 300,
        num_leaves: int = 31,
        learning_rate: float = 0.05,
        min_child_samples: int = 20,
        subsample: float = 0.8,
        colsample_bytree: float = 0.7,
        num_threads: int = 1,
        random_state: int = 0,
    ) -> None:
        self.target = target
        self.objective = objective
        self.alpha = alpha
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.learning_rate = learning_rate
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.num_threads = num_threads
        self.random_state = random_state

    # -- features -> model (used directly by the chronological evaluation, which builds the
    #    features of a whole trace once) --------------------------------------------------------
    def _matrix(self, features: pl.DataFrame) -> npt.NDArray[np.float64]:
        columns = []
        for name in self.feature_names_:
            if name in CATEGORICAL:
                codes = self.categories_[name]
                col = features[name].replace_strict(codes, default=-1, return_dtype=pl.Float64)
                columns.append(col.to_numpy())
            else:
                columns.append(features[name].cast(pl.Float64).fill_null(np.nan).to_numpy())
        return np.column_stack(columns).astype(np.float64)

    def fit_features(self, features: pl.DataFrame, y: npt.ArrayLike) -> Self:
        """Fit on a :func:`submission_features` frame and its targets (rows with NaN dropped)."""
        import lightgbm as lgb

        target = np.asarray(y, dtype=np.float64)
        keep = np.isfinite(target)
        features = features.filter(pl.Series(keep))
        target = target[keep]
        if len(target) == 0:
            raise ValueError("no job with a known target to learn from")
        self.feature_names_ = feature_names(features)
        self.categories_ = {
            name: {v: float(i) for i, v in enumerate(features[name].unique(maintain_order=True))}
            for name in CATEGORICAL
        }
        matrix = self._matrix(features)
        params: dict[str, Any] = {
            "objective": self.objective,
            "alpha": self.alpha,
            "num_leaves": self.num_leaves,
            "learning_rate": self.learning_rate,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1.0 else 0,
            "feature_fraction": self.colsample_bytree,
            "num_threads": self.num_threads,
            "seed": self.random_state,
            "deterministic": True,
            "verbosity": -1,
            "cat_smooth": 10.0,
            "max_cat_to_onehot": 8,
        }
        categorical = [i for i, n in enumerate(self.feature_names_) if n in CATEGORICAL]
        data = lgb.Dataset(
            matrix,
            target,
            categorical_feature=categorical,
            free_raw_data=True,
            params={"max_bin": 255, "verbosity": -1},
        )
        self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        return self

    def predict_features(self, features: pl.DataFrame) -> FloatArray:
        """Predictions for a :func:`submission_features` frame (never below 1 s / 1 byte)."""
        raw = np.asarray(self.booster_.predict(self._matrix(features)), dtype=np.float64)
        return np.maximum(raw, 1.0)

    # -- the scikit-learn face ---------------------------------------------------------------
    def fit(self, X: pl.DataFrame, y: npt.ArrayLike | None = None) -> Self:
        """Learn from past jobs ``X`` (job-table rows); ``y`` defaults to the target column."""
        column = target_column(self.target)
        values = X[column].cast(pl.Float64).fill_null(np.nan).to_numpy() if y is None else y
        features = submission_features(X, target=self.target)
        self.history_ = _history_rows(X)
        return self.fit_features(features, values)

    def predict(self, X: pl.DataFrame) -> FloatArray:
        """Predict ``X``; history: the fit jobs plus the rows of ``X`` ended before a submit."""
        history = pl.concat([self.history_, _history_rows(X)], how="vertical_relaxed")
        return self.predict_features(submission_features(X, history=history, target=self.target))
