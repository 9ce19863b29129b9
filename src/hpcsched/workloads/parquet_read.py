"""A user's Parquet job table read column by column, with the bounds the text readers apply.

Parquet carries types, but not the job table's: a table written by another tool can hold
strings or ``uint64`` where counts belong, floats where whole numbers belong, NaN, infinities
and times past any clock. Each canonical column goes through the one parser of its kind
(text, time, span, count, size, code, flag); a value the parser cannot read or that lies
outside its kind's bounds makes its row malformed (one :class:`Malformed` naming the row and the
first column at fault) and the row is left out; a column whose Parquet type no row of it could
be read from (nested lists, binary data, booleans for numbers) refuses the file in one line.
The bounds are those of the sacct and SWF readers (:mod:`hpcsched.workloads.sacct_fields`):
seconds and epoch times below 10^12, counts below 10^18, sizes below 2^63 bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import polars as pl

from hpcsched.core.schema import JOB_TABLE_SCHEMA, conform
from hpcsched.workloads.swf import Malformed

__all__ = ["ParquetError", "read_parquet_jobs"]

_TEXT: Final = ("job_id", "user", "account", "partition", "qos", "state", "name", "source")
#: kind -> (columns, lowest, one past the highest, what a value beyond says)
_BOUNDS: Final[dict[str, tuple[tuple[str, ...], float, float, str]]] = {
    "time": (("submit", "start", "end"), -1e12, 1e12, "beyond +-10^12 s"),
    "span": (("runtime", "timelimit"), 0, 1e12, "beyond 10^12 s"),
    "count": (("nodes", "cpus", "gpus", "sacct_line", "swf_line"), 0, 1e18, "beyond 10^18"),
    "size": (("mem_req", "mem_used"), 0, 2.0**63, "beyond 2^63 bytes"),
    "code": (("priority_class", "exit_code"), -(2.0**31), 2.0**31, "beyond int32"),
}
_WHOLE: Final = ("count", "code")  # kinds held as integers


class ParquetError(ValueError):
    """A Parquet file no row of which can be read as a job table; the message is one line."""


def _kind(column: str) -> str | None:
    if column in _TEXT:
        return "text"
    if column == "backfilled":
        return "flag"
    return next((k for k, (cols, *_) in _BOUNDS.items() if column in cols), None)


def _refuse(path: Path, column: str, dtype: pl.DataType, wanted: str) -> ParquetError:
    return ParquetError(
        f"{path}: column {column} holds {dtype}, not {wanted} (rewrite it with {wanted})"
    )


def _number(path: Path, c: str, dtype: pl.DataType, kind: str) -> tuple[pl.Expr, pl.Expr]:
    """The column as Float64 and the reason a row's value is unreadable (null when it is not)."""
    col = pl.col(c)
    if dtype == pl.Null:
        return pl.lit(None, pl.Float64), pl.lit(None, pl.String)
    if dtype.is_numeric():
        value = col.cast(pl.Float64)
    elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        value = col.cast(pl.String).cast(pl.Float64, strict=False)  # ASCII digits, as sacct's
    elif kind == "time" and isinstance(dtype, pl.Datetime):
        value = col.dt.timestamp("ms").cast(pl.Float64) / 1000
    else:
        raise _refuse(path, c, dtype, "numbers")
    _, low, high, beyond = _BOUNDS[kind]
    checks = [
        (col.is_not_null() & value.is_null(), f"{c} is not a number"),
        (value.is_nan() | value.is_infinite(), f"{c} is not a finite number"),
        (value < low, f"{c} is negative" if low == 0 else f"{c} is {beyond}"),
        (value >= high, f"{c} is {beyond}"),
    ]
    if kind in _WHOLE:
        checks.append((value.floor() != value, f"{c} is not a whole number"))
    return value, _first(checks)


def _first(checks: list[tuple[pl.Expr, str]]) -> pl.Expr:
    reason = pl.lit(None, pl.String)
    for broken, what in reversed(checks):
        reason = pl.when(broken.fill_null(False)).then(pl.lit(what)).otherwise(reason)
    return reason


def _parse(path: Path, c: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """One column's parsed values (its canonical type) and each row's reason to be malformed."""
    kind = _kind(c)
    col = pl.col(c)
    none = pl.lit(None, pl.String)
    if kind is None:  # an extra column: kept as it is
        return col, none
    if kind == "text":
        if dtype == pl.Boolean or not (
            dtype in (pl.String, pl.Categorical, pl.Null)
            or isinstance(dtype, pl.Enum)
            or dtype.is_integer()
        ):
            raise _refuse(path, c, dtype, "text")
        return col.cast(pl.String), none
    if kind == "flag":
        if dtype in (pl.Boolean, pl.Null):
            return col.cast(pl.Boolean), none
        if not dtype.is_integer():
            raise _refuse(path, c, dtype, "true/false")
        return col == 1, _first([(~col.is_in([0, 1]), f"{c} is not true or false")])
    value, why = _number(path, c, dtype, kind)
    if kind in _WHOLE:  # integers directly: Float64 is exact only to 2^53
        value = col.cast(pl.Int64, strict=False) if dtype.is_integer() else value
    # non-strict: a malformed row's value (dropped with its row) must not fail the cast
    return value.cast(JOB_TABLE_SCHEMA.get(c, pl.Int64), strict=False), why


def read_parquet_jobs(path: Path) -> tuple[pl.DataFrame, list[Malformed]]:
    """The job table in ``path`` (canonical columns in order, extras after) without its
    malformed rows, and one :class:`Malformed` per row left out (``line`` = its 1-based row).
    Raises :class:`ParquetError` for a column no row can be read from; Polars' own errors for
    a file that is not Parquet (the caller words them)."""
    raw = pl.read_parquet(path)
    parsed = [_parse(path, c, t) for c, t in raw.schema.items()]
    reasons = [why.alias(f"\x00why{i}") for i, (_, why) in enumerate(parsed)]
    why = raw.select(pl.coalesce([*reasons, pl.lit(None, pl.String)]).alias("why"))["why"]
    frame = raw.select([v.alias(c) for c, (v, _) in zip(raw.columns, parsed, strict=True)])
    frame = conform(frame)  # canonical columns in order, absent ones null, extras after
    bad = why.is_not_null()
    if not bad.any():
        return frame, []
    where = str(path)
    rows = [
        Malformed(where, int(i) + 1, f"row {int(i) + 1}: {why[int(i)]}") for i in bad.arg_true()
    ]
    return frame.filter(~bad), rows
