"""The facts behind each chart, for a narrator: numbers from the data the chart is drawn from.

Never from pixels: each function computes, from the prepared table, what its chart shows — the
same selections and helpers as :mod:`~hpcsched.analytics.figures` (``box_stats``, the
time-averaged series, the summary tables) — as :class:`~hpcsched.llm.grounding.Fact` values in
base units (seconds, shares 0–1, counts), each with how the report prints it. Waits here are not
floored at 1 s as the log axes draw them. ``names`` are what a sentence may name (states, users,
groups, size classes, dates); a chart the table cannot support has no facts and is not narrated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import polars as pl

from hpcsched.analytics import figures_system as system
from hpcsched.analytics import plotting as p
from hpcsched.analytics.busy import busy, horizon
from hpcsched.analytics.derive import Prepared, class_name, step_mean
from hpcsched.analytics.figures import FIGURE_TITLES, TOP_USERS, _queue_times
from hpcsched.analytics.insights import pct
from hpcsched.analytics.summaries import summary_table
from hpcsched.core.durations import duration_text
from hpcsched.llm.grounding import Fact

#: Groups (states, users, partitions, size classes) given one by one; the rest only in totals.
TOP_GROUPS: Final = 6


@dataclass
class ChartFacts:
    key: str
    title: str
    facts: dict[str, Fact] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  #: what a number can be about

    def add(self, key: str, value: Any, unit: str, label: str, subject: str | None = None) -> None:
        """A fact (None and NaN are left out: the data does not say); ``subject``: the group
        it is about, which a sentence quoting it must name."""
        if value is None or value != value:
            return
        v = float(value)  # Polars gives int, float or Decimal
        self.facts[key] = Fact(key, v, unit, label, _shown(v, unit), subject, stat_of(key))


def stat_of(key: str) -> str | None:
    """The statistic a fact key names, by the keys' conventions here (``p75_wait``,
    ``completed.median_wait``, ``first_half_mean``, ``peak``)."""
    name = key.rsplit(".", 1)[-1]
    for stat in ("first_half", "second_half", "median", "mean", "p25", "p75", "p95", "max",
                 "peak", "lowest"):  # fmt: skip
        if name.startswith(stat):
            return stat
    return None


def _shown(value: float, unit: str) -> str:
    if unit == "seconds":
        return duration_text(value)
    if unit == "share":
        return pct(value)
    if unit in ("count", "year"):
        return f"{value:,.0f}"
    if unit == "ratio":
        return f"{value:,.2f}×"
    if unit == "days":
        return f"{value:,.1f} days"
    return f"{value:,.2f}"


def slug(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower() or "none"


def user_label(user: str) -> str:
    """A user as a sentence names it: SWF user ids are numbers, so they read ``user 12``."""
    return f"user {user}" if user.isdigit() else user


#: The views a narrator is asked about: the overall summary, then every chart.
VIEWS: Final = {"summary": "Summary of the whole table", **FIGURE_TITLES}


def chart_facts(prep: Prepared, key: str, capacity: float | None = None) -> ChartFacts:
    """The facts of view ``key`` (``summary`` or a key of :data:`FIGURE_TITLES`)."""
    out = ChartFacts(key, VIEWS[key])
    _BUILDERS[key](prep, out, capacity)
    out.names = sorted({*out.names, *table_names(prep)})
    out.groups = sorted({*_states(prep), *(f.subject for f in out.facts.values() if f.subject)})
    return out


def _states(prep: Prepared) -> list[str]:
    return [s for s in prep.jobs["state"].unique().to_list() if s]


def paired(a: ChartFacts, b: ChartFacts) -> ChartFacts:
    """The facts of one view of two tables: ``A.`` and ``B.`` keys, and ``ratio.`` (B / A) for
    the durations, counts and amounts both have (not for shares: "2× the share" misleads)."""
    out = ChartFacts(
        a.key, a.title, names=sorted({*a.names, *b.names}), groups=sorted({*a.groups, *b.groups})
    )
    keys = [*a.facts, *(k for k in b.facts if k not in a.facts)]
    for key in keys:  # A, B and their ratio side by side, in the views' order
        for prefix, side in (("A", a), ("B", b)):
            f = side.facts.get(key)
            if f is not None:
                out.facts[f"{prefix}.{key}"] = Fact(
                    f"{prefix}.{key}", f.value, f.unit, f"{prefix}: {f.label}", f.shown,
                    f.subject, f.stat,
                )  # fmt: skip
        fa, fb = a.facts.get(key), b.facts.get(key)
        if fa and fb and fa.unit in ("seconds", "count", "number") and fa.value > 0:
            out.add(f"ratio.{key}", fb.value / fa.value, "ratio", f"B / A: {fa.label}", fa.subject)
    return out


def table_names(prep: Prepared) -> list[str]:
    """States and the size unit: names any sentence about this table may use."""
    states = prep.jobs["state"].unique().to_list()
    return [*(s for s in states if s), prep.size_unit, prep.size_unit.rstrip("s")]


def _quantiles(out: ChartFacts, frame: pl.DataFrame, column: str, what: str, unit: str) -> None:
    col = pl.col(column).cast(pl.Float64)
    row = frame.select(
        col.quantile(0.25, interpolation="linear").alias("p25"),
        col.median().alias("median"),
        col.quantile(0.75, interpolation="linear").alias("p75"),
        col.quantile(0.95, interpolation="linear").alias("p95"),
        col.max().alias("max"),
    ).row(0, named=True)
    for stat, value in row.items():
        out.add(f"{stat}_{column}", value, unit, f"{stat} {what}")


def _spearman(out: ChartFacts, frame: pl.DataFrame, a: str, b: str, what: str) -> None:
    if frame.height >= 3:
        rho = frame.select(pl.corr(a, b, method="spearman")).item()
        out.add(f"spearman_{a}_{b}", rho, "correlation", f"Spearman rank correlation of {what}")


def _state_counts(out: ChartFacts, states: pl.Series) -> None:
    counts = states.value_counts(sort=True, name="n").sort(["n", "state"], descending=[True, False])
    total = len(states)
    for state, n in counts.head(TOP_GROUPS).iter_rows():
        out.add(f"{slug(state)}.jobs", n, "count", f"jobs that ended {state}", state)
        out.add(
            f"{slug(state)}.share", n / total, "share", f"share of jobs that ended {state}", state
        )
        out.names.append(state)
    out.add("states", counts.height, "count", "distinct end states")


def nodes_vs_elapsed(prep: Prepared, out: ChartFacts, capacity: float | None) -> None:
    known = pl.col("elapsed").is_not_null() & pl.col("size").is_not_null()
    ran = prep.jobs.select("elapsed", "size", "state").filter(known)
    if ran.is_empty():
        return
    out.add("jobs", ran.height, "count", "jobs with an elapsed time and a size")
    _quantiles(out, ran, "elapsed", "elapsed time", "seconds")
    _quantiles(out, ran, "size", f"allocated {prep.size_unit}", "count")
    _spearman(out, ran, "size", "elapsed", f"allocated {prep.size_unit} and elapsed time")
    _state_counts(out, ran["state"])


def wait_by_state(prep: Prepared, out: ChartFacts, capacity: float | None) -> None:
    stats = p.box_stats(_queue_times(prep), "group", "queued", floor=0.0)
    if stats.is_empty():
        return
    stats = stats.sort(["n", "group"], descending=[True, False])
    out.add("jobs", stats["n"].sum(), "count", "jobs with a time in the queue")
    out.add("groups", stats.height, "count", "end-state groups")
    for row in stats.head(TOP_GROUPS).iter_rows(named=True):
        g, s = row["group"], slug(row["group"])
        out.names.append(g)
        out.add(f"{s}.jobs", row["n"], "count", f"{g} jobs", g)
        out.add(f"{s}.median_wait", row["median"], "seconds", f"median wait of {g} jobs", g)
        out.add(f"{s}.p25_wait", row["q1"], "seconds", f"25th percentile wait of {g} jobs", g)
        out.add(f"{s}.p75_wait", row["q3"], "seconds", f"75th percentile wait of {g} jobs", g)
        out.add(f"{s}.max_wait", row["hi"], "seconds", f"longest wait of {g} jobs", g)


def states_per_user(prep: Prepared, out: ChartFacts, capacity: float | None) -> None:
    jobs = prep.jobs
    if jobs.is_empty():
        return
    per_user = (
        jobs.group_by("user").len().sort(["len", "user"], descending=[True, False])
    )  # the chart's order
    out.add("jobs", jobs.height, "count", "jobs")
    out.add("users", per_user.height, "count", "users")
    shown = per_user.head(TOP_USERS)
    out.add("top_users_shown", shown.height, "count", "users drawn by name")
    out.add("top_users_share", shown["len"].sum() / jobs.height, "share", "share of jobs of them")
    for rank, (user, n) in enumerate(per_user.head(TOP_GROUPS).iter_rows(), 1):
        name = user_label(user)
        out.names.append(name)
        out.add(f"user_{rank}.jobs", n, "count", f"jobs of {name} (rank {rank})", name)
        out.add(
            f"user_{rank}.share", n / jobs.height, "share", f"share of all jobs of {name}", name
        )
        done = jobs.filter((pl.col("user") == user) & (pl.col("state") == "completed")).height
        out.add(
            f"user_{rank}.completed_share", done / n, "share", f"share of {name}'s completed", name
        )
    _state_counts(out, jobs["state"])


def walltime_req_vs_actual(prep: Prepared, out: ChartFacts, capacity: float | None) -> None:
    both = prep.jobs.select("timelimit", "elapsed", "backfilled").filter(
        pl.col("timelimit").is_not_null() & pl.col("elapsed").is_not_null()
    )
    if both.is_empty():
        return
    out.add("jobs", both.height, "count", "jobs with a timelimit and an elapsed time")
    out.add("no_timelimit", prep.jobs["timelimit"].null_count(), "count", "jobs without a limit")
    out.add("median_timelimit", both["timelimit"].median(), "seconds", "median requested time")
    out.add("median_elapsed", both["elapsed"].median(), "seconds", "median elapsed time")
    ratio = both["elapsed"] / both["timelimit"]
    limited = ratio.filter(both["timelimit"] > 0)
    if len(limited):
        out.add("under_quarter_share", (limited < 0.25).mean(), "share",
                "share that ran under a quarter of the request")  # fmt: skip
        out.add("over_limit_share", (limited > 1.0).mean(), "share",
                "share that ran longer than the request")  # fmt: skip
    _spearman(out, both, "timelimit", "elapsed", "requested and elapsed time")
    flags = both["backfilled"].drop_nulls()
    if len(flags):
        out.add("backfilled", flags.sum(), "count", "backfilled jobs")
        out.add("backfilled_share", flags.mean(), "share", "share backfilled")


def _time_series(
    prep: Prepared, out: ChartFacts, values: np.ndarray, edges: np.ndarray, what: str, unit: str
) -> None:
    half = len(values) // 2
    out.add("mean", float(values.mean()), unit, f"time-average {what}")
    out.add("peak", float(values.max()), unit, f"highest {what} in one of {len(values)} bins")
    out.add("lowest", float(values.min()), unit, f"lowest {what} in one bin")
    out.add("first_half_mean", float(values[:half].mean()), unit, f"{what}, first half of the span")
    out.add("second_half_mean", float(values[half:].mean()), unit, f"{what}, second half")
    out.add("span", float(edges[-1] - edges[0]), "seconds", "time span covered")
    at = float((edges[int(np.argmax(values))] + edges[int(np.argmax(values)) + 1]) / 2)
    if prep.epoch:
        first, peak, last = (
            datetime.fromtimestamp(t, UTC).date() for t in (edges[0], at, edges[-1])
        )
        out.names += [first.isoformat(), peak.isoformat(), last.isoformat()]
        out.add("first_year", first.year, "year", "year of the first submit")
        out.add("last_year", last.year, "year", "year of the last event")
    else:
        out.add("peak_day", (at - prep.origin) / 86400, "days", "days from the start to the peak")
        out.add("span_days", (edges[-1] - edges[0]) / 86400, "days", "days covered")


def utilisation(prep: Prepared, out: ChartFacts, capacity: float | None) -> None:
    use = busy(prep, capacity)
    if use is None:
        return
    edges = np.linspace(*horizon(prep.jobs), system.TIME_BINS + 1)
    level = step_mean(use.on, use.off, use.weight, edges)
    out.add("jobs", use.jobs, "count", "jobs that started")
    if use.machine:
        what = f"machine size in {use.unit}" + (f" ({use.basis})" if use.distinct else "")
        out.add("capacity", use.machine, "count", what)
        _time_series(prep, out, level / use.machine, edges, "utilisation", "share")
    else:
        _time_series(prep, out, level, edges, f"busy {use.unit}", "number")


def queue_length(prep: Prepared, out: ChartFacts, capacity: float | None) -> None:
    jobs = prep.jobs.select("submit", "start", "end").filter(pl.col("submit").is_not_null())
    if jobs.is_empty():
        return
    off = pl.coalesce(pl.col("start"), pl.col("end"))
    edges, pending = system._series(jobs, "submit", off, pl.lit(1.0))
    out.add("jobs", jobs.height, "count", "jobs submitted")
    _time_series(prep, out, pending, edges, "pending jobs", "number")


def wait_by_size(prep: Prepared, out: ChartFacts, capacity: float | None) -> None:
    started = prep.jobs.filter(pl.col("wait").is_not_null() & pl.col("size_order").is_not_null())
    if started.is_empty():
        return
    stats = p.box_stats(started.select("size_order", "wait"), "size_order", "wait", floor=0.0)
    stats = stats.sort("size_order")
    out.add("jobs", started.height, "count", "started jobs with a size")
    out.add("classes", stats.height, "count", "size classes")
    busiest = set(stats.sort("n", descending=True).head(TOP_GROUPS)["size_order"].to_list())
    for row in stats.iter_rows(named=True):
        k = row["size_order"]
        if k not in busiest and k not in (stats["size_order"][0], stats["size_order"][-1]):
            continue
        unit = prep.size_unit if class_name(k) != "1" else prep.size_unit.rstrip("s")
        name = f"{class_name(k)} {unit}"
        out.names.append(name)
        out.add(f"class_{k}.jobs", row["n"], "count", f"jobs of {name}", name)
        out.add(
            f"class_{k}.median_wait", row["median"], "seconds", f"median wait, jobs of {name}", name
        )
        out.add(
            f"class_{k}.p75_wait", row["q3"], "seconds", f"75th percentile wait of {name}", name
        )
    _spearman(out, started, "size", "wait", "job size and wait")


def walltime_accuracy(prep: Prepared, out: ChartFacts, capacity: float | None) -> None:
    both = prep.jobs.filter((pl.col("timelimit") > 0) & pl.col("elapsed").is_not_null()).select(
        (pl.col("elapsed") / pl.col("timelimit")).alias("ratio"), "state"
    )
    if both.is_empty():
        return
    ratio = both["ratio"]
    out.add("jobs", both.height, "count", "jobs with a timelimit and an elapsed time")
    for q, name in ((0.25, "p25"), (0.5, "median"), (0.75, "p75")):
        value = ratio.quantile(q, interpolation="linear")
        out.add(f"{name}_ratio", value, "share", f"{name} runtime / timelimit")
    out.add("max_ratio", ratio.max(), "ratio", "largest runtime / timelimit")
    out.add("under_quarter_share", (ratio < 0.25).mean(), "share",
            "share that used under a quarter of the request")  # fmt: skip
    out.add("over_limit_share", (ratio > 1.0).mean(), "share", "share past the request")
    for state in ("completed", "timeout"):
        out.add(
            f"{state}.jobs", int((both["state"] == state).sum()), "count", f"{state} jobs", state
        )
    other = int((~both["state"].is_in(["completed", "timeout"])).sum())
    out.add("other_states.jobs", other, "count", "jobs in other end states")


def _group_summary(by: str) -> Callable[[Prepared, ChartFacts, float | None], None]:
    def build(prep: Prepared, out: ChartFacts, capacity: float | None) -> None:
        rows = summary_table(prep, by)
        if rows.is_empty():
            return
        total = int(rows["jobs"].sum())
        out.add("groups", rows.height, "count", f"{by} values")
        out.add("jobs", total, "count", "jobs")
        hours = "node_hours" if rows["node_hours"].null_count() < rows.height else "cpu_hours"
        for rank, row in enumerate(rows.head(TOP_GROUPS).iter_rows(named=True), 1):
            g = str(row["group"])
            out.names.append(g)
            out.add(f"{by}_{rank}.jobs", row["jobs"], "count", f"jobs in {by} {g}", g)
            out.add(f"{by}_{rank}.share", row["jobs"] / total, "share", f"share of jobs in {g}", g)
            out.add(
                f"{by}_{rank}.median_wait", row["median_wait"], "seconds", f"median wait, {g}", g
            )
            out.add(
                f"{by}_{rank}.{hours}", row[hours], "number", f"{hours.replace('_', '-')}, {g}", g
            )

    return build


def summary(prep: Prepared, out: ChartFacts, capacity: float | None) -> None:
    """The report's overall summary row (:func:`~hpcsched.analytics.summaries.summary_table`)."""
    jobs = prep.jobs
    if jobs.is_empty():
        return
    row = summary_table(prep, "overall").row(0, named=True)
    out.add("jobs", row["jobs"], "count", "jobs")
    out.add("users", jobs["user"].n_unique(), "count", "users")
    out.add("started", jobs["wait"].count(), "count", "jobs that started")
    for stat in ("median_wait", "mean_wait", "p95_wait", "median_runtime"):
        out.add(stat, row[stat], "seconds", stat.replace("_", " "))
    for stat in ("node_hours", "cpu_hours"):
        out.add(stat, row[stat], "number", stat.replace("_", "-"))
    out.add("backfilled_share", row["backfilled_share"], "share", "share of jobs backfilled")
    out.add("walltime_accuracy", row["walltime_accuracy"], "share", "median runtime / timelimit")
    if capacity:
        out.add("capacity", capacity, "count", "machine size in processors")


_BUILDERS: Final[dict[str, Callable[[Prepared, ChartFacts, float | None], None]]] = {
    "summary": summary,
    "nodes_vs_elapsed": nodes_vs_elapsed,
    "wait_by_state": wait_by_state,
    "states_per_user": states_per_user,
    "walltime_req_vs_actual": walltime_req_vs_actual,
    "utilisation": utilisation,
    "queue_length": queue_length,
    "wait_by_size": wait_by_size,
    "walltime_accuracy": walltime_accuracy,
    "partition_summary": _group_summary("partition"),
    "qos_summary": _group_summary("qos"),
}
