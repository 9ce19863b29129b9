"""hpcsched trace convert|synth."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hpcsched import cli_pull
from hpcsched.cli_common import fail

if TYPE_CHECKING:
    from hpcsched.workloads.swf import Malformed

trace_app = typer.Typer(help="Read, write and collect job traces (sacct, sacct --json, SWF).")

FORMATS = ("sacct", "sacct-json", "swf")
SHOWN_MALFORMED = 5


def _return_freed_memory() -> None:
    """Have Polars' allocator (jemalloc) give freed pages back at once instead of keeping them
    for reuse: reading a 1M-job dump otherwise peaks at ~1.8 GB RSS instead of ~1.2 GB. It
    only takes effect before Polars is loaded (a fresh ``hpcsched`` process); a setting the
    user made is kept."""
    os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")


def _sniff(path: Path) -> str:
    """swf by name (.swf, .swf.gz); sacct-json when the content starts with ``{``; else sacct."""
    if path.name.endswith((".swf", ".swf.gz")):
        return "swf"
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as handle:
                head = handle.read(4096)
    except (OSError, EOFError):
        return "sacct"  # the reader names the problem
    return "sacct-json" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "sacct"


def _read(
    path: Path, source: str, delimiter: str, fields: list[str] | None, strict: bool
) -> tuple[Any, dict[str, Any], list[Malformed], int | None]:
    """(table, summary, malformed lines, machine size) of ``path`` read as ``source``."""
    from hpcsched.workloads.sacct import SacctError, read_sacct
    from hpcsched.workloads.sacct_json import read_sacct_json
    from hpcsched.workloads.swf import SwfError, read_swf

    if source != "sacct" and (delimiter != "|" or fields is not None):
        fail(f"--delimiter and --fields are for --from sacct, not {source}; drop them")
    try:
        if source == "swf":
            trace = read_swf(path, strict=strict)
            table = trace.table
            summary = {"rows_read": table.height, "jobs": table.height, "steps": 0}
            return table, summary, list(trace.malformed), trace.machine_procs
        if source == "sacct-json":
            read = read_sacct_json(path)
            if strict and read.malformed:
                fail(f"{read.malformed[0]} (--strict stops at the first unreadable job)")
        else:
            read = read_sacct(path, delimiter=delimiter, fields=fields, strict=strict)
    except (SacctError, SwfError) as exc:
        fail(str(exc))
    summary = {
        "rows_read": read.rows_read,
        "jobs": read.jobs,
        "steps": read.steps,
        "requeues": read.requeues,
        "duplicates": read.duplicates,
        "orphan_steps": read.orphan_steps,
    }
    return read.table, summary, list(read.malformed), None


@trace_app.command()
def convert(
    file: Annotated[Path, typer.Argument(help="sacct -P text, sacct --json, or an SWF trace")],
    out: Annotated[Path, typer.Option(help="the job table to write (.parquet)")],
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="input format: sacct, sacct-json or swf (default: .swf/.swf.gz -> swf, "
            "a JSON object -> sacct-json, else sacct)",
        ),
    ] = None,
    delimiter: Annotated[
        str, typer.Option(help="the field separator sacct was given (--delimiter); sacct only")
    ] = "|",
    fields: Annotated[
        str | None,
        typer.Option(
            help="comma-separated field names in --format order, for sacct --noheader output"
        ),
    ] = None,
    anonymize: Annotated[
        bool,
        typer.Option(
            help="replace users, accounts, uids and paths by keyed HMAC-SHA256 pseudonyms "
            "(stable for one key; key: --anonymize-key, else $HPCSCHED_ANON_KEY, else "
            "~/.config/hpcsched/anon.key, created on first use)"
        ),
    ] = False,
    anonymize_key: Annotated[
        str | None, typer.Option(help="the key for --anonymize (implies --anonymize)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print a JSON summary as the last stdout line")
    ] = False,
    strict: Annotated[bool, typer.Option(help="stop at the first malformed line")] = False,
) -> None:
    """Convert an accounting dump or SWF trace into a job table (Parquet).

    Malformed lines are skipped and reported on stderr with file:line (--strict stops instead).
    """
    _return_freed_memory()
    from hpcsched.render import status
    from hpcsched.workloads.load import write_table

    chosen = source or _sniff(file)
    if chosen not in FORMATS:
        fail(f"--from {chosen!r} is not one of {', '.join(FORMATS)}")
    if out.suffix != ".parquet":
        fail(f"--out {out} must end in .parquet (the job table is written as Parquet)")
    names = [f.strip() for f in fields.split(",") if f.strip()] if fields is not None else None
    if names is not None and not names:
        fail("--fields is empty: give the sacct --format names, e.g. JobID,State,Elapsed")
    with status(f"reading {file} as {chosen}"):
        table, summary, malformed, procs = _read(file, chosen, delimiter, names, strict)
        if anonymize or anonymize_key:
            from hpcsched.workloads.anonymize import anonymize as pseudonymise
            from hpcsched.workloads.anonymize import resolve_key

            try:
                key, _ = resolve_key(anonymize_key)
            except (OSError, ValueError) as exc:
                fail(f"cannot get the anonymization key: {exc}")
            table = pseudonymise(table, key)
        try:
            write_table(table, out, machine_procs=procs)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc} (check the path)")
    if malformed:
        typer.echo(
            f"hpcsched: warning: {len(malformed)} malformed line(s) skipped in {file}"
            " (--strict stops at the first):",
            err=True,
        )
        for bad in malformed[:SHOWN_MALFORMED]:
            typer.echo(f"  {bad}", err=True)
    counts = table.group_by("state").len().sort("state").iter_rows()
    summary = {
        **summary,
        "malformed": len(malformed),
        "states": {str(state): int(n) for state, n in counts},
        "source": chosen,
        "out": str(out),
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(
        f"wrote {summary['jobs']:,} jobs to {out} ({summary['rows_read']:,} rows read, "
        f"{summary['steps']:,} steps, {len(malformed):,} malformed)"
    )


@trace_app.command()
def synth(
    jobs: Annotated[int, typer.Option(help="number of jobs (Lublin–Feitelson model)")],
    out: Annotated[Path, typer.Option(help="file to write (.gz => gzip)")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="sacct: sacct -a -P -D text with the Frontier study's 60 fields (+ JobID, User, "
            "NodeList, Elapsed, Timelimit) and step rows; swf: a Standard Workload Format trace",
        ),
    ] = "sacct",
    seed: Annotated[int, typer.Option(help="random seed (same seed => same file)")] = 0,
    malformed: Annotated[
        int, typer.Option(help="number of deliberately broken lines to include")
    ] = 0,
) -> None:
    """Write a synthetic, realistic trace (deterministic by seed), e.g. to test readers."""
    _return_freed_memory()
    from hpcsched.render import status
    from hpcsched.workloads.sacct_synth import write_sacct, write_swf_trace

    if jobs < 1:
        fail(f"--jobs {jobs}: give at least 1 job")
    if malformed < 0:
        fail(f"--malformed {malformed}: give 0 or more broken lines")
    if fmt not in ("sacct", "swf"):
        fail(f"--format {fmt!r} is not sacct or swf")
    try:
        with status(f"writing {jobs:,} synthetic jobs to {out}"):
            if fmt == "sacct":
                bad = write_sacct(out, jobs, seed=seed, malformed=malformed).malformed_lines
            else:
                bad = write_swf_trace(out, jobs, seed=seed, malformed=malformed)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc} (check the path)")
    note = f", broken lines: {', '.join(map(str, bad[:10]))}" if bad else ""
    typer.echo(f"wrote {jobs:,} jobs to {out} ({fmt}{note})")


def register(app: typer.Typer) -> None:
    """Add the ``trace`` command group to ``app``."""
    cli_pull.register(trace_app)
    app.add_typer(trace_app, name="trace")
