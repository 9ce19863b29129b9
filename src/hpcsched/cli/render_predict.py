"""``hpcsched predict`` on a terminal (Rich): the retraining progress bar and the metrics tables."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from rich.table import Table

from hpcsched.cli.render import make_console


def retraining_bar(label: str) -> AbstractContextManager[Callable[[int, int], None]]:
    """The bar of the retrainings (:func:`hpcsched.cli.render.progress_bar`)."""
    from hpcsched.cli import render

    return render.progress_bar(label)


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


def all_table(rows: list[dict[str, Any]], *, trace: Path, target: str, verdict_line: str) -> None:
    """``predict eval --model all``: one row per model, errors in hours and minutes (or MiB/GiB),
    each model's median error against ``requested``'s, then the verdict as the last line."""
    from hpcsched.predict.leaderboard import BASELINE, error_text

    base = next((r["medae"] for r in rows if r["model"] == BASELINE), None)
    table = Table(title=f"every model on {trace.name} ({target}), scored on the same jobs")
    headers = ("model", "jobs", "median error", "mean error", "accuracy", "under", "vs requested")
    for header in headers:
        table.add_column(header, justify="left" if header == "model" else "right", no_wrap=True)
    for row in rows:
        medae = row.get("medae")
        versus = (
            "baseline"
            if row["model"] == BASELINE
            else f"{base / medae:.1f}× smaller"
            if base and medae and medae < base
            else f"{medae / base:.1f}× larger"
            if base and medae
            else "—"
        )
        table.add_row(
            row["model"],
            f"{row['n']:,}",
            error_text(medae, target),
            error_text(row.get("mae"), target),
            "—" if row.get("accuracy") is None else f"{row['accuracy']:.0%}",
            "—" if row.get("under_rate") is None else f"{row['under_rate']:.0%}",
            versus,
        )
    console = make_console()
    console.print(table)
    console.print(
        "accuracy: mean of min(p, y)/max(p, y); under: share predicted too low; "
        "vs requested: median errors"
    )
    console.print(verdict_line, highlight=False, soft_wrap=True)
