"""The dumb-but-honest runtime predictors every learned model must beat.

- :class:`RequestedWalltime`: the user's own request (what EASY plans with by default).
- :class:`UserLastTwo`: the mean of the user's last two runtimes that completed before this
  submit, else the request (Tsafrir, Etsion and Feitelson, "Backfilling using system-generated
  predictions rather than user runtime estimates", TPDS 18(6), 2007).
- :class:`AleaUserRatio`: request × the largest runtime/request ratio of the user's last five jobs;
  a user's first job gets the request (the Alea simulator's predictor as evaluated by Soysal et al.
  2019, reference code ``mehsoy/walltime-prediction-tools``; rung 4 of VALIDATION.md).

All follow the scikit-learn contract. ``X`` is a polars DataFrame of job-table rows in submission
order. ``fit(X, y)`` records ``X`` as history (``y`` defaults to the target column); ``predict(X)``
walks ``X`` in order using that history plus the rows of ``X`` already known at each job's submit,
so one ``predict`` over a whole trace after ``fit`` on nothing is the online replay.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.base import BaseEstimator, RegressorMixin

from hpcsched.predict.features import REQUEST_OF, target_column

FloatArray = npt.NDArray[np.float64]


class _UserHistoryPredictor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Shared bookkeeping: the history rows (user, end, value, request) and the default."""

    target: str
    value_column: str | None
    request_column: str | None

    def _columns(self) -> tuple[str, str]:
        value = self.value_column or target_column(self.target)
        return value, self.request_column or REQUEST_OF[target_column(self.target)]

    def _rows(self, X: pl.DataFrame, y: npt.ArrayLike | None = None) -> pl.DataFrame:
        value, request = self._columns()

        def num(name: str) -> pl.Expr:
            if name in X.columns:
                return pl.col(name).cast(pl.Float64)
            return pl.lit(None, dtype=pl.Float64)

        out = X.select(
            pl.col("user").cast(pl.String).fill_null("").alias("user"),
            num("submit").alias("submit"),
            num("end").alias("end"),
            num(value).alias("value"),
            num(request).alias("request"),
        )
        if y is not None:
            out = out.with_columns(pl.Series("value", np.asarray(y, dtype=np.float64)))
        return out.with_columns(pl.col("value").fill_nan(None))

    def fit(self, X: pl.DataFrame, y: npt.ArrayLike | None = None) -> Self:
        """Record ``X`` (jobs with their outcomes ``y``) as the history."""
        self.history_ = self._rows(X, y)
        known = self.history_["value"].drop_nulls()
        self.default_ = float(known.median()) if known.len() else float("nan")  # type: ignore[arg-type]
        return self

    def _request(self, rows: pl.DataFrame) -> pl.Expr:
        return (
            pl.when(pl.col("request") > 0).then(pl.col("request")).otherwise(pl.lit(self.default_))
        )

    def _completed_stats(self, X: pl.DataFrame, window: int) -> pl.DataFrame:
        """For each row of ``X``: the user's last two values and the largest value/request of
        the last ``window``, over jobs (fit history and ``X``) that ended before its submit."""
        rows = self._rows(X)
        past = (
            pl.concat([self.history_, rows])
            .filter(pl.col("value").is_not_null() & pl.col("end").is_not_null())
            .sort("end", maintain_order=True)
        )
        ratio = pl.when(pl.col("request") > 0).then(pl.col("value") / pl.col("request"))
        past = past.select(
            "user",
            "end",
            pl.col("value").alias("last1"),
            pl.col("value").shift(1).over("user").alias("last2"),
            ratio.rolling_max(window, min_samples=1).over("user").alias("ratio_max"),
        )
        jobs = rows.with_row_index("_row").with_columns(pl.col("submit").fill_null(float("inf")))
        return (
            jobs.sort("submit", maintain_order=True)
            .join_asof(
                past,
                left_on="submit",
                right_on="end",
                by="user",
                allow_exact_matches=False,
                check_sortedness=False,
            )
            .sort("_row")
        )

    def predict(self, X: pl.DataFrame) -> FloatArray:  # pragma: no cover - overridden
        raise NotImplementedError


