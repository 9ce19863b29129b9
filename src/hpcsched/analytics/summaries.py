"""Summary tables of a job table: overall and per partition, QoS, end state and size class.

Each row: jobs, node-hours and cpu-hours (null where the source has no such column), median /
mean / p95 wait, median runtime, share backfilled (over jobs whose flag is known) and walltime
accuracy (median runtime / timelimit over jobs with both; Tsafrir, Etsion & Feitelson 2007 call
its shortfall the users' overestimation). Waits exist only for jobs that started.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from hpcsched.analytics.derive import Prepared, prepare

#: The groupings of :func:`summaries`, in report order.
GROUPINGS: Final = ("overall", "partition", "qos", "state", "size_class")

SUMMARY_COLUMNS: Final = (
    "group",
    "jobs",
    "node_hours",
    "cpu_hours",
    "median_wait",
    "mean_wait",
    "p95_wait",
    "median_runtime",
    "backfilled_share",
    "walltime_accuracy",
)


def _hours(column: str) -> pl.Expr:
    used = pl.col(column).cast(pl.Float64) * pl.col("elapsed") / 3600.0
    known = pl.col(column).is_not_null() & pl.col("elapsed").is_not_null()
    return pl.when(known.any()).then(used.sum()).otherwise(None)


def _aggregations() -> list[pl.Expr]:
    limit = pl.col("timelimit")
    ratio = pl.when(limit > 0).then(pl.col("elapsed") / limit).otherwise(None)
    return [
        pl.len().alias("jobs"),
        _hours("nodes").alias("node_hours"),
        _hours("cpus").alias("cpu_hours"),
        pl.col("wait").median().alias("median_wait"),
        pl.col("wait").mean().alias("mean_wait"),
        pl.col("wait").quantile(0.95, interpolation="linear").alias("p95_wait"),
        pl.col("elapsed").median().alias("median_runtime"),
        pl.col("backfilled").cast(pl.Float64).mean().alias("backfilled_share"),
        ratio.median().alias("walltime_accuracy"),
    ]


def summary_table(prep: Prepared, by: str) -> pl.DataFrame:
    """One row per value of ``by`` (``overall``: one row), columns :data:`SUMMARY_COLUMNS`.

    Rows are ordered by jobs (most first), size classes by size; a null group is "unknown".
    Empty when ``by`` is a column the source never filled (e.g. QoS in SWF)."""
    jobs = prep.jobs
    if by == "overall":
        out = jobs.select(_aggregations()).with_columns(pl.lit("all jobs").alias("group"))
        return out.select(SUMMARY_COLUMNS)
    if jobs[by].null_count() == jobs.height:
        return pl.DataFrame(schema=dict.fromkeys(SUMMARY_COLUMNS, pl.Float64)).with_columns(
            pl.col("group").cast(pl.String), pl.col("jobs").cast(pl.UInt32)
        )
    keys = [by, "size_order"] if by == "size_class" else [by]
    out = jobs.group_by(keys).agg(_aggregations())
    out = (
        out.sort("size_order")
        if by == "size_class"
        else out.sort(["jobs", by], descending=[True, False])
    )
    return out.with_columns(pl.col(by).fill_null("unknown").alias("group")).select(SUMMARY_COLUMNS)


def summaries(table: pl.DataFrame | Prepared) -> dict[str, pl.DataFrame]:
    """Every grouping of :data:`GROUPINGS`; a grouping the source lacks is an empty table."""
    prep = table if isinstance(table, Prepared) else prepare(table)
    return {by: summary_table(prep, by) for by in GROUPINGS}
