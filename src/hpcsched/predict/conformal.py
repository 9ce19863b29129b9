"""Conformal calibration: turn point predictions into upper bounds with a chosen coverage.

Split conformal prediction (Vovk, Gammerman and Shafer 2005; Angelopoulos and Bates 2021, "A gentle
introduction") needs only exchangeable scores: with the score ``s = log(y) - log(p)`` (runtimes
are heavy-tailed, so errors are multiplicative) the bound ``p · exp(q)``, ``q`` the
``ceil((n+1)·coverage)``-th smallest of ``n`` calibration scores, covers a new job with probability
at least ``coverage``. Workloads drift, so the evaluation uses the *rolling* (online) variant: each
job is calibrated on the last ``window`` jobs that **ended before its submit** (Gibbs and Candès
2021 motivate adapting to drift). Scores are kept per group (Mondrian conformal, Vovk 2003): jobs
whose user has no history yet are much less predictable than the others, and one pooled quantile
would make the bounds of the well-known users needlessly wide.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]

#: Fewer calibration scores than this and a group borrows the pooled quantile.
MIN_SCORES = 50


#: Point predictions are grouped at these sizes (10 min, 3 h) for the Mondrian calibration.
SIZE_EDGES = (600.0, 3 * 3600.0)


def mondrian_groups(has_history: npt.ArrayLike, point: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Calibration group of each job: (user has history) x (size of the point prediction).

    Scores are only seen once a job ends, so a pooled window over-represents short jobs; long
    predictions get their own scores (and users without history theirs).
    """
    size = np.digitize(np.asarray(point, dtype=np.float64), SIZE_EDGES).astype(np.int64)
    known = np.asarray(has_history, dtype=bool).astype(np.int64)
    return known * (len(SIZE_EDGES) + 1) + size


def log_score(actual: npt.ArrayLike, point: npt.ArrayLike) -> FloatArray:
    """Nonconformity score ``log(1 + y) - log(1 + p)`` (1 keeps zero runtimes finite)."""
    y = np.asarray(actual, dtype=np.float64)
    p = np.asarray(point, dtype=np.float64)
    return np.log1p(np.maximum(y, 0.0)) - np.log1p(np.maximum(p, 0.0))


def conformal_quantile(scores: npt.ArrayLike, coverage: float) -> float:
    """The split-conformal quantile: the ``ceil((n+1)·coverage)``-th smallest score (inf if n is
    too small for the coverage asked)."""
    s = np.sort(np.asarray(scores, dtype=np.float64)[np.isfinite(scores)])
    rank = math.ceil((len(s) + 1) * coverage)
    return float(s[rank - 1]) if 0 < rank <= len(s) else math.inf


def apply_margin(
    point: npt.ArrayLike, margin: npt.ArrayLike, cap: npt.ArrayLike | None
) -> FloatArray:
    """Bound ``(1 + p) · exp(margin) - 1``, cut at ``cap`` where ``cap`` is known.

    Slurm kills a job at its timelimit, so a reservation longer than the limit can never be
    used: the cap loses no coverage and saves everything above it (for runtime bounds only).
    """
    p = np.asarray(point, dtype=np.float64)
    bound: FloatArray = np.expm1(
        np.log1p(np.maximum(p, 0.0)) + np.asarray(margin, dtype=np.float64)
    )
    if cap is not None:
        c = np.asarray(cap, dtype=np.float64)
        bound = np.where(np.isfinite(c) & (c > 0), np.minimum(bound, c), bound).astype(np.float64)
    return bound