class RequestedWalltime(_UserHistoryPredictor):
    """The request itself (``timelimit``; ``mem_req`` for memory); the history median when a
    job has none."""

    def __init__(self, target: str = "runtime") -> None:
        self.target = target
        self.value_column = None
        self.request_column = None

    def predict(self, X: pl.DataFrame) -> FloatArray:
        rows = self._rows(X)
        return rows.select(self._request(rows)).to_series().cast(pl.Float64).to_numpy()


class UserLastTwo(_UserHistoryPredictor):
    """Mean of the user's last two completed values (one if only one), else the request."""

    def __init__(self, target: str = "runtime") -> None:
        self.target = target
        self.value_column = None
        self.request_column = None

    def predict(self, X: pl.DataFrame) -> FloatArray:
        stats = self._completed_stats(X, 2)
        mean = pl.mean_horizontal("last1", "last2")  # ignores a missing second value
        return (
            stats.select(
                pl.when(pl.col("last1").is_not_null()).then(mean).otherwise(self._request(stats))
            )
            .to_series()
            .to_numpy()
        )


class AleaUserRatio(_UserHistoryPredictor):
    """Request × max(value/request) over the user's last ``window`` jobs; first job: request.

    ``order="completed"`` (default) looks only at jobs that ended before the submit, as a live
    scheduler can. ``order="file"`` is rung 4's protocol: the user's previous jobs in file order,
    finished or not (Soysal's reference script); with ``value_column="swf_run_time"`` and
    ``request_column="swf_req_time"`` (raw SWF fields, -1 kept) it reproduces the published MAE
    and MedAE exactly, NaN ratios included: the oldest ratio of the window seeds the running
    maximum, as Python's ``max`` over a list does.
    """

    def __init__(
        self,
        target: str = "runtime",
        order: str = "completed",
        window: int = 5,
        value_column: str | None = None,
        request_column: str | None = None,
    ) -> None:
        self.target = target
        self.order = order
        self.window = window
        self.value_column = value_column
        self.request_column = request_column

    def predict(self, X: pl.DataFrame) -> FloatArray:
        if self.order == "completed":
            stats = self._completed_stats(X, self.window)
            alea = pl.col("request") * pl.col("ratio_max")
            return (
                stats.select(pl.when(alea.is_not_null()).then(alea).otherwise(self._request(stats)))
                .to_series()
                .to_numpy()
            )
        if self.order != "file":
            raise ValueError(f"order must be 'completed' or 'file', not {self.order!r}")
        rows = pl.concat(
            [
                self.history_.with_columns(pl.lit(True).alias("_fit")),
                self._rows(X).with_columns(pl.lit(False).alias("_fit")),
            ]
        )
        k = self.window
        ratio = (pl.col("value") / pl.col("request")).fill_null(float("nan"))
        index = pl.int_range(pl.len()).over("user")
        previous = ratio.fill_nan(float("-inf")).rolling_max(k, min_samples=1).shift(1)
        oldest = pl.when(index >= k).then(ratio.shift(k)).otherwise(ratio.first())
        out = rows.with_columns(
            previous.over("user").alias("_max"), oldest.over("user").alias("_oldest")
        ).with_columns(
            pl.when(pl.col("_oldest").is_nan())
            .then(float("nan"))
            .otherwise(pl.col("_max"))
            .alias("_max"),
            index.alias("_index"),
        )
        pred = (
            pl.when(pl.col("_index") == 0)
            .then(pl.col("request"))
            .otherwise(pl.col("request") * pl.col("_max"))
        )
        return out.filter(~pl.col("_fit")).select(pred).to_series().cast(pl.Float64).to_numpy()
