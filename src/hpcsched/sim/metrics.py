"""Scheduling metrics computed from a job table (real or simulated alike).

wait = start - submit; bounded slowdown bsld = max(1, (wait + run) / max(run, τ)) with τ = 10 s
(Feitelson et al. 1997; VALIDATION.md); flow (response) time = wait + run; utilisation = used
processor-seconds / (capacity × (last end - first submit)); fairness = Jain's index of per-user
mean waits, (Σx)² / (n Σx²).
"""

from __future__ import annotations

from typing import Any

import polars as pl

TAU = 10.0


def job_metrics(table: pl.DataFrame, *, tau: float = TAU) -> pl.DataFrame:
    """Per-job ``wait, flow, bsld`` for jobs that ran (derived columns; never stored)."""
    ran = table.filter(pl.col("start").is_not_null() & pl.col("end").is_not_null())
    run = pl.col("end") - pl.col("start")
    wait = pl.col("start") - pl.col("submit")
    return ran.with_columns(
        wait.alias("wait"),
        (wait + run).alias("flow"),
        pl.max_horizontal(pl.lit(1.0), (wait + run) / pl.max_horizontal(run, pl.lit(tau))).alias(
            "bsld"
        ),
    )


def summarize(table: pl.DataFrame, capacity: float, *, tau: float = TAU) -> dict[str, Any]:
    """The headline numbers of one schedule, as plain Python values."""
    jobs = job_metrics(table, tau=tau)
    n = jobs.height
    if n == 0:
        return {"jobs": 0}
    makespan = float(jobs.select(pl.col("end").max() - pl.col("submit").min()).item())
    area = float(((jobs["end"] - jobs["start"]) * jobs["cpus"]).sum())
    per_user = jobs.group_by("user").agg(pl.col("wait").mean().alias("mean_wait"))
    x = per_user["mean_wait"]
    denominator = per_user.height * float((x * x).sum())
    fairness = float(x.sum()) ** 2 / denominator if denominator > 0 else 1.0
    stats = jobs.select(
        pl.col("wait").mean().alias("avg_wait"),
        pl.col("wait").max().alias("max_wait"),
        pl.col("bsld").mean().alias("avg_bsld"),
        pl.col("bsld").max().alias("max_bsld"),
        pl.col("flow").mean().alias("avg_flow"),
        pl.col("backfilled").cast(pl.Float64).mean().alias("backfilled_share"),
    ).row(0, named=True)
    out: dict[str, Any] = {"jobs": n, **{k: float(v or 0.0) for k, v in stats.items()}}
    out["utilization"] = area / (capacity * makespan) if makespan > 0 else 0.0
    out["makespan"] = makespan
    out["throughput_per_hour"] = n / makespan * 3600.0 if makespan > 0 else 0.0
    out["fairness_jain"] = fairness
    if jobs["priority_class"].null_count() < n:
        classes = (
            jobs.group_by("priority_class")
            .agg(
                pl.len().alias("jobs"),
                pl.col("flow").median().alias("median_response"),
                pl.col("wait").mean().alias("avg_wait"),
                pl.col("bsld").mean().alias("avg_bsld"),
            )
            .sort("priority_class")
        )
        out["per_class"] = {
            str(row["priority_class"]): {k: v for k, v in row.items() if k != "priority_class"}
            for row in classes.iter_rows(named=True)
        }
    return out