def rolling_margin(
    scores: npt.ArrayLike,
    ended: npt.ArrayLike,
    groups: npt.ArrayLike,
    at: npt.ArrayLike,
    at_groups: npt.ArrayLike,
    *,
    coverage: float,
    window: int = 2000,
) -> FloatArray:
    """The conformal margin for each job submitted at ``at`` (group ``at_groups``): the
    coverage quantile of the last ``window`` scores of its group that ended strictly before it.

    The pooled scores stand in when the group has fewer than :data:`MIN_SCORES`; ``inf`` (no
    bound below the cap) when even those are too few. Vectorised: rolling quantiles in end
    order, then an as-of join on the submit time.
    """
    level = min(1.0, coverage * (1.0 + 1.0 / window))  # the (n+1)/n finite-sample correction
    past = pl.DataFrame(
        {
            "end": np.asarray(ended, dtype=np.float64),
            "g": np.asarray(groups, dtype=np.int64),
            "s": np.asarray(scores, dtype=np.float64),
        }
    ).filter(pl.col("s").is_finite() & pl.col("end").is_not_nan())
    past = past.sort("end", maintain_order=True)
    quantile = pl.col("s").rolling_quantile(level, "higher", window_size=window, min_samples=1)
    count = pl.int_range(pl.len()) + 1
    per_group = past.with_columns(
        quantile.over("g").alias("q_g"), count.over("g").alias("n_g")
    ).select("g", "end", "q_g", "n_g")
    pooled = past.with_columns(quantile.alias("q"), count.alias("n")).select("end", "q", "n")
    jobs = pl.DataFrame(
        {"at": np.asarray(at, dtype=np.float64), "g": np.asarray(at_groups, dtype=np.int64)}
    ).with_row_index("row")
    jobs = jobs.sort("at", maintain_order=True)
    join = {"left_on": "at", "right_on": "end", "allow_exact_matches": False}
    jobs = jobs.join_asof(per_group, by="g", check_sortedness=False, **join).drop("end")  # type: ignore[arg-type]
    jobs = jobs.join_asof(pooled, check_sortedness=False, **join).sort("row")  # type: ignore[arg-type]
    enough_g = pl.col("n_g").fill_null(0) >= MIN_SCORES
    enough = pl.col("n").fill_null(0) >= MIN_SCORES
    margin = (
        pl.when(enough_g).then(pl.col("q_g")).when(enough).then(pl.col("q")).otherwise(math.inf)
    )
    return jobs.select(margin.cast(pl.Float64)).to_series().to_numpy()


def rolling_rate(
    values: npt.ArrayLike, ended: npt.ArrayLike, at: npt.ArrayLike, *, window: int = 5000
) -> FloatArray:
    """Mean of the last ``window`` finite ``values`` whose job ended strictly before each ``at``
    (NaN when none): e.g. the miss rate of the bounds a scheduler has seen so far."""
    past = (
        pl.DataFrame(
            {"end": np.asarray(ended, dtype=np.float64), "v": np.asarray(values, dtype=np.float64)}
        )
        .filter(pl.col("v").is_finite() & pl.col("end").is_not_nan())
        .sort("end", maintain_order=True)
        .select("end", pl.col("v").rolling_mean(window, min_samples=1).alias("rate"))
    )
    jobs = pl.DataFrame({"at": np.asarray(at, dtype=np.float64)}).with_row_index("row")
    joined = (
        jobs.sort("at", maintain_order=True)
        .join_asof(
            past, left_on="at", right_on="end", allow_exact_matches=False, check_sortedness=False
        )
        .sort("row")
    )
    return joined["rate"].cast(pl.Float64).fill_null(np.nan).to_numpy()


def adaptive_margin(
    scores: npt.ArrayLike,
    ended: npt.ArrayLike,
    groups: npt.ArrayLike,
    at: npt.ArrayLike,
    *,
    coverage: float,
    point: npt.ArrayLike,
    actual: npt.ArrayLike,
    cap: npt.ArrayLike | None,
    step: float = 0.01,
    steps: int = 3,
) -> FloatArray:
    """:func:`rolling_margin`, with the level raised by the recent shortfall of coverage.

    Scores arrive only when jobs end, and long jobs end late, so the calibration window always
    lacks the newest long jobs and the plain rolling bound misses a little more than it should.
    In the spirit of adaptive conformal inference (Gibbs and Candès, NeurIPS 2021) each job's
    level is ``coverage`` plus the miss rate above target that the base bounds showed on jobs
    already ended (rounded up to ``step``, at most ``steps`` of them).
    """
    y = np.asarray(actual, dtype=np.float64)
    levels = [min(coverage + k * step, 0.999) for k in range(steps + 1)]
    margins = [
        rolling_margin(scores, ended, groups, at, groups, coverage=level) for level in levels
    ]
    base = apply_margin(point, margins[0], cap)
    missed = np.where(np.isfinite(np.asarray(scores, dtype=np.float64)), base < y, np.nan)
    shortfall = rolling_rate(missed.astype(np.float64), ended, at) - (1.0 - coverage)
    raise_by = np.clip(np.ceil(np.nan_to_num(shortfall, nan=0.0) / step - 1e-9), 0, steps)
    choice = raise_by.astype(np.int64)
    return np.choose(choice, margins).astype(np.float64)
