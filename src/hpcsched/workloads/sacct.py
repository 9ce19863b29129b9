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
   :data:`hpcsched.core.slurm_states.SLURM_JOB_STATES` (sacct man page, JOB STATE CODES,
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

Speed and memory: the file is read in 32 MiB pieces that end at a newline, two parsed at a
time on worker threads (the compiled scan, numpy and Polars release the GIL). In each, one pass
(:mod:`~hpcsched.workloads.sacct_lines`) counts the fields of every line and finds JobID and
MaxRSS, so step rows (about three quarters of a dump with steps) are never tokenised whole. The
kernel splits the job rows into Arrow string views that Polars takes without a copy (a piece
with bytes that are not UTF-8 goes to Polars' ``read_csv`` instead: no quoting, all strings, bad
bytes replaced), and every field is parsed with vectorised expressions
(:mod:`~hpcsched.workloads.sacct_rows`), repeating fields once per distinct value of the file.
Text fields holding one value on every job row of a piece are stored once (Polars constants).
Each piece counts its steps against its own job rows; requeued attempts and steps spilling into
the next piece are folded after all pieces are read (:mod:`~hpcsched.workloads.sacct_fold`), and
each piece is then finished and released on its own. Lines are only looked at one by one to
describe bad ones.

Measured and not kept (1M jobs, 60 pieces, this 2-core machine): a worker process parsing every
other piece, reading its ranges from the file itself and handing frames back as Arrow IPC files
(7.8 s for the pieces against 7.1 s on two threads: a piece took 300 ms in the worker next to the
busy main process, 214 ms alone; the two cores slow each other down whichever way the work is
split), three or four threads (no change), a third piece read ahead while two are parsed (no
change), 16/24 MiB pieces (no gain), mmap in place of reads into recycled buffers (4 ms per
piece). Tokenising the job rows of a piece (17k lines, 65 fields, 9 MB) took 42 ms of CPU in
Polars' ``read_csv`` and 37 ms in PyArrow's CSV reader (45 with the conversion to Polars),
against 18 ms split in the kernel: 10.1 -> 8.4 s for the whole report.
"""

from __future__ import annotations

import zoneinfo
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from hpcsched.workloads import sacct_lines as sl
from hpcsched.workloads.sacct_fold import fold
from hpcsched.workloads.sacct_piece import (
    Layout,
    binary_error,
    check_delimiter,
    make_layout,
    parse_piece,
    read_header,
    separator,
)
from hpcsched.workloads.sacct_stream import SacctError, load_bytes, stream_pieces, unreadable
from hpcsched.workloads.swf import Malformed

__all__ = ["Malformed", "SacctError", "SacctRead", "fold", "load_bytes", "read_sacct"]

_PIECE: Final = 1 << 25  # bytes of text parsed at a time (32 MiB)
_AHEAD: Final = 2  # pieces parsed at once (one per core)


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


def read_sacct(
    path: str | Path,
    *,
    delimiter: str = "|",
    fields: Sequence[str] | None = None,
    strict: bool = False,
    tz: str = "UTC",
    required: Sequence[str] | None = None,
) -> SacctRead:
    """Read ``sacct -P`` (or ``-p``) text output, plain or gzipped, into a :class:`SacctRead`.

    ``fields`` names the columns of ``--noheader`` output (``--format`` order); a first line
    equal to them is taken as a header and skipped. ``tz`` is the zone sacct printed times in
    (see the module notes). Lines that cannot be read are counted in ``malformed`` and skipped;
    ``strict=True`` raises :class:`SacctError` at the first. Unreadable files always raise.
    ``required`` names fields that must be present (``JobID``, ``Submit``), refused up front
    when missing; by default JobID when the header is read (without it step rows would be taken
    for jobs) and none with ``fields=[...]`` (derived files without JobIDs, one job per row).
    The file is read in pieces of about 32 MiB (steps follow their job; requeued attempts may
    be anywhere, so attempts are folded once all pieces are read).
    """
    path = Path(path)
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SacctError(f"unknown time zone {tz!r} (give an IANA name such as 'UTC')") from None
    check_delimiter(delimiter)
    need = list(required if required is not None else (() if fields else ("JobID",)))
    layout: Layout | None = None
    jobs: list[pl.DataFrame] = []
    steps: list[pl.DataFrame] = []
    malformed: list[Malformed] = []
    lines_before = 0
    carried: list[pl.DataFrame] = []
    pending: deque[
        tuple[Future[tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[Malformed]]], bytearray]
    ] = deque()
    spare: list[bytearray] = []  # pieces parsed, to read into again

    def collect() -> None:
        future, piece = pending.popleft()
        part_jobs, part_steps, part_carried, bad = future.result()
        spare.append(piece)
        del piece
        if bad and strict:
            for left, _ in pending:
                left.cancel()
            raise SacctError(
                f"{bad[0]} (strict mode stops at the first bad line; without it bad lines are "
                "counted and skipped)"
            )
        jobs.append(part_jobs)
        carried.append(part_carried)
        steps.append(part_steps)
        malformed.extend(bad)

    # two pieces are parsed at a time: numpy and Polars release the GIL, so the second core
    # works while the first piece's Python-side steps run; at most _AHEAD pieces are held
    with ThreadPoolExecutor(max_workers=2) as pool:
        for piece in stream_pieces(path, _PIECE, spare):
            raw, sep = separator(piece, delimiter)
            count = sl.line_count(raw)
            skip = 0
            if layout is None:
                starts, ends = sl.line_bounds(raw)
                nonblank = np.flatnonzero(ends > starts)
                if fields is None and not len(nonblank):
                    lines_before += count
                    continue
                first = int(nonblank[0]) if len(nonblank) else 0
                head = (
                    raw[starts[first] : ends[first]].decode("utf-8", "replace")
                    if len(nonblank)
                    else ""
                )
                if "\x00" in head and delimiter != "\x00":
                    raise binary_error(path)
                names, skip = read_header(head, lines_before + first, sep, fields, path)
                skip = max(skip - lines_before, 0)
                layout = make_layout(names, sep, tz, path, need)
            mine = replace(layout, sep=sep)  # a longer delimiter's stand-in may differ by piece
            number = lines_before + skip + 1
            pending.append((pool.submit(parse_piece, raw, mine, skip, number, count), piece))
            lines_before += count
            while len(pending) >= _AHEAD:
                collect()
        while pending:
            collect()
    if layout is None:
        if fields is None:
            raise unreadable(path, "empty (sacct prints nothing when a --format name is unknown)")
        layout = make_layout(
            list(fields), delimiter if len(delimiter.encode()) == 1 else "\x1f", tz, path, need
        )
    if not jobs:
        part_jobs, part_steps, part_carried, _ = parse_piece(b"", layout, 0, 1)
        jobs, steps, carried = [part_jobs], [part_steps], [part_carried]
    step_rows = sum(s.height for s in steps)
    rows = sum(j.height for j in jobs) + step_rows
    if malformed and rows == 0:
        raise unreadable(path, f"no line could be read as sacct -P output (first: {malformed[0]})")
    table, stats = fold(jobs, steps, carried)  # empties the lists: each piece is released once used
    sl.release_freed_memory()
    return SacctRead(table, rows, table.height, step_rows, malformed, str(path), **stats)
