"""hpcsched run | status | provenance | why | export: the runtime's commands, each one call into
``runtime`` (the executor and pool come from :mod:`.executors`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hpcsched.cli.config import partition_for
from hpcsched.cli.errors import checked_output, fail
from hpcsched.cli.executors import (
    close_event_sink,
    event_sink,
    make_executor,
    make_pool,
    run_progress_bar,
)
from hpcsched.cli.inputs import wfcommons_instance
from hpcsched.cli.llm import DeadlineOpt, ModelOpt, UrlOpt
from hpcsched.cli.options import (
    DaskAddressOpt,
    DaskWorkersOpt,
    ExecutorOpt,
    JsonOpt,
    PartitionOpt,
    SlurmModeOpt,
    flag,
)

ExplainOpt = Annotated[
    bool,
    flag(
        "--explain",
        help="also explain each root cause (command, host, folder, stderr/stdout tails; root "
        "cause / next steps by a language model, every task id, file and exit code checked "
        "against the journal; deterministic without an endpoint)",
    ),
]
RunDirArg = Annotated[Path, typer.Argument(help="a run directory (where journal.sqlite lives)")]


def default_run_dir(workflow: Path) -> Path:
    """``wf.yaml`` -> ``wf.run/`` beside it, so that running it again after a crash resumes."""
    return workflow.with_name(workflow.stem + ".run")


def run(
    ctx: typer.Context,
    workflow: Annotated[Path, typer.Argument(help="a YAML workflow (format in the README)")],
    executor: ExecutorOpt = "local",
    slurm_mode: SlurmModeOpt = "steps",
    partition: PartitionOpt = None,
    dask_address: DaskAddressOpt = None,
    dask_workers: DaskWorkersOpt = 2,
    policy: Annotated[str, typer.Option(help="scheduling policy preset")] = "prioritybf",
    order: Annotated[
        str | None,
        typer.Option(help="queue order, e.g. bottom-level or upward-rank (default: the preset's)"),
    ] = None,
    scale: Annotated[
        float | None,
        typer.Option(
            help="a WfCommons instance: each task sleeps its recorded runtime times SCALE"
        ),
    ] = None,
    cpus: Annotated[int | None, typer.Option(help="pool cpus (default: the allocation)")] = None,
    gpus: Annotated[int | None, typer.Option(help="pool gpus")] = None,
    mem: Annotated[str | None, typer.Option(help="pool memory, e.g. 16G")] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="journal and staging (default: WORKFLOW.run/)")
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            help="where inputs are read and outputs land (default: the workflow's folder)"
        ),
    ] = None,
    tc: Annotated[
        Path | None,
        typer.Option("--tc", help="a Pegasus 5 transformation catalog (Pegasus workflows only)"),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(help="where a Pegasus workflow's stageOut outputs are copied after the run"),
    ] = None,
    cleanup: Annotated[
        str | None,
        typer.Option(
            metavar="none|inplace",
            help="inplace: delete an intermediate file from the work directory once every job "
            "reading it succeeded (Pegasus' stageOut: false outputs; for other workflows the "
            "outputs another job reads); none: keep them (default: inplace for Pegasus "
            "workflows, none for others)",
        ),
    ] = None,
    as_json: JsonOpt = False,
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            metavar="FILE|-|nats://HOST:PORT/SUBJECT",
            help="also write every event as one JSON line to FILE (appended) or - (stdout), or "
            "publish it to the bus (hpcsched bus serve) under SUBJECT",
        ),
    ] = None,
    force: Annotated[
        bool,
        flag(
            "--force",
            help="resume from a damaged journal as it is (work whose end it lost runs again), "
            "or set an unreadable one aside and start over",
        ),
    ] = False,
    rerun: Annotated[
        list[str] | None,
        typer.Option(
            "--rerun",
            metavar="TASK",
            help="run TASK again (succeeded or failed) with every task that depends on it; what "
            "it needs runs only if it has not succeeded; other tasks are left (repeatable)",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        flag(
            "--dry-run",
            help="run nothing: print the DAG as levels, every request the pool refuses, and the "
            "order the policy would start tasks on the simulated clock (the run dir is untouched)",
        ),
    ] = False,
) -> None:
    """Run a workflow (YAML, or a WfCommons instance whose tasks sleep their recorded runtimes)
    under a policy; run it again after a crash to resume where it stopped."""
    from hpcsched.campaigns.api import CampaignError, RequestTooLargeError, StaticWorkflow
    from hpcsched.policies.registry import get_policy
    from hpcsched.runtime.cleanup import cleanup_for
    from hpcsched.runtime.events import RunEvents
    from hpcsched.runtime.events_bus import is_file_target
    from hpcsched.runtime.executors.local import LocalExecutor
    from hpcsched.runtime.journal import JournalError
    from hpcsched.runtime.pools import PoolError
    from hpcsched.runtime.run_control import ControlledPilot
    from hpcsched.runtime.workflow import Workflow, WorkflowError, load_workflow

    try:
        chosen_policy = get_policy(policy, order=order)
    except ValueError as exc:
        fail(str(exc))
    if not workflow.is_file():
        fail(f"{workflow}: no such workflow file; give the path of a .yaml workflow")
    if cleanup not in (None, "none", "inplace"):
        fail(f"--cleanup {cleanup}: give none (keep every file) or inplace")
    if events is not None and is_file_target(events):  # before any executor starts
        checked_output(Path(events), option="--events")
    if dry_run:
        from hpcsched.cli.run_ops import plan_only

        plan_only(workflow, work_dir, chosen_policy, make_pool(None, cpus, gpus, mem), as_json)
        return
    instance = wfcommons_instance(workflow, scale)
    runner = make_executor(
        executor, dask_address, dask_workers, slurm_mode, partition_for(ctx, slurm_mode, partition)
    )
    try:
        pool = make_pool(runner, cpus, gpus, mem)
        if instance is None:
            loaded = load_workflow(workflow, pool, work_dir, tc, output_dir)
            transfers = None
            for note in loaded.notes:  # what the workflow asks for that is ignored here
                typer.echo(f"hpcsched: warning: {note}", err=True)
            if loaded.data is not None:
                loaded.data.stage_in()  # Pegasus replicas linked into the work directory
        else:
            folder = (work_dir or workflow.parent).resolve()
            loaded = Workflow(workflow, folder, instance.tasks, instance.name)
            transfers = instance.transfers
    except (WorkflowError, PoolError) as exc:
        if runner is not None:
            runner.shutdown()
        fail(str(exc))
    tasks, redo = loaded.tasks, frozenset[str]()
    if rerun:
        from hpcsched.runtime.rerun import RerunError, plan_rerun

        try:
            plan = plan_rerun(loaded.tasks, rerun, str(workflow))
        except RerunError as exc:
            if runner is not None:
                runner.shutdown()
            fail(str(exc))
        tasks, redo = plan.tasks, plan.redo
    if runner is None:
        runner = LocalExecutor(max_workers=max(1, pool.total.cpus))
    sink = event_sink(events, runner)
    pilot = ControlledPilot(
        StaticWorkflow(tasks, transfers),
        chosen_policy,
        pool,
        runner,
        run_dir or default_run_dir(workflow),
        loaded.work_dir,
        label=str(workflow),
        observer=None if sink is None else RunEvents(sink),
        force=force,
    )
    pilot.redo, pilot.notice = redo, lambda line: typer.echo(line, err=True)  # before it runs
    marked = loaded.intermediates if loaded.data is not None else None  # Pegasus marks its own
    pilot.cleanup = cleanup_for(loaded.tasks, marked, cleanup)
    try:
        with run_progress_bar(len(tasks), enabled=not as_json) as progress:
            pilot.progress = progress
            summary = pilot.run()
    except (CampaignError, RequestTooLargeError, JournalError) as exc:
        fail(str(exc))
    finally:
        runner.shutdown()
        close_event_sink(sink)
        if loaded.data is not None:
            loaded.data.copy_out()  # Pegasus stageOut outputs, also those of a failed run
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    else:
        from hpcsched.cli.render_run import run_summary

        run_summary(summary.as_dict())
    if summary.failed or summary.cancelled:
        raise typer.Exit(1)


def _record(run_dir: Path) -> Any:
    from hpcsched.runtime.journal import JournalError, read_journal

    try:
        return read_journal(run_dir)
    except JournalError as exc:
        fail(str(exc))


def status(
    run_dir: RunDirArg,
    as_json: JsonOpt = False,
    html: Annotated[
        Path | None, typer.Option(help="also draw the DAG, coloured by state, in this HTML page")
    ] = None,
) -> None:
    """What a run did so far: tasks per state (blocked: never ran because a dependency failed),
    retries, what is running."""
    from hpcsched.runtime.analyze import diagnose

    if html is not None:
        checked_output(html, ".html", option="--html")
    record = _record(run_dir)
    if html is not None:
        from hpcsched.cli.run_ops import write_dag_page

        write_dag_page(record, html)
    counts = diagnose(record).counts
    running = [tid for tid, rec in record.tasks.items() if rec.state == "running"]
    attempts = {tid: len(rec.attempts) for tid, rec in record.tasks.items()}
    info = {
        "run_dir": str(run_dir),
        "tasks": len(record.tasks),
        **counts,
        "retried": record.retried_count(),
        "starts": len(record.runs),
        "ended": record.ended is not None,
        "running": running,
        "attempts": attempts,
    }
    if as_json:
        typer.echo(json.dumps(info))
        return
    from hpcsched.cli.render_run import run_status

    run_status(info)


def provenance(
    run_dir: RunDirArg,
    task: Annotated[str, typer.Argument(help="the task id")],
    as_json: JsonOpt = False,
) -> None:
    """Every attempt of one task: what ran, where, when, its files (sha256) and its exit."""
    from hpcsched.runtime.export import provenance as attempts_of
    from hpcsched.runtime.journal import JournalError

    record = _record(run_dir)
    try:
        attempts = attempts_of(record, task)
    except JournalError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(attempts))
        return
    from hpcsched.cli.render_run import run_provenance

    run_provenance(task, attempts)


def why(
    run_dir: RunDirArg,
    explain: ExplainOpt = False,
    llm_url: UrlOpt = None,
    llm_model: ModelOpt = None,
    llm_deadline: DeadlineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Name the root cause of a failed run and the tasks it blocks (like pegasus-analyzer).

    With --explain, also "root cause / next steps" for each (the command, host, folder, stderr
    and stdout tails), written by a language model and checked against the journal, else
    deterministic."""
    from hpcsched.runtime.analyze import diagnose, render_diagnosis
    from hpcsched.runtime.rerun import rerun_command
    from hpcsched.runtime.why_context import failure_facts

    record = _record(run_dir)
    diagnosis = diagnose(record)
    facts = failure_facts(record, diagnosis)
    rerun = rerun_command(record)
    found = (
        _explained(record, diagnosis, run_dir, llm_url, llm_model, llm_deadline)
        if (explain and diagnosis.root_causes)
        else None
    )
    if as_json:
        from dataclasses import asdict

        failures = [
            asdict(f) | {"files": f.files(), "rerun": rerun_command(record, f.task_id)}
            for f in facts
        ]
        body: dict[str, Any] = {"diagnosis": asdict(diagnosis), "failures": failures}
        body["rerun"] = rerun if diagnosis.root_causes else ""
        if found is not None:
            body["explanation"] = found.as_dict()
        typer.echo(json.dumps(body))
    else:
        details = {
            f.task_id: [*f.detail_lines(), f"  re-run:  {rerun_command(record, f.task_id)}"]
            for f in facts
        }
        typer.echo(render_diagnosis(diagnosis, details, rerun))
        if found is not None:
            from hpcsched.runtime.why_explain import render_explanation

            typer.echo(render_explanation(found))
    if diagnosis.root_causes:
        raise typer.Exit(1)


def _explained(
    record: Any,
    diagnosis: Any,
    run_dir: Path,
    url: str | None,
    model: str | None,
    deadline: float | None,
) -> Any:
    """The explanation of ``why --explain``; the token ledger is appended to
    ``RUN/llm-ledger.jsonl`` (one JSON line per command)."""
    from hpcsched.cli.llm import llm_settings
    from hpcsched.llm import ChatClient, TokenLedger
    from hpcsched.runtime.why_explain import explain

    settings = llm_settings(url, model, deadline)
    ledger = TokenLedger(f"why {run_dir} --explain")
    if not settings.configured:
        return explain(record, diagnosis, None)
    with ChatClient(settings, ledger=ledger) as client:
        found = explain(record, diagnosis, client)
    try:
        ledger.append(run_dir / "llm-ledger.jsonl")
    except OSError as exc:
        typer.echo(f"warning: cannot append the token ledger: {exc.strerror or exc}", err=True)
    return found


def register(app: typer.Typer) -> None:
    """Add ``run``, ``status``, ``provenance`` and ``why`` to ``app`` (``export``, ``tasks`` and
    ``cancel``: :mod:`hpcsched.cli.run_ops`)."""
    for command in (run, status, provenance, why):
        app.command()(command)
