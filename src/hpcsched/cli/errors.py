"""How every command reports what a user can fix: one line on stderr, never a traceback."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import typer


def fail(message: str) -> NoReturn:
    """A user error: one line on stderr, exit code 2, no traceback."""
    typer.echo(f"hpcsched: error: {message}", err=True)
    raise typer.Exit(2)


def warn_malformed(path: Path | str, malformed: Sequence[object], hint: str = "") -> None:
    """One warning line for the lines a reader skipped: their count and the first ``file:line``."""
    if malformed:
        typer.echo(
            f"hpcsched: warning: {len(malformed)} malformed line(s) skipped in {path} "
            f"(first: {malformed[0]}){hint}",
            err=True,
        )


def warn_implausible(path: Path | str, records: Sequence[object]) -> None:
    """One warning line for records kept but left out of wait statistics (start before
    submit, end before start): their count and the first ``file:line``."""
    if records:
        typer.echo(
            f"hpcsched: warning: {len(records)} implausible record(s) in {path}, kept but left "
            f"out of wait and elapsed statistics (first: {records[0]})",
            err=True,
        )


def checked_output(path: Path, *suffixes: str, folder: bool = False, option: str = "") -> Path:
    """``path`` if the command can write it (:mod:`hpcsched.core.outputs`), else one error
    line (starting with ``option``, when given, for outputs other than ``--out``); called
    before any work starts."""
    from hpcsched.core.outputs import OutputError, check_output, check_output_dir

    try:
        return check_output_dir(path) if folder else check_output(path, suffixes)
    except OutputError as exc:
        fail(f"{option} {exc}" if option else str(exc))
