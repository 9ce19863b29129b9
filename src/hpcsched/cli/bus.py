"""hpcsched bus serve / tail / stats: the project's own event broker (NATS with JetStream) and
reading its durable log back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from hpcsched.cli.errors import fail
from hpcsched.cli.options import JsonOpt, flag, group

bus_app = group(
    "The event bus: a local NATS JetStream broker, and its log read back from any offset.",
    no_args_is_help=True,
)

AddressArg = Annotated[
    str,
    typer.Argument(
        metavar="nats://HOST:PORT/SUBJECT",
        help="the broker and a subject under hpcsched.events (wildcards * and > allowed; "
        "no subject: every event)",
    ),
]


@bus_app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port for clients")] = 4222,
    store: Annotated[
        Path | None,
        typer.Option(
            help="folder of the durable log (default: $XDG_STATE_HOME/hpcsched/bus, "
            "else ~/.local/state/hpcsched/bus)"
        ),
    ] = None,
) -> None:
    """Serve a NATS broker with JetStream (a durable, file-stored log) until Ctrl-C.

    Runs in the foreground; scripts/bus-local.sh start|stop|status runs it in the background."""
    from hpcsched.bus.server import ServerError, default_store, server_command

    folder = store or default_store()
    try:
        command = server_command(folder, host=host, port=port)
    except ServerError as exc:
        fail(str(exc))
    typer.echo(
        f"bus on nats://{host}:{port} (JetStream, log in {folder}; Ctrl-C stops it)", err=True
    )
    os.execv(command[0], command)  # the server takes this process (and its pid) over


def _address(text: str, *, default: str | None) -> Any:
    from hpcsched.bus.address import AddressError, parse_address

    try:
        return parse_address(text, default=default, wildcards=True)
    except AddressError as exc:
        fail(str(exc))


def _line(seq: int, data: bytes) -> str:
    """One event as a terminal line: sequence, time, source, event, then its fields."""
    try:
        event = json.loads(data)
    except ValueError:
        return f"{seq:>8}  (not JSON) {data[:200]!r}"
    if not isinstance(event, dict):
        return f"{seq:>8}  {event!r}"
    head = " ".join(str(event.pop(k, "")) for k in ("time", "source", "event"))
    event.pop("event_id", None)
    rest = " ".join(f"{k}={v}" for k, v in event.items() if v is not None)
    return f"{seq:>8}  {head}  {rest}"


@bus_app.command()
def tail(
    address: AddressArg,
    from_start: Annotated[
        bool, flag("--from-start", help="replay from the oldest event kept (the default)")
    ] = False,
    from_seq: Annotated[
        int | None,
        typer.Option("--from", metavar="SEQ", min=1, help="replay from stream sequence SEQ"),
    ] = None,
    follow: Annotated[
        bool, flag("--follow", "-f", help="keep printing new events until Ctrl-C")
    ] = False,
    consumer_group: Annotated[
        str | None,
        typer.Option(
            "--group",
            metavar="NAME",
            help="read as a member of consumer group NAME: each event goes to one member, and "
            "the group goes on where it stopped",
        ),
    ] = None,
    as_json: Annotated[
        bool, flag("--jsonl", help="print each event as published: one JSON object a line")
    ] = False,
) -> None:
    """Print the events of a subject from an offset (the stream's sequence), oldest first.

    Without --follow it stops once it has printed what the log holds."""
    import sys

    from hpcsched.bus.connection import BusError
    from hpcsched.bus.consumer import TailOptions, run_sync
    from hpcsched.bus.consumer import tail as read_tail

    if from_start and from_seq is not None:
        fail("--from-start and --from SEQ: give one")
    if consumer_group is not None and not consumer_group.replace("-", "_").isidentifier():
        fail(f"--group {consumer_group!r}: use letters, digits, - and _")
    where = _address(address, default=">")
    options = TailOptions(start=from_seq or 1, follow=follow, group=consumer_group)

    def show(seq: int, data: bytes) -> None:
        text = data.decode("utf-8", "replace") if as_json else _line(seq, data)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    try:
        run_sync(read_tail(where, options, show))
    except BusError as exc:
        fail(f"{where.server}: {exc}; start one with 'hpcsched bus serve'")
    except KeyboardInterrupt:
        pass


@bus_app.command()
def stats(
    address: Annotated[
        str | None,
        typer.Argument(
            metavar="nats://HOST:PORT",
            help="the broker (default: $HPCSCHED_BUS_URL, else nats://127.0.0.1:4222)",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """What the log holds: events, bytes, first and last sequence, events per subject, and each
    consumer group's backlog."""
    from hpcsched.bus.connection import BusError
    from hpcsched.bus.consumer import run_sync, stream_stats

    default = os.environ.get("HPCSCHED_BUS_URL") or "nats://127.0.0.1:4222"
    where = _address(address or default, default=">")
    try:
        found = run_sync(stream_stats(where))
    except BusError as exc:
        fail(f"{where.server}: {exc}; start one with 'hpcsched bus serve'")
    if as_json:
        typer.echo(json.dumps(found.as_dict()))
        return
    typer.echo(
        f"{found.messages:,} events ({found.bytes:,} bytes), sequences "
        f"{found.first_seq}-{found.last_seq}, on {where.server}"
    )
    for subject, count in found.subjects.items():
        typer.echo(f"  {subject}: {count:,}")
    for name, pending in found.consumers.items():
        typer.echo(f"  group {name}: {pending:,} not yet delivered")


def register(app: typer.Typer) -> None:
    """Add ``hpcsched bus`` to ``app``."""
    app.add_typer(bus_app, name="bus")
