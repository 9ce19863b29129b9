"""What comparing two tables adds to the report: one y scale per chart pair and the Δ table.

Side by side, two charts with their own y scales invite reading a taller bar as a bigger number;
each pair gets the range that holds both (when their axes measure the same thing: equal titles,
or both percentages). The Δ table gives B − A (simulated − real, when B is a simulation of A)
per size class and per class of service (QoS, else partition): jobs, mean and 95th-percentile
wait, mean bounded slowdown (τ = 10 s, :mod:`hpcsched.sim.metrics`). Waits are ``start - submit``
in both tables, as every other view of the report counts them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any, Final

import plotly.graph_objects as go
import polars as pl

from hpcsched.analytics.derive import Prepared
from hpcsched.core.durations import duration_text
from hpcsched.sim.metrics import TAU

#: (column, header, kind) of each compared quantity of the Δ table.
DELTA_MEASURES: Final = (
    ("jobs", "jobs", "count"),
    ("mean_wait", "mean wait", "duration"),
    ("p95_wait", "p95 wait", "duration"),
    ("mean_bsld", f"mean bounded slowdown (τ = {TAU:.0f} s)", "ratio"),
)


def _y_axes(fig: go.Figure) -> list[str]:
    return sorted(k for k in fig.layout.to_plotly_json() if k.startswith("yaxis"))


def _axis_top(fig: go.Figure, axis: str) -> float | None:
    """The highest value drawn on a linear axis without a range (bars stacked when stacked)."""
    ref = "y" + axis.removeprefix("yaxis")
    tops: dict[Any, float] = {}
    highest = 0.0
    for trace in fig.data:
        if (getattr(trace, "yaxis", None) or "y") != ref:
            continue
        if trace.type not in ("scatter", "scattergl", "bar") or trace.y is None:
            return None  # categories, heatmap cells: no common height to give both
        values = [float(v) for v in trace.y if v is not None and not _nan(v)]
        if fig.layout.barmode == "stack" and trace.type == "bar":
            for x, v in zip(trace.x, values, strict=False):
                tops[x] = tops.get(x, 0.0) + max(v, 0.0)
        elif values:
            highest = max(highest, *values)
    return max([highest, *tops.values()]) if highest or tops else None


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _same_measure(a: Any, b: Any) -> bool:
    ta, tb = (str(x.title.text or "") for x in (a, b))
    return ta == tb or (ta.endswith("(%)") and tb.endswith("(%)"))


def share_y_axes(left: dict[str, go.Figure], right: dict[str, go.Figure]) -> list[str]:
    """Give each pair of charts (same key) one y range per axis, in place; the keys shared."""
    shared = []
    for key, a in left.items():
        b = right.get(key)
        if b is None or a.layout.meta.get("skipped") or b.layout.meta.get("skipped"):
            continue
        axes = [n for n in _y_axes(a) if n in _y_axes(b)]
        if [n for n in axes if _share_axis(a, b, n)]:
            for fig in (a, b):
                fig.layout.meta["shared_y"] = True
            shared.append(key)
    return shared


def _share_axis(a: go.Figure, b: go.Figure, name: str) -> bool:
    """Set axis ``name`` of both charts to the range that holds both; whether it was done."""
    ya, yb = a.layout[name], b.layout[name]
    if ya.type != yb.type or not _same_measure(ya, yb):
        return False
    if ya.range is not None and yb.range is not None:
        low, high = min(ya.range[0], yb.range[0]), max(ya.range[1], yb.range[1])
    elif ya.type in (None, "linear", "-"):
        tops = [t for t in (_axis_top(a, name), _axis_top(b, name)) if t is not None]
        if len(tops) < 2:
            return False
        low, high = 0.0, max(tops) * 1.05 or 1.0
    else:
        return False
    for fig in (a, b):
        fig.layout[name].range = [low, high]
        fig.layout[name].autorange = False
    return True


def delta_rows(a: Prepared, b: Prepared, by: str) -> pl.DataFrame:
    """Per group of ``by``: each measure of :data:`DELTA_MEASURES` in A, in B and B − A."""
    keys = [by, "size_order"] if by == "size_class" else [by]
    stats = [_measures(p.jobs, keys) for p in (a, b)]
    both = stats[0].join(stats[1], on=keys, how="full", suffix="_b", coalesce=True)
    both = both.sort("size_order" if by == "size_class" else by, nulls_last=True)
    names = [m for m, _, _ in DELTA_MEASURES]
    both = both.with_columns(pl.col("jobs", "jobs_b").fill_null(0))
    both = both.rename({m: f"{m}_a" for m in names})
    deltas = [(pl.col(f"{m}_b") - pl.col(f"{m}_a")).alias(f"{m}_delta") for m in names]
    both = both.with_columns(*deltas, pl.col(by).fill_null("unknown").alias("group"))
    return both.select("group", *(f"{m}_{s}" for m in names for s in ("a", "b", "delta")))


def _measures(jobs: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    waited = pl.col("wait") + pl.col("elapsed")
    bsld = pl.max_horizontal(pl.lit(1.0), waited / pl.max_horizontal(pl.col("elapsed"), TAU))
    return jobs.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("jobs"),
        pl.col("wait").mean().alias("mean_wait"),
        pl.col("wait").quantile(0.95, interpolation="linear").alias("p95_wait"),
        bsld.mean().alias("mean_bsld"),
    )


def service_class(prep: Prepared) -> str | None:
    """The column classes of service are read from: QoS, else partition, else None."""
    for column in ("qos", "partition"):
        if prep.jobs[column].null_count() < prep.jobs.height:
            return column
    return None


def _signed(value: float, kind: str) -> str:
    if kind == "duration":
        text = duration_text(abs(value))
    elif kind == "count":
        text = f"{abs(value):,.0f}"
    else:
        text = f"{abs(value):,.2f}"
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


def delta_cell(value: object, kind: str, delta: bool = False) -> str:
    """A Δ table cell: the value in its kind's units, signed when ``delta``; — when missing."""
    if value is None or _nan(value):
        return "—"
    number = float(value)  # type: ignore[arg-type]
    if delta:
        return _signed(number, kind)
    if kind == "duration":
        return duration_text(number)
    return f"{number:,.0f}" if kind == "count" else f"{number:,.2f}"


