"""``hpcsched simulate WORKFLOW``: a workflow's simulated makespan beside its lower bound."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from hpcsched.cli.errors import fail


def simulate_dag(
    path: Path,
    policy: str,
    order: str | None,
    backfill: str | None,
    classes: str,
    machine: tuple[int | None, str | None],
    as_json: bool,
) -> None:
    """Replay the workflow in ``path`` on ``machine`` (cpus, memory such as ``128G`` or None:
    memory not counted) and print the makespan, the lower bound max(critical path, work / cpus)
    and their ratio."""
    from hpcsched.campaigns.task import parse_size
    from hpcsched.core.pool import Pool
    from hpcsched.policies.registry import get_policy
    from hpcsched.runtime.dag_sources import load_dag
    from hpcsched.sim.workflow import BOTTOM_LEVEL_CLASSES, simulate_workflow

    cpus, mem = machine
    if cpus is None:
        fail(f"{path}: a workflow names no machine; give its size with --cpus N")
    if cpus < 1:
        fail(f"--cpus {cpus}: give at least 1")
    try:
        memory = parse_size(mem) if mem is not None else 0.0
    except ValueError as exc:
        fail(f"--mem {mem!r}: {exc}")
    try:
        dag = load_dag(path)
        chosen = get_policy(policy, order=order, backfill=backfill)
        pool = Pool.uniform(1, cpus, mem=memory, source="--cpus")
        for task in dag.tasks:
            if why := pool.refuses(task.cpus, 0, task.mem):
                fail(f"{path}: task {task.id!r} {why}; raise --cpus or --mem")
        run = simulate_workflow(
            dag.tasks,
            chosen,
            pool,
            dag.runtimes,
            transfers=dag.transfers,
            classes=classes,
        )
    except ValueError as exc:  # WfFormatError, WorkflowError, an unknown policy or order
        fail(str(exc))
    bound = run.bound
    rule = classes if classes == BOTTOM_LEVEL_CLASSES else "the tasks' own priority"
    summary = {
        "workflow": dag.name,
        "policy": chosen.name,
        "tasks": len(dag.tasks),
        "cpus": cpus,
        "mem": memory or None,
        "classes": rule,
        "makespan": round(run.makespan, 6),
        "critical_path": round(bound.critical_path, 6),
        "work_per_cpu": round(bound.work / cpus, 6),
        "lower_bound": round(bound.lower_bound, 6),
        "ratio": round(run.ratio, 4),
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    size = f" and {mem} memory" if mem is not None else ""
    typer.echo(f"{path.name} — {chosen.name}: {len(dag.tasks)} tasks on {cpus} cpus{size}")
    typer.echo(f"  makespan       {run.makespan:12.2f} s")
    typer.echo(f"  critical path  {bound.critical_path:12.2f} s")
    typer.echo(f"  work / {cpus:<7} {bound.work / cpus:12.2f} s")
    typer.echo(f"  lower bound    {bound.lower_bound:12.2f} s  (the larger of the two)")
    typer.echo(f"  ratio          {run.ratio:12.3f}  (makespan / lower bound)")
    typer.echo(f"  classes: {rule}")
