"""Plotly building blocks the charts share: data-driven axes, aggregation for big tables, notes.

Why these rules: the Frontier/Andes study (Borch et al., WISDOM 2025) fixed its axes by hand and
most jobs fell outside them. Here every range is read from the data (log axes for heavy-tailed
quantities such as run and wait times), up to :data:`MAX_POINTS` points are drawn as WebGL
markers, and above that the points are binned into a 2-D histogram drawn as a heatmap (the
datashader idea: render counts, not points), so a million jobs neither blanks the browser nor
bloats the page. Only ``graph_objects`` with NumPy arrays: Plotly Express and pandas are too slow.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from hpcsched.analytics.derive import FloatArray

#: Beyond this many points a scatter becomes a heatmap of counts.
MAX_POINTS = 100_000
#: Bins per axis of an aggregated scatter (the figure holds at most BINS² cells).
BINS = 120

STATE_COLOURS = {
    "completed": "#2ca02c",
    "failed": "#d62728",
    "timeout": "#ff7f0e",
    "cancelled": "#7f7f7f",
    "cancelled (never started)": "#c7c7c7",
    "out_of_memory": "#9467bd",
    "node_fail": "#8c564b",
    "preempted": "#e377c2",
    "boot_fail": "#bcbd22",
    "deadline": "#17becf",
    "running": "#1f77b4",
    "pending": "#aec7e8",
    "requeued": "#ffbb78",
    "suspended": "#98df8a",
    "refused": "#ff9896",
    "unknown": "#c5b0d5",
}

_DURATION_TICKS = {
    1: "1 s",
    10: "10 s",
    60: "1 min",
    600: "10 min",
    3600: "1 h",
    6 * 3600: "6 h",
    86400: "1 d",
    7 * 86400: "1 wk",
    30 * 86400: "30 d",
    365 * 86400: "1 yr",
}


def state_colour(state: str) -> str:
    return STATE_COLOURS.get(state, "#c5b0d5")


@functools.cache
def _white_template() -> go.layout.Template:
    """``plotly_white``, validated once (a validated copy: its keys in Plotly's schema order)."""
    return go.layout.Template(pio.templates["plotly_white"])


def _set_template(fig: go.Figure) -> None:
    """Give ``fig`` the ``plotly_white`` template without validating it again.

    Assigning a template validates every one of its ~1,000 properties: ~15 ms per chart, the
    largest cost of a report after the data. The template is validated once
    (:func:`_white_template`) and copied in with validation off, which is what Plotly itself
    does for the default template (``BaseFigure._initialize_layout_template``). The result is
    the same figure, byte for byte."""
    layout = fig.layout
    layout._validate = False
    try:
        layout.template = _white_template()
    finally:
        layout._validate = True


def base_layout(
    fig: go.Figure, key: str, title: str, *, jobs: int, note: str | None = None
) -> None:
    """Title, template and the metadata the report and the dashboard read (``layout.meta``)."""
    _set_template(fig)
    fig.update_layout(
        title={"text": title if not note else f"{title}<br><sup>{note}</sup>"},
        height=460,
        margin={"l": 70, "r": 30, "t": 80, "b": 60},
        legend={"orientation": "v"},
        meta={"key": key, "jobs": jobs, "note": note, "aggregated": False},
    )


def note_figure(key: str, title: str, note: str) -> go.Figure:
    """A chart that cannot be drawn from this table: the reason, in words, where it would be."""
    fig = go.Figure()
    base_layout(fig, key, title, jobs=0, note=note)
    fig.add_annotation(
        text=note, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 15}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.layout.meta["skipped"] = True
    return fig


def log_range(values: FloatArray, floor: float = 1.0) -> list[float]:
    """A log10 axis range holding every value (values below ``floor`` are drawn at it)."""
    lo = max(float(np.min(values)), floor) if len(values) else floor
    hi = max(float(np.max(values)), lo) if len(values) else floor * 10
    pad = 0.05 * max(math.log10(hi) - math.log10(lo), 1.0)
    return [math.log10(lo) - pad, math.log10(hi) + pad]


def linear_range(values: FloatArray, *, zero: bool = True) -> list[float]:
    lo = min(float(np.min(values)), 0.0) if zero else float(np.min(values))
    hi = float(np.max(values))
    pad = 0.04 * (hi - lo) if hi > lo else 1.0
    return [lo - (0.0 if zero and lo == 0 else pad), hi + pad]


def duration_axis(axis_range: list[float], title: str) -> dict[str, Any]:
    """A log axis of seconds labelled 1 s, 1 min, 1 h, 1 d ... within ``axis_range``."""
    lo, hi = 10 ** axis_range[0], 10 ** axis_range[1]
    ticks = [t for t in _DURATION_TICKS if lo <= t <= hi]
    axis: dict[str, Any] = {"type": "log", "range": axis_range, "title": {"text": title}}
    if len(ticks) >= 2:
        axis.update(tickvals=ticks, ticktext=[_DURATION_TICKS[t] for t in ticks])
    return axis


def size_axis(axis_range: list[float], title: str) -> dict[str, Any]:
    """A log axis of job sizes with power-of-two ticks (1, 2, 4, ... nodes)."""
    lo, hi = 10 ** axis_range[0], 10 ** axis_range[1]
    ticks = [2**k for k in range(40) if lo <= 2**k <= hi]
    step = max(1, len(ticks) // 10)
    axis: dict[str, Any] = {"type": "log", "range": axis_range, "title": {"text": title}}
    return axis | {"tickvals": ticks[::step]} if len(ticks) >= 2 else axis


def marker_size(points: int) -> float:
    """Markers shrink as points multiply, so a few jobs stay visible and many do not smear."""
    return 8.0 if points < 2_000 else 5.0 if points < 20_000 else 3.0


def log_edges(values: FloatArray, bins: int, floor: float = 1.0) -> FloatArray:
    lo, hi = log_range(values, floor)
    return np.asarray(np.logspace(lo, hi, bins + 1), dtype=np.float64)


def bin_index(values: FloatArray, edges: FloatArray) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Bin numbers of log-spaced ``edges`` by arithmetic (no search: 1M values in ~10 ms)."""
    lo, hi = math.log10(edges[0]), math.log10(edges[-1])
    n = len(edges) - 1
    idx = np.floor((np.log10(np.maximum(values, edges[0])) - lo) / (hi - lo) * n)
    return np.asarray(np.clip(idx, 0, n - 1), dtype=np.int64)


def counts_2d(x: FloatArray, y: FloatArray, xe: FloatArray, ye: FloatArray) -> FloatArray:
    """A 2-D histogram (rows = y bins) of points on log-spaced edges, via one ``bincount``."""
    nx, ny = len(xe) - 1, len(ye) - 1
    flat = bin_index(y, ye) * nx + bin_index(x, xe)
    return np.bincount(flat, minlength=nx * ny).reshape(ny, nx).astype(np.float64)


def count_heatmap(x: FloatArray, y: FloatArray, xe: FloatArray, ye: FloatArray, name: str) -> Any:
    """A heatmap of ``log10(count)`` per cell; empty cells are transparent."""
    counts = counts_2d(x, y, xe, ye)
    z = np.where(counts > 0, np.log10(np.maximum(counts, 1)), np.nan)
    top = max(1, math.ceil(float(np.nanmax(z)) if np.isfinite(z).any() else 0))
    ticks = list(range(top + 1))
    return go.Heatmap(
        x=xe,
        y=ye,
        z=z,
        customdata=counts,
        name=name,
        colorscale="Viridis",
        zmin=0,
        zmax=top,
        colorbar={
            "title": {"text": "jobs"},
            "tickvals": ticks,
            "ticktext": [f"{10**t:,}" for t in ticks],
        },
        hovertemplate="%{customdata:,} jobs<extra></extra>",
    )


def mark_aggregated(fig: go.Figure, points: int) -> None:
    fig.layout.meta["aggregated"] = True
    fig.layout.meta["points"] = points


def box_stats(
    frame: pl.DataFrame | pl.LazyFrame, group: str, value: str, floor: float = 1.0
) -> pl.DataFrame:
    """Per ``group``: n, min, quartiles, max and mean of ``value`` (below ``floor`` drawn at it).

    ``frame`` may be lazy: its rows are then grouped as they are computed, never stored."""
    v = pl.col(value).cast(pl.Float64).clip(lower_bound=floor)
    return (
        frame.lazy()
        .group_by(group)
        .agg(
            pl.len().alias("n"),
            v.min().alias("lo"),
            v.quantile(0.25, interpolation="linear").alias("q1"),
            v.median().alias("median"),
            v.quantile(0.75, interpolation="linear").alias("q3"),
            v.max().alias("hi"),
            v.mean().alias("mean"),
        )
        .collect()
    )


def box_trace(name: str, stats: dict[str, Any], colour: str) -> go.Box:
    """A box plot from precomputed quartiles: whiskers at min and max, so the axis holds all.

    Precomputed statistics keep the page small whatever the number of jobs (Plotly would
    otherwise embed every value of every box)."""
    return go.Box(
        name=name,
        x=[name],
        q1=[stats["q1"]],
        median=[stats["median"]],
        q3=[stats["q3"]],
        lowerfence=[stats["lo"]],
        upperfence=[stats["hi"]],
        mean=[stats["mean"]],
        marker_color=colour,
        boxpoints=False,
        hoverinfo="y+name",
    )
