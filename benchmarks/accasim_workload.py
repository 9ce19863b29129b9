"""The trace AccaSim reads: an SWF file scanned and, by default, sanitised (records AccaSim's
reader would skip silently or that corrupt its event clock are dropped and counted), so that the
job counts AccaSim reports can be checked against the input (:mod:`accasim_reference`)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


@dataclass
class SwfScan:
    """What the pre-run scan found in the trace (counts of job records)."""

    records: int = 0
    kept: int = 0
    unparsable: int = 0
    """Fewer than 18 integer fields: AccaSim's regex parser skips the line silently."""
    no_processors: int = 0
    """Requested and allocated processors both missing (<= 0): AccaSim's parser skips
    both -1; a 0 would become a 0-core job."""
    negative_runtime: int = 0
    """Run time -1 (e.g. cancelled before start): AccaSim would schedule the job's end
    *before* its start and move its clock backwards."""
    no_estimate: int = 0
    """Requested time -1: EASY's reservation arithmetic would use -1 s as the estimate."""
    wider_than_machine: int = 0
    """More processors than the machine: kept; AccaSim's dispatcher rejects them."""
    with_memory: int = 0
    """Records with a memory field (ignored: the synthetic machine has cores only)."""
    out_of_order: int = 0
    """Submit time earlier than the previous record's (sorted if sanitising)."""
    unix_start_time: int | None = None
    max_procs: int | None = None
    dropped_reasons: dict[str, int] = field(default_factory=dict)


def open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def header_int(line: str, key: str) -> int | None:
    body = line.lstrip(";").strip()
    if body.lower().startswith(key.lower() + ":"):
        try:
            return int(body.split(":", 1)[1].split()[0])
        except (IndexError, ValueError):
            return None
    return None


def prepare_workload(
    src: Path,
    dst: Path,
    *,
    system_procs: int,
    sanitize: bool = True,
) -> SwfScan:
    """Scan ``src`` (plain or gzip SWF) and write the file AccaSim will read to ``dst``.

    With ``sanitize`` the records AccaSim cannot simulate faithfully (see :class:`SwfScan`)
    are dropped and the rest are stably sorted by submit time; otherwise the trace is
    copied unchanged (decompressed) and only counted.
    """
    scan = SwfScan()
    header: list[str] = []
    jobs: list[tuple[int, str]] = []
    last_submit: int | None = None
    with open_text(src) as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith(";"):
                header.append(line)
                ust = header_int(stripped, "UnixStartTime")
                if ust is not None:
                    scan.unix_start_time = ust
                mp = header_int(stripped, "MaxProcs")
                if mp is not None:
                    scan.max_procs = mp
                continue
            scan.records += 1
            fields = stripped.split()
            reason: str | None = None
            try:
                vals = [int(f) for i, f in enumerate(fields[:18]) if i != 5]
                if len(fields) < 18:
                    raise ValueError
                float(fields[5])
            except ValueError:
                scan.unparsable += 1
                reason = "unparsable"
                vals = []
            if vals:
                # vals is the record without field 6 (avg CPU time): shift indices after 5.
                submit, runtime, alloc = vals[1], vals[3], vals[4]
                used_mem, req_procs, req_time, req_mem = vals[5], vals[6], vals[7], vals[8]
                procs = req_procs if req_procs != -1 else alloc
                if used_mem != -1 or req_mem != -1:
                    scan.with_memory += 1
                if procs > system_procs:
                    scan.wider_than_machine += 1
                if last_submit is not None and submit < last_submit:
                    scan.out_of_order += 1
                last_submit = submit if last_submit is None else max(last_submit, submit)
                if procs <= 0:
                    scan.no_processors += 1
                    reason = reason or "no_processors"
                if runtime < 0:
                    scan.negative_runtime += 1
                    reason = reason or "negative_runtime"
                if req_time < 0:
                    scan.no_estimate += 1
                    reason = reason or "no_estimate"
                if reason is None or not sanitize:
                    jobs.append((submit, stripped))
            if reason is not None:
                scan.dropped_reasons[reason] = scan.dropped_reasons.get(reason, 0) + 1
    if sanitize:
        jobs.sort(key=lambda j: j[0])  # stable: keeps trace order for equal submit times
    else:
        scan.dropped_reasons = {}
    scan.kept = len(jobs)
    with dst.open("w", encoding="utf-8") as out:
        for h in header:
            out.write(h + "\n")
        for _, line in jobs:
            out.write(line + "\n")
    return scan


def max_procs_from_header(path: Path) -> int | None:
    with open_text(path) as fh:
        for line in fh:
            s = line.strip()
            if s and not s.startswith(";"):
                return None
            mp = header_int(s, "MaxProcs")
            if mp is not None:
                return mp
    return None
