"""hpcsched tasks | cancel: operations on a run directory beside ``run``/``status``/``why``."""

from __future__ import annotations

import datetime as dt
import json

import typer

from hpcsched.cli.options import JsonOpt
from hpcsched.cli.run import RunDirArg, _record


def _clock(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _took(seconds: float) -> str:
    from hpcsched.core.durations import duration_text

    # tenths below 10 s: a workflow of short tasks would read as a column of "0 s"
    return f"{seconds:.1f} s" if seconds < 10 else duration_text(seconds)


def tasks(run_dir: RunDirArg, as_json: JsonOpt = False) -> None:
    """Every task of a run: its state, attempts, first start, last end (UTC) and duration."""
    from hpcsched.runtime.task_states import task_rows

    rows = task_rows(_record(run_dir))
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        typer.echo(f"{run_dir}: no tasks in the journal yet")
        return
    width = max([4, *(len(row["task"]) for row in rows)])
    typer.echo(
        f"{'TASK':<{width}}  {'STATE':<9}  {'ATTEMPTS':>8}  {'START (UTC)':<19}  "
        f"{'END (UTC)':<19}  DURATION"
    )
    for row in rows:
        took = "—" if row["duration"] is None else _took(row["duration"])
        typer.echo(
            f"{row['task']:<{width}}  {row['state']:<9}  {row['attempts']:>8}  "
            f"{_clock(row['start']):<19}  {_clock(row['end']):<19}  {took}"
        )


def register(app: typer.Typer) -> None:
    """Add ``tasks`` to ``app``."""
    for command in (tasks,):
        app.command()(command)
