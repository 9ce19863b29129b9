"""Deterministic plain-language insights: one sentence each, every number computed from the data.

They are data (:class:`Insight`: a stable ``key``, the ``text`` and the ``numbers`` it quotes, raw:
seconds, fractions, counts) so that a report can list them, a test can recompute them and an LLM
narrator can later be fed them without being asked to do arithmetic. An insight the table cannot
support (no timelimits, no backfill flags, no machine size) is left out, never guessed.

What they look at follows the Frontier/Andes study (Borch et al., WISDOM 2025) and the classic
workload questions: walltime overestimation (Tsafrir, Etsion & Feitelson 2007), cancelled jobs
including ``CANCELLED by <uid>``, failures by user and partition, timeouts, wait by job size,
backfilling's effect on wait, utilisation. Comparisons use :mod:`hpcsched.sim.metrics` (bounded
slowdown with τ = 10 s, utilisation), the same numbers ``hpcsched simulate`` prints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np
import polars as pl

from hpcsched.analytics.busy import area, busy
from hpcsched.analytics.busy import peak as peak_of
from hpcsched.analytics.derive import Prepared, class_name, prepare
from hpcsched.core.durations import duration_text
from hpcsched.sim.metrics import summarize

#: End states counted as failures (timeouts are reported on their own).
FAILURE_STATES: Final = ("failed", "out_of_memory", "node_fail", "boot_fail")
#: A size class needs this many started jobs to be compared in ``wait_by_size``.
MIN_CLASS_JOBS: Final = 5
#: Users or partitions named in a "top failing" sentence.
TOP_FAILING: Final = 3
#: The columns :func:`hpcsched.sim.metrics.summarize` reads.
_METRICS_COLUMNS: Final = ("user", "submit", "start", "end", "cpus", "backfilled", "priority_class")


@dataclass(frozen=True)
class Insight:
    """One sentence and the numbers it quotes (raw values: seconds, fractions, counts)."""

    key: str
    text: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pct(share: float) -> str:
    """A share as a percentage: one decimal below 10%, none above (0.4%, 7.5%, 41%)."""
    return f"{share:.1%}" if share < 0.1 else f"{share:.0%}"


def insights(table: pl.DataFrame | Prepared, *, capacity: float | None = None) -> list[Insight]:
    """Every insight the table supports, in a fixed order. ``capacity``: machine processors."""
    prep = table if isinstance(table, Prepared) else prepare(table)
    jobs = prep.jobs
    if jobs.is_empty():
        return [Insight("overview", "The table has no jobs.", {"jobs": 0})]
    found = [
        _overview(jobs),
        _waits(jobs),
        _walltime(jobs),
        _backfill(jobs),
        _cancelled(jobs),
        _timeouts(jobs, prep.size_unit),
        _failing(jobs, "user"),
        _failing(jobs, "partition"),
        _wait_by_size(jobs, prep.size_unit),
        _utilisation(prep, capacity),
    ]
    return [i for i in found if i is not None]


def _overview(jobs: pl.DataFrame) -> Insight:
    n = jobs.height
    users, first, last, completed = jobs.select(  # one query: polars runs the four at once
        pl.col("user").n_unique(),
        pl.col("submit").min().alias("first"),
        pl.col("submit").max().alias("last"),
        (pl.col("state") == "completed").sum().cast(pl.Int64).alias("completed"),
    ).row(0)
    span = float(last - first) if first is not None else 0.0
    text = (
        f"{n:,} jobs from {users:,} users were submitted over {duration_text(span)}; "
        f"{completed:,} ({pct(completed / n)}) completed."
    )
    numbers = {"jobs": n, "users": users, "submit_span": span, "completed": completed}
    return Insight("overview", text, {**numbers, "completed_share": completed / n})


def _waits(jobs: pl.DataFrame) -> Insight | None:
    wait = pl.col("wait")
    started, median, mean, p95 = jobs.select(  # nulls (never started) are left out by each
        wait.count().alias("started"),
        wait.median().alias("median"),
        wait.mean().alias("mean"),
        wait.quantile(0.95, interpolation="linear").alias("p95"),
    ).row(0)
    if not started:
        return None
    median, mean, p95 = float(median), float(mean), float(p95)
    text = (
        f"Of {started:,} started jobs the median wait was {duration_text(median)}, the mean "
        f"{duration_text(mean)} and the 95th percentile {duration_text(p95)}."
    )
    numbers = {"started": started, "median_wait": median, "mean_wait": mean, "p95_wait": p95}
    return Insight("wait", text, numbers)


def _walltime(jobs: pl.DataFrame) -> Insight | None:
    ratio = pl.col("elapsed") / pl.col("timelimit")
    done, under, median = (
        jobs.lazy()
        .filter(
            (pl.col("state") == "completed")
            & (pl.col("timelimit") > 0)
            & pl.col("elapsed").is_not_null()
        )
        .select(pl.len(), (ratio < 0.25).mean().alias("under"), ratio.median().alias("median"))
        .collect()
        .row(0)
    )
    if not done:
        return None
    under, median = float(under), float(median)
    text = (
        f"{pct(under)} of {done:,} completed jobs used under a quarter of their walltime "
        f"request; the median completed job used {pct(median)} of it."
    )
    numbers = {"completed_with_limit": done, "under_quarter_share": under}
    return Insight("walltime_overestimate", text, {**numbers, "median_ratio": median})


def _backfill(jobs: pl.DataFrame) -> Insight | None:
    wait, flag = pl.col("wait"), pl.col("backfilled")
    started, back, wb, wr = (
        jobs.lazy()
        .filter(wait.is_not_null() & flag.is_not_null())
        .select(
            pl.len(),
            flag.sum().cast(pl.Int64).alias("back"),
            wait.filter(flag).median().alias("wb"),
            wait.filter(~flag).median().alias("wr"),
        )
        .collect()
        .row(0)
    )
    if back == 0 or back == started:
        return None
    wb, wr = float(wb), float(wr)
    share = back / started
    text = (
        f"{pct(share)} of started jobs were backfilled; backfilled jobs waited a median "
        f"{duration_text(wb)} vs {duration_text(wr)} for the others."
    )
    numbers = {"backfilled": back, "backfilled_share": share}
    return Insight(
        "backfill", text, {**numbers, "median_wait_backfilled": wb, "median_wait_other": wr}
    )


def _cancelled(jobs: pl.DataFrame) -> Insight | None:
    n, by_user, never = (
        jobs.lazy()
        .filter(pl.col("state") == "cancelled")
        .select(
            pl.len(),
            pl.col("cancelled_by_user").sum().cast(pl.Int64),
            pl.col("start").is_null().sum().cast(pl.Int64).alias("never"),
        )
        .collect()
        .row(0)
    )
    if not n:
        return None
    share = n / jobs.height
    text = (
        f"{pct(share)} of jobs ({n:,}) {_were(n)} cancelled, "
        f"{by_user:,} of them by a user (CANCELLED by <uid>) and {never:,} before they started."
    )
    numbers = {"cancelled": n, "cancelled_share": share}
    return Insight(
        "cancelled", text, {**numbers, "cancelled_by_user": by_user, "never_started": never}
    )


def _were(n: int) -> str:
    return "was" if n == 1 else "were"


def _node_hours(frame: pl.DataFrame) -> float:
    return float((frame["size"].cast(pl.Float64) * frame["elapsed"]).sum()) / 3600.0


def _hours_text(hours: float) -> str:
    return f"{hours:,.0f}" if hours >= 10 else f"{hours:.2g}"


def _timeouts(jobs: pl.DataFrame, unit: str) -> Insight | None:
    timed = jobs.select("state", "size", "elapsed").filter(pl.col("state") == "timeout")
    if timed.is_empty():
        return None
    share = timed.height / jobs.height
    hours, total = _node_hours(timed), _node_hours(jobs)
    used = hours / total if total > 0 else 0.0
    text = (
        f"{timed.height:,} {'job' if timed.height == 1 else 'jobs'} ({pct(share)}) hit the "
        f"timelimit, using {_hours_text(hours)} {unit[:-1]}-hours ({pct(used)} of all)."
    )
    numbers = {"timeouts": timed.height, "timeout_share": share, "size_hours": hours}
    return Insight("timeouts", text, {**numbers, "size_hours_share": used})


def _failing(jobs: pl.DataFrame, by: str) -> Insight | None:
    if jobs[by].null_count() == jobs.height:
        return None
    failed = pl.col("state").is_in(FAILURE_STATES)
    per = (
        jobs.lazy()
        .filter(pl.col(by).is_not_null())
        .group_by(by)
        .agg(failed.sum().alias("failed"), pl.len().alias("jobs"))
        .filter(pl.col("failed") > 0)
        .sort(["failed", by], descending=[True, False])
        .head(TOP_FAILING)
        .collect()
    )
    if per.is_empty():
        return None
    parts = [
        f"{by} {name}: {n:,} ({pct(n / total)} of its jobs)" for name, n, total in per.iter_rows()
    ]
    total_failed = int(jobs.select(failed.sum()).item())
    text = (
        f"Most failures (failed, out of memory, node or boot failure; {total_failed:,} in all) "
        f"came from {'; '.join(parts)}."
    )
    top = [{by: name, "failed": n, "jobs": total} for name, n, total in per.iter_rows()]
    return Insight(f"failing_{by}", text, {"failed": total_failed, "top": top})


def _wait_by_size(jobs: pl.DataFrame, unit: str) -> Insight | None:
    per = (
        jobs.lazy()
        .filter(pl.col("wait").is_not_null() & pl.col("size_order").is_not_null())
        .group_by("size_order")  # size_class is a function of size_order: no string key
        .agg(pl.len().alias("jobs"), pl.col("wait").median().alias("median_wait"))
        .filter(pl.col("jobs") >= MIN_CLASS_JOBS)
        .sort("size_order")
        .collect()
    )
    if per.height < 2:
        return None
    small, large = per.row(0, named=True), per.row(-1, named=True)
    for row in (small, large):  # the label derive.size_class_label gives this order
        row["size_class"] = class_name(row["size_order"])
    big, little = (
        f"{r['size_class']} {unit[:-1] if r['size_class'] == '1' else unit}" for r in (large, small)
    )
    text = (
        f"Jobs of {big} waited a median {duration_text(large['median_wait'])} vs "
        f"{duration_text(small['median_wait'])} for jobs of {little}."
    )
    numbers = {
        "small_class": small["size_class"],
        "small_median_wait": small["median_wait"],
        "large_class": large["size_class"],
        "large_median_wait": large["median_wait"],
    }
    return Insight("wait_by_size", text, numbers)


def busy_profile(jobs: pl.DataFrame, column: str) -> tuple[float, float, float]:
    """(mean busy, peak busy, span): ``column`` units in use from the first submit to the last end.

    The span and the mean are :func:`hpcsched.sim.metrics.summarize`'s (jobs that ran, from their
    first submit to their last end), so mean / capacity is its utilisation. The peak is reached
    at a start: the starts up to it minus the ends up to and including its time (ends are
    applied first, so back-to-back jobs make no false peak).

    The counts are whole numbers, so the running sums are exact in float64 and the peak does
    not depend on how jobs starting (or ending) at the same second are ordered: NumPy's
    ``argsort`` (~2× faster than sorting a two-column frame) gives the same peak."""
    ran = jobs.select("submit", "start", "end", column).filter(
        pl.col("start").is_not_null() & pl.col("end").is_not_null() & pl.col(column).is_not_null()
    )
    if ran.is_empty():
        return 0.0, 0.0, 0.0
    first, last = ran.select(pl.col("submit").min(), pl.col("end").max()).row(0)
    span = float(last - first)
    start, end = ran["start"].to_numpy(), ran["end"].to_numpy()
    weight = ran[column].cast(pl.Float64).to_numpy()
    by_start, by_end = np.argsort(start), np.argsort(end)
    started = np.cumsum(weight[by_start])
    ended = np.concatenate([[0.0], np.cumsum(weight[by_end])])
    done = ended[np.searchsorted(end[by_end], start[by_start], "right")]
    peak = float(np.max(started - done))
    area = float(ran.select((pl.col(column) * (pl.col("end") - pl.col("start"))).sum()).item())
    return (area / span if span > 0 else 0.0), peak, span


def _utilisation(prep: Prepared, capacity: float | None) -> Insight | None:
    jobs, unit = prep.jobs, prep.size_unit
    column = "cpus" if capacity else "size"
    mean, peak, span = busy_profile(jobs, column)
    if span <= 0:
        return None
    if capacity:
        # only the columns summarize reads: its filter then copies 7 columns, not 18
        used = float(summarize(jobs.select(_METRICS_COLUMNS), capacity)["utilization"])
        text = (
            f"Average utilisation was {pct(used)} of {capacity:,.0f} processors over "
            f"{duration_text(span)} (peak {pct(peak / capacity)})."
        )
        numbers = {"utilisation": used, "peak": peak / capacity, "capacity": capacity}
        return Insight("utilisation", text, {**numbers, "span": span})
    nodes = busy(prep, None)
    if nodes is not None and nodes.distinct and nodes.machine:
        # distinct nodes: a node several jobs share is busy once (analytics/busy.py)
        mean = area(nodes.on, nodes.off, nodes.weight) / span
        most = peak_of(nodes.on, nodes.off, nodes.weight)
        text = (
            f"Average utilisation was {pct(mean / nodes.machine)} of {nodes.machine:,.0f} nodes "
            f"({nodes.basis}) over {duration_text(span)} (peak {most:,.0f} nodes busy, "
            f"{pct(most / nodes.machine)}); a node shared by several jobs counts once."
        )
        numbers = {"utilisation": mean / nodes.machine, "mean_busy": mean, "peak_busy": most}
        return Insight("utilisation", text, {**numbers, "nodes": nodes.machine, "span": span})
    text = (
        f"On average {mean:,.1f} {unit} were busy over {duration_text(span)} (peak {peak:,.0f}); "
        "the machine size is unknown, so this is not a fraction."
    )
    return Insight("utilisation", text, {"mean_busy": mean, "peak_busy": peak, "span": span})
