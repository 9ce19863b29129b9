"""The charts of a job table, real or simulated: ``build_figures(table) -> {key: Figure}``.

The first four are the charts of the Frontier/Andes study (Borch, Maheshwari, Wozniak, Ferreira
da Silva, WISDOM 2025) done at any scale and without dropping jobs: its pipeline fixed the axes
by hand (most jobs fell outside) and dropped ``CANCELLED by <uid>`` jobs; here axes follow the
data and those jobs are ``cancelled`` like any other (the sacct reader maps them). The others
describe the system: utilisation, queue length, wait by job size, walltime accuracy and
partition/QoS summaries (:mod:`hpcsched.analytics.figures_system`).

Every key is always present (the dashboard relies on it): a chart the table cannot support
(no timelimits, no partitions in SWF, ...) says why in its title and body instead of being blank.
``fig.layout.meta`` carries ``key``, ``jobs``, ``note``, ``aggregated`` (and ``skipped``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import plotly.graph_objects as go
import polars as pl

from hpcsched.analytics import figures_system as system
from hpcsched.analytics import plotting as p
from hpcsched.analytics.derive import Prepared, prepare

FIGURE_TITLES: Final[dict[str, str]] = {
    "nodes_vs_elapsed": "Allocated size vs elapsed time",
    "wait_by_state": "Wait time by end state",
    "states_per_user": "End states per user",
    "walltime_req_vs_actual": "Requested vs actual walltime",
    "utilisation": "Utilisation over time",
    "queue_length": "Pending jobs over time",
    "wait_by_size": "Wait time by job size",
    "walltime_accuracy": "Walltime accuracy (runtime / timelimit)",
    "partition_summary": "Per-partition summary",
    "qos_summary": "Per-QoS summary",
}

#: Users shown by name in ``states_per_user``; the rest are summed as "others".
TOP_USERS = 15


def build_figures(
    table: pl.DataFrame | Prepared,
    *,
    capacity: float | None = None,
    summaries: dict[str, pl.DataFrame] | None = None,
) -> dict[str, go.Figure]:
    """Every chart of ``table`` keyed as :data:`FIGURE_TITLES` (same keys, same order).

    ``capacity`` is the machine size in processors (SWF's MaxProcs, ``simulate --procs``);
    with it utilisation is busy processors / capacity, without it the busy nodes (processors
    when the table has no node counts). ``summaries`` (:func:`~hpcsched.analytics.summaries.
    summaries` of the same table) saves computing the partition/QoS tables twice.
    """
    prep = prepare(table)
    tables = summaries or {}
    builders: dict[str, Callable[[Prepared, str], go.Figure]] = {
        "nodes_vs_elapsed": nodes_vs_elapsed,
        "wait_by_state": wait_by_state,
        "states_per_user": states_per_user,
        "walltime_req_vs_actual": walltime_req_vs_actual,
        "utilisation": lambda pr, title: system.utilisation(pr, title, capacity),
        "queue_length": system.queue_length,
        "wait_by_size": system.wait_by_size,
        "walltime_accuracy": system.walltime_accuracy,
        "partition_summary": lambda pr, t: system.group_summary(pr, t, "partition", tables),
        "qos_summary": lambda pr, t: system.group_summary(pr, t, "qos", tables),
    }
    out: dict[str, go.Figure] = {}
    for key, title in FIGURE_TITLES.items():
        fig = builders[key](prep, title)
        fig.layout.meta["key"] = key
        out[key] = fig
    return out


def nodes_vs_elapsed(prep: Prepared, title: str) -> go.Figure:
    key = "nodes_vs_elapsed"
    # select before filtering: a filter copies every column it is given (1M rows × 18 columns)
    known = pl.col("elapsed").is_not_null() & pl.col("size").is_not_null()
    ran = prep.jobs.select("elapsed", "size").filter(known)
    if ran.is_empty():
        return p.note_figure(key, title, "no job has both an elapsed time and a size")
    x = np.maximum(ran["elapsed"].to_numpy().astype(np.float64), 1.0)
    y = np.maximum(ran["size"].to_numpy().astype(np.float64), 1.0)
    fig = go.Figure()
    p.base_layout(fig, key, title, jobs=ran.height, note="elapsed < 1 s drawn at 1 s")
    if ran.height > p.MAX_POINTS:
        fig.add_trace(
            p.count_heatmap(x, y, p.log_edges(x, p.BINS), p.log_edges(y, p.BINS // 2), "jobs")
        )
        p.mark_aggregated(fig, ran.height)
    else:
        states = prep.jobs.lazy().filter(known).select("state").collect()["state"].to_numpy()
        for state in sorted(set(states.tolist())):
            mask = states == state
            fig.add_trace(
                go.Scattergl(
                    x=x[mask],
                    y=y[mask],
                    mode="markers",
                    name=f"{state} ({int(mask.sum()):,})",
                    marker={
                        "color": p.state_colour(state),
                        "size": p.marker_size(ran.height),
                        "opacity": 0.7,
                    },
                    hovertemplate="elapsed %{x:.0f} s<br>%{y} " + prep.size_unit,
                )
            )
    fig.update_layout(
        xaxis=p.duration_axis(p.log_range(x), "elapsed time (log)"),
        yaxis=p.size_axis(p.log_range(y), f"allocated {prep.size_unit} (log)"),
    )
    return fig


def _queue_times(prep: Prepared) -> pl.LazyFrame:
    """Time each job spent queued, grouped by end state.

    A job cancelled before it started never had a wait; its time in the queue (end - submit)
    is shown as its own group so that those jobs are counted instead of dropped."""
    never = (pl.col("state") == "cancelled") & pl.col("start").is_null()
    return (
        prep.jobs.lazy()
        .select(
            pl.when(never)
            .then(pl.lit("cancelled (never started)"))
            .otherwise("state")
            .alias("group"),
            pl.when(never).then(pl.col("end") - pl.col("submit")).otherwise("wait").alias("queued"),
        )
        .filter(pl.col("queued").is_not_null())
    )


def wait_by_state(prep: Prepared, title: str) -> go.Figure:
    key = "wait_by_state"
    # one query: the 1M queue times are grouped without being materialised first
    stats = p.box_stats(_queue_times(prep), "group", "queued")
    if stats.is_empty():
        return p.note_figure(key, title, "no job has both a submit and a start time")
    stats = stats.sort(["n", "group"], descending=[True, False])
    fig = go.Figure()
    queued = int(stats["n"].sum())
    p.base_layout(fig, key, title, jobs=queued, note="waits < 1 s drawn at 1 s; box = quartiles")
    for row in stats.iter_rows(named=True):
        name = f"{row['group']} ({row['n']:,})"
        fig.add_trace(p.box_trace(name, row, p.state_colour(row["group"])))
    values = np.array([stats["lo"].min(), stats["hi"].max()], dtype=np.float64)
    fig.update_layout(
        yaxis=p.duration_axis(p.log_range(values), "wait (log)"),
        xaxis={"title": {"text": "end state (jobs)"}},
        showlegend=False,
    )
    return fig


def states_per_user(prep: Prepared, title: str) -> go.Figure:
    key = "states_per_user"
    jobs = prep.jobs
    if jobs.is_empty():
        return p.note_figure(key, title, "the table has no jobs")
    # one pass over the jobs: (user, state) counts; the rest works on that small table
    per_user_state = jobs.group_by("user", "state").len()
    top = (
        per_user_state.group_by("user")
        .agg(pl.sum("len"))
        .sort(["len", "user"], descending=[True, False])
    )
    names = top["user"].head(TOP_USERS).to_list()
    bucket = pl.when(pl.col("user").is_in(names)).then("user").otherwise(pl.lit("others"))
    counts = per_user_state.group_by(bucket.alias("who"), "state").agg(pl.sum("len"))
    order = [*names, "others"] if top.height > TOP_USERS else names
    fig = go.Figure()
    note = f"top {TOP_USERS} of {top.height:,} users by jobs" if top.height > TOP_USERS else None
    p.base_layout(fig, key, title, jobs=jobs.height, note=note)
    totals = counts.group_by("state").agg(pl.sum("len"))
    # ties broken by name: without it equal totals came out in hash order, run to run
    for state in totals.sort(["len", "state"], descending=[True, False])["state"]:
        per = dict(counts.filter(pl.col("state") == state).select("who", "len").iter_rows())
        fig.add_trace(
            go.Bar(
                x=order,
                y=[per.get(u, 0) for u in order],
                name=state,
                marker_color=p.state_colour(state),
            )
        )
    fig.update_layout(
        barmode="stack",
        xaxis={"title": {"text": "user"}, "type": "category"},
        yaxis={"title": {"text": "jobs"}},
    )
    return fig


def walltime_req_vs_actual(prep: Prepared, title: str) -> go.Figure:
    key = "walltime_req_vs_actual"
    both = prep.jobs.select("timelimit", "elapsed", "backfilled").filter(
        pl.col("timelimit").is_not_null() & pl.col("elapsed").is_not_null()
    )
    if both.is_empty():
        return p.note_figure(key, title, "no job has both a timelimit and an elapsed time")
    unlimited = prep.jobs["timelimit"].null_count()
    x = np.maximum(both["timelimit"].to_numpy().astype(np.float64), 1.0)
    y = np.maximum(both["elapsed"].to_numpy().astype(np.float64), 1.0)
    back = both["backfilled"].fill_null(False).to_numpy().astype(bool)
    note = "backfilled jobs marked ✕" if both["backfilled"].null_count() < both.height else None
    if unlimited:
        note = f"{note + '; ' if note else ''}{unlimited:,} jobs without a timelimit not shown"
    fig = go.Figure()
    p.base_layout(fig, key, title, jobs=both.height, note=note)
    xr, yr = p.log_range(x), p.log_range(y)
    if both.height > p.MAX_POINTS:
        xe, ye = p.log_edges(x, p.BINS), p.log_edges(y, p.BINS)
        fig.add_trace(p.count_heatmap(x, y, xe, ye, "all jobs"))
        if back.any():  # backfilled jobs: one marker per occupied cell, sized by its count
            cells = p.counts_2d(x[back], y[back], xe, ye)
            rows, cols = np.nonzero(cells)
            n = cells[rows, cols]
            fig.add_trace(
                go.Scattergl(
                    x=np.sqrt(xe[cols] * xe[cols + 1]),
                    y=np.sqrt(ye[rows] * ye[rows + 1]),
                    customdata=n,
                    mode="markers",
                    name=f"backfilled ({int(back.sum()):,})",
                    marker={
                        "symbol": "x-thin-open",
                        "color": "#d62728",
                        "size": 3 + 2 * np.log10(n),
                        "opacity": 0.6,
                    },
                    hovertemplate="%{customdata:,} backfilled jobs<extra></extra>",
                )
            )
        p.mark_aggregated(fig, both.height)
        fig.update_layout(
            legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"}
        )
    else:
        size = p.marker_size(both.height)
        for mask, name, marker in (
            (~back, "not backfilled", {"color": "#1f77b4", "size": size, "opacity": 0.5}),
            (back, "backfilled", {"color": "#d62728", "size": size + 2, "symbol": "x"}),
        ):
            if mask.any():
                fig.add_trace(
                    go.Scattergl(
                        x=x[mask],
                        y=y[mask],
                        mode="markers",
                        name=f"{name} ({int(mask.sum()):,})",
                        marker=marker,
                        hovertemplate="limit %{x:.0f} s<br>ran %{y:.0f} s",
                    )
                )
    lo, hi = 10 ** min(xr[0], yr[0]), 10 ** max(xr[1], yr[1])
    fig.add_trace(
        go.Scattergl(
            x=[lo, hi],
            y=[lo, hi],
            mode="lines",
            name="ran = requested",
            line={"color": "#444", "dash": "dash", "width": 1},
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        xaxis=p.duration_axis(xr, "requested walltime (timelimit, log)"),
        yaxis=p.duration_axis(yr, "elapsed time (log)"),
    )
    return fig
