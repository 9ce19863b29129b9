"""Open any job table the tools accept: an SWF trace (``.swf``, ``.swf.gz``) or a Parquet table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from hpcsched.core.schema import conform
from hpcsched.workloads.filters import apply_filter
from hpcsched.workloads.swf import Malformed, SwfError, read_swf

MACHINE_KEY = b"hpcsched.machine_procs"


def machine_procs_of(path: str | Path) -> int | None:
    """The machine size :func:`write_table` recorded in the Parquet footer's key-value metadata
    (where both Polars and pyarrow writers put it), read from the footer alone."""
    import pyarrow.parquet as pq

    value = (pq.ParquetFile(path).metadata.metadata or {}).get(MACHINE_KEY)
    return int(value) if value else None


class InputError(ValueError):
    """A user-fixable problem with an input file; the message is one line."""


@dataclass
class LoadedTable:
    table: pl.DataFrame
    machine_procs: int | None
    path: str
    malformed: list[Malformed] = field(default_factory=list)


def load_jobs(path: str | Path, *, filter_name: str = "none", strict: bool = False) -> LoadedTable:
    """Read ``path`` into a job table; SWF traces go through the named input filter."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"cannot read {p}: no such file (check the path)")
    if p.suffix == ".parquet":
        if filter_name not in ("none", "strong", "rlscheduler"):
            raise InputError(f"unknown --filter {filter_name!r}")
        try:
            procs = machine_procs_of(p)
            frame = pl.read_parquet(p)
        except Exception as exc:  # pyarrow and polars raise many types for a bad file
            raise InputError(f"cannot read {p} as Parquet: {exc}".splitlines()[0]) from None
        return LoadedTable(conform(frame), procs, str(p))
    try:
        trace = read_swf(p, strict=strict)
    except SwfError as exc:
        raise InputError(str(exc)) from None
    try:
        trace = apply_filter(trace, filter_name)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return LoadedTable(trace.table, trace.machine_procs, str(p), list(trace.malformed))


def write_table(table: pl.DataFrame, path: str | Path, *, machine_procs: int | None = None) -> None:
    """Write a job table as Parquet, recording the machine size in the footer's key-value
    metadata (:func:`machine_procs_of` reads it back).

    Arrow's newest layout (string views, as Polars holds them) is handed to pyarrow without
    the copy to ``large_string`` that the default ``to_arrow()`` makes (~300 MB at 250k sacct
    jobs); pyarrow, not Polars' writer, so the file's schema root stays pyarrow's ``schema``.
    """
    import pyarrow.parquet as pq

    arrow = table.to_arrow(compat_level=pl.CompatLevel.newest())
    if machine_procs is not None:
        meta = dict(arrow.schema.metadata or {})
        meta[MACHINE_KEY] = str(machine_procs).encode()
        arrow = arrow.replace_schema_metadata(meta)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow, path)
