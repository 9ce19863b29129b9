"""Terminal presentation (Rich): tables of metrics and a spinner for long work."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

COLUMNS = (
    ("policy", "policy", "{}"),
    ("jobs", "jobs", "{:,}"),
    ("avg_wait", "avg wait (s)", "{:,.1f}"),
    ("avg_bsld", "avg bsld", "{:,.2f}"),
    ("max_bsld", "max bsld", "{:,.1f}"),
    ("avg_flow", "avg flow (s)", "{:,.1f}"),
    ("utilization", "utilisation", "{:.1%}"),
    ("makespan", "makespan (s)", "{:,.0f}"),
    ("fairness_jain", "fairness", "{:.3f}"),
    ("jobs_per_second", "sim jobs/s", "{:,.0f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "—"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def metrics_table(rows: Sequence[dict[str, Any]], *, title: str) -> None:
    console = Console()
    table = Table(title=title)
    present = [c for c in COLUMNS if any(c[0] in row for row in rows)]
    for _, header, _ in present:
        table.add_column(header, justify="right" if header != "policy" else "left")
    for row in rows:
        table.add_row(*[_cell(row.get(key), fmt) for key, _, fmt in present])
    console.print(table)
    classes = [(row["policy"], row["per_class"]) for row in rows if row.get("per_class")]
    if classes:
        per_class = Table(title="median response time (s) per priority class")
        per_class.add_column("policy")
        levels = sorted({level for _, pc in classes for level in pc})
        for level in levels:
            per_class.add_column(f"class {level}", justify="right")
        for policy, pc in classes:
            cells = [_cell(pc.get(level, {}).get("median_response"), "{:,.0f}") for level in levels]
            per_class.add_row(policy, *cells)
        console.print(per_class)
    for row in rows:
        notes = [
            f"{row[k]} {k.replace('_', ' ')}"
            for k in ("refused", "no_runtime", "estimate_missing")
            if row.get(k)
        ]
        if notes:
            console.print(f"[yellow]{row['policy']}: {', '.join(notes)}[/yellow]")


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner while work runs (only drawn when attached to a terminal)."""
    console = Console(stderr=True)
    with console.status(message):
        yield
