"""The user's finished jobs as features: what was known of them at each new job's submit.

Split from :mod:`hpcsched.predict.features` (which joins these statistics to each job as of its
submit). Every statistic here is computed over **past** jobs sorted by end time, one row per past
job; a job then picks, with a strict as-of join on its submit, the latest row of its user (or of
its user's similar jobs), so only jobs that ended strictly before its submit count.

Besides the values themselves (last five, mean and median of the last :data:`HISTORY_K`, median
of the last :data:`LONG_K`, Alea's ratio), the *outcome* of those jobs: whether they completed
(SWF status 1, job-table ``state`` ``completed``) or failed / were cancelled, whether they ran
into their limit (value >= :data:`AT_LIMIT` x request: killed at the walltime, Slurm ``TIMEOUT``)
and whether they died quickly (< :data:`QUICK` s), for the last job and as rates over the last
:data:`HISTORY_K`. Users react to outcomes: a job that failed in seconds is typically fixed and
resubmitted minutes later and then runs "for real", a job killed at its limit comes back asking
for more (Tsafrir, Etsion and Feitelson 2007 note both patterns; Gaussier et al. SC'15 use the
user's last runtimes and the time since the last end as features). MAE is minimised by a median,
hence the medians beside the means.
"""

from __future__ import annotations

from typing import Final

import polars as pl

#: How many past completions the rolling statistics look at (Alea uses five).
HISTORY_K: Final = 5
#: The longer window of the robust (median) statistics.
LONG_K: Final = 20
#: A job whose value reaches this share of its request "hit its limit" (killed at the walltime).
AT_LIMIT: Final = 0.99
#: A runtime below this many seconds is a quick death (a failed start, a wrong input...).
QUICK: Final = 60.0

#: The per-user history columns (what :func:`rolling_history` adds).
HISTORY_COLUMNS: Final = (
    "h_last1",
    "h_last2",
    "h_last3",
    "h_last4",
    "h_last5",
    "h_mean_k",
    "h_median_k",
    "h_median_long",
    "h_ratio_mean_k",
    "h_ratio_max_k",
    "h_count",
    "h_prev_completed",
    "h_prev_at_limit",
    "h_prev_quick",
    "h_fail_rate_k",
    "h_at_limit_rate_k",
    "h_quick_rate_k",
)


def text(name: str) -> pl.Expr:
    """A column as a string, "" where null (user names, categories)."""
    return pl.col(name).cast(pl.String).fill_null("")


def swf_code(jobs: pl.DataFrame, name: str) -> pl.Expr:
    """An SWF number field as a category ("" where the trace has none: -1 or no column)."""
    if name not in jobs.columns:
        return pl.lit("", dtype=pl.String)
    code = pl.col(name).cast(pl.Int64, strict=False)
    return pl.when(code >= 0).then(code.cast(pl.String)).otherwise(pl.lit(""))


def past_outcomes(history: pl.DataFrame, value: str, request: str) -> pl.DataFrame:
    """The finished jobs of ``history`` (value and end known) with what the features read."""
    known = pl.col(value).is_not_null() & pl.col("end").is_not_null()
    state = text("state") if "state" in history.columns else pl.lit("", dtype=pl.String)
    return history.filter(known).select(
        text("user").alias("user"),
        pl.col("timelimit").cast(pl.Float64).fill_null(-1.0).alias("_tl"),
        pl.col("cpus").cast(pl.Float64).fill_null(-1.0).alias("_cpus"),
        swf_code(history, "swf_executable").alias("app"),
        pl.col("end").cast(pl.Float64),
        pl.col(value).cast(pl.Float64).alias("_value"),
        pl.col(request).cast(pl.Float64).alias("_request"),
        # null when the source records no state, so "unknown" is not read as "failed"
        pl.when(state == "").then(None).otherwise(state == "completed").alias("_completed"),
    )


