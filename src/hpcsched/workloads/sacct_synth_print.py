"""How Slurm's ``sacct`` prints values, as numpy/Polars code for the synthetic dump.

Follows Slurm's ``sacct/print.c``: ``convert_num_unit`` with ``CONVERT_NUM_UNIT_EXACT`` (divide
by 1024 while the value is a multiple of 512: 1536 -> ``1.50K``, 4232 stays), ``secs2time_str``
for durations (``[D-]HH:MM:SS``; CPU times under an hour ``MM:SS.mmm``) and ``%FT%T`` times
(hostlists are printed by :mod:`~hpcsched.workloads.sacct_synth_nodes`). A module of its own
because both halves of the generator need it: the job model
(:mod:`~hpcsched.workloads.sacct_synth_model`) takes the values a reader gets back, the text writer
(:mod:`~hpcsched.workloads.sacct_synth_text`) the printed text.
:mod:`hpcsched.workloads.sacct_fields` parses these formats back.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def units(values: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slurm's exact ``convert_num_unit``: (hundredths, unit power, value a reader gets back).

    ``first`` is the unit of ``values`` (0 for counts and bytes, 2 for MB). The value keeps
    dividing by 1024 while it is >= 1024 and its integer part a multiple of 512, then prints
    with ``%.2f`` unless whole; the parsed value is in units of the bare field (bytes, count).
    """
    num = np.asarray(values, dtype=np.float64).copy()
    power = np.full(num.shape, first, dtype=np.int64)
    for _ in range(6):
        step = (num >= 1024) & (np.floor(num) % 512 == 0)
        if not step.any():
            break
        num, power = np.where(step, num / 1024.0, num), power + step
    cents = np.round(num * 100).astype(np.int64)
    return cents, power, cents / 100 * 1024.0**power


def unit_text(values: np.ndarray, first: int) -> pl.Series:
    """``values`` as sacct prints them (see :func:`units`)."""
    cents, power, _ = units(values, first)
    frame = pl.DataFrame({"c": cents, "p": power})
    c = pl.col("c")
    suffix = pl.col("p").replace_strict(dict(enumerate(("", "K", "M", "G", "T", "P", "E"))))
    number = pl.concat_str(
        (c // 100).cast(pl.String),
        pl.when(c % 100 > 0)
        .then("." + (c % 100).cast(pl.String).str.zfill(2))
        .otherwise(pl.lit("")),
    )
    text = pl.when(c == 0).then(pl.lit("0")).otherwise(number + suffix)
    return frame.select(text.alias("t")).to_series()


def padded(expr: pl.Expr, width: int = 2) -> pl.Expr:
    """``expr`` as text, zero-padded to ``width`` digits (``%02d``, ``%05d``)."""
    return expr.cast(pl.String).str.zfill(width)


def duration(seconds: pl.Expr) -> pl.Expr:
    """``secs2time_str``: ``[D-]HH:MM:SS``."""
    s = seconds.cast(pl.Int64)
    hms = pl.concat_str(
        padded(s % 86400 // 3600), padded(s % 3600 // 60), padded(s % 60), separator=":"
    )
    return (
        pl.when(s >= 86400)
        .then(pl.concat_str((s // 86400).cast(pl.String), pl.lit("-"), hms))
        .otherwise(hms)
    )


def cpu_time(ms: pl.Expr) -> pl.Expr:
    """CPU fields: ``MM:SS.mmm`` under an hour, else ``[D-]HH:MM:SS``."""
    short = pl.concat_str(
        padded(ms // 60000), pl.lit(":"), padded(ms // 1000 % 60), pl.lit("."), padded(ms % 1000, 3)
    )
    return pl.when(ms < 3_600_000).then(short).otherwise(duration(ms // 1000))


def timestamp(epoch: pl.Expr, missing: pl.Expr | str) -> pl.Expr:
    """``%FT%T`` in UTC; ``missing`` where the epoch is negative (not yet / never)."""
    text = pl.from_epoch(epoch, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")
    return (
        pl.when(epoch >= 0)
        .then(text)
        .otherwise(pl.lit(missing) if isinstance(missing, str) else missing)
    )
