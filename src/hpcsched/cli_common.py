"""What every command shares: how a user error is reported."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str) -> NoReturn:
    """A user error: one line on stderr, exit code 2, no traceback."""
    typer.echo(f"hpcsched: error: {message}", err=True)
    raise typer.Exit(2)
