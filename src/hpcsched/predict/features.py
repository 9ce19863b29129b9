"""Submission-time features of jobs, for runtime and memory predictors.

Only what is known when a job is submitted may be used: its request (nodes, cpus, gpus, memory,
timelimit), who submits it and where (user, account, partition, QoS, the SWF executable number when
the trace has one), when (hour of day, day of week) and the job name's tokens (hashed); the user's
recent history computed **only from jobs that ended strictly before this submit**
(:mod:`.features_history`): the last five values, the mean and median of the last :data:`HISTORY_K`,
a longer median, the mean and maximum ratio value/request of the last :data:`HISTORY_K` (Alea's
signal), the count so far, the outcome of those jobs (completed or not, killed at the limit, died
quickly: last one and rates) and the time since the last one ended; the same (last, mean, median,
count) over the user's *similar* finished jobs (:data:`TEMPLATES`: same timelimit and cpus, same
timelimit, same SWF executable) because users resubmit the same script with the same request; the
SWF queue number and requested processors where the trace has them; and what ``squeue`` would show
at submit: time since the user's previous submission (and whether it asked the same timelimit), how
long the user's most recently started job has been running if it still runs, and how many of the
user's jobs are submitted and not yet ended.

Vectorised with polars: the past jobs are sorted by end time, their per-user rolling statistics are
computed once, and every job picks the latest row before its submit with an as-of join. The rows'
order is kept: the output has one row per input job, in input order.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from hpcsched.predict.features_history import (
    HISTORY_K,
    as_of_submit,
    join_template,
    join_user_history,
    past_outcomes,
    swf_code,
    text,
)

__all__ = [
    "CATEGORICAL",
    "HISTORY_K",
    "REQUEST_OF",
    "TEMPLATES",
    "feature_names",
    "submission_features",
    "target_column",
]

#: Categorical columns (strings; the learned model maps them to codes it learnt at fit time).
CATEGORICAL: Final = (
    "user",
    "account",
    "partition",
    "qos",
    "queue",
    "app",
    "name_token",
    "name_shape",
)
#: "Similar job" templates (Smith, Foster and Taylor, JSSPP 1998; Tsafrir et al. 2007): the
#: history of the user's finished jobs that share these request fields, keyed by a tag.
TEMPLATES: Final = {
    "same": ("user", "_tl", "_cpus"),
    "tl": ("user", "_tl"),
    "app": ("user", "app"),
}
#: Targets and the request each is compared with.
REQUEST_OF: Final = {"runtime": "timelimit", "mem_used": "mem_req"}


def target_column(target: str) -> str:
    """The job-table column a target name means (``memory`` is ``mem_used``)."""
    column = {"runtime": "runtime", "memory": "mem_used", "mem_used": "mem_used"}.get(target)
    if column is None:
        raise ValueError(f"unknown target {target!r}: use runtime or memory")
    return column


def _request_features(jobs: pl.DataFrame) -> list[pl.Expr]:
    hour = (pl.col("submit") % 86400.0) / 3600.0
    day = ((pl.col("submit") // 86400.0) % 7.0).cast(pl.Int32)
    first = text("name").str.extract(r"^([A-Za-z_]+)", 1).fill_null("")
    shape = text("name").str.replace_all(r"[0-9]+", "#")
    exprs = [
        *(text(c).alias(c) for c in ("user", "account", "partition", "qos")),
        swf_code(jobs, "swf_queue").alias("queue"),
        swf_code(jobs, "swf_executable").alias("app"),
        (first.hash() % 4096).cast(pl.String).alias("name_token"),
        (shape.hash() % 4096).cast(pl.String).alias("name_shape"),
        hour.alias("hour"),
        day.alias("weekday"),
    ]
    for name in ("nodes", "cpus", "gpus", "mem_req", "timelimit"):
        exprs.append(pl.col(name).cast(pl.Float64).alias(f"req_{name}"))
    procs = pl.col("swf_req_procs") if "swf_req_procs" in jobs.columns else pl.lit(None)
    exprs.append(pl.when(procs > 0).then(procs).cast(pl.Float64).alias("req_procs"))
    return exprs


def _previous_submit(out: pl.DataFrame, submitted: pl.DataFrame) -> pl.DataFrame:
    """The user's previous submission (known at submit, outcome or not): how long ago, and
    whether it asked for the same timelimit (a resubmitted script, or the next job of a chain)."""
    prev = (
        submitted.select(
            text("user").alias("user"),
            pl.col("submit").cast(pl.Float64).alias("_prev_at"),
            pl.col("timelimit").cast(pl.Float64).fill_null(-1.0).alias("_prev_tl"),
        )
        .drop_nulls("_prev_at")
        .sort("_prev_at", maintain_order=True)
    )
    out = as_of_submit(out, prev, "_prev_at", "user", coalesce=False)
    return out.with_columns(
        (pl.col("_at") - pl.col("_prev_at")).alias("since_prev_submit"),
        (pl.col("_prev_tl") == pl.col("_tl")).cast(pl.Float64).alias("same_request_as_prev"),
    ).drop("_prev_at", "_prev_tl")


def _running_at_submit(out: pl.DataFrame, submitted: pl.DataFrame) -> pl.DataFrame:
    """What ``squeue`` shows at submit: how long the user's most recently started job has been
    running if it still runs (a lower bound of its runtime; its end is not used, only the fact
    that it has not ended yet), and how many of the user's jobs are submitted and not ended."""
    cols = submitted.columns
    start = pl.col("start").cast(pl.Float64) if "start" in cols else pl.lit(None, pl.Float64)
    end = pl.col("end").cast(pl.Float64) if "end" in cols else pl.lit(None, pl.Float64)
    user = text("user").alias("user")
    started = (
        submitted.select(user, start.alias("_ls"), end.fill_null(float("inf")).alias("_le"))
        .drop_nulls("_ls")
        .sort("_ls", maintain_order=True)
    )
    subs = (
        submitted.select(user, pl.col("submit").cast(pl.Float64).alias("_s"))
        .drop_nulls("_s")
        .sort("_s", maintain_order=True)
        .with_columns((pl.int_range(pl.len()).over("user") + 1).alias("_n_sub"))
    )
    ends = (
        submitted.select(user, end.alias("_e"))
        .drop_nulls("_e")
        .sort("_e", maintain_order=True)
        .with_columns((pl.int_range(pl.len()).over("user") + 1).alias("_n_end"))
    )
    out = as_of_submit(out, started, "_ls", "user", coalesce=False)
    out = as_of_submit(out, subs, "_s", "user")
    out = as_of_submit(out, ends, "_e", "user")
    running = pl.col("_le") > pl.col("_at")
    return out.with_columns(
        pl.when(running).then(pl.col("_at") - pl.col("_ls")).alias("last_started_elapsed"),
        (pl.col("_n_sub").fill_null(0) - pl.col("_n_end").fill_null(0))
        .cast(pl.Float64)
        .alias("user_outstanding"),
    ).drop("_ls", "_le", "_n_sub", "_n_end", *[c for c in ("_s", "_e") if c in out.columns])


