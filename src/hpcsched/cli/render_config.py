"""``hpcsched config show`` in the terminal: the file, then one row per setting."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from hpcsched.cli.render import make_console


def settings_table(path: Path, exists: bool, rows: Sequence[dict[str, str]]) -> None:
    console = make_console()
    state = "" if exists else " (not present: built-in defaults)"
    console.print(f"config file: {escape(str(path))}{state}", soft_wrap=True)
    table = Table()
    for header in ("setting", "value", "source"):
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(row["setting"], escape(row["value"]), row["source"])
    console.print(table)
    console.print("a flag on a command overrides every value here")
