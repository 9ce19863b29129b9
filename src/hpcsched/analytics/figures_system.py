"""The system-level charts: utilisation, queue length, wait by size, walltime accuracy, groups.

Time series are exact time-averages over bins (:func:`hpcsched.analytics.derive.step_mean`), not
samples, so a million jobs become a few hundred points without losing short bursts' area.
Utilisation is busy processors over capacity when the machine size is known (processors, as
:mod:`hpcsched.sim.metrics` defines it); without it, the busy nodes (processors for SWF).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from hpcsched.analytics import plotting as p
from hpcsched.analytics.busy import busy, horizon
from hpcsched.analytics.derive import FloatArray, Prepared, class_name, step_mean
from hpcsched.analytics.summaries import summary_table
from hpcsched.core.durations import duration_text

#: Bins of a time series (each a time-average): enough to see a day in a year-long trace.
TIME_BINS = 400
#: Groups shown by name in a partition/QoS summary; the rest are left out with a note.
TOP_GROUPS = 25
#: ``walltime_accuracy``'s axis ends at this quantile of runtime / timelimit (the rest: last bar).
OVERFLOW_QUANTILE = 0.995


def _time_axis(prep: Prepared, edges: FloatArray) -> tuple[Any, dict[str, Any]]:
    """Bin centres as dates (epoch tables) or days since the trace start (SWF)."""
    mid = (edges[:-1] + edges[1:]) / 2
    if prep.epoch:
        return (mid * 1000).astype("datetime64[ms]"), {"type": "date", "title": {"text": "UTC"}}
    days = (mid - prep.origin) / 86400.0
    lo, hi = (edges[0] - prep.origin) / 86400.0, (edges[-1] - prep.origin) / 86400.0
    axis = {"range": [lo, hi], "title": {"text": "days since the trace start"}}
    return days, axis


def _series(
    jobs: pl.DataFrame, on: str, off: pl.Expr, weight: pl.Expr
) -> tuple[FloatArray, FloatArray]:
    """Bin edges over ``jobs``' horizon and the step function's time-average in each bin."""
    lo, hi = horizon(jobs)
    rows = jobs.filter(pl.col(on).is_not_null()).select(
        pl.col(on).cast(pl.Float64).alias("on"),
        off.fill_null(hi).cast(pl.Float64).alias("off"),
        weight.cast(pl.Float64).fill_null(0.0).alias("w"),
    )
    edges = np.linspace(lo, hi, TIME_BINS + 1)
    ups, downs, sizes = (rows[c].to_numpy() for c in ("on", "off", "w"))
    return edges, step_mean(ups, downs, sizes, edges)


def utilisation(prep: Prepared, title: str, capacity: float | None) -> go.Figure:
    """Busy processors / capacity (as :mod:`hpcsched.sim.metrics`), else busy nodes: distinct
    nodes from the node lists over the nodes they name (:mod:`hpcsched.analytics.busy`)."""
    key = "utilisation"
    use = busy(prep, capacity)
    if use is None:
        unit = "processors" if capacity else prep.size_unit
        return p.note_figure(key, title, f"no job has a start time and a count of {unit}")
    edges = np.linspace(*horizon(prep.jobs), TIME_BINS + 1)
    busy_now = step_mean(use.on, use.off, use.weight, edges)
    x, xaxis = _time_axis(prep, edges)
    unit, machine = use.unit, use.machine
    if machine is None:
        note = f"machine size unknown: busy {unit} (each job's {unit} summed), not a fraction"
    elif use.distinct:
        note = f"machine size: {use.basis}; a node shared by jobs counts once"
    else:
        note = None
    y = busy_now / machine * 100.0 if machine else busy_now
    fig = go.Figure()
    p.base_layout(fig, key, title, jobs=use.jobs, note=note)
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="lines",
            line={"shape": "hv", "color": "#1f77b4"},
            fill="tozeroy",
            name="utilisation" if machine else f"busy {unit}",
        )
    )
    ytitle = f"busy {unit} / {machine:,.0f} (%)" if machine else f"busy {unit}"
    top = max(float(np.max(y)), 100.0 if machine else 1.0)
    fig.update_layout(xaxis=xaxis, yaxis={"title": {"text": ytitle}, "range": [0, top * 1.05]})
    return fig


def queue_length(prep: Prepared, title: str) -> go.Figure:
    key = "queue_length"
    jobs = prep.jobs.select("submit", "start", "end").filter(pl.col("submit").is_not_null())
    if jobs.is_empty():
        return p.note_figure(key, title, "no job has a submit time")
    # pending until it starts; a job that never started until it ended (cancelled), else to the end
    off = pl.coalesce(pl.col("start"), pl.col("end"))
    edges, pending = _series(jobs, "submit", off, pl.lit(1.0))
    x, xaxis = _time_axis(prep, edges)
    fig = go.Figure()
    p.base_layout(fig, key, title, jobs=jobs.height, note="time-average per bin")
    fig.add_trace(
        go.Scatter(
            x=x, y=pending, mode="lines", line={"shape": "hv", "color": "#ff7f0e"}, name="pending"
        )
    )
    fig.update_layout(
        xaxis=xaxis,
        yaxis={
            "title": {"text": "pending jobs"},
            "range": [0, max(float(pending.max()), 1.0) * 1.05],
        },
    )
    return fig


def wait_by_size(prep: Prepared, title: str) -> go.Figure:
    key = "wait_by_size"
    started = prep.jobs.lazy().filter(
        pl.col("wait").is_not_null() & pl.col("size_order").is_not_null()
    )
    stats = p.box_stats(started.select("size_order", "wait"), "size_order", "wait")
    if stats.is_empty():
        return p.note_figure(key, title, "no started job has a size")
    stats = stats.sort("size_order")
    fig = go.Figure()
    n_started = int(stats["n"].sum())
    p.base_layout(fig, key, title, jobs=n_started, note="waits < 1 s drawn at 1 s; box = quartiles")
    for row in stats.iter_rows(named=True):
        # the size_class label of this order (derive.size_class_label names each class so)
        name = f"{class_name(row['size_order'])} ({row['n']:,})"
        fig.add_trace(p.box_trace(name, row, "#1f77b4"))
    waits = np.array([stats["lo"].min(), stats["hi"].max()], dtype=np.float64)
    fig.update_layout(
        yaxis=p.duration_axis(p.log_range(waits), "wait (log)"),
        xaxis={"title": {"text": f"job size class, {prep.size_unit} (jobs)"}},
        showlegend=False,
    )
    return fig


def walltime_accuracy(prep: Prepared, title: str) -> go.Figure:
    key = "walltime_accuracy"
    both = (
        prep.jobs.lazy()
        .filter((pl.col("timelimit") > 0) & pl.col("elapsed").is_not_null())
        .select((pl.col("elapsed") / pl.col("timelimit")).alias("ratio"), "state")
        .collect()
    )
    if both.is_empty():
        return p.note_figure(key, title, "no job has both a timelimit and an elapsed time")
    ratio = both["ratio"].to_numpy().astype(np.float64)
    # a few jobs far past their request (SWF traces have some) would squeeze every other bar
    # into the first bin: the axis runs to the 99.5th percentile and the last bar holds the rest
    top = max(1.0, float(np.quantile(ratio, OVERFLOW_QUANTILE)))
    beyond = int((ratio > top).sum())
    width = max(0.02, top / 100)
    edges = np.arange(0.0, top + width, width)
    edges[-1] = max(edges[-1], float(ratio.max()))
    note = "1.0 = ran exactly its request"
    if beyond:
        note += f"; last bar: {beyond:,} jobs up to {float(ratio.max()):,.1f}×"
    is_completed = (both["state"] == "completed").to_numpy()
    is_timeout = (both["state"] == "timeout").to_numpy()
    masks = {
        "completed": is_completed,
        "timeout": is_timeout,
        "other end states": ~(is_completed | is_timeout),
    }
    fig = go.Figure()
    p.base_layout(fig, key, title, jobs=both.height, note=note)
    for name, mask in masks.items():
        if not mask.any():
            continue
        counts, _ = np.histogram(ratio[mask], bins=edges)
        fig.add_trace(
            go.Bar(
                x=np.arange(len(counts)) * width + width / 2,
                y=counts,
                width=width,
                name=f"{name} ({int(mask.sum()):,})",
                marker_color=p.state_colour(name),
            )
        )
    fig.update_layout(
        barmode="stack",
        xaxis={"title": {"text": "runtime / timelimit"}, "range": [0.0, len(edges) * width]},
        yaxis={"title": {"text": "jobs"}},
    )
    return fig


def _wait_unit(seconds: float) -> tuple[float, str]:
    return (3600.0, "h") if seconds >= 7200 else (60.0, "min") if seconds >= 120 else (1.0, "s")


def group_summary(
    prep: Prepared, title: str, by: str, tables: dict[str, pl.DataFrame] | None = None
) -> go.Figure:
    key = f"{by}_summary"
    rows = tables[by] if tables and by in tables else summary_table(prep, by)
    if rows.is_empty():
        return p.note_figure(
            key, title, f"the table has no {by} (SWF traces and some sources have none)"
        )
    shown = rows.head(TOP_GROUPS)
    note = f"{TOP_GROUPS} largest of {rows.height} by jobs" if rows.height > TOP_GROUPS else None
    hours = "node_hours" if shown["node_hours"].null_count() < shown.height else "cpu_hours"
    wait_max = float(shown["median_wait"].fill_null(0).max() or 0.0)  # type: ignore[arg-type]
    scale, unit = _wait_unit(wait_max)
    panels = ("jobs", hours.replace("_", "-"), f"median wait ({unit})")
    fig = make_subplots(rows=1, cols=3, subplot_titles=panels)
    p.base_layout(fig, key, title, jobs=int(rows["jobs"].sum()), note=note)
    groups = shown["group"].to_list()
    values = (shown["jobs"], shown[hours].fill_null(0.0), shown["median_wait"] / scale)
    for col, (series, colour) in enumerate(
        zip(values, ("#1f77b4", "#2ca02c", "#ff7f0e"), strict=True), 1
    ):
        texts = [
            duration_text(w) if w == w and w is not None else "—" for w in shown["median_wait"]
        ]
        fig.add_trace(
            go.Bar(
                x=groups,
                y=series.to_numpy(),
                marker_color=colour,
                name=panels[col - 1],
                hovertext=texts if col == 3 else None,
                showlegend=False,
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(type="category", row=1, col=col)
    return fig
