"""Writing a job table in the format its file name asks for: Parquet, CSV, JSON Lines or SWF.

Parquet is the job table itself (with the machine size in its metadata); CSV feeds a
spreadsheet, JSON Lines a script, and SWF the other simulators (AccaSim, Batsim, pyss). The
format follows the name's end, so ``--out x.csv`` never writes Parquet bytes under a CSV name;
every format is written atomically (a temporary file renamed into place).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hpcsched.core.outputs import atomic_output

#: Name endings a job table can be written to, and the format each gives.
TABLE_FORMATS: dict[str, str] = {
    ".parquet": "Parquet",
    ".csv": "CSV",
    ".jsonl": "JSON Lines",
    ".ndjson": "JSON Lines",
    ".swf": "SWF",
    ".swf.gz": "SWF (gzip)",
}
TABLE_SUFFIXES = tuple(TABLE_FORMATS)


def table_format(path: str | Path) -> str:
    """The format a job table written to ``path`` gets (``ValueError`` for another ending)."""
    name = Path(path).name
    for suffix in sorted(TABLE_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return TABLE_FORMATS[suffix]
    raise ValueError(f"{path}: a job table is written as {', '.join(TABLE_SUFFIXES)}")


def _flat(table: pl.DataFrame) -> pl.DataFrame:
    """Nested columns as text (CSV has no lists or records); categories as plain text."""
    exprs = []
    for name, dtype in table.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Struct):
            column = column.struct.json_encode()
        elif isinstance(dtype, pl.List | pl.Array):
            column = column.cast(pl.List(pl.String)).list.join(";")
        elif dtype == pl.Categorical:
            column = column.cast(pl.String)
        exprs.append(column.alias(name))
    return table.select(exprs)


def _swf_times(table: pl.DataFrame) -> pl.DataFrame:
    """A table read from SWF keeps its ``swf_*`` fields, which SWF writing reproduces; after a
    replay its wait and run time are the simulated ones (``start``, ``end``), not the trace's."""
    needed = {"swf_wait", "swf_run_time", "submit", "start", "end"}
    if not needed <= set(table.columns):
        return table
    start, end, submit = pl.col("start"), pl.col("end"), pl.col("submit")
    return table.with_columns(
        swf_wait=pl.when(start.is_not_null() & submit.is_not_null())
        .then(start - submit)
        .otherwise(pl.col("swf_wait")),
        swf_run_time=pl.when(start.is_not_null() & end.is_not_null())
        .then(end - start)
        .otherwise(pl.col("swf_run_time")),
    )


def write_job_table(
    table: pl.DataFrame, path: str | Path, *, machine_procs: int | None = None
) -> str:
    """Write ``table`` to ``path`` in the format its name gives; returns that format's name."""
    kind = table_format(path)
    if kind == "Parquet":
        from hpcsched.workloads.load import write_table

        write_table(table, path, machine_procs=machine_procs)
    elif kind.startswith("SWF"):
        from hpcsched.workloads.swf import Trace, write_swf

        write_swf(Trace(_swf_times(table), str(path), max_procs=machine_procs), path)
    else:
        with atomic_output(path) as temp:
            if kind == "CSV":
                _flat(table).write_csv(temp)
            else:
                table.write_ndjson(temp)
    return kind
