"""Job tables in and out of files: every input the tools accept opened one way; Parquet written.

:func:`load_jobs` is the one opener ``simulate``, ``report``, ``trace convert`` and the other
commands share: SWF (``.swf``/``.swf.gz``, through an input filter), ``sacct -P`` text, ``sacct
--json`` and Parquet job tables, found by :func:`sniff` unless the format is given. It returns the
job table, the lines it could not read (with ``file:line``), the machine size when the file says
it, and the reader's counts. Every problem with the file itself is one :class:`InputError` line.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl

from hpcsched.core.outputs import atomic_output
from hpcsched.workloads.filters import FILTERS, apply_filter
from hpcsched.workloads.parquet_read import ParquetError, read_parquet_jobs
from hpcsched.workloads.plausible import implausible
from hpcsched.workloads.swf import Malformed, SwfError, read_swf

MACHINE_KEY = b"hpcsched.machine_procs"
#: What :func:`load_jobs` reads: Parquet job tables, SWF traces, ``sacct -P`` text, sacct JSON.
KINDS: Final = ("parquet", "swf", "sacct", "sacct-json")
_HEAD: Final = 65536  # bytes looked at to tell the formats apart (a sacct header is ~1 kB)


def machine_procs_of(path: str | Path) -> int | None:
    """The machine size :func:`write_table` recorded in the Parquet footer's key-value metadata
    (where both Polars and pyarrow writers put it), read from the footer alone."""
    import pyarrow.parquet as pq

    value = (pq.ParquetFile(path).metadata.metadata or {}).get(MACHINE_KEY)
    if not value:
        return None
    if not value.isdigit():  # ASCII digits only, as every count the readers take
        raise InputError(
            f"{path}: its recorded machine size {value.decode(errors='replace')!r} is not a whole "
            "number (rewrite it)"
        )
    return int(value)


class InputError(ValueError):
    """A user-fixable problem with an input file; the message is one line."""


@dataclass
class LoadedTable:
    """A job table and what came with it: ``kind`` (one of :data:`KINDS`), the machine size when
    the file records it, the lines skipped, the records kept that cannot be true
    (:mod:`~hpcsched.workloads.plausible`) and the reader's counts (``rows_read``, ``jobs``,
    ``steps``, and for sacct ``requeues``, ``duplicates``, ``orphan_steps``)."""

    table: pl.DataFrame
    machine_procs: int | None
    path: str
    malformed: list[Malformed] = field(default_factory=list)
    kind: str = "parquet"
    counts: dict[str, int] = field(default_factory=dict)
    implausible: list[Malformed] = field(default_factory=list)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"cannot read {path}: no such file (check the path)")
    if path.is_dir():
        raise InputError(f"cannot read {path}: it is a directory (give a file)")


def _head(path: Path) -> bytes | None:
    """The first bytes, gunzipped when they are gzip (trust bytes, not names); None when they
    cannot be read (the reader then names the problem, e.g. corrupt gzip data)."""
    try:
        with path.open("rb") as f:
            raw = f.read(_HEAD)
        if raw[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as g:
                raw = g.read(_HEAD)
    except PermissionError:
        raise InputError(
            f"cannot read {path}: permission denied (check the file's permissions)"
        ) from None
    except (OSError, EOFError, zlib.error):
        return None
    return raw


def _number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def sniff(path: str | Path, delimiter: str = "|") -> str:
    """What ``path`` holds, one of :data:`KINDS`.

    Names decide first (``.parquet``; ``.swf``, ``.swf.gz``), then the first bytes, gunzipped:
    Parquet's magic, a JSON document (``sacct --json``), an SWF line (a ``;`` header comment or
    whitespace-separated numbers), a line holding ``delimiter`` (``sacct -P``). Binary data and
    text that is none of these are refused here; a file whose bytes cannot be read (or that is
    empty) goes to the sacct reader, which says what is wrong with it."""
    p = Path(path)
    _check_file(p)
    if p.name.endswith(".parquet"):
        return "parquet"
    if p.name.endswith((".swf", ".swf.gz")):
        return "swf"
    raw = _head(p)
    if raw is None:
        return "sacct"
    if raw[:4] == b"PAR1":
        return "parquet"
    text = raw.decode("utf-8", "replace").lstrip("\ufeff").lstrip()
    if text.startswith(("{", "[")):
        return "sacct-json"
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if first.startswith(";") or (first and all(_number(t) for t in first.split())):
        return "swf"
    if not first or delimiter in first:
        return "sacct"
    if b"\x00" in raw:
        raise InputError(
            f"cannot read {p}: binary data, not a job table, SWF trace or sacct output "
            "(check the path)"
        )
    raise InputError(
        f"cannot tell what {p} is: line 1 is neither an SWF line, a sacct -P header "
        "(Field|Field|...), sacct --json nor Parquet (give one of those)"
    )


def load_jobs(
    path: str | Path,
    *,
    kind: str | None = None,
    filter_name: str | None = "none",
    strict: bool = False,
    delimiter: str = "|",
    fields: Sequence[str] | None = None,
) -> LoadedTable:
    """Read ``path`` into a job table: ``kind`` (one of :data:`KINDS`) or what :func:`sniff`
    finds. SWF traces go through the input filter ``filter_name``, which also numbers the jobs
    kept (``swf_index``); ``None`` keeps the trace as read (``trace convert`` writes it so). The
    other formats carry no raw SWF fields to filter on and are read whole. ``strict`` stops at
    the first line that cannot be read; ``delimiter`` and ``fields`` are ``sacct -P``'s (for
    ``--noheader`` output). Raises :class:`InputError` (one line) for a file that cannot be read
    at all, or whose header lacks JobID or Submit (every command needs both)."""
    loaded = _load(path, kind, filter_name, strict, delimiter, fields)
    table = loaded.table
    if table.height and (
        "submit" not in table.columns or table["submit"].null_count() == table.height
    ):
        raise InputError(
            f"{path}: no job has a submit time (every command needs one; a job table made "
            "from sacct output without Submit cannot be used: rerun sacct with Submit)"
        )
    loaded.implausible = implausible(table, loaded.path)
    return loaded


def _load(
    path: str | Path,
    kind: str | None,
    filter_name: str | None,
    strict: bool,
    delimiter: str,
    fields: Sequence[str] | None,
) -> LoadedTable:
    from hpcsched.workloads.sacct import SacctError, read_sacct
    from hpcsched.workloads.sacct_json import read_sacct_json

    p = Path(path)
    if filter_name is not None and filter_name not in FILTERS:
        raise InputError(f"unknown filter {filter_name!r}; valid filters: {', '.join(FILTERS)}")
    _check_file(p)
    chosen = kind or sniff(p, delimiter)
    if chosen not in KINDS:
        raise InputError(f"{p}: unknown input format {chosen!r} (give one of {', '.join(KINDS)})")
    if chosen == "parquet":
        return _parquet(p)
    if chosen == "swf":
        return _swf(p, filter_name, strict)
    try:
        if chosen == "sacct-json":
            read = read_sacct_json(p)
            if strict and read.malformed:
                raise InputError(
                    f"{read.malformed[0]} (--strict stops at the first unreadable job)"
                )
        else:
            need = ("JobID", "Submit") if fields is None else ("Submit",)
            read = read_sacct(p, delimiter=delimiter, fields=fields, strict=strict, required=need)
    except SacctError as exc:
        raise InputError(str(exc)) from None
    counts = {
        "rows_read": read.rows_read,
        "jobs": read.jobs,
        "steps": read.steps,
        "requeues": read.requeues,
        "duplicates": read.duplicates,
        "orphan_steps": read.orphan_steps,
    }
    return LoadedTable(read.table, None, str(p), list(read.malformed), chosen, counts)


def _whole(table: pl.DataFrame) -> dict[str, int]:
    """The counts of a format with one row per job and no steps."""
    return {"rows_read": table.height, "jobs": table.height, "steps": 0}


def _swf(path: Path, filter_name: str | None, strict: bool) -> LoadedTable:
    try:
        trace = read_swf(path, strict=strict)
        if filter_name is not None:
            trace = apply_filter(trace, filter_name)
    except (SwfError, ValueError) as exc:
        raise InputError(str(exc)) from None
    table = trace.table
    return LoadedTable(
        table, trace.machine_procs, str(path), list(trace.malformed), "swf", _whole(table)
    )


def _parquet(path: Path) -> LoadedTable:
    """A Parquet job table, read column by column (:mod:`~hpcsched.workloads.parquet_read`:
    unreadable or out-of-bounds values make their row malformed), and the machine size
    :func:`write_table` recorded.

    Polars' own reader, not pyarrow's: for 1M jobs it takes ~0.3 s instead of ~0.8 s (pyarrow
    read plus the Arrow to Polars conversion, which also held the table twice in memory); the
    machine size is read from the footer alone."""
    from polars.exceptions import PanicException

    try:
        procs = machine_procs_of(path)
        frame, bad = read_parquet_jobs(path)
    except InputError:
        raise
    except ParquetError as exc:
        raise InputError(str(exc)) from None
    except (Exception, PanicException) as exc:  # pyarrow and polars raise many types
        raise InputError(f"cannot read {path} as Parquet: {exc}".splitlines()[0]) from None
    if procs is not None and not 0 < procs <= 2**53:
        raise InputError(f"{path}: its recorded machine size {procs} is out of range (rewrite it)")
    if bad and not frame.height:
        raise InputError(f"{path}: no row can be used (first: {bad[0]})")
    counts = {**_whole(frame), "rows_read": frame.height}
    return LoadedTable(frame, procs, str(path), bad, "parquet", counts)


def write_table(table: pl.DataFrame, path: str | Path, *, machine_procs: int | None = None) -> None:
    """Write a job table as Parquet, recording the machine size in the footer's key-value
    metadata (:func:`machine_procs_of` reads it back), atomically (the folder must exist).

    Arrow's newest layout (string views, as Polars holds them) is handed to pyarrow without
    the copy to ``large_string`` that the default ``to_arrow()`` makes (~300 MB at 250k sacct
    jobs); pyarrow, not Polars' writer, so the file's schema root stays pyarrow's ``schema``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    coded = [c for c, t in table.schema.items() if t == pl.Categorical]
    rest = table.drop(coded) if coded else table  # each column is converted once
    arrow = rest.to_arrow(compat_level=pl.CompatLevel.newest())
    if coded:  # pyarrow cannot write dictionaries of string views: these go as plain strings
        plain = table.select(coded).to_arrow(compat_level=pl.CompatLevel.oldest())
        arrow = pa.table(
            [_one_dictionary(plain[c]) if c in coded else arrow[c] for c in table.columns],
            schema=pa.schema(
                [plain.field(c) if c in coded else arrow.field(c) for c in table.columns],
                metadata=arrow.schema.metadata,
            ),
        )
    if machine_procs is not None:
        meta = dict(arrow.schema.metadata or {})
        meta[MACHINE_KEY] = str(machine_procs).encode()
        arrow = arrow.replace_schema_metadata(meta)
    # min/max statistics for numbers and times only (what a reader filters row groups on):
    # those of ~60 text columns cost ~0.4 s CPU per 1M jobs and serve no filter
    text = (pl.String, pl.Categorical)
    stats = [c for c, t in table.schema.items() if t not in text]
    with atomic_output(path) as temp:  # never half a table under the final name
        pq.write_table(arrow, temp, write_statistics=stats)


def _one_dictionary(column: Any) -> Any:
    """A dictionary (``pl.Categorical``) column whose chunks share one dictionary: chunks with
    dictionaries of their own (a table read in pieces) made Parquet fall back to plain pages
    (39 vs 33 MB at 250k sacct jobs). Polars hands every category column the one list of all
    categories; the writer keeps only the values a column uses (measured: trimming the list
    first cost 0.3 s of a 0.95 s write and saved no byte)."""
    return column.unify_dictionaries()
