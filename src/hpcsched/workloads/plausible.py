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

__all__ = ["implausible"]

_LINE_COLUMNS: Final = ("sacct_line", "swf_line")
#: (what is wrong, the columns it compares: earlier, later)
_RULES: Final = (
    ("start before submit", "submit", "start"),
    ("end before start", "start", "end"),
)


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
