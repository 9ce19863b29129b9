"""hpcsched trace convert|synth."""

from __future__ import annotations

import typer

from hpcsched import cli_pull

trace_app = typer.Typer(help="Read, write and collect job traces (sacct, sacct --json, SWF).")


def register(app: typer.Typer) -> None:
    """Add the ``trace`` command group to ``app``."""
    cli_pull.register(trace_app)
    app.add_typer(trace_app, name="trace")
