"""What was busy over time: distinct nodes from the node lists, or processors, and the machine.

Slurm allocates processors to one job at a time but lets several jobs share a node (cons_tres
without ``--exclusive``), so busy nodes are the *distinct* nodes in use: where the table has node
lists (sacct's NodeList) each job's hostlist is expanded and the intervals of one node merged,
and a node that two jobs share counts once. Summing the jobs' node counts instead made "peak 7
nodes busy" of a 4-node cluster. Without node lists the sum is all there is (SWF, simulations)
and is said to be so. Busy processors are the sum of the jobs' cpus (Slurm's AllocTRES
``cpu=``, read by the sacct reader into ``cpus``).

The machine size is the processors given (SWF's MaxProcs, ``--procs``, ``--sinfo``), else the
distinct nodes seen in the node lists, a lower bound (a node no job ran on is never named).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from hpcsched.analytics.derive import FloatArray, Prepared
from hpcsched.core.hostlist import expand_hostlist


@dataclass(frozen=True)
class NodeUse:
    """The distinct nodes named by a table's node lists and when each was in use."""

    intervals: pl.DataFrame  # node, start, end: one node's overlapping jobs merged
    seen: int  # distinct nodes named


@dataclass(frozen=True)
class Busy:
    """A busy count as a step function: it rises by ``weight`` at ``on`` and falls at ``off``."""

    unit: str  # "processors", "nodes" or the table's size unit
    on: FloatArray
    off: FloatArray
    weight: FloatArray
    jobs: int  # jobs that started
    machine: float | None  # the machine size in ``unit``, when known
    basis: str  # where the machine size comes from, for notes and sentences ("" if unknown)
    distinct: bool  # busy nodes counted once however many jobs share them


def horizon(jobs: pl.DataFrame) -> tuple[float, float]:
    """(first submit, last event) of the table: the time span every series covers."""
    row = jobs.select(
        pl.col("submit").min().alias("lo"),
        pl.max_horizontal(pl.col("submit").max(), pl.col("start").max(), pl.col("end").max()).alias(
            "hi"
        ),
    ).row(0)
    lo, hi = float(row[0]), float(row[1])
    return lo, hi if hi > lo else lo + 1.0


def _off() -> pl.Expr:
    """When a started job stopped holding its allocation (a running one: its elapsed so far)."""
    return pl.coalesce(pl.col("end"), pl.col("start") + pl.col("elapsed"))


def node_use(jobs: pl.DataFrame) -> NodeUse | None:
    """The merged use of every node the ``node_list`` column names; None without node lists
    (or when one is not a hostlist: then the sum of node counts is shown, not a guess)."""
    if "node_list" not in jobs.columns or jobs["node_list"].null_count() == jobs.height:
        return None
    _, hi = horizon(jobs)
    ran = jobs.select("node_list", "start", _off().fill_null(hi).alias("end")).filter(
        pl.col("start").is_not_null() & pl.col("node_list").is_not_null()
    )
    try:  # node lists are few and repeat: each distinct one is expanded once
        names = {text: expand_hostlist(text) for text in ran["node_list"].unique().to_list()}
    except ValueError:
        return None
    if ran.is_empty():
        return None
    ran = ran.with_columns(
        pl.col("node_list").replace_strict(names, return_dtype=pl.List(pl.String)).alias("node")
    )
    each = ran.explode("node").filter(pl.col("node").is_not_null()).sort("node", "start")
    reached = pl.col("end").cum_max().shift(1).over("node")  # the node's busy-until so far
    gap = reached.is_null() | (pl.col("start") > reached)
    merged = (
        each.with_columns(gap.cum_sum().alias("run"))
        .group_by("node", "run")
        .agg(pl.col("start").min(), pl.col("end").max())
        .select("node", "start", "end")
    )
    return NodeUse(merged, int(merged["node"].n_unique()))


def busy(prep: Prepared, capacity: float | None) -> Busy | None:
    """Busy processors (``capacity`` known), else distinct busy nodes (node lists), else the sum
    of the jobs' sizes; None when no job started with a size."""
    column = "cpus" if capacity else "size"
    ran = prep.jobs.select("submit", "start", "end", "elapsed", column).filter(
        pl.col("start").is_not_null() & pl.col(column).is_not_null()
    )
    if ran.is_empty():
        return None
    _, hi = horizon(prep.jobs)
    if capacity:
        return _steps(ran, column, "processors", capacity, f"{capacity:,.0f} processors", hi)
    use = prep.node_use if prep.size_unit == "nodes" else None
    if use is None:
        return _steps(ran, column, prep.size_unit, None, "", hi)
    on, off = (use.intervals[c].cast(pl.Float64).to_numpy() for c in ("start", "end"))
    weight = np.ones(len(on), dtype=np.float64)
    basis = f"{use.seen:,} nodes seen in NodeList"
    return Busy("nodes", on, off, weight, ran.height, float(use.seen), basis, True)


def _steps(
    ran: pl.DataFrame, column: str, unit: str, machine: float | None, basis: str, hi: float
) -> Busy:
    cols = ran.select(
        pl.col("start").cast(pl.Float64),
        _off().fill_null(hi).cast(pl.Float64).alias("off"),
        pl.col(column).cast(pl.Float64),
    )
    on, off, weight = (cols[c].to_numpy() for c in ("start", "off", column))
    return Busy(unit, on, off, weight, ran.height, machine, basis, False)


def peak(on: FloatArray, off: FloatArray, weight: FloatArray) -> float:
    """The most in use at once: reached at a start, counting the starts up to it minus the
    ends up to and including its time (ends first: back-to-back jobs make no false peak).

    Counts are whole numbers, so the running sums are exact in float64 and the peak does not
    depend on how jobs starting (or ending) at the same second are ordered."""
    if len(on) == 0:
        return 0.0
    by_on, by_off = np.argsort(on), np.argsort(off)
    started = np.cumsum(weight[by_on])
    ended = np.concatenate([[0.0], np.cumsum(weight[by_off])])
    done = ended[np.searchsorted(off[by_off], on[by_on], "right")]
    return float(np.max(started - done))


def area(on: FloatArray, off: FloatArray, weight: FloatArray) -> float:
    """The integral of the busy count over time (unit-seconds)."""
    return float(np.sum(weight * np.maximum(off - on, 0.0)))
