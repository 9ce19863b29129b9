"""Writing a job table as an SWF trace (the Parallel Workloads Archive's 18 fields).

The reader is :mod:`hpcsched.workloads.swf`, which re-exports :func:`write_swf`.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl

from hpcsched.core.outputs import atomic_output
from hpcsched.workloads.swf import (
    _STATE_TO_STATUS,
    FIELDS,
    SWF_COLUMNS,
    SwfError,
    Trace,
    _header_value,
)


def _fmt(expr: pl.Expr, integer: bool) -> pl.Expr:
    """A field as SWF text: -1 for unknown, integral floats without decimals."""
    if integer:
        return expr.cast(pl.Int64, strict=False).fill_null(-1).cast(pl.String)
    value = expr.cast(pl.Float64)
    value = pl.when(value.is_finite()).then(value).otherwise(-1.0)  # null, NaN, inf -> -1
    as_int = value.cast(pl.Int64, strict=False).cast(pl.String)
    integral = (value == value.round()) & (value.abs() < 2.0**53)
    return pl.when(integral).then(as_int).otherwise(value.cast(pl.String))


def _derived_fields(table: pl.DataFrame) -> list[pl.Expr]:
    """SWF fields of a table without ``swf_*`` columns (e.g. a simulator's output)."""

    def has(name: str, dtype: type[pl.DataType] = pl.Float64) -> pl.Expr:
        present = name in table.columns
        return pl.col(name).cast(dtype, strict=False) if present else pl.lit(None, dtype=dtype)

    cpus = has("cpus")
    per_proc_kb = pl.when(cpus > 0).then(1.0 / (1024.0 * cpus))
    fields = dict.fromkeys(SWF_COLUMNS, pl.lit(-1))
    fields.update(
        swf_job_number=has("job_id", pl.Int64).fill_null(pl.int_range(1, pl.len() + 1)),
        swf_submit=has("submit"),
        swf_wait=has("start") - has("submit"),
        swf_run_time=has("runtime").fill_null(has("end") - has("start")),
        swf_alloc_procs=cpus,
        swf_used_mem_kb=has("mem_used") * per_proc_kb,
        swf_req_procs=cpus,
        swf_req_time=has("timelimit"),
        swf_req_mem_kb=has("mem_req") * per_proc_kb,
        swf_status=has("state", pl.String).replace_strict(
            _STATE_TO_STATUS, default=-1, return_dtype=pl.Int64
        ),
        swf_user=has("user", pl.Int64),
        swf_group=has("account", pl.Int64),
        swf_partition=has("partition", pl.Int64),
    )
    return [fields[c] for c in SWF_COLUMNS]


def write_swf(trace: Trace, path: str | Path) -> None:
    """Write ``trace`` as SWF (header lines, then 18 fields per row); ``.gz`` => gzip.

    Rows come from the ``swf_*`` columns when all 18 are present, else they are derived from the
    canonical columns (wait = start - submit, unknown = -1, user/account/partition as integers
    where they parse). Header lines for ``MaxProcs``/``MaxNodes``/``UnixStartTime`` are added
    when the trace has the value but its header lacks the line.
    """
    path = Path(path)
    table = trace.table
    if all(c in table.columns for c in SWF_COLUMNS):
        exprs = [pl.col(c) for c in SWF_COLUMNS]
    else:
        exprs = _derived_fields(table)
    fields = [_fmt(e, f[2]) for e, f in zip(exprs, FIELDS, strict=True)]
    rows = table.select(pl.concat_str(fields, separator=" ").alias("row")).get_column("row")
    header = list(trace.header)
    known = (
        ("UnixStartTime", trace.unix_start_time),
        ("MaxNodes", trace.max_nodes),
        ("MaxProcs", trace.max_procs),
    )
    for key, value in known:
        if value is not None and _header_value(header, key) is None:
            header.append(f"; {key}: {value}")
    text = "".join(f"{h}\n" for h in header) + "".join(f"{r}\n" for r in rows.to_list())
    payload = text.encode("utf-8")
    try:
        if path.name.endswith(".gz"):
            payload = gzip.compress(payload, compresslevel=6, mtime=0)
        with atomic_output(path) as temp:
            temp.write_bytes(payload)
    except OSError as exc:
        raise SwfError(
            f"cannot write trace {path}: {exc.strerror or exc} (check the path)"
        ) from None