def submission_features(
    jobs: pl.DataFrame, *, history: pl.DataFrame | None = None, target: str = "runtime"
) -> pl.DataFrame:
    """Features of ``jobs`` (job-table rows) from what was known at each one's submit.

    ``history`` holds the past jobs whose outcomes may be used (default: ``jobs`` themselves, for
    a trace replayed in time order); a past job counts for a job only when its ``end`` is strictly
    before that job's ``submit``. A job with no ``submit`` (a plan for "now") sees all of
    ``history``. ``target`` picks which outcome the history describes (runtime or memory).
    """
    value = target_column(target)
    request = REQUEST_OF[value]
    submitted = jobs if history is None else pl.concat([history, jobs], how="diagonal_relaxed")
    history = jobs if history is None else history
    past = past_outcomes(history, value, request)
    latest = past["end"].max()
    now = float(latest) + 1.0 if isinstance(latest, int | float) else 0.0
    base = jobs.with_row_index("_row").with_columns(
        pl.col("submit").cast(pl.Float64).fill_null(now).alias("_at"),
        pl.col("timelimit").cast(pl.Float64).fill_null(-1.0).alias("_tl"),
        pl.col("cpus").cast(pl.Float64).fill_null(-1.0).alias("_cpus"),
    )
    out = base.select("_row", "_at", "_tl", "_cpus", *_request_features(jobs))
    out = out.sort("_at", maintain_order=True)
    out = join_user_history(out, past)
    for tag, keys in TEMPLATES.items():
        out = join_template(out, past, tag, keys)
    out = out.with_columns(
        pl.col(c).fill_null(0.0) for c in ("h_count", *(f"h_{t}_count" for t in TEMPLATES))
    ).with_columns(
        (pl.col("h_ratio_max_k") * pl.col("req_timelimit")).alias("h_alea")
        if value == "runtime"
        else (pl.col("h_ratio_max_k") * pl.col("req_mem_req")).alias("h_alea"),
    )
    out = _running_at_submit(_previous_submit(out, submitted), submitted)
    drop = [c for c in ("_end", "_at", "_tl", "_cpus", "timelimit", "cpus") if c in out.columns]
    return out.sort("_row").drop("_row", *drop)


def feature_names(frame: pl.DataFrame) -> list[str]:
    """The feature columns of a :func:`submission_features` frame, categoricals first."""
    return [*CATEGORICAL, *(c for c in frame.columns if c not in CATEGORICAL)]
