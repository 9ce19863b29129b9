"""``hpcsched trace pull`` on a terminal (Rich): a bar over the month windows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from hpcsched.cli.render import make_console


@contextmanager
def window_progress(total: int) -> Iterator[Callable[[Any, bool], None] | None]:
    """A bar over the month windows on a terminal; nothing in logs and pipes."""
    console = make_console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("[bold]sacct"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("", total=total)

        def update(window: Any, cached: bool) -> None:
            how = "cached" if cached else "queried"
            bar.update(task, advance=1, description=f"{window.since:%Y-%m} {how}")

        yield update
