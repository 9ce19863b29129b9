"""Job and step rows of a ``sacct -P`` read -> job-table columns (the parsers are in
:mod:`hpcsched.workloads.sacct_fields`).

Fields that repeat a lot (AllocTRES, ReqTRES, ReqMem: a few thousand distinct values in a million
jobs) are parsed once per distinct value: :class:`DistinctValues` keeps what every earlier piece
of the file parsed, so each piece parses only the values it is the first to see and joins the
rest. Node lists are nearly all distinct; they are counted row by row.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from hpcsched.workloads.sacct_fields import (
    _DATE,
    _TIMES,
    CAPTURED,
    CATEGORIES,
    FIELD_KINDS,
    MB,
    NULL_HOSTLISTS,
    RENAMED,
    array_tasks,
    backfilled_expr,
    count_expr,
    duration_expr,
    gres_gpus_expr,
    hostlist_counts,
    per_expr,
    size_expr,
    state_expr,
    time_expr,
    tres_expr,
    tres_gpus_expr,
    valid_expr,
)


@dataclass
class DistinctValues:
    """Parsed distinct values of repeating fields, shared by the pieces of one file (and their
    threads): per field, a frame of ``_value`` and one column per parsed quantity."""

    parsed: dict[str, pl.DataFrame] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def columns(
        self, frame: pl.DataFrame, name: str, column: str, exprs: dict[str, pl.Expr]
    ) -> pl.DataFrame:
        """``frame`` with the columns ``exprs`` (over ``pl.col(column)``) added, each value
        parsed once per file."""
        values = frame[column].unique().drop_nulls()
        with self.lock:
            known = self.parsed.get(name)
        new = values if known is None else values.filter(~values.is_in(known["_value"].implode()))
        if len(new) or known is None:
            fresh = new.to_frame(column).select(
                pl.col(column).alias("_value"), *(e.alias(k) for k, e in exprs.items())
            )
            with self.lock:  # another thread may have added some of them meanwhile
                known = self.parsed.get(name)
                if known is not None:
                    fresh = fresh.filter(~pl.col("_value").is_in(known["_value"].implode()))
                known = fresh if known is None else pl.concat([known, fresh])
                self.parsed[name] = known
        return frame.join(
            known, left_on=column, right_on="_value", how="left", maintain_order="left"
        )


def _seconds(col: pl.Expr) -> pl.Expr:
    value = col.cast(pl.Float64, strict=False)
    return pl.when(value >= 0).then(value)  # negative (clock skew) -> unknown


@dataclass(frozen=True)
class Needs:
    """Expressions and the fields whose per-distinct-value columns they read."""

    exprs: list[pl.Expr]
    fields: list[str]


@dataclass(frozen=True)
class _JobPlan:
    """The expressions :func:`job_columns` evaluates for one file layout, built once per layout
    (building them is Python work that holds the GIL: 8 of a piece's 50 ms, measured). Each
    comes with the fields whose per-distinct-value columns it reads (:class:`DistinctValues`):
    per column its first present field and the fallbacks, the memory request, the validity
    checks; then the kept text fields and the per-distinct-value parsers."""

    firsts: Needs
    fallbacks: dict[str, list[Needs]]
    mem_req: Needs | None
    r_mem: Needs | None
    checks: Needs
    extras: dict[str, pl.Expr]
    sources: dict[str, dict[str, pl.Expr]]  # field -> its parsed columns
    hosts: bool  # NodeList is read (its counts are added row by row first)


def _needs(exprs: list[pl.Expr], deferred: dict[str, str]) -> Needs:
    roots = {r for e in exprs for r in e.meta.root_names()}
    return Needs(exprs, sorted({deferred[r] for r in roots if r in deferred}))


@functools.lru_cache(maxsize=16)
def _job_plan(
    index_items: tuple[tuple[str, str], ...], names: tuple[str, ...], tz: str
) -> _JobPlan:
    index = dict(index_items)
    deferred: dict[str, str] = {}
    sources: dict[str, dict[str, pl.Expr]] = {}

    def get(name: str) -> pl.Expr | None:
        return pl.col(index[name]) if name in index else None

    def count(name: str) -> list[pl.Expr | None]:  # plain integers first, then units (1.50K)
        col = get(name)
        return [] if col is None else [col.cast(pl.Int64, strict=False), count_expr(col)]

    def parse(name: str, fn: Callable[[pl.Expr], pl.Expr]) -> list[pl.Expr | None]:
        col = get(name)
        return [] if col is None else [fn(col)]

    def distinct(name: str, **fns: Callable[[pl.Expr], pl.Expr]) -> list[pl.Expr | None]:
        """Columns parsed once per distinct value of the file (TRES lists and ReqMem repeat a
        lot), added when first needed."""
        if name not in index:
            return [None] * len(fns)
        sources[name] = {f"_{name}_{k}": fn(pl.col(index[name])) for k, fn in fns.items()}
        deferred.update(dict.fromkeys(sources[name], name))
        return [pl.col(f"_{name}_{key}") for key in fns]

    def allocated(*exprs: pl.Expr | None) -> list[pl.Expr | None]:
        """Allocation counts with 0 as missing, so the request fills in (as sacct --json's
        empty allocated TRES does)."""
        return [None if e is None else pl.when(e > 0).then(e) for e in exprs]

    tres = {
        "node": lambda c: count_expr(tres_expr(c, "node")),
        "cpu": lambda c: count_expr(tres_expr(c, "cpu")),
        "gpus": tres_gpus_expr,
        "mem": lambda c: size_expr(tres_expr(c, "mem"), MB),
    }
    a_node, a_cpu, a_gpus, _ = distinct("alloctres", **tres)
    r_node, r_cpu, r_gpus, r_mem = distinct("reqtres", **tres)
    mem, per = distinct("reqmem", bytes=lambda c: size_expr(c, MB), per=per_expr)
    hosts = pl.col("_nodelist_n") if "nodelist" in index else None
    plan: dict[str, list[pl.Expr | None]] = {
        "job_id": [get("jobid"), get("jobidraw")],
        "_key": [get("jobid"), get("jobidraw"), pl.format("line {}", "_line")],
        "user": [get("user"), get("uid")],
        **{n: [get(n)] for n in ("account", "partition", "qos", "reason", "workdir")},
        "name": [get("jobname")],
        **{n: parse(n, lambda c: time_expr(c, tz)) for n in _TIMES},
        "runtime": [*parse("elapsedraw", _seconds), *parse("elapsed", duration_expr)],
        "timelimit": [
            *parse("timelimitraw", lambda c: c.cast(pl.Float64, strict=False) * 60.0),
            *parse("timelimit", duration_expr),
        ],
        # a job that never started has NCPUS/AllocNodes 0: the request is then what it asked for
        "nodes": [
            *allocated(*count("nnodes"), *count("allocnodes"), a_node, hosts),
            *count("reqnodes"),
            r_node,
        ],
        "cpus": [*allocated(*count("ncpus"), *count("alloccpus"), a_cpu), *count("reqcpus"), r_cpu],
        "gpus": [
            a_gpus,
            r_gpus,
            *parse("allocgres", gres_gpus_expr),
            *parse("reqgres", gres_gpus_expr),
        ],
        "state": parse("state", state_expr),
        "sacct_cancelled_by": parse(
            "state", lambda c: c.str.extract(r"^CANCELLED by ([0-9]{1,10})\b")
        ),
        "exit_code": parse("exitcode", lambda c: c.str.extract(r"^([0-9]+):")),
        "sacct_exit_signal": parse("exitcode", lambda c: c.str.extract(r":([0-9]+)$")),
        "backfilled": parse("flags", backfilled_expr),
        "_rss": parse("maxrss", lambda c: size_expr(c, 1.0)),
        "_tag": [get("submit"), pl.col("_line").cast(pl.String)],
        "sacct_job_id_raw": [get("jobidraw")],
        "sacct_nodelist": [get("nodelist")],
        "sacct_nodelist_nodes": [hosts],
    }
    checks = [
        valid_expr(pl.col(column), kind)
        for lower, column in index.items()
        if (kind := FIELD_KINDS.get(lower)) and kind not in ("time", "hostlist")
    ]
    checks += [  # a well-formed date that is not a date (2026-13-45), or not in tz
        valid_expr(pl.col(index[n]), "time")
        & ~(pl.col(index[n]).str.contains(f"^{_DATE}$") & pl.col(n).is_null())
        for n in _TIMES
        if n in index
    ]
    if hosts is not None:
        checks.append(hosts.is_not_null() | pl.col(index["nodelist"]).is_in(NULL_HOSTLISTS))
    extras = {
        f"sacct_{lower}": pl.col(f"f{i}").cast(pl.Categorical)
        if lower in CATEGORIES
        else pl.col(f"f{i}")
        for i, name in enumerate(names)
        if (lower := RENAMED.get(name.lower(), name.lower())) not in CAPTURED
        and name != "_trailing"
        and index.get(lower) == f"f{i}"
    }
    present = {k: [e for e in v if e is not None] for k, v in plan.items()}
    firsts = [v[0].alias(k) if v else pl.lit(None).alias(k) for k, v in present.items()]
    mem_req = None
    if mem is not None and per is not None:  # legacy ReqMem: n = per node, c = per CPU
        scale = pl.when(per == "n").then(pl.col("nodes")).when(per == "c").then(pl.col("cpus"))
        mem_req = _needs([mem * scale.otherwise(1).cast(pl.Float64)], deferred)
    return _JobPlan(
        firsts=_needs(firsts, deferred),
        fallbacks={k: [_needs([e], deferred) for e in v[1:]] for k, v in present.items()},
        mem_req=mem_req,
        r_mem=None if r_mem is None else _needs([r_mem], deferred),
        checks=_needs(checks, deferred),
        extras=extras,
        sources=sources,
        hosts=hosts is not None,
    )


def job_columns(
    jobs: pl.DataFrame,
    index: dict[str, str],
    names: list[str],
    tz: str,
    distinct_values: DistinctValues | None = None,
) -> pl.DataFrame:
    """Job-table columns, ``sacct_*`` extras and ``_ok`` (every checked field is valid) of the
    job rows of a ``sacct -P`` read; the tokenised ``f<i>`` columns stay for error messages.

    ``index`` maps lower-case field names to ``f<i>`` columns. Each value comes from the first
    present field of its list; the later ones are only parsed while rows are still null.
    ``distinct_values`` is the cache of the file being read (one per file, shared by its pieces).
    """
    cache = distinct_values or DistinctValues()
    plan = _job_plan(tuple(index.items()), tuple(names), tz)

    def needing(frame: pl.DataFrame, needs: Needs) -> pl.DataFrame:
        for name in needs.fields:  # a field's parsed columns are added together, once
            if next(iter(plan.sources[name])) not in frame.columns:
                frame = cache.columns(frame, name, index[name], plan.sources[name])
        return frame

    if plan.hosts:  # nearly every node list is distinct: counted row by row
        jobs = jobs.with_columns(_nodelist_n=hostlist_counts(jobs[index["nodelist"]]))
    firsts = plan.firsts
    out = needing(jobs, firsts).with_columns(
        *firsts.exprs, source=pl.lit("sacct"), sacct_line="_line"
    )
    for name, fallbacks in plan.fallbacks.items():
        for needs in fallbacks:
            if not out[name].has_nulls():
                break
            out = needing(out, needs).with_columns(pl.col(name).fill_null(needs.exprs[0]))
    if plan.mem_req is not None:
        out = needing(out, plan.mem_req).with_columns(plan.mem_req.exprs[0].alias("mem_req"))
    else:
        out = out.with_columns(mem_req=pl.lit(None, pl.Float64))
    if plan.r_mem is not None and out["mem_req"].has_nulls():
        r_mem = plan.r_mem.exprs[0]
        out = needing(out, plan.r_mem).with_columns(pl.col("mem_req").fill_null(r_mem))
    checks = plan.checks.exprs
    return needing(out, plan.checks).with_columns(
        array_id=pl.col("_key").str.extract(r"^([0-9]{1,18})_").cast(pl.Int64, strict=False),
        sacct_array_tasks=array_tasks(out["_key"].fill_null("")),
        _ok=pl.all_horizontal(checks) if checks else pl.lit(True),
        **plan.extras,
    )


def step_columns(
    steps: pl.DataFrame,
    index: dict[str, str],
    rss_read: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None,
) -> pl.DataFrame:
    """``_key``, ``_step``, ``_rss`` (MaxRSS bytes) and ``_ok`` of the step rows.

    ``rss_read``: MaxRSS already read by the compiled kernel (:func:`sacct_lines.sizes`, values
    and states; the text column stays for describing bad rows); rows it leaves (state 2) and
    every row without it are read here."""
    ident = pl.col(index.get("jobid") or index.get("jobidraw") or "_line").cast(pl.String)
    parts = ident.str.splitn(".", 2)
    rss, ok = pl.lit(None, pl.Float64), valid_expr(ident, "jobid")
    if "maxrss" in index:
        text = pl.col(index["maxrss"])
        rss, rss_ok = size_expr(text, 1.0), valid_expr(text, "count")
        if rss_read is not None:
            values, states = rss_read
            here = pl.lit(pl.Series(values)).fill_nan(None)
            if (states == 2).any():
                polars_reads = pl.lit(pl.Series(states == 2))
                rss = pl.when(polars_reads).then(rss).otherwise(here)
                rss_ok = (
                    pl.when(polars_reads).then(rss_ok).otherwise(pl.lit(pl.Series(states >= 0)))
                )
            else:
                rss, rss_ok = here, pl.lit(pl.Series(states >= 0))
        ok = ok & rss_ok
    return steps.with_columns(
        _key=parts.struct.field("field_0"),
        _step=parts.struct.field("field_1"),
        _rss=rss,
        _tag=pl.lit(None, pl.String),
        _ok=ok,
    )
