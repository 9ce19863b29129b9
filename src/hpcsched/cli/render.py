"""Terminal presentation every command shares (Rich): the console, tables of metrics, a spinner
and a progress bar for long work (both on stderr, drawn only on a terminal)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hpcsched.core.durations import duration_text

DURATION = "duration"
COLUMNS = (
    ("policy", "policy", "{}"),
    ("jobs", "jobs", "{:,}"),
    ("avg_wait", "avg wait", DURATION),
    ("avg_flow", "avg flow", DURATION),
    ("avg_bsld", "avg bsld", "{:,.1f}"),
    ("utilization", "util.", "{:.1%}"),
    ("fairness_jain", "Jain", "{:.2f}"),
    ("jobs_per_second", "sim jobs/s", "compact"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "—"
    try:
        if fmt == DURATION:
            return duration_text(float(value))
        if fmt == "compact":
            v = float(value)
            return f"{v / 1e6:.1f}M" if v >= 1e6 else f"{v / 1e3:.0f}k" if v >= 1e4 else f"{v:.0f}"
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def make_console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console.width = 100  # logs and pipes: no terminal to fit, keep numbers whole
    return console


def metrics_table(rows: Sequence[dict[str, Any]], *, title: str) -> None:
    console = make_console()
    table = Table(title=title)
    present = [c for c in COLUMNS if any(c[0] in row for row in rows)]
    for _, header, _ in present:
        table.add_column(header, justify="right" if header != "policy" else "left", overflow="fold")
    for row in rows:
        table.add_row(*[_cell(row.get(key), fmt) for key, _, fmt in present])
    console.print(table)
    classes = [(row["policy"], row["per_class"]) for row in rows if row.get("per_class")]
    if classes:
        console.print(per_class_table(classes))
        rule = next((row["classes"] for row in rows if row.get("classes")), "")
        if rule:
            console.print(f"classes: {rule}")
    for row in rows:
        notes = [
            f"{row[k]} {k.replace('_', ' ')}"
            for k in (
                "refused",
                "no_partition",
                "no_runtime",
                "estimate_missing",
                "held",
                "violations",
            )
            if row.get(k)
        ]
        if notes:
            console.print(f"[yellow]{row['policy']}: {', '.join(notes)}[/yellow]")


def per_class_table(classes: Sequence[tuple[str, dict[str, dict[str, Any]]]]) -> Table:
    """One row per policy and priority class: its jobs, and the waits that show starvation
    (mean, P95, max), not only a median that hides them."""
    table = Table(title="waits per priority class (0 = highest)")
    table.add_column("policy")
    for header in ("class", "jobs", "mean wait", "p95 wait", "max wait", "median resp."):
        table.add_column(header, justify="right")
    for policy, by_class in classes:
        for level in sorted(by_class, key=lambda text: (len(text), text)):
            row = by_class[level]
            share = f" ({row['share']:.0%})" if row.get("share") is not None else ""
            table.add_row(
                policy,
                level,
                f"{row['jobs']:,}{share}",
                *[
                    _cell(row.get(key), DURATION)
                    for key in ("avg_wait", "p95_wait", "max_wait", "median_response")
                ],
            )
        table.add_section()
    return table


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner while work runs (only drawn when attached to a terminal)."""
    console = Console(stderr=True)
    with console.status(message):
        yield


def stderr_console() -> Console:
    """The console progress is drawn on (stderr; replaced by tests to stand in a terminal)."""
    return make_console(stderr=True)


class Advance(Protocol):
    """What :func:`progress_bar` yields: steps done of ``total``, and the label of the step now
    running when it changes (``report``: reading, preparing, ...)."""

    def __call__(self, done: int, total: int, label: str | None = None) -> None: ...


@contextmanager
def progress_bar(
    label: str, *, total: int | None = None, console: Console | None = None
) -> Iterator[Advance]:
    """A Rich bar of ``label`` on stderr; it yields ``advance(done, total)``. Drawn only when the
    console is a terminal (logs, pipes and ``--json`` output stay clean) and erased when done.
    Without a ``total`` the bar pulses beside the elapsed time (a replay of unknown length)."""
    console = console or stderr_console()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task(label, total=total)

        def advance(done: int, total: int, label: str | None = None) -> None:
            if label is None:
                bar.update(task, completed=done, total=total)
            else:  # a new step is drawn at once, not at the next tick (a fast step is seen)
                bar.update(task, completed=done, total=total, description=label, refresh=True)

        yield advance


def replay_bar(
    policy: str, jobs: int, windows: list[tuple[int, int]] | None
) -> AbstractContextManager[Advance]:
    """``simulate``'s bar: a step per window when a protocol replays several, else a pulse with
    the elapsed time (one replay reports no progress of its own)."""
    if windows and len(windows) > 1:
        label = f"{policy}: replaying {len(windows)} windows of {jobs:,} jobs"
        return progress_bar(label, total=len(windows))
    count = windows[0][1] if windows else jobs
    return progress_bar(f"{policy}: replaying {count:,} jobs")
