"""Hostile Parquet job tables for the fuzz run (see ``fuzz_readers_support.py``).

Valid Parquet whose columns hold what a job table must not: NaN, infinities, integers past
int64 (``uint64``), negative sizes, nulls, strings and booleans in numeric columns, numbers in
text columns, nested lists, required columns left out, extra columns, zero rows, a hostile
machine size in the footer; and files that are not whole Parquet: cut short, or random bytes
after the ``PAR1`` magic, or bytes overwritten in the middle. Read through the one opener
(:func:`hpcsched.workloads.load.load_jobs`, as ``report``, ``trace convert`` and ``simulate``
do); a readable table must account for every row: read + malformed = rows in the file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from fuzz_outcome import Outcome

#: canonical column -> what the writers put there (the type a plausible file has)
_COLUMNS: dict[str, str] = {
    "job_id": "text",
    "user": "text",
    "partition": "text",
    "state": "text",
    "name": "text",
    "submit": "float",
    "start": "float",
    "end": "float",
    "runtime": "float",
    "timelimit": "float",
    "nodes": "int",
    "cpus": "int",
    "gpus": "int",
    "mem_req": "float",
    "priority_class": "int32",
    "exit_code": "int32",
    "backfilled": "bool",
}
_HOSTILE_NUMBERS: list[Any] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    1e300,
    -1e300,
    1.5,
    -1,
    -(2**63),
    2**63 - 1,
    10**13,
    None,
]
_HOSTILE_TEXT: list[Any] = ["", "NaN", "inf", "١٢", "12", " 5", "1e3", "x\x00y", "\x1c", None]


def _plausible(kind: str, row: int) -> Any:
    return {
        "text": str(row + 1),
        "float": float(100 * row + 10),
        "int": 1 + row % 4,
        "int32": row % 3,
        "bool": row % 2 == 0,
    }[kind]


_ARROW_TYPES = {"text": "string", "float": "float64", "int": "int64", "int32": "int32"}


@st.composite
def _column(draw: st.DrawFn, kind: str, rows: int) -> Any:
    import pyarrow as pa

    values = [_plausible(kind, r) for r in range(rows)]
    damage = draw(st.sampled_from(["none"] * 12 + ["values"] * 3 + ["type"]))
    if damage == "none" or not rows:
        return pa.array(values, type=_ARROW_TYPES.get(kind, "bool"))
    if damage == "values":
        pool = _HOSTILE_TEXT if kind == "text" else _HOSTILE_NUMBERS
        for r in draw(st.lists(st.integers(0, rows - 1), min_size=1, max_size=rows)):
            values[r] = draw(st.sampled_from(pool))
        if kind == "text":
            return pa.array(values, type="string")
        if kind == "bool":
            return pa.array([None if v is None else bool(v == v and v) for v in values])
        clean = [v if v is None or isinstance(v, float) else float(v) for v in values]
        return pa.array(clean, type="float64")
    wrong = draw(st.sampled_from(["string", "uint64", "float", "bool", "list", "null", "binary"]))
    if wrong == "string":
        words = st.sampled_from([*_HOSTILE_TEXT, "3", "7.0", "true", "-2", "99999999999999999999"])
        return pa.array([draw(words) for _ in range(rows)], type="string")
    if wrong == "uint64":
        return pa.array([draw(st.integers(0, 2**64 - 1)) for _ in range(rows)], type="uint64")
    if wrong == "float":
        return pa.array([draw(st.floats()) for _ in range(rows)], type="float64")
    if wrong == "bool":
        return pa.array([draw(st.booleans()) for _ in range(rows)], type="bool")
    if wrong == "list":
        return pa.array([[draw(st.integers(-5, 5))] for _ in range(rows)])
    if wrong == "binary":
        return pa.array([draw(st.binary(max_size=6)) for _ in range(rows)], type="binary")
    return pa.nulls(rows)


@st.composite
def parquet_table(draw: st.DrawFn) -> bytes:
    """The bytes of one Parquet file, most of them readable, every one damaged somehow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = draw(st.integers(0, 8))
    names = [n for n in _COLUMNS if n in ("job_id", "submit") or draw(st.booleans())]
    if draw(st.integers(0, 7)) == 0:  # a required column missing
        names.remove(draw(st.sampled_from(["job_id", "submit"])))
    columns = {n: draw(_column(_COLUMNS[n], rows)) for n in names}
    for extra in draw(st.lists(st.sampled_from(["site", "sacct_line", "cpus "]), unique=True)):
        columns[extra] = pa.array([draw(st.sampled_from(_HOSTILE_TEXT)) for _ in range(rows)])
    table = pa.table(columns) if columns else pa.table({"x": pa.nulls(rows)})
    if draw(st.integers(0, 9)) == 0:
        procs = draw(st.sampled_from([b"0", b"-4", b"x", b"1e9", b"99999999999999999999", b""]))
        table = table.replace_schema_metadata({b"hpcsched.machine_procs": procs})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=draw(st.sampled_from([3, 1024])))
    data = sink.getvalue()
    broken = draw(st.sampled_from(["whole"] * 6 + ["cut", "after magic", "overwritten"]))
    if broken == "cut":
        return data[: draw(st.integers(0, len(data) - 1))]
    if broken == "after magic":
        return b"PAR1" + draw(st.binary(max_size=200))
    if broken == "overwritten":
        at = draw(st.integers(4, max(4, len(data) - 9)))
        junk = draw(st.binary(min_size=1, max_size=16))
        return data[:at] + junk + data[at + len(junk) :]
    return data