def rolling_history(past: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Per-group rolling statistics of the past values and outcomes, one row per past job in
    end order (``_end``: when that row became known)."""
    k = HISTORY_K
    ratio = pl.when(pl.col("_request") > 0).then(pl.col("_value") / pl.col("_request"))
    at_limit = (ratio >= AT_LIMIT).cast(pl.Float64)
    quick = (pl.col("_value") < QUICK).cast(pl.Float64)
    failed = (~pl.col("_completed")).cast(pl.Float64)
    y = pl.col("_y")
    return (
        past.select(
            *by,
            "end",
            pl.col("_value").alias("_y"),
            ratio.alias("_r"),
            at_limit.alias("_lim"),
            quick.alias("_quick"),
            failed.alias("_fail"),
        )
        .sort("end", maintain_order=True)
        .with_columns(
            y.alias("h_last1"),
            *(y.shift(i).over(by).alias(f"h_last{i + 1}") for i in range(1, 5)),
            y.rolling_mean(k, min_samples=1).over(by).alias("h_mean_k"),
            y.rolling_median(k, min_samples=1).over(by).alias("h_median_k"),
            y.rolling_median(LONG_K, min_samples=1).over(by).alias("h_median_long"),
            pl.col("_r").rolling_mean(k, min_samples=1).over(by).alias("h_ratio_mean_k"),
            pl.col("_r").rolling_max(k, min_samples=1).over(by).alias("h_ratio_max_k"),
            (pl.int_range(pl.len()).over(by) + 1).cast(pl.Float64).alias("h_count"),
            (1.0 - pl.col("_fail")).alias("h_prev_completed"),
            pl.col("_lim").alias("h_prev_at_limit"),
            pl.col("_quick").alias("h_prev_quick"),
            pl.col("_fail").rolling_mean(k, min_samples=1).over(by).alias("h_fail_rate_k"),
            pl.col("_lim").rolling_mean(k, min_samples=1).over(by).alias("h_at_limit_rate_k"),
            pl.col("_quick").rolling_mean(k, min_samples=1).over(by).alias("h_quick_rate_k"),
        )
        .drop("_y", "_r", "_lim", "_quick", "_fail")
        .rename({"end": "_end"})
    )


def as_of_submit(
    out: pl.DataFrame,
    right: pl.DataFrame,
    right_on: str,
    by: str | list[str],
    *,
    coalesce: bool = True,
) -> pl.DataFrame:
    """``out`` with, per row, the latest row of ``right`` with the same ``by`` whose
    ``right_on`` is strictly before the row's submit (``_at``): only what was known then.
    ``right`` is sorted by ``right_on``."""
    return out.join_asof(
        right,
        left_on="_at",
        right_on=right_on,
        by=by,
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
        coalesce=coalesce,
    )


def join_user_history(out: pl.DataFrame, past: pl.DataFrame) -> pl.DataFrame:
    """Join the user's rolling history as of each submit (``_at``), and the reaction time:
    ``since_prev_end``, how long after the user's last job ended this one was submitted."""
    out = as_of_submit(out, rolling_history(past, ["user"]), "_end", "user", coalesce=False)
    since = (pl.col("_at") - pl.col("_end")).alias("since_prev_end")
    return out.with_columns(since).drop("_end")


def join_template(
    out: pl.DataFrame, past: pl.DataFrame, tag: str, keys: tuple[str, ...]
) -> pl.DataFrame:
    """Last value, mean and median of the last k, and count of the user's finished similar
    jobs (same ``keys``), as of each submit."""
    stats = rolling_history(past, list(keys)).select(
        *keys,
        "_end",
        pl.col("h_last1").alias(f"h_{tag}_last1"),
        pl.col("h_mean_k").alias(f"h_{tag}_mean_k"),
        pl.col("h_median_k").alias(f"h_{tag}_median_k"),
        pl.col("h_count").alias(f"h_{tag}_count"),
    )
    return as_of_submit(out, stats, "_end", list(keys)).drop("_end")
