"""hpcsched trace pull: what a live Slurm cluster ran, as a job table (Parquet)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hpcsched.cli.errors import checked_output, fail
from hpcsched.cli.options import TABLE_OUT_HELP, JsonOpt, flag

if TYPE_CHECKING:
    from hpcsched.slurm.pull import PullResult


def _when(option: str, text: str) -> datetime:
    from hpcsched.slurm.pull import parse_when

    try:
        return parse_when(text)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _report(result: PullResult, out: Path) -> None:
    for bad in result.malformed[:5]:
        typer.echo(f"hpcsched: warning: malformed line skipped: {bad}", err=True)
    if len(result.malformed) > 5:
        typer.echo(f"hpcsched: warning: {len(result.malformed) - 5} more malformed lines", err=True)
    info = result.summary()
    states = ", ".join(f"{n} {state}" for state, n in result.read.states().items())
    typer.echo(
        f"{info['jobs']:,} jobs ({info['steps']:,} steps) of cluster {info['cluster']} from "
        f"{info['windows']} month window(s), {info['cached_windows']} from the cache; "
        f"{info['duplicates']} duplicate(s) removed, {info['malformed']} malformed -> {out}"
    )
    if states:
        typer.echo(f"states: {states}")


def pull(
    since: Annotated[
        str,
        typer.Option("--since", help="first day to collect: YYYY-MM-DD or an ISO datetime (UTC)"),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help=TABLE_OUT_HELP)],
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="end, exclusive: YYYY-MM-DD or an ISO datetime (default: now)"
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="where each month's sacct text is kept (default: ~/.cache/hpcsched/sacct)"
        ),
    ] = None,
    no_cache: Annotated[
        bool, flag("--no-cache", help="query every month again, even those in the cache")
    ] = False,
    parallel: Annotated[
        int, typer.Option(help="sacct queries at once (each loads slurmdbd; keep it small)")
    ] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Collect what the cluster ran into a job table (Parquet), as convert gives for a sacct file.

    Queries sacct one calendar month at a time (UTC, a few in parallel), keeps each month's text
    in the cache, reuses months that ended over a day ago, and counts each job once."""
    from hpcsched.cli.render_pull import window_progress
    from hpcsched.slurm import SlurmAdapter, SlurmError
    from hpcsched.slurm.pull import month_windows, pull_accounting
    from hpcsched.workloads.export import TABLE_SUFFIXES, write_job_table
    from hpcsched.workloads.sacct import SacctError
    from hpcsched.workloads.swf import SwfError

    start = _when("--since", since)
    end = _when("--until", until) if until else None
    if end is not None and start >= end:
        fail(f"--since {since} is not before --until {until} (give an earlier --since)")
    if parallel < 1 or parallel > 32:
        fail(f"--parallel {parallel} is out of range (give 1 to 32; 4 is gentle on slurmdbd)")
    checked_output(out, *TABLE_SUFFIXES)  # the format follows the name
    adapter = SlurmAdapter()
    reason = adapter.available()
    if reason is not None:
        fail(f"no Slurm cluster to pull from: {reason} (run where sacct and slurmctld answer)")
    now = datetime.now(UTC)
    total = len(month_windows(start, min(end or now, now)))
    try:
        with window_progress(total) as progress:
            result = pull_accounting(
                start,
                end or now,
                adapter=adapter,
                cache_dir=cache_dir,
                parallel=parallel,
                use_cache=not no_cache,
                now=now,
                progress=progress,
            )
    except (ValueError, SlurmError, SacctError) as exc:
        fail(str(exc))
    try:
        write_job_table(result.table, out)
    except SwfError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc} (check the path and the disk)")
    _report(result, out)
    if as_json:
        typer.echo(json.dumps({**result.summary(), "out": str(out)}))


_HELP = (
    "Collect what the cluster ran into a job table (Parquet, CSV, JSON Lines or SWF by the --out "
    "name), as convert gives for a sacct "
    "file.\n\nQueries sacct one calendar month at a time (UTC, a few in parallel), keeps each "
    "month's text in the cache, reuses months that ended over a day ago with every job "
    "finished, and counts each job once."
)


def register(app: typer.Typer) -> None:
    """Add ``pull`` to the ``trace`` group (``app`` is that group)."""
    app.command("pull", help=_HELP)(pull)