def delta_html(rows: pl.DataFrame, by: str, names: Sequence[str]) -> str:
    """The Δ table: a header per measure over its three columns (A, B, B − A)."""
    a, b = (html.escape(n) for n in names)
    top = "".join(
        f'<th colspan="3" class="measure">{html.escape(h)}</th>' for _, h, _ in DELTA_MEASURES
    )
    sub = f"<th>{a}</th><th>{b}</th><th>Δ</th>" * len(DELTA_MEASURES)
    body = "".join(
        f"<tr><td>{html.escape(str(row['group']))}</td>"
        + "".join(
            f"<td>{delta_cell(row[f'{m}_a'], k)}</td><td>{delta_cell(row[f'{m}_b'], k)}</td>"
            f'<td class="delta">{delta_cell(row[f"{m}_delta"], k, delta=True)}</td>'
            for m, _, k in DELTA_MEASURES
        )
        + "</tr>"
        for row in rows.iter_rows(named=True)
    )
    label = html.escape(by.replace("_", " "))
    return (
        f'<div class="table-wrap"><table class="delta-table" data-by="{html.escape(by)}">'
        f'<thead><tr><th rowspan="2">{label}</th>{top}</tr><tr>{sub}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def delta_section(a: Prepared, b: Prepared, names: Sequence[str]) -> str:
    """The Δ tables by size class and by class of service, with what Δ means."""
    note = (
        f'<p class="sub">Δ = {html.escape(names[1])} − {html.escape(names[0])}; waits are '
        "start − submit; jobs that never started have no wait.</p>"
    )
    parts = [note, delta_html(delta_rows(a, b, "size_class"), "size_class", names)]
    by = service_class(a) or service_class(b)
    if by is not None:
        parts.append(delta_html(delta_rows(a, b, by), by, names))
    return "".join(parts)
