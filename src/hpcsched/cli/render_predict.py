"""``hpcsched predict`` on a terminal (Rich): the retraining progress bar and the metrics table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from hpcsched.cli.render import make_console


@contextmanager
def retraining_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar for the retrainings (drawn only on a terminal, on stderr)."""
    console = make_console(stderr=True)
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn())
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def eval_table(metrics: dict[str, Any]) -> None:
    """The metrics of ``predict eval`` as a two-column table."""
    name = Path(str(metrics["trace"])).name
    table = Table(title=f"{metrics['model']} on {name} ({metrics['target']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if key not in ("model", "trace", "target"):
            table.add_row(
                key,
                "—"
                if value is None
                else f"{value:,}"
                if isinstance(value, int | float)
                else str(value),
            )
    make_console().print(table)
