"""hpcsched simulate | compare | demo: replay traces under scheduling policies (``sim``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hpcsched.cli.errors import checked_output, fail
from hpcsched.cli.inputs import open_trace
from hpcsched.cli.options import (
    DEFAULT_CLASSES,
    ClassesOpt,
    EstimateOpt,
    FilterOpt,
    JsonOpt,
    KillOpt,
    ProcsOpt,
    ProtocolOpt,
    ReleaseOpt,
    StrictOpt,
)


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


def _windows_note(metrics: dict[str, object]) -> str:
    windows = metrics.get("windows")
    if not windows:
        return ""
    return f" ({metrics.get('protocol')} protocol: means over {windows} windows)"


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
    classes: ClassesOpt = DEFAULT_CLASSES,
    estimate: EstimateOpt = "requested",
    window: Annotated[
        str | None, typer.Option(help="simulate COUNT jobs from index START: START:COUNT")
    ] = None,
    protocol: ProtocolOpt = None,
    release: ReleaseOpt = "eligible",
    out: Annotated[
        Path | None, typer.Option(help="write the simulated job table (.parquet)")
    ] = None,
    as_json: JsonOpt = False,
    procs: ProcsOpt = None,
    strict: StrictOpt = False,
    kill_at_timelimit: KillOpt = False,
    engine: Annotated[
        str, typer.Option(help="auto, fast (compiled) or reference (pure Python)")
    ] = "auto",
) -> None:
    """Replay a trace under one policy and print its metrics."""
    from hpcsched.cli.render import replay_bar
    from hpcsched.policies.registry import get_policy
    from hpcsched.sim.protocols import simulate_windows, windows_of

    if out is not None:  # before the replay: not a traceback after it (issue 22, finding 13)
        checked_output(out, ".parquet")
    loaded, capacity = open_trace(trace, filter_name, strict, procs)
    protocol = _protocol(protocol, filter_name)
    try:
        chosen = get_policy(policy, order=order, backfill=backfill, protocol=protocol)
        windows = windows_of(protocol, _window(window))
        with replay_bar(chosen.name, loaded.table.height, windows) as advance:
            result = simulate_windows(
                loaded.table,
                chosen,
                capacity,
                windows,
                progress=advance,
                estimate=estimate,
                classes=classes,
                kill_at_timelimit=kill_at_timelimit,
                engine=engine,
                release=release,
            )
        described = _classes_text(loaded.table, classes, windows_of(protocol, _window(window)))
    except ValueError as exc:
        fail(str(exc))
    metrics = {"policy": chosen.name, "machine_procs": capacity, **result.metrics}
    metrics["protocol"], metrics["classes"] = protocol, described
    metrics["malformed"] = len(loaded.malformed)
    if out is not None:
        from hpcsched.workloads.load import write_table

        write_table(result.table, out, machine_procs=capacity)
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    from hpcsched.cli.render import metrics_table

    metrics_table([metrics], title=f"{trace.name} — {chosen.name}{_windows_note(metrics)}")


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
    strict: StrictOpt = False,
    kill_at_timelimit: KillOpt = False,
) -> None:
    """Replay a trace under several policies: one table, one row per policy.

    A policy is a name (a preset or a registered policy) or ORDER:BACKFILL, e.g. sjf:none."""
    from hpcsched.cli.render import progress_bar
    from hpcsched.policies.registry import get_policy
    from hpcsched.sim.compare import Case
    from hpcsched.sim.compare import compare as run
    from hpcsched.sim.protocols import windows_of

    loaded, capacity = open_trace(trace, filter_name, strict, procs)
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
            )
            for name in names
        ]
        jobs = f"{len(cases)} policies on {loaded.table.height:,} jobs"
        with progress_bar(f"comparing {jobs}", total=len(cases)) as advance:
            rows, _ = run(loaded.table, cases, dask=dask, progress=advance)
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
    metrics_table(rows, title=f"{trace.name}: {len(rows)} policies on {capacity} processors{note}")


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
