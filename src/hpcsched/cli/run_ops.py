"""hpcsched export | tasks | cancel, and the plan of ``run --dry-run``: operations on a run
directory beside ``run``, ``status`` and ``why``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hpcsched.cli.errors import checked_output, fail
from hpcsched.cli.options import TABLE_OUT_HELP, JsonOpt
from hpcsched.cli.run import RunDirArg, _record


def _clock(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _took(seconds: float) -> str:
    from hpcsched.core.durations import duration_text

    # tenths below 10 s: a workflow of short tasks would read as a column of "0 s"
    return f"{seconds:.1f} s" if seconds < 10 else duration_text(seconds)


def write_dag_page(record: Any, out: Path) -> None:
    """``status --html``: the run's DAG page (:mod:`hpcsched.analytics.run_dag`), written whole
    or not at all."""
    from hpcsched.analytics.run_dag import dag_page
    from hpcsched.core.outputs import atomic_output

    text = dag_page(record)
    try:
        with atomic_output(out) as temp:
            temp.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"--html {out}: cannot write it ({exc.strerror})")


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


def plan_only(workflow: Path, work_dir: Path | None, policy: Any, pool: Any, as_json: bool) -> None:
    """``run --dry-run``: the plan of :func:`hpcsched.runtime.dry_run.dry_run`, printed."""
    from hpcsched.runtime.dry_run import dry_run, render_dry_run
    from hpcsched.runtime.workflow import WorkflowError, load_workflow

    try:  # without the pool: every refusal is listed below, not only the first
        loaded = load_workflow(workflow, work_dir=work_dir)
    except WorkflowError as exc:
        fail(str(exc))
    plan = dry_run(str(workflow), loaded.tasks, policy, pool, loaded.notes)
    typer.echo(json.dumps(plan.as_dict()) if as_json else render_dry_run(plan))
    if plan.refused:  # as the real run would refuse it
        raise typer.Exit(1)


def cancel(run_dir: RunDirArg) -> None:
    """Tell the run going on in RUN_DIR to stop: it cancels its tasks (killing running ones) and
    ends with its summary; run the same command again to resume it."""
    from hpcsched.runtime.journal import JournalError
    from hpcsched.runtime.run_control import request_cancel

    try:
        owner = request_cancel(run_dir)
    except JournalError as exc:
        fail(str(exc))
    typer.echo(
        f"asked the run of {run_dir} ({owner}) to stop: it cancels its tasks and ends with its "
        "summary; run it again to resume"
    )


def export(
    run_dir: RunDirArg,
    out: Annotated[Path, typer.Option("--out", "-o", help=TABLE_OUT_HELP)] = Path("jobs.parquet"),
) -> None:
    """Write the run as a job table for the analytics and the simulator (Parquet, CSV, JSON
    Lines or SWF, by the --out name)."""
    from hpcsched.runtime.export import journal_to_job_table
    from hpcsched.workloads.export import TABLE_SUFFIXES, write_job_table

    checked_output(out, *TABLE_SUFFIXES)
    table = journal_to_job_table(_record(run_dir))
    kind = write_job_table(table, out)
    typer.echo(f"{table.height} tasks written to {out} ({kind})")


def register(app: typer.Typer) -> None:
    """Add ``export``, ``tasks`` and ``cancel`` to ``app``."""
    for command in (export, tasks, cancel):
        app.command()(command)
