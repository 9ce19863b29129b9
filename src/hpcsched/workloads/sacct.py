"""Slurm accounting reader: ``sacct -P`` text and ``sacct --json`` -> the job table.

How the ``sacct -P`` pitfalls of ``shared/data/sacct/README.md`` are handled:

1. No quoting: a delimiter inside JobName/WorkDir/Comment/SubmitLine/Constraints or a newline
   in a field breaks the line's field count, which is checked on every line; such a line is a
   :class:`Malformed` (1-based line number, reason) and is skipped. A control-character
   ``delimiter`` (``"\\x1f"``) or ``--json`` avoids them. Any fields in any order; ``-p``'s
   trailing delimiter; ``fields=[...]`` for ``--noheader``; gzip.
2. Step rows (``.batch``, ``.extern``, ``.N``, ``+0.batch``, ...) never become jobs: they give
   ``step_count`` and ``mem_used`` (peak MaxRSS, bytes, over the job row and its steps). Steps
   are read for JobID and MaxRSS only; those without a job row are counted as orphans.
3. ``job_id`` is JobID as printed (``123``, ``123_4``, ``123_[1-10%5]``, ``123+0``);
   ``array_id`` the array's id, ``sacct_array_tasks`` the tasks a row stands for (a pending
   range is one row), ``sacct_job_id_raw`` JobIDRaw. ``-D`` rows: attempts of one JobID differ
   in Submit; the job is its last job row in file order (the final attempt, with the steps that
   follow it) and ``sacct_requeues`` counts the others.
4. Times are printed in the local zone of the machine that ran sacct, with no zone: they are
   taken as UTC (``TZ=UTC sacct``, as :class:`hpcsched.slurm.SlurmAdapter` runs it) unless
   ``tz`` names the zone. Epoch seconds (``SLURM_TIME_FORMAT=%s``) are read too;
   ``Unknown``/``None``/``INVALID`` -> null; ``[D-]HH:MM:SS``, ``MM:SS``, ``MM:SS.mmm`` -> s.
5. Timelimit: TimelimitRaw minutes (else Timelimit) in s; ``UNLIMITED``/``Partition_Limit`` ->
   null.
6. 1024-based units (``2K`` = 2048, ``1.50K`` = 1536); ReqMem/TRES mem in MB, MaxRSS in bytes.
7. Legacy ReqMem ``4000Mn`` is per node, ``4000Mc`` per CPU (x nodes / cpus).
8. ``CANCELLED by <uid>`` -> ``cancelled`` + ``sacct_cancelled_by``; the state table is
   :data:`hpcsched.slurm.states.SLURM_JOB_STATES` (sacct man page, JOB STATE CODES,
   https://slurm.schedmd.com/sacct.html#SECTION_JOB-STATE-CODES); unknown codes -> ``unknown``.
9. Flags: ``SchedBackfill`` -> backfilled; ``SchedMain``/``SchedSubmit`` -> not; else null
   (the ``,StartRecieved``/``,StartReceived`` added by 22.05+ is ignored).
10. TRES (AllocTRES, else ReqTRES) give nodes, cpus, gpus (``gres/gpu``, else the typed
    ``gres/gpu:<type>`` summed) and memory where the plain fields are absent.
11. NodeList hostlists are counted (``sacct_nodelist_nodes``, the node count of last resort)
    and kept (``sacct_nodelist``); ``None assigned`` -> null.
12. Overlapping ``-S/-E`` windows repeat rows: a repeated attempt (same JobID and Submit) is
    read once and counted in :attr:`SacctRead.duplicates`.
13. Planned/PlannedCPU* and their pre-23.02 names Reserved/ResvCPU* share ``sacct_planned*``;
    AllocGRES/ReqGRES (gone in 23.02) are the gpu count of last resort.

ExitCode ``2:0`` -> ``exit_code`` 2 and ``sacct_exit_signal`` 0. Fields without a job-table
column are kept as text (``sacct_<name>``, from the job row); ``sacct_line`` is its line.

Speed: polars tokenises the file (``read_csv``, no quoting, all strings), every field is parsed
by vectorised expressions, and lines are only looked at one by one to describe bad ones.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from hpcsched.core.schema import CANONICAL_COLUMNS, conform
from hpcsched.workloads import sacct_fields as sf
from hpcsched.workloads.files import read_input_bytes
from hpcsched.workloads.swf import Malformed

__all__ = ["Malformed", "SacctError", "SacctRead", "fold", "load_bytes", "read_sacct"]

_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_CHUNK: Final = 1 << 22  # bytes scanned for newlines at a time (keeps the mask in cache)
_OPTIONAL: Final[dict[str, pl.DataType]] = {
    "eligible": pl.Float64(),
    "reason": pl.String(),
    "array_id": pl.Int64(),
    "step_count": pl.Int64(),
    "workdir": pl.String(),
}
_EXTRAS: Final[dict[str, pl.DataType]] = {
    "sacct_job_id_raw": pl.String(),
    "sacct_array_tasks": pl.Int64(),
    "sacct_requeues": pl.Int64(),
    "sacct_cancelled_by": pl.Int64(),
    "sacct_cancelled_by_user": pl.String(),
    "sacct_exit_signal": pl.Int32(),
    "sacct_nodelist": pl.String(),
    "sacct_nodelist_nodes": pl.Int64(),
    "sacct_line": pl.Int64(),
}


class SacctError(Exception):
    """The input cannot be read; the message is one line: what, where, what to do."""


@dataclass
class SacctRead:
    """A parsed accounting dump: one job-table row per job, plus what was read around it.

    ``rows_read`` counts the data rows read (job and step rows, including requeued attempts,
    duplicates and orphan steps): ``rows_read + len(malformed)`` is the number of non-blank data
    lines (for JSON: of ``jobs`` entries). ``requeues`` counts earlier attempts folded into their
    job, ``duplicates`` rows repeating an attempt already read, ``orphan_steps`` step rows whose
    job row is absent (left out of the table).
    """

    table: pl.DataFrame
    rows_read: int
    jobs: int
    steps: int
    malformed: list[Malformed] = field(default_factory=list)
    path: str = ""
    requeues: int = 0
    duplicates: int = 0
    orphan_steps: int = 0

    def states(self) -> dict[str, int]:
        """Jobs per canonical state."""
        counts = self.table.group_by("state").len().sort("state")
        return {str(state): int(n) for state, n in counts.iter_rows()}


def unreadable(path: Path, what: str) -> SacctError:
    return SacctError(f"cannot read sacct output {path}: {what}")


def load_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic."""
    raw = read_input_bytes(path, lambda why: unreadable(path, why), "give a sacct output file")
    return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw  # a UTF-8 byte order mark


