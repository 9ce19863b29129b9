"""Records that read correctly but cannot be true: a start before the submit, an end before the
start. Accounting databases do hold them (clock steps, requeues edited by hand, a start recorded
before a resubmission); they are counted and shown with their lines, kept in the table (they
are still jobs), and left out of wait and elapsed statistics (:mod:`hpcsched.analytics.derive`),
so that no report says "the median wait was -28 min".
"""

from __future__ import annotations

from typing import Final

import polars as pl

from hpcsched.workloads.swf import Malformed

__all__ = ["implausible", "unreadable_rows"]

#: Job-table columns that must be finite where present, and those that must not be negative.
_FINITE: Final = ("submit", "start", "end", "runtime", "timelimit", "mem_req", "mem_used")
_COUNTS: Final = ("nodes", "cpus", "gpus")

_LINE_COLUMNS: Final = ("sacct_line", "swf_line")
#: (what is wrong, the columns it compares: earlier, later)
_RULES: Final = (
    ("start before submit", "submit", "start"),
    ("end before start", "start", "end"),
)


def unreadable_rows(table: pl.DataFrame, path: str) -> tuple[pl.DataFrame, list[Malformed]]:
    """A job table (Parquet: no text to check) without rows holding NaN, an infinity or a
    negative count, and one :class:`Malformed` per row left out (``line`` = its 1-based row)."""
    checks = [
        (f"{c} is not a finite number", pl.col(c).cast(pl.Float64).is_finite().not_())
        for c in _FINITE
        if c in table.columns and table.schema[c].is_numeric()
    ]
    checks += [
        (f"{c} is negative", pl.col(c) < 0)
        for c in _COUNTS
        if c in table.columns and table.schema[c].is_numeric()
    ]
    if not checks or not table.height:
        return table, []
    reason = pl.lit(None, pl.String)
    for what, broken in reversed(checks):
        reason = pl.when(broken.fill_null(False)).then(pl.lit(what)).otherwise(reason)
    why = table.select(reason.alias("why"))["why"]
    bad = why.is_not_null()
    if not bad.any():
        return table, []
    rows = [Malformed(path, int(i) + 1, f"row {int(i) + 1}: {why[int(i)]}") for i in bad.arg_true()]
    return table.filter(~bad), rows


def implausible(table: pl.DataFrame, path: str) -> list[Malformed]:
    """One :class:`Malformed` per implausible record (the first rule it breaks), in line order;
    its line is the record's line in the file (``sacct_line``/``swf_line``), else its row."""
    if not all(c in table.columns for _, a, b in _RULES for c in (a, b)):
        return []
    line = next(
        (pl.col(c) for c in _LINE_COLUMNS if c in table.columns), pl.int_range(1, pl.len() + 1)
    )
    reason = pl.lit(None, pl.String)
    for what, earlier, later in reversed(_RULES):  # the first rule broken names the record
        broken = (pl.col(later) < pl.col(earlier)).fill_null(False)
        detail = pl.format(f"{what} (by {{}} s)", pl.col(earlier) - pl.col(later))
        reason = pl.when(broken).then(detail).otherwise(reason)
    job = pl.col("job_id").cast(pl.String) if "job_id" in table.columns else pl.lit("?")
    bad = table.select(line.cast(pl.Int64).alias("line"), job.alias("job"), reason.alias("why"))
    bad = bad.filter(pl.col("why").is_not_null()).sort("line")
    return [
        Malformed(path, int(n), f"job {job}: implausible record, {why}")
        for n, job, why in bad.iter_rows()
    ]
