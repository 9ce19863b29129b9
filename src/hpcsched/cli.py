"""The ``hpcsched`` command: thin Typer wrappers, each a call into one package.

Heavy libraries are imported inside the commands, so ``hpcsched simulate`` starts fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hpcsched import (
    cli_advise,
    cli_campaign,
    cli_dashboard,
    cli_llm,
    cli_plan,
    cli_predict,
    cli_report,
    cli_run,
    cli_trace,
    cli_watch,
)
from hpcsched.cli_common import fail, warn_malformed

app = typer.Typer(
    help=(
        "Scheduling workbench and runtime: replay traces under scheduling policies, compare "
        "them, and run workflows with the same policies."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

FilterOpt = Annotated[
    str, typer.Option("--filter", help="input filter: none, strong (SC'15) or rlscheduler (SC'20)")
]
EstimateOpt = Annotated[
    str,
    typer.Option(help="what the policy plans with: requested (user walltime), exact, or a column"),
]
ClassesOpt = Annotated[
    str | None,
    typer.Option(
        help="priority classes: size[:90,80], column:NAME, user:a,b, partition:..., qos:..."
    ),
]
ProcsOpt = Annotated[
    int | None, typer.Option(help="machine size in processors (default: the trace header)")
]
StrictOpt = Annotated[bool, typer.Option(help="stop at the first malformed line")]
KillOpt = Annotated[bool, typer.Option(help="kill jobs that run past their timelimit")]


def _load(trace: Path, filter_name: str, strict: bool, procs: int | None) -> tuple[Any, int]:
    from hpcsched.workloads.load import InputError, load_jobs

    try:
        loaded = load_jobs(trace, filter_name=filter_name, strict=strict)
    except InputError as exc:
        fail(str(exc))
    warn_malformed(trace, loaded.malformed, "; use --strict to stop at the first")
    capacity = procs or loaded.machine_procs
    if not capacity:
        fail(f"{trace} does not say the machine size; pass --procs N")
    return loaded, int(capacity)


def _window(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    first, sep, count = text.partition(":")
    if not sep or not first.isdigit() or not count.isdigit():
        fail(f"--window {text!r}: write START:COUNT, e.g. 1981:1024")
    return int(first), int(count)


@app.command()
def simulate(
    trace: Annotated[Path, typer.Argument(help="SWF trace (.swf/.swf.gz) or job table (.parquet)")],
    filter_name: FilterOpt = "none",
    policy: Annotated[
        str, typer.Option(help="preset: fcfs, sjf, easy, easy-sjbf, conservative, prioritybf")
    ] = "easy",
    order: Annotated[
        str | None, typer.Option(help="queue order: fcfs, sjf, f1-f4, wfp3, unicep")
    ] = None,
    backfill: Annotated[
        str | None, typer.Option(help="none, easy, conservative, rlscheduler, prioritybf")
    ] = None,
    classes: ClassesOpt = None,
    estimate: EstimateOpt = "requested",
    window: Annotated[
        str | None, typer.Option(help="simulate COUNT jobs from index START: START:COUNT")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="write the simulated job table (.parquet)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    procs: ProcsOpt = None,
    strict: StrictOpt = False,
    kill_at_timelimit: KillOpt = False,
    engine: Annotated[
        str, typer.Option(help="auto, fast (compiled) or reference (pure Python)")
    ] = "auto",
) -> None:
    """Replay a trace under one policy and print its metrics."""
    from hpcsched.policies.registry import get_policy
    from hpcsched.sim.simulate import simulate as run

    loaded, capacity = _load(trace, filter_name, strict, procs)
    try:
        chosen = get_policy(policy, order=order, backfill=backfill)
        result = run(
            loaded.table,
            chosen,
            capacity,
            estimate=estimate,
            window=_window(window),
            classes=classes,
            kill_at_timelimit=kill_at_timelimit,
            engine=engine,
        )
    except ValueError as exc:
        fail(str(exc))
    metrics = {"policy": chosen.name, "machine_procs": capacity, **result.metrics}
    metrics["malformed"] = len(loaded.malformed)
    if out is not None:
        from hpcsched.workloads.load import write_table

        write_table(result.table, out, machine_procs=capacity)
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    from hpcsched.render import metrics_table

    metrics_table([metrics], title=f"{trace.name} — {chosen.name}")


@app.command()
def compare(
    trace: Annotated[Path, typer.Argument(help="SWF trace or job table")],
    policies: Annotated[
        str, typer.Option(help="comma-separated presets")
    ] = "fcfs,easy,conservative,prioritybf",
    filter_name: FilterOpt = "none",
    classes: ClassesOpt = "size",
    estimate: EstimateOpt = "requested",
    window: Annotated[str | None, typer.Option(help="START:COUNT")] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            help="run the cases on Dask: a scheduler address, or no value for a LocalCluster"
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print a JSON list, one object per policy")
    ] = False,
    procs: ProcsOpt = None,
    strict: StrictOpt = False,
    kill_at_timelimit: KillOpt = False,
) -> None:
    """Replay a trace under several policies: one table, one row per policy."""
    from hpcsched.policies.registry import get_policy
    from hpcsched.sim.compare import Case
    from hpcsched.sim.compare import compare as run

    loaded, capacity = _load(trace, filter_name, strict, procs)
    names = [p.strip() for p in policies.split(",") if p.strip()]
    try:
        for name in names:
            get_policy(name)
        cases = [
            Case(name, capacity, estimate, classes, _window(window), kill_at_timelimit)
            for name in names
        ]
        rows, _ = run(loaded.table, cases, dask=dask)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(rows))
        return
    from hpcsched.render import metrics_table

    metrics_table(rows, title=f"{trace.name}: {len(rows)} policies on {capacity} processors")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="where the simulated job tables go")] = Path(
        "hpcsched-demo"
    ),
    jobs: Annotated[int, typer.Option(help="jobs in the generated Lublin workload")] = 5000,
    seed: Annotated[int, typer.Option(help="workload seed")] = 1,
) -> None:
    """Generate a Lublin workload, run FCFS, EASY, conservative and PriorityBF, compare them."""
    from hpcsched.render import metrics_table, status
    from hpcsched.sim.demo import DEMO_MACHINE, run_demo

    with status(f"simulating {jobs} Lublin jobs on {DEMO_MACHINE} processors"):
        rows = run_demo(out, jobs=jobs, seed=seed)
    metrics_table(rows, title=f"Lublin–Feitelson workload, {jobs} jobs, {DEMO_MACHINE} processors")
    typer.echo(f"job tables written to {out}/ (workload.parquet and one per policy)")


for _module in (
    cli_run,
    cli_trace,
    cli_report,
    cli_dashboard,
    cli_predict,
    cli_advise,
    cli_campaign,
    cli_plan,
    cli_watch,
    cli_llm,
):
    _module.register(app)


def main() -> None:
    # `--dask` may come without a value (a LocalCluster): give Click the value it needs.
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == "--dask" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            argv.insert(i + 1, "local")
            break
    app(args=argv, prog_name="hpcsched")


if __name__ == "__main__":
    main()
