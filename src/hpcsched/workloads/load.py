"""Open any job table the tools accept: an SWF trace (``.swf``, ``.swf.gz``) or a Parquet table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from hpcsched.core.schema import conform
from hpcsched.workloads.filters import apply_filter
from hpcsched.workloads.swf import Malformed, SwfError, read_swf

MACHINE_KEY = b"hpcsched.machine_procs"


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
            import pyarrow.parquet as pq

            arrow = pq.read_table(p)
        except Exception as exc:  # pyarrow raises many types for a bad file
            raise InputError(f"cannot read {p} as Parquet: {exc}".splitlines()[0]) from None
        meta = arrow.schema.metadata or {}
        procs = int(meta[MACHINE_KEY]) if MACHINE_KEY in meta else None
        frame = pl.from_arrow(arrow)
        assert isinstance(frame, pl.DataFrame)
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
    """Write a job table as Parquet, recording the machine size in the file's metadata."""
    import pyarrow.parquet as pq

    arrow = table.to_arrow()
    if machine_procs is not None:
        meta = dict(arrow.schema.metadata or {})
        meta[MACHINE_KEY] = str(machine_procs).encode()
        arrow = arrow.replace_schema_metadata(meta)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow, path)
