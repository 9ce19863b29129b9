"""hpcsched bench scheduling: every scheduler on the same SWARM scenarios, one table and a Pareto
chart (``sim.bench_scheduling``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hpcsched.cli.errors import checked_output, fail
from hpcsched.cli.options import DaskWorkersOpt, JsonOpt, group

bench_app = group(
    "Benchmarks: schedulers compared on the same instances, with the same metrics.",
    no_args_is_help=True,
)

#: the built-in policies (``hpcsched.sim.bench_scheduling.POLICIES``), written here so that the
#: command line starts without NumPy
DEFAULT_POLICIES = "fcfs,sjf,easy,conservative,prioritybf,cpsat"
OBJECTIVES = ("makespan", "weighted-completion", "lexicographic")


def _names(text: str, option: str, known: tuple[str, ...], what: str) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if text.strip() == "all":
        return list(known)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        shown = unknown[0] if unknown else text
        fail(f"{option} {shown!r}: unknown {what}; choose from {', '.join(known)} (or all)")
    return names


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        fail(f"--sizes {text!r}: give job counts of at least 1, comma-separated, e.g. 10,50,100")
    return list(dict.fromkeys(sizes))


@bench_app.command()
def scheduling(
    scenarios: Annotated[
        str, typer.Option(help="SWARM scenarios, comma-separated, or all")
    ] = "all",
    sizes: Annotated[str, typer.Option(help="jobs per instance, comma-separated")] = "10,50,100",
    seeds: Annotated[int, typer.Option(help="instances per scenario and size: seeds 0..N-1")] = 1,
    policies: Annotated[
        str,
        typer.Option(
            help="comma-separated: fcfs, sjf, easy, conservative, prioritybf, cpsat, llm "
            "(the language model at HPCSCHED_LLM_URL: only when named)"
        ),
    ] = DEFAULT_POLICIES,
    objective: Annotated[
        str,
        typer.Option(
            help="CP-SAT's objective: makespan, weighted-completion (Σ w·C) or lexicographic "
            "(the least makespan, then the least Σ w·C at that makespan)"
        ),
    ] = "lexicographic",
    llm_objective: Annotated[
        str | None,
        typer.Option(help="what the language model policy is asked to optimise, in words"),
    ] = None,
    llm_deadline: Annotated[
        float,
        typer.Option(help="seconds the language model has per decision before EASY decides"),
    ] = 5.0,
    time_limit: Annotated[
        float, typer.Option(help="CP-SAT's time limit per instance, seconds")
    ] = 10.0,
    dask: Annotated[
        str | None,
        typer.Option(
            help="run one task per instance on Dask: a scheduler address, or no value for a "
            "LocalCluster of --workers processes"
        ),
    ] = None,
    workers: DaskWorkersOpt = 2,
    out: Annotated[
        Path | None,
        typer.Option(
            help="folder for results.parquet, results.csv (every row), pareto.html and pareto.png"
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare schedulers on the SWARM scenarios: scenarios × sizes × seeds × policies.

    Each instance is replayed under each policy (a start that breaks a capacity is refused and
    counted as a violation). Per case: makespan, mean and P95 wait, utilisation of nodes and
    memory, Jain fairness over users, Σ w·C, violations, decisions, fallback share, seconds
    and tokens per decision, and the gaps to the lower bound and to CP-SAT on the same
    instance. CP-SAT starts from the best heuristic schedule of its instance; its default
    objective, lexicographic, puts its point at the least makespan it finds and, among those
    schedules, the least Σ w·C (so a heuristic with a longer makespan may beat its Σ w·C: a
    negative gap). Within --time-limit CP-SAT proves optimality on small instances only (the
    results' cpsat_proven column; at 1,000 jobs expect none). The table shows the mean over
    seeds."""
    from hpcsched.cli.render import progress_bar

    if seeds < 1:
        fail(f"--seeds {seeds}: give at least 1")
    if llm_deadline <= 0:
        fail(f"--llm-deadline {llm_deadline}: give a positive number of seconds")
    if time_limit <= 0:
        fail(f"--time-limit {time_limit}: give a positive number of seconds")
    if workers < 1:
        fail(f"--workers {workers}: give at least 1")
    if objective not in OBJECTIVES:
        fail(f"--objective {objective!r}: choose from {', '.join(OBJECTIVES)}")
    size_list = _sizes(sizes)
    folder = checked_output(out, folder=True) if out is not None else None

    from hpcsched.sim import bench_scheduling as bench

    known_scenarios, source = bench.scenario_catalogue()
    chosen = _names(scenarios, "--scenarios", known_scenarios, "scenario")
    names = _names(policies, "--policies", tuple(bench.POLICIES), "policy")
    if "llm" in names:
        _check_model()
    options = bench.BenchOptions(
        objective=objective,
        time_limit=time_limit,
        llm_objective=llm_objective,
        llm_deadline=llm_deadline,
    )
    cases = bench.cases_of(chosen, size_list, seeds, names)
    label = f"bench: {len(cases)} cases on {len(cases) // len(names)} instances"
    try:
        with progress_bar(label, total=len(cases)) as advance:
            rows = bench.run_bench(
                cases,
                instance_source=source,
                options=options,
                dask=dask,
                workers=workers,
                progress=advance,
            )
    except ValueError as exc:
        fail(str(exc))
    written = _write(rows, folder) if folder is not None else {}
    if as_json:
        typer.echo(json.dumps({"rows": rows, "written": written}))
        return
    from hpcsched.cli.render_bench import bench_tables
    from hpcsched.sim.bench_metrics import mean_over_seeds

    bench_tables(mean_over_seeds(rows).to_dicts(), seeds=seeds)
    if written:
        files = ", ".join(Path(v).name for k, v in written.items() if k != "png_error")
        typer.echo(f"written to {folder}/: {files}")
        if "png_error" in written:
            typer.echo(f"pareto.png not drawn ({written['png_error']}); pareto.html has the chart")


def _check_model() -> None:
    """One line, before any work, when ``--policies llm`` has no language model to ask."""
    from hpcsched.llm.settings import ENV_URL, SettingsError, load_settings

    try:
        configured = load_settings().configured
    except SettingsError as exc:
        fail(str(exc))
    if not configured:
        fail(f"--policies llm needs a language model: set {ENV_URL} or llm_url in the config file")


def _write(rows: list[dict[str, Any]], folder: Path) -> dict[str, str]:
    import polars as pl

    from hpcsched.sim.bench_chart import pareto_figure, write_chart
    from hpcsched.sim.bench_metrics import mean_over_seeds

    folder.mkdir(parents=True, exist_ok=True)
    table = pl.DataFrame(rows, infer_schema_length=None)
    table.write_parquet(folder / "results.parquet")
    table.write_csv(folder / "results.csv")
    written = {
        "parquet": str(folder / "results.parquet"),
        "csv": str(folder / "results.csv"),
    }
    written.update(write_chart(pareto_figure(mean_over_seeds(rows)), folder))
    return written


def register(app: typer.Typer) -> None:
    """Add ``hpcsched bench`` to ``app``."""
    app.add_typer(bench_app, name="bench")
