"""What every command shares: how a user error is reported."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from hpcsched.analytics.report import OpenedTable


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


def open_job_table(path: Path) -> OpenedTable:
    """Any job table the analytics read (Parquet, SWF, ``sacct -P``, ``sacct --json``), or one
    error line; skipped lines are warned about, an empty table is refused."""
    from hpcsched.analytics.report import ReportInputError, open_table

    try:
        opened = open_table(path)
    except ReportInputError as exc:
        fail(str(exc))
    warn_malformed(path, opened.malformed)
    if opened.table.is_empty():
        fail(f"{path} holds no jobs (check the file, or the sacct -S/-E window)")
    return opened