def _separator(raw: bytes, delimiter: str, path: Path) -> tuple[bytes, str]:
    """(data, one-byte separator): a longer delimiter is swapped for an unused control byte."""
    encoded = delimiter.encode()
    if not encoded or b"\n" in encoded or b"\r" in encoded:
        raise SacctError(f"delimiter {delimiter!r} cannot separate fields (give sacct's)")
    if b"\x00" in raw and encoded != b"\x00":
        raise unreadable(path, "binary data, not sacct text output (check the path)")
    if len(encoded) == 1:
        return raw, delimiter
    spare = next(b for b in (*range(0x1F, 0x1B, -1), *range(1, 9)) if bytes([b]) not in raw)
    return raw.replace(encoded, bytes([spare])), chr(spare)


def _lines(raw: bytes) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Start and end offsets of every line (the end excludes ``\\r\\n``)."""
    arr = np.frombuffer(raw, dtype=np.uint8)
    newlines = [np.flatnonzero(arr[a : a + _CHUNK] == 10) + a for a in range(0, len(arr), _CHUNK)]
    ends = np.concatenate([*newlines, np.array([len(raw)], dtype=np.int64)])
    starts = np.concatenate(([0], ends[:-1] + 1))
    if raw.endswith(b"\n") or not raw:
        starts, ends = starts[:-1], ends[:-1]
    has_cr = (ends > starts) & (arr[np.maximum(ends - 1, 0)] == 13)
    return starts, ends - has_cr


def _header(
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


def _tokenise(raw: bytes, sep: str, n_fields: int, skip: int, n_rows: int) -> pl.DataFrame:
    schema = {f"f{i}": pl.String() for i in range(n_fields)}
    if n_rows <= 0:
        return pl.DataFrame(schema={"_line": pl.Int64(), **schema})
    frame = pl.read_csv(
        raw,
        has_header=False,
        separator=sep,
        quote_char=None,
        schema=schema,
        missing_columns="insert",
        extra_columns="ignore",
        truncate_ragged_lines=True,
        empty_string_is_null=False,
        skip_lines=skip,
        encoding="utf8-lossy",
        raise_if_empty=False,
        # numbered by the reader: a column added later would not share the text columns' chunks
        # and polars would then copy all of them to align the chunks
        row_index_name="_line",
        row_index_offset=skip + 1,
    )
    if frame.height != n_rows:
        raise SacctError(f"polars read {frame.height} rows from {n_rows} lines (please report)")
    return frame


def _field_counts(
    raw: bytes, frame: pl.DataFrame, bounds: tuple[np.ndarray[Any, Any], ...], sep: str, path: Path
) -> tuple[pl.DataFrame, pl.Expr, list[Malformed]]:
    """(rows, which rows to read, the lines without the header's number of fields).

    A line has exactly the header's fields iff its field lengths plus the separators add up to
    its length (polars cuts extra fields off and reads missing ones as empty). Only the lines
    where they do not are split again in Python; when such a line does have the right count
    (invalid UTF-8, a ``\\r`` before a separator), its fields are taken from that split."""
    starts, ends, line_no = bounds
    lengths = ends - starts
    width = frame.width - 1
    texts = pl.all().exclude("_line").str.len_bytes()
    total = frame.select(pl.sum_horizontal(texts).cast(pl.Int64) + (width - 1)).to_series()
    keep = lengths > 0  # blank lines are skipped
    bad: list[Malformed] = []
    fixed: list[list[Any]] = []
    for row in np.flatnonzero(keep & (total.to_numpy() != lengths)):
        values = raw[starts[row] : ends[row]].decode("utf-8", "replace").split(sep)
        keep[row] = False
        if len(values) == width:
            fixed.append([int(line_no[row]), *values])
            continue
        hint = (
            f"a {sep!r} inside JobName, WorkDir, Comment, SubmitLine or Constraints? use a "
            "control-character --delimiter or --json"
            if len(values) > width
            else "a line cut short, or a newline inside a field?"
        )
        reason = f"expected {width} fields, found {len(values)} ({hint})"
        bad.append(Malformed(str(path), int(line_no[row]), reason))
    if keep.all():
        return frame, pl.lit(True), bad
    if not fixed:  # filtered later, with the job/step split: one copy of the columns, not two
        return frame, pl.lit(pl.Series(keep)), bad
    rows = pl.DataFrame(fixed, schema=frame.schema, orient="row")
    return pl.concat([frame.filter(pl.Series(keep)), rows]).sort("_line"), pl.lit(True), bad


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


def read_sacct(
    path: str | Path,
    *,
    delimiter: str = "|",
    fields: Sequence[str] | None = None,
    strict: bool = False,
    tz: str = "UTC",
) -> SacctRead:
    """Read ``sacct -P`` (or ``-p``) text output, plain or gzipped, into a :class:`SacctRead`.

    ``fields`` names the columns of ``--noheader`` output (``--format`` order); a first line
    equal to them is taken as a header and skipped. ``tz`` is the zone sacct printed times in
    (see the module notes). Lines that cannot be read are counted in ``malformed`` and skipped;
    ``strict=True`` raises :class:`SacctError` at the first. Unreadable files always raise.
    """
    path = Path(path)
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SacctError(f"unknown time zone {tz!r} (give an IANA name such as 'UTC')") from None
    raw, sep = _separator(load_bytes(path), delimiter, path)
    starts, ends = _lines(raw)
    nonblank = np.flatnonzero(ends > starts)
    if fields is None and not len(nonblank):
        raise unreadable(path, "empty (sacct prints nothing when a --format name is unknown)")
    first = int(nonblank[0]) if len(nonblank) else 0
    head = raw[starts[first] : ends[first]].decode("utf-8", "replace") if len(nonblank) else ""
    names, skip = _header(head, first, sep, fields, path)
    if not (nonblank >= skip).any():  # nothing after the header
        starts = ends = np.zeros(skip, dtype=np.int64)
    frame = _tokenise(raw, sep, len(names), skip, len(starts) - skip)
    line_no = np.arange(skip + 1, len(starts) + 1, dtype=np.int64)
    bounds = (starts[skip:], ends[skip:], line_no)
    frame, keep, malformed = _field_counts(raw, frame, bounds, sep, path)
    index: dict[str, str] = {}
    for i, name in enumerate(names):
        index.setdefault(sf.RENAMED.get(name.lower(), name.lower()), f"f{i}")
    ident = index.get("jobid") or index.get("jobidraw")
    checks = [
        (column, names[int(column[1:])], sf.FIELD_KINDS[lower])
        for lower, column in sorted(index.items(), key=lambda item: int(item[1][1:]))
        if lower in sf.FIELD_KINDS
    ]
    is_step = pl.lit(False) if ident is None else pl.col(ident).str.contains(".", literal=True)
    step_cols = [c for c in (ident, index.get("maxrss"), "_line") if c is not None]
    steps = sf.step_columns(frame.select(step_cols).filter(is_step & keep), index)
    # one chunk per column: mapping a column with many chunks rebuilds its hash table per chunk
    jobs = sf.job_columns(frame.filter(~is_step & keep).rechunk(), index, names, tz)
    step_checks = [c for c in checks if c[0] in (ident, index.get("maxrss"))]
    for rows, row_checks in ((steps, step_checks), (jobs, checks)):
        if not rows["_ok"].all():
            malformed += _describe(rows.filter(~pl.col("_ok")), row_checks, path)
    malformed.sort(key=lambda m: m.line)
    if malformed and strict:
        raise SacctError(
            f"{malformed[0]} (strict mode stops at the first bad line; without it bad lines are "
            "counted and skipped)"
        )
    jobs, steps = (rows if rows["_ok"].all() else rows.filter("_ok") for rows in (jobs, steps))
    internal = re.compile(r"^(f\d+|_(?!key$|tag$|line$|rss$).*)$")  # tokens, parse helpers
    jobs = jobs.select([c for c in jobs.columns if not internal.match(c)])
    if malformed and jobs.height + steps.height == 0:
        raise unreadable(path, f"no line could be read as sacct -P output (first: {malformed[0]})")
    table, stats = fold(jobs, steps)
    return SacctRead(
        table, jobs.height + steps.height, table.height, steps.height, malformed, str(path), **stats
    )


def fold(jobs: pl.DataFrame, steps: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """One row per job: the last job row of each JobID (file order) with its attempt's steps.

    Job rows carry ``_key`` (JobID), ``_tag`` (the attempt: Submit) and ``_line``; step rows
    ``_key``, ``_step``, ``_rss``, ``_line`` and ``_tag`` (null: the attempt of the job row
    before them). Only JobIDs with several job rows need the attempt bookkeeping.
    """
    repeated = pl.col("_key").is_duplicated()
    multi = jobs.filter(repeated)
    stats = {"requeues": 0, "duplicates": 0}
    requeues = pl.lit(0, dtype=pl.Int64)
    if multi.height:
        jobs = jobs.with_columns(pl.when(repeated).then(pl.col("_tag")).otherwise(pl.lit("")))
        in_multi = pl.col("_key").is_in(multi["_key"].unique().implode())
        steps = steps.with_columns(pl.when(in_multi).then(pl.col("_tag")).otherwise(pl.lit("")))
        rows = pl.concat(
            [f.select("_key", "_line", "_tag") for f in (multi, steps.filter(in_multi))]
        )
        filled = rows.sort("_line").select(
            "_line", pl.col("_tag").forward_fill().over("_key").alias("_filled")
        )
        before = steps.height
        steps = (
            steps.join(filled, on="_line", how="left", maintain_order="left")
            .with_columns(pl.coalesce("_tag", "_filled"))
            .unique(["_key", "_tag", "_step"], keep="last", maintain_order=True)
        )
        attempts = multi.group_by("_key").agg(_rows=pl.len(), _attempts=pl.col("_tag").n_unique())
        stats["requeues"] = int((attempts["_attempts"] - 1).sum())
        stats["duplicates"] = int((attempts["_rows"] - attempts["_attempts"]).sum())
        stats["duplicates"] += before - steps.height
        last = pl.col("_line") == pl.col("_line").max().over("_key")
        jobs = jobs.filter(~repeated | last).join(attempts, on="_key", how="left")
        requeues = (pl.col("_attempts") - 1).fill_null(0)
        keys = ["_key", "_tag"]
    else:  # every JobID has one job row: its steps are all the rows with its JobID
        keys = ["_key"]
    per_job = steps.group_by(keys).agg(step_count=pl.len(), _step_rss=pl.col("_rss").max())
    orphan = ~pl.col("_key").is_in(jobs["_key"].implode())
    if multi.height:
        orphan = orphan | pl.col("_tag").is_null()
    stats["orphan_steps"] = int(per_job.filter(orphan)["step_count"].sum())
    table = jobs.join(per_job, on=keys, how="left", maintain_order="left")
    table = table.with_columns(
        step_count=pl.col("step_count").fill_null(0),
        mem_used=pl.max_horizontal("_rss", "_step_rss"),
        sacct_requeues=requeues,
    )
    extras = [c for c in table.columns if c.startswith("sacct_") and c not in _EXTRAS]
    table = table.select(
        *[c for c in CANONICAL_COLUMNS if c in table.columns],
        *[pl.col(c).cast(t) for c, t in {**_OPTIONAL, **_EXTRAS}.items() if c in table.columns],
        *extras,
    )
    return conform(table), stats
