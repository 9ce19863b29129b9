"""Who used the machine and when: core-hours by account and user, waits per week, submissions
by hour and weekday, the share of jobs backfilled per week.

Core-hours are ``cpus × elapsed`` (Slurm's AllocTRES ``cpu=``, read into ``cpus``; the CPU time
``sacct`` calls CPUTime), summed over the jobs that have both. The top consumers are named and
the rest summed as "others", so the shares add up to the whole. The weekly wait trend groups
jobs by the week of their submission (ISO weeks, Monday 00:00 UTC; weeks since the trace start
for SWF's relative times); the heatmap counts submissions per UTC hour and weekday, which needs
epoch times.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import plotly.graph_objects as go
import polars as pl

from hpcsched.analytics import plotting as p
from hpcsched.analytics.derive import Prepared

#: The report's usage charts, in page order (not part of ``build_figures``' views).
USAGE_TITLES: Final[dict[str, str]] = {
    "wait_trend": "Wait time per week of submission",
    "submissions_heatmap": "Submissions by hour and weekday (UTC)",
    "backfill_trend": "Share of started jobs backfilled, per week of submission",
}
#: Accounts or users named in a top-consumers table; the rest are one "others" row.
TOP_CONSUMERS: Final = 10
#: The columns of :func:`core_hours_table`.
CONSUMER_COLUMNS: Final = ("group", "jobs", "core_hours", "share")
_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEK: Final = 7 * 86400.0
#: Units of the wait axis, largest first: the first the longest p95 wait reaches is used.
_UNITS: Final = (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0), ("seconds", 1.0))


def core_hours_table(prep: Prepared, by: str, top: int = TOP_CONSUMERS) -> pl.DataFrame:
    """The ``top`` values of ``by`` by core-hours, then "others"; empty without cpus or ``by``."""
    used = (pl.col("cpus").cast(pl.Float64) * pl.col("elapsed") / 3600.0).alias("core_hours")
    jobs = prep.jobs.select(pl.col(by).fill_null("unknown").alias("group"), used).filter(
        pl.col("core_hours").is_not_null()
    )
    if jobs.is_empty() or prep.jobs[by].null_count() == prep.jobs.height:
        kinds = (pl.String, pl.UInt32, pl.Float64, pl.Float64)
        return pl.DataFrame(schema=dict(zip(CONSUMER_COLUMNS, kinds, strict=True)))
    per = jobs.group_by("group").agg(pl.len().alias("jobs"), pl.col("core_hours").sum())
    per = per.sort(["core_hours", "group"], descending=[True, False])
    if per.height > top + 1:  # "others" only when it sums two or more
        rest = per.slice(top).select(
            pl.lit(f"others ({per.height - top})").alias("group"),
            pl.col("jobs").sum(),
            pl.col("core_hours").sum(),
        )
        per = pl.concat([per.head(top), rest])
    total = float(per["core_hours"].sum())
    share = pl.col("core_hours") / total if total > 0 else pl.lit(None, dtype=pl.Float64)
    return per.with_columns(share.alias("share")).select(CONSUMER_COLUMNS)


def _week(prep: Prepared) -> pl.Expr:
    """The start of each job's week of submission (seconds, as ``submit``)."""
    if prep.epoch:  # 1970-01-01 was a Thursday: ISO weeks start on Mondays, 4 days later
        return ((pl.col("submit") - 4 * 86400.0) / _WEEK).floor() * _WEEK + 4 * 86400.0
    return ((pl.col("submit") - prep.origin) / _WEEK).floor() * _WEEK + prep.origin


def _week_axis(prep: Prepared, weeks: pl.Series) -> tuple[Any, dict[str, Any]]:
    """x values and the x axis of a per-week chart: dates (epoch times) or weeks since start.

    One week alone gets the week before and after it as its range: Plotly would otherwise zoom
    to a millisecond around the point and label it with sub-second ticks."""
    if prep.epoch:
        x = (weeks.to_numpy() * 1000).astype("datetime64[ms]")
        axis: dict[str, Any] = {
            "type": "date",
            "title": {"text": "week of submission (Monday, UTC)"},
        }
        if len(x) == 1:
            around = x[0] + np.array([-1, 1]) * np.timedelta64(7, "D")
            axis["range"] = [str(t) for t in around]
        return x, axis
    x = (weeks.to_numpy() - prep.origin) / _WEEK
    axis = {"title": {"text": "weeks since the trace start"}}
    if len(x) == 1:
        axis["range"] = [float(x[0]) - 1, float(x[0]) + 1]
    return x, axis


def _weekly(prep: Prepared) -> pl.DataFrame:
    """Per week of submission: the week's start, jobs that started, mean, median and p95 wait."""
    week = _week(prep)
    started = prep.jobs.filter(pl.col("wait").is_not_null() & pl.col("submit").is_not_null())
    return (
        started.group_by(week.alias("week"))
        .agg(
            pl.len().alias("jobs"),
            pl.col("wait").mean().alias("mean"),
            pl.col("wait").median().alias("median"),
            pl.col("wait").quantile(0.95, interpolation="linear").alias("p95"),
        )
        .sort("week")
    )


