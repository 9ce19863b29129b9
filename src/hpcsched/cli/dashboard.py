"""hpcsched dashboard: serve the interactive dashboard of one job table (or two, compared) on this
machine."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Annotated

import typer

from hpcsched.cli.errors import fail
from hpcsched.cli.inputs import open_job_table


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def dashboard(
    table: Annotated[
        Path,
        typer.Argument(
            help="job table: .parquet, SWF (.swf/.swf.gz), sacct -P text or sacct --json"
        ),
    ],
    compare: Annotated[
        Path | None,
        typer.Option(
            help="a second table (same formats, e.g. a simulation of the first) shown side by "
            "side on shared y scales, with the Δ table; the filters apply to both"
        ),
    ] = None,
    port: Annotated[
        int, typer.Option(help="TCP port to serve on (0: any free port)", min=0, max=65535)
    ] = 8050,
    host: Annotated[
        str,
        typer.Option(
            help="address to bind; keep 127.0.0.1 (the table names users and their jobs) and "
            "reach it from elsewhere with an SSH tunnel"
        ),
    ] = "127.0.0.1",
    title: Annotated[
        str | None, typer.Option(help="page heading (default: the file's name)")
    ] = None,
    procs: Annotated[
        float | None,
        typer.Option(
            help="machine size in processors, for utilisation (default: the file's)", min=1
        ),
    ] = None,
) -> None:
    """Serve an interactive dashboard of a job table: filter by submit time, user, partition,
    QoS and state; the report's figures and insights follow the filters, and the URL keeps
    them (bookmark or share a view). Stop with Ctrl-C."""
    from hpcsched.cli.render import status

    if not _is_loopback(host):
        typer.echo(
            f"hpcsched: warning: serving on {host}, not loopback: anyone who can reach it "
            "sees every user's jobs (personal data); prefer 127.0.0.1 and an SSH tunnel",
            err=True,
        )
    from hpcsched.analytics.dashboard import listen, make_app, wsgi_server

    try:  # before reading: a busy port should not cost a minute of parsing first
        sock = listen(host, port)
    except OSError as exc:
        why = exc.strerror or str(exc)
        fail(f"cannot serve on {host}:{port}: {why}; choose another with --port (0: any)")
    from hpcsched.cli.report import short_name

    with status(f"reading {table}"):
        opened = open_job_table(table)
    other = None
    if compare is not None:
        with status(f"reading {compare}"):
            other = open_job_table(compare)
    sizes = [
        float(o.machine_procs) if o is not None and o.machine_procs else None
        for o in (opened, other)
    ]
    # a real dump beside its simulation on `simulate --procs`: one machine, as in `report`
    known = sizes[0] or sizes[1]
    capacity, compare_capacity = procs or sizes[0] or known, procs or sizes[1] or known
    names = (short_name(table), short_name(compare) if compare is not None else "B")
    if names[0] == names[1]:
        names = (str(table), str(compare))
    jobs = opened.table
    heading = title or (f"{names[0]} vs {names[1]}" if other is not None else table.name)
    total = jobs.height + (other.table.height if other is not None else 0)
    with status(f"building the dashboard of {total:,} jobs"):
        dash_app = make_app(
            jobs,
            title=heading,
            capacity=capacity,
            compare=other.table if other is not None else None,
            names=names,
            compare_capacity=compare_capacity,
        )
    server = wsgi_server(dash_app, sock)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"dashboard of {total:,} jobs at http://{shown}:{server.port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()  # Werkzeug's returns on Ctrl-C
    finally:
        server.server_close()
    typer.echo("stopped")


def register(app: typer.Typer) -> None:
    """Add ``dashboard`` to ``app``."""
    app.command()(dashboard)