#: (columns, low, high): a value read must lie in [low, high) (the other readers' bounds)
_BOUNDS: list[tuple[tuple[str, ...], float, float]] = [
    (("submit", "start", "end"), -1e12, 1e12),
    (("runtime", "timelimit"), 0, 1e12),
    (("nodes", "cpus", "gpus"), 0, 1e18),
    (("mem_req", "mem_used"), 0, 2.0**63),
]


def _rows(data: bytes) -> int:
    """Rows in the file as its footer says, or -1 when there is no footer to read."""
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(io.BytesIO(data)).metadata.num_rows)
    except Exception:  # no readable footer: the file must be refused, so the count never matters
        return -1


def _written(table: Any, row_group_size: int) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def _only_values_damaged(data: bytes) -> bool:
    """Whether the file is whole (byte for byte what pyarrow writes for the table it holds) and
    its job-table columns are text, numbers or booleans: then damage is per row, and refusing
    the whole file as unreadable is wrong."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
        fields = [f for f in table.schema if f.name in _COLUMNS]
        if data not in (_written(table, 3), _written(table, 1024)):
            return False  # cut or overwritten: refusing it is right
    except Exception:  # no table, or column names that are not UTF-8
        return False
    kinds = (pa.types.is_string, pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
    return all(any(k(f.type) or pa.types.is_null(f.type) for k in kinds) for f in fields)


def _in_bounds(table: Any) -> bool:
    import polars as pl

    for columns, low, high in _BOUNDS:
        for c in columns:
            v = table[c].cast(pl.Float64).drop_nulls()
            if len(v) and not bool(((v >= low) & (v < high)).all()):
                return False
    return True


def read_parquet_file(path: Path, data: bytes) -> Outcome:
    from hpcsched.workloads.load import InputError, load_jobs

    try:
        loaded = load_jobs(path)
    except InputError as exc:
        message = str(exc)
        unfair = "as Parquet" in message and _only_values_damaged(data)
        return Outcome(True, message=message, sound=not unfair)
    rows = _rows(data)
    read, malformed = loaded.counts["rows_read"], len(loaded.malformed)
    return Outcome(False, read, malformed, rows, sound=_in_bounds(loaded.table))
