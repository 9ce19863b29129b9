"""hpcsched simulate | compare | demo: replay traces under scheduling policies (``sim``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hpcsched.cli.errors import checked_output, fail
from hpcsched.cli.inputs import open_trace
from hpcsched.cli.llm import DeadlineOpt, ModelOpt, UrlOpt
from hpcsched.cli.options import (
    DEFAULT_CLASSES,
    ClassesOpt,
    CycleOpt,
    EstimateOpt,
    FilterOpt,
    JsonOpt,
    KillOpt,
    NodesOpt,
    PartitionsOpt,
    ProcsOpt,
    ProtocolOpt,
    ReleaseOpt,
    SiteOpt,
    StrictOpt,
    UnitOpt,
)

if TYPE_CHECKING:
    from hpcsched.advise.site import Site
    from hpcsched.sim.pools import Pools
    from hpcsched.workloads.load import LoadedTable


def _window(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    first, sep, count = text.partition(":")
    if not sep or not first.isdigit() or not count.isdigit():
        fail(f"--window {text!r}: write START:COUNT, e.g. 1981:1024")
    return int(first), int(count)


def _protocol(protocol: str | None, filter_name: str) -> str:
    """The replay protocol: as given, else the one the input filter implies."""
    if protocol is None:
        return "rlscheduler" if filter_name == "rlscheduler" else "default"
    return protocol


def _classes_text(table: Any, rule: str, windows: list[tuple[int, int]] | None) -> str:
    """What the classes are, on the jobs they were assigned over (a window's own percentiles)."""
    from hpcsched.policies.classes import describe_classes

    if not windows:
        return describe_classes(table, rule)
    text = describe_classes(table.slice(*windows[0]), rule)
    return text if len(windows) == 1 else f"{text} (in the first window; each has its own)"


def _replay_inputs(
    trace: Path,
    options: tuple[str, bool, int | None, str, int | None],
    partitions: str,
    site_path: Path | None,
) -> tuple[LoadedTable, Any, int, Pools | None, Site | None]:
    """The opened trace, its table (with ``sim_priority`` under a site's multifactor weights),
    the machine size, the partitions' pools and the site, for ``simulate`` and ``compare``."""
    from hpcsched.sim.priority import with_priority

    filter_name, strict, procs, unit, nodes = options
    pooled = partitions != "none"
    loaded, capacity = open_trace(trace, filter_name, strict, procs, unit, nodes, sized=not pooled)
    site = _site(site_path) if site_path is not None else None
    machine = _pools(partitions, site, unit, loaded.table)
    table = loaded.table
    if site is not None and site.priority is not None:
        size = sum(machine.sizes) if machine is not None else capacity
        table = with_priority(table, site, unit, size)
    return loaded, table, capacity, machine, site


def _pools(partitions: str, site: Site | None, unit: str, table: Any) -> Pools | None:
    """The partitions' pools the replay runs on (None: one machine), or one error line."""
    from hpcsched.sim import pools

    if partitions not in ("none", "site", "nodelist", "sinfo"):
        fail(f"--partitions {partitions!r}: choose none, site, nodelist or sinfo")
    if partitions == "site" and site is None:
        fail("--partitions site needs --site SITE.yaml")
    try:
        if partitions == "site" and site is not None:
            return pools.pools_from_site(site, unit)
        if partitions == "nodelist":
            return pools.pools_from_nodelist(table, unit)
        if partitions == "sinfo":
            return pools.pools_from_sinfo(_sinfo(), unit)
    except ValueError as exc:
        fail(f"--partitions {partitions}: {exc}")
    return None


def _sinfo() -> list[dict[str, str]]:
    from hpcsched.slurm.adapter import SlurmAdapter, SlurmError

    try:
        return SlurmAdapter().partition_nodes(every=True)
    except SlurmError as exc:
        fail(f"--partitions sinfo: {exc}")


def _site(path: Path) -> Site:
    from hpcsched.advise.site import SiteError, load_site

    try:
        return load_site(path)
    except SiteError as exc:
        fail(str(exc))


def _unit_word(unit: str) -> str:
    return "nodes" if unit == "nodes" else "processors"


def _windows_note(metrics: dict[str, object]) -> str:
    windows = metrics.get("windows")
    if not windows:
        return ""
    return f" ({metrics.get('protocol')} protocol: means over {windows} windows)"


def simulate(
    trace: Annotated[Path, typer.Argument(help="SWF trace (.swf/.swf.gz) or job table (.parquet)")],
    filter_name: FilterOpt = "none",
    policy: Annotated[
        str,
        typer.Option(
            help="preset: fcfs, sjf, easy, easy-sjbf, conservative, prioritybf, slurm (Slurm's "
            "backfill by multifactor priority; weights from --site), llm (a language model "
            "chooses among the feasible starts; --llm-url, --objective)"
        ),
    ] = "easy",
    order: Annotated[
        str | None,
        typer.Option(
            help="queue order: fcfs, sjf, f1-f4, wfp3, unicep; for workflows also bottom-level, "
            "upward-rank"
        ),
    ] = None,
    backfill: Annotated[
        str | None, typer.Option(help="none, easy, conservative, rlscheduler, prioritybf")
    ] = None,
    classes: ClassesOpt = DEFAULT_CLASSES,
    estimate: EstimateOpt = "requested",
    window: Annotated[
        str | None, typer.Option(help="simulate COUNT jobs from index START: START:COUNT")
    ] = None,
    protocol: ProtocolOpt = None,
    release: ReleaseOpt = "eligible",
    out: Annotated[
        Path | None,
        typer.Option(help="write the simulated job table: .parquet, .csv, .jsonl or .swf[.gz]"),
    ] = None,
    as_json: JsonOpt = False,
    procs: Annotated[
        int | None,
        typer.Option(
            "--procs",
            "--cpus",
            help="machine size in processors (default: the trace header; a workflow needs it)",
        ),
    ] = None,
    mem: Annotated[
        str | None,
        typer.Option(help="a workflow's machine memory, e.g. 128G: each task's memory counts"),
    ] = None,
    unit: UnitOpt = "cpus",
    nodes: NodesOpt = None,
    partitions: PartitionsOpt = "none",
    site: SiteOpt = None,
    cycle: CycleOpt = None,
    strict: StrictOpt = False,
    kill_at_timelimit: KillOpt = False,
    engine: Annotated[
        str, typer.Option(help="auto, fast (compiled) or reference (pure Python)")
    ] = "auto",
    objective: Annotated[
        str | None,
        typer.Option(help="--policy llm: the operator's words, e.g. 'favour fairness'"),
    ] = None,
    llm_url: UrlOpt = None,
    llm_model: ModelOpt = None,
    llm_deadline: DeadlineOpt = None,
) -> None:
    """Replay a trace under one policy and print its metrics; or a workflow (a WfCommons
    instance, a workflow YAML, an exported run) and print its makespan against its lower bound."""
    from hpcsched.runtime.dag_sources import workflow_kind

    if workflow_kind(trace) is not None:
        from hpcsched.cli.simulate_dag import simulate_dag

        simulate_dag(trace, policy, order, backfill, classes, (procs, mem), as_json)
        return
    if mem is not None:
        fail("--mem sizes a workflow's machine; a trace's jobs hold no memory in the replay")
    from hpcsched.cli.render import replay_bar
    from hpcsched.policies.registry import get_policy
    from hpcsched.sim.priority import site_age, with_age, with_scheduler
    from hpcsched.sim.protocols import simulate_windows, windows_of

    if out is not None:  # before the replay: not a traceback after it (issue 22, finding 13)
        from hpcsched.workloads.export import TABLE_SUFFIXES

        checked_output(out, *TABLE_SUFFIXES)
    loaded, table, capacity, machine, the_site = _replay_inputs(
        trace, (filter_name, strict, procs, unit, nodes), partitions, site
    )
    protocol = _protocol(protocol, filter_name)
    llm = None
    if policy == "llm":
        from hpcsched.cli.simulate_llm import llm_policy

        llm = llm_policy(
            unit,
            capacity,
            pooled=machine is not None,
            objective=objective,
            llm=(llm_url, llm_model, llm_deadline),
        )
    elif objective is not None:
        fail("--objective applies to --policy llm only")
    try:
        chosen = llm or get_policy(policy, order=order, backfill=backfill, protocol=protocol)
        chosen = with_scheduler(with_age(chosen, site_age(the_site)), the_site)
        windows = windows_of(protocol, _window(window))
        with replay_bar(chosen.name, table.height, windows) as advance:
            result = simulate_windows(
                table,
                chosen,
                capacity,
                windows,
                progress=advance,
                estimate=estimate,
                classes=classes,
                kill_at_timelimit=kill_at_timelimit,
                engine=engine,
                release=release,
                unit=unit,
                pools=machine,
                cycle=cycle,
            )
        described = _classes_text(loaded.table, classes, windows_of(protocol, _window(window)))
    except ValueError as exc:
        fail(str(exc))
    finally:
        if llm is not None:
            llm.close()
    metrics = {"policy": chosen.name, "machine_procs": capacity, **result.metrics}
    if llm is not None:
        metrics["llm"] = llm.stats()
    if unit == "nodes":
        metrics["machine_nodes"] = metrics.pop("machine_procs")
    if machine is not None:  # the pools are the machine
        metrics.pop("machine_procs", None)
        metrics.pop("machine_nodes", None)
    metrics["protocol"], metrics["classes"] = protocol, described
    metrics["malformed"] = len(loaded.malformed)
    if out is not None:
        from hpcsched.workloads.export import write_job_table

        write_job_table(result.table, out, machine_procs=capacity)
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    from hpcsched.cli.render import metrics_table

    metrics_table([metrics], title=f"{trace.name} — {chosen.name}{_windows_note(metrics)}")
    if llm is not None:
        from hpcsched.cli.simulate_llm import summary

        typer.echo(summary(metrics["llm"]))
    if machine is not None:
        typer.echo(f"partitions as pools: {machine.describe()}")


def compare(
    trace: Annotated[Path, typer.Argument(help="SWF trace or job table")],
    policies: Annotated[
        str, typer.Option(help="comma-separated presets")
    ] = "fcfs,easy,conservative,prioritybf",
    filter_name: FilterOpt = "none",
    classes: ClassesOpt = DEFAULT_CLASSES,
    estimate: EstimateOpt = "requested",
    window: Annotated[str | None, typer.Option(help="START:COUNT")] = None,
    protocol: ProtocolOpt = None,
    release: ReleaseOpt = "eligible",
    dask: Annotated[
        str | None,
        typer.Option(
            help="run the cases on Dask: a scheduler address, or no value for a LocalCluster"
        ),
    ] = None,
    as_json: JsonOpt = False,
    procs: ProcsOpt = None,
    unit: UnitOpt = "cpus",
    nodes: NodesOpt = None,
    partitions: PartitionsOpt = "none",
    site: SiteOpt = None,
    strict: StrictOpt = False,
    kill_at_timelimit: KillOpt = False,
) -> None:
    """Replay a trace under several policies: one table, one row per policy.

    A policy is a name (a preset or a registered policy) or ORDER:BACKFILL, e.g. sjf:none."""
    from hpcsched.cli.render import progress_bar
    from hpcsched.policies.registry import get_policy
    from hpcsched.sim.compare import Case
    from hpcsched.sim.compare import compare as run
    from hpcsched.sim.priority import site_age
    from hpcsched.sim.protocols import windows_of

    loaded, table, capacity, machine, the_site = _replay_inputs(
        trace, (filter_name, strict, procs, unit, nodes), partitions, site
    )
    protocol = _protocol(protocol, filter_name)
    names = [p.strip() for p in policies.split(",") if p.strip()]
    try:
        for name in names:
            get_policy(name, protocol=protocol)
        cases = [
            Case(
                name,
                capacity,
                estimate,
                classes,
                _window(window),
                kill_at_timelimit,
                protocol=protocol,
                release=release,
                unit=unit,
                pools=machine,
                age=site_age(the_site),
            )
            for name in names
        ]
        jobs = f"{len(cases)} policies on {table.height:,} jobs"
        with progress_bar(f"comparing {jobs}", total=len(cases)) as advance:
            rows, _ = run(table, cases, dask=dask, progress=advance)
        described = _classes_text(loaded.table, classes, windows_of(protocol, _window(window)))
    except ValueError as exc:
        fail(str(exc))
    for row in rows:
        row["protocol"], row["classes"] = protocol, described
    if as_json:
        typer.echo(json.dumps(rows))
        return
    from hpcsched.cli.render import metrics_table

    note = _windows_note(rows[0]) if rows else ""
    on = machine.describe() if machine is not None else f"{capacity} {_unit_word(unit)}"
    metrics_table(rows, title=f"{trace.name}: {len(rows)} policies on {on}{note}")


def demo(
    out: Annotated[Path, typer.Option(help="where the simulated job tables go")] = Path(
        "hpcsched-demo"
    ),
    jobs: Annotated[int, typer.Option(help="jobs in the generated Lublin workload")] = 5000,
    seed: Annotated[int, typer.Option(help="workload seed")] = 1,
) -> None:
    """Generate a Lublin workload, run FCFS, EASY, conservative and PriorityBF, compare them."""
    from hpcsched.cli.render import metrics_table, status
    from hpcsched.sim.demo import DEMO_MACHINE, run_demo

    checked_output(out, folder=True)
    with status(f"simulating {jobs} Lublin jobs on {DEMO_MACHINE} processors"):
        rows = run_demo(out, jobs=jobs, seed=seed)
    metrics_table(rows, title=f"Lublin–Feitelson workload, {jobs} jobs, {DEMO_MACHINE} processors")
    typer.echo(f"job tables written to {out}/ (workload.parquet and one per policy)")


def register(app: typer.Typer) -> None:
    """Add ``simulate``, ``compare`` and ``demo`` to ``app``."""
    for command in (simulate, compare, demo):
        app.command()(command)