def wait_trend(prep: Prepared, title: str) -> go.Figure:
    """Mean, median and 95th-percentile wait of each week's submissions, in the unit that fits
    the largest (seconds, minutes, hours or days)."""
    key = "wait_trend"
    weeks = _weekly(prep)
    if weeks.is_empty():
        return p.note_figure(key, title, "no job has a submit and a start time")
    x, xaxis = _week_axis(prep, weeks["week"])
    fig = go.Figure()
    p.base_layout(fig, key, title, jobs=int(weeks["jobs"].sum()), note="jobs that started")
    top = float(np.nanmax(weeks["p95"].to_numpy()))
    unit, scale = next((u, d) for u, d in _UNITS if top >= d or d == 1.0)
    styles = {"p95": "#d62728", "mean": "#1f77b4", "median": "#2ca02c"}
    for stat, colour in styles.items():
        fig.add_trace(
            go.Scatter(
                x=x,
                y=weeks[stat].to_numpy() / scale,
                mode="lines+markers",
                name=f"{stat} wait",
                line={"color": colour},
                customdata=weeks["jobs"].to_numpy(),
                hovertemplate=f"{stat} wait %{{y:.3g}} {unit}<br>%{{customdata}} jobs"
                "<extra></extra>",
            )
        )
    high = (top / scale or 1.0) * 1.05
    fig.update_layout(xaxis=xaxis, yaxis={"title": {"text": f"wait ({unit})"}, "range": [0, high]})
    return fig


def submissions_heatmap(prep: Prepared, title: str) -> go.Figure:
    """Submissions counted per UTC hour of day (x) and weekday (y)."""
    key = "submissions_heatmap"
    if not prep.epoch:
        return p.note_figure(key, title, "times are relative to the trace start: no weekdays")
    when = prep.jobs.select(pl.from_epoch(pl.col("submit"), time_unit="s").alias("t")).drop_nulls()
    if when.is_empty():
        return p.note_figure(key, title, "no job has a submit time")
    cells = when.group_by(
        pl.col("t").dt.weekday().alias("day"), pl.col("t").dt.hour().alias("hour")
    ).len()
    z = np.zeros((7, 24), dtype=np.int64)
    z[cells["day"].to_numpy() - 1, cells["hour"].to_numpy()] = cells["len"].to_numpy()
    fig = go.Figure()
    p.base_layout(fig, key, title, jobs=when.height)
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=list(range(24)),
            y=list(_WEEKDAYS),
            colorscale="Blues",
            colorbar={"title": {"text": "jobs"}},
            hovertemplate="%{y} %{x}:00 UTC<br>%{z} jobs<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis={"title": {"text": "hour of day (UTC)"}, "dtick": 3},
        yaxis={"autorange": "reversed", "title": {"text": "weekday"}},
    )
    return fig


def backfill_trend(prep: Prepared, title: str) -> go.Figure:
    """Per week of submission, the share of started jobs that were backfilled (Slurm's
    ``SchedBackfill`` flag, a simulator's own record), over the jobs whose flag is known."""
    key = "backfill_trend"
    known = prep.jobs.filter(
        pl.col("wait").is_not_null()
        & pl.col("submit").is_not_null()
        & pl.col("backfilled").is_not_null()
    )
    if known.is_empty():
        return p.note_figure(key, title, "no started job says whether it was backfilled")
    weeks = (
        known.group_by(_week(prep).alias("week"))
        .agg(pl.len().alias("jobs"), pl.col("backfilled").cast(pl.Int64).sum().alias("back"))
        .sort("week")
    )
    x, xaxis = _week_axis(prep, weeks["week"])
    share = weeks["back"].to_numpy() / weeks["jobs"].to_numpy() * 100.0
    fig = go.Figure()
    p.base_layout(fig, key, title, jobs=known.height, note="started jobs with a backfill flag")
    fig.add_trace(
        go.Scatter(
            x=x,
            y=share,
            mode="lines+markers",
            name="backfilled",
            line={"color": "#d62728"},
            cliponaxis=False,  # a week at 0 % sits on the axis: drawn whole, not halved
            customdata=np.stack([weeks["back"].to_numpy(), weeks["jobs"].to_numpy()], axis=-1),
            hovertemplate="%{y:.1f}% backfilled<br>%{customdata[0]} of %{customdata[1]} jobs"
            "<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis=xaxis, yaxis={"title": {"text": "jobs backfilled (%)"}, "range": [0, 100]}
    )
    return fig


def usage_figures(prep: Prepared) -> dict[str, go.Figure]:
    """Every chart of :data:`USAGE_TITLES`, keyed alike."""
    builders = {
        "wait_trend": wait_trend,
        "submissions_heatmap": submissions_heatmap,
        "backfill_trend": backfill_trend,
    }
    return {key: builders[key](prep, title) for key, title in USAGE_TITLES.items()}
