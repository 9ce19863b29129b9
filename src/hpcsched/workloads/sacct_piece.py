"""One piece of ``sacct -P`` text read against its file's layout.

The layout (field names from the header or ``fields=[...]``, the separator, the time zone) is
found once per file; every piece is then checked line by line (field counts), its step rows are
cut out for JobID and MaxRSS only, and its job rows are tokenised and parsed into job-table
columns. :func:`hpcsched.workloads.sacct.read_sacct` feeds the pieces and folds them; the pitfalls
handled and the measurements behind this design are in that module's notes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from hpcsched.workloads import sacct_fields as sf
from hpcsched.workloads import sacct_lines as sl
from hpcsched.workloads import sacct_rows as rows_of
from hpcsched.workloads.sacct_fold import EXTRAS, attach_steps
from hpcsched.workloads.sacct_lines import Buffer, Lines
from hpcsched.workloads.sacct_stream import SacctError, unreadable
from hpcsched.workloads.swf import Malformed

_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_delimiter(delimiter: str) -> None:
    encoded = delimiter.encode()
    if not encoded or b"\n" in encoded or b"\r" in encoded:
        raise SacctError(f"delimiter {delimiter!r} cannot separate fields (give sacct's)")


def binary_error(path: Path) -> SacctError:
    return unreadable(path, "binary data, not sacct text output (check the path)")


def separator(raw: Buffer, delimiter: str) -> tuple[Buffer, str]:
    """(data, one-byte separator): a longer delimiter is swapped for an unused control byte.
    Zero bytes are found per line in the scan (:func:`parse_piece`): a line holding one is
    malformed, the rest of the file is read (a header holding one is refused by the caller)."""
    check_delimiter(delimiter)
    encoded = delimiter.encode()
    if len(encoded) == 1:
        return raw, delimiter
    spare = next(b for b in (*range(0x1F, 0x1B, -1), *range(1, 9)) if bytes([b]) not in raw)
    return raw.replace(encoded, bytes([spare])), chr(spare)


def read_header(
    text: str, index: int, sep: str, fields: Sequence[str] | None, path: Path
) -> tuple[list[str], int]:
    """(field names, index of the first data line) from the first non-blank line."""
    if fields is not None:
        names = list(fields)
        is_header = [n.lower() for n in text.split(sep)] == [n.lower() for n in names]
        return names, index + 1 if is_header else 0
    names = text.split(sep)
    trailing = len(names) > 1 and names[-1] == ""  # sacct -p ends every line with the delimiter
    for number, name in enumerate(names[:-1] if trailing else names, 1):
        if not _NAME.match(name):
            raise unreadable(
                path,
                f"line {index + 1} is not a sacct header (field {number} is {name[:40]!r}); "
                "for --noheader output pass fields=[...] in --format order",
            )
    return [*names[:-1], "_trailing"] if trailing else names, index + 1


@dataclass
class Layout:
    """What every piece of one file shares: its fields and how to check and parse them."""

    names: list[str]
    index: dict[str, str]
    sep: str
    tz: str
    path: Path
    distinct: rows_of.DistinctValues = field(default_factory=rows_of.DistinctValues)

    @property
    def ident(self) -> str | None:
        return self.index.get("jobid") or self.index.get("jobidraw")

    def checks(self) -> list[tuple[str, str, str]]:
        return [
            (column, self.names[int(column[1:])], sf.FIELD_KINDS[lower])
            for lower, column in sorted(self.index.items(), key=lambda item: int(item[1][1:]))
            if lower in sf.FIELD_KINDS
        ]


#: Fields that can be required -> the sacct fields (lower case) any of which gives it.
REQUIRABLE: Final = {"JobID": ("jobid", "jobidraw"), "Submit": ("submit",)}


def make_layout(
    names: list[str], sep: str, tz: str, path: Path, required: Sequence[str] = ()
) -> Layout:
    """The layout of ``names``; refused up front when a ``required`` field (a key of
    :data:`REQUIRABLE`) is missing: without JobID step rows would become jobs, without Submit
    no wait can be measured and no trace replayed."""
    index: dict[str, str] = {}
    for i, name in enumerate(names):
        index.setdefault(sf.RENAMED.get(name.lower(), name.lower()), f"f{i}")
    missing = [w for w in required if not any(n in index for n in REQUIRABLE[w])]
    if missing:
        raise unreadable(
            path,
            f"the header has no {' and no '.join(missing)} field (required; rerun sacct with "
            f"--format={','.join(missing)},... added)",
        )
    return Layout(names, index, sep, tz, path)


def _bad_count(layout: Layout, line: int, found: int) -> Malformed:
    width = len(layout.names)
    hint = (
        f"a {layout.sep!r} inside JobName, WorkDir, Comment, SubmitLine or Constraints? use a "
        "control-character --delimiter or --json"
        if found > width
        else "a line cut short, or a newline inside a field?"
    )
    return Malformed(str(layout.path), line, f"expected {width} fields, found {found} ({hint})")


def _tokenise(
    raw: Buffer, layout: Layout, lines: Lines, rows: np.ndarray[Any, Any]
) -> pl.DataFrame:
    """The job lines ``rows`` split into ``f<i>`` text columns plus ``_row`` (their line
    indexes in the piece): by the compiled kernel when they are UTF-8 (every line split at every
    separator, as ``sacct -P`` has no quoting), else by Polars with bad bytes replaced, except
    lines with a ``\r`` inside (Polars would end the line there), which are split in Python."""
    width = len(layout.names)
    schema = {f"f{i}": pl.String() for i in range(width)}
    if sl.KERNEL is not None:
        starts, ends = lines.starts[rows], lines.ends[rows]
        kernel = sl.split(raw, starts, ends, list(schema), layout.sep, lines.ascii)
        if kernel is not None:
            return kernel.with_columns(_row=pl.Series(rows, dtype=pl.Int64))
    fast, slow = rows[~lines.inner_cr[rows]], rows[lines.inner_cr[rows]]
    tokens = pl.DataFrame(schema=schema)
    if len(fast):
        tokens = pl.read_csv(
            sl.gather(raw, lines.starts[fast], lines.ends[fast]),
            has_header=False,
            separator=layout.sep,
            quote_char=None,
            schema=schema,
            missing_columns="insert",
            extra_columns="ignore",
            truncate_ragged_lines=True,
            empty_string_is_null=False,
            encoding="utf8-lossy",
            raise_if_empty=False,
        )
    if tokens.height != len(fast):  # Polars saw other line ends: split every line in Python
        tokens, fast, slow = pl.DataFrame(schema=schema), fast[:0], rows
    tokens = tokens.with_columns(_row=pl.Series(fast, dtype=pl.Int64))
    if not len(slow):
        return tokens
    split = [
        raw[s:e].decode("utf-8", "replace").split(layout.sep)
        for s, e in zip(lines.starts[slow].tolist(), lines.ends[slow].tolist(), strict=True)
    ]
    rest = pl.DataFrame(split, schema=schema, orient="row")
    return pl.concat([tokens, rest.with_columns(_row=pl.Series(slow, dtype=pl.Int64))]).sort("_row")


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """Text columns holding one value on every row become constants, which Polars stores once
    (a 60-field dump has a dozen columns that are empty on every job row)."""
    if frame.height < 2:
        return frame
    text = {
        c: t
        for c, t in frame.schema.items()
        if c.startswith("sacct_") and c not in EXTRAS and t in (pl.String, pl.Categorical)
    }
    checks = [pl.col(c).eq_missing(pl.col(c).first()).all() for c in text]
    same = frame.select(checks).row(0) if text else ()
    constant = [c for c, flag in zip(text, same, strict=True) if flag]
    return frame.with_columns(pl.lit(frame[c][0]).cast(text[c]).alias(c) for c in constant)


def parse_piece(
    raw: Buffer, layout: Layout, skip: int, first: int, count: int | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[Malformed]]:
    """(job rows, step rows, step counts carried over, malformed lines) of one piece, without
    its first ``skip`` lines (the header); ``first`` is the file line number of the first line
    kept (see :func:`~hpcsched.workloads.sacct_fold.attach_steps` for the carried counts),
    ``count`` the piece's lines when the caller has counted them. A line holding a zero byte
    (unless it is the delimiter) is malformed.

    A line has the header's number of fields iff it holds one separator fewer
    (:func:`~hpcsched.workloads.sacct_lines.scan`, which also finds the JobID and MaxRSS fields
    and marks step rows). Step rows are read for those two fields only, cut out of the bytes,
    so only job rows (about a quarter of a dump with steps) are tokenised whole."""
    ident, rss_col = layout.ident, layout.index.get("maxrss")
    lines = sl.scan(raw, layout.sep, _number(ident), _number(rss_col), count)
    lines = lines.drop(skip)
    line_no = np.arange(first, first + len(lines), dtype=np.int64)
    nonblank = lines.ends > lines.starts
    good = nonblank & (lines.fields == len(layout.names))
    binary = _nul_lines(raw, lines) if lines.nul and layout.sep != "\x00" else None
    if binary is not None:
        good &= ~binary
    counted = good.copy()
    good &= ~lines.control
    malformed = [
        Malformed(str(layout.path), int(line_no[r]), "a zero (NUL) byte: binary data")
        if binary is not None and binary[r]
        else _bad_count(layout, int(line_no[r]), int(lines.fields[r]))
        if not counted[r]
        else _control_reason(raw, layout, int(line_no[r]), lines.starts[r], lines.ends[r])
        for r in np.flatnonzero(nonblank & ~good)
    ]
    rows = np.flatnonzero(good)
    step = rows[lines.step[rows]]
    step_cols = {}
    if ident is not None:
        step_cols[ident] = sl.texts(raw, lines.ident_start[step], lines.ident_end[step])
    if rss_col is not None:
        step_cols[rss_col] = sl.texts(raw, lines.rss_start[step], lines.rss_end[step])
    step_rows = pl.DataFrame(step_cols).with_columns(_line=pl.Series(line_no[step]))
    rss_read = (
        None if rss_col is None else sl.sizes(raw, lines.rss_start[step], lines.rss_end[step])
    )
    steps = rows_of.step_columns(step_rows, layout.index, rss_read)
    tokens = _tokenise(raw, layout, lines, rows[~lines.step[rows]])
    tokens = tokens.with_columns(_line=pl.col("_row") + first).drop("_row")
    jobs = rows_of.job_columns(
        tokens.rechunk(), layout.index, layout.names, layout.tz, layout.distinct
    )
    step_checks = [c for c in layout.checks() if c[0] in (ident, rss_col)]
    for part, checks in ((steps, step_checks), (jobs, layout.checks())):
        if not part["_ok"].all():
            malformed += _describe(part.filter(~pl.col("_ok")), checks, layout.path)
    jobs, steps = (p if p["_ok"].all() else p.filter("_ok") for p in (jobs, steps))
    internal = re.compile(r"^(f\d+|_(?!key$|tag$|line$|rss$).*)$")  # tokens, parse helpers
    jobs = _compact(jobs.select([c for c in jobs.columns if not internal.match(c)]))
    steps = steps.select("_key", "_step", "_rss", "_line")
    jobs, carried = attach_steps(jobs, steps)
    return jobs, steps, carried, sorted(malformed, key=lambda m: m.line)


def _nul_lines(raw: Buffer, lines: Lines) -> np.ndarray[Any, Any]:
    """Which lines hold a zero byte (only looked for when the scan saw one in the piece)."""
    where = np.flatnonzero(np.frombuffer(raw, np.uint8) == 0)
    index = np.searchsorted(lines.starts, where, side="right") - 1
    inside = (index >= 0) & (where < lines.ends[np.maximum(index, 0)])
    binary = np.zeros(len(lines.starts), dtype=bool)
    binary[index[inside]] = True
    return binary


def _control_reason(raw: Buffer, layout: Layout, line: int, start: int, end: int) -> Malformed:
    """The first control character of a line the scan marked, and the field holding it."""
    text = bytes(raw[start:end]).decode("utf-8", "replace")
    found = next(m for m in sf.CONTROL.finditer(text) if m[0] not in (layout.sep, "\x00"))
    index = text.count(layout.sep, 0, found.start())
    name = layout.names[index] if index < len(layout.names) else str(index + 1)
    why = f"field {name} holds the control character U+{ord(found[0]):04X}"
    return Malformed(str(layout.path), line, why)


def _number(column: str | None) -> int | None:
    """The field index of an ``f<i>`` column."""
    return None if column is None else int(column[1:])


def _describe(
    frame: pl.DataFrame, checks: list[tuple[str, str, str]], path: Path
) -> list[Malformed]:
    """Why each rejected row is bad: the first field (in file order) its value cannot be."""
    out = []
    for row in frame.iter_rows(named=True):
        reason = "a time that does not exist in the time zone given (tz)"
        for column, name, kind in checks:
            value = row[column]
            if kind == "jobid" and value == "":
                reason = f"field {name} is empty (every row needs a JobID)"
                break
            if sf.bad_value(kind, value):
                reason = f"field {name} is not {sf.WHAT[kind]}: {value[:60]!r}"
                break
        out.append(Malformed(str(path), int(row["_line"]), reason))
    return out
