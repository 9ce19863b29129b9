"""hpcsched swarm live / sim: decentralised job selection (SWARM consensus or a PBFT baseline) by
n agents on the real broker or on a simulated network, checked and measured."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer

from hpcsched.cli.errors import fail
from hpcsched.cli.options import JsonOpt, group

swarm_app = group(
    "Decentralised job selection: n agents pick jobs from one pool by consensus (SWARM or PBFT).",
    no_args_is_help=True,
)

AgentsOpt = Annotated[int, typer.Option("--agents", min=2, help="number of agents (sites)")]
JobsOpt = Annotated[int, typer.Option("--jobs", min=1, help="jobs in the pool")]
ProtocolOpt = Annotated[str, typer.Option("--protocol", help="pbft or swarm")]
SeedOpt = Annotated[int, typer.Option(help="seed of the jobs and of the agents' random seeds")]
GapOpt = Annotated[
    float, typer.Option("--interarrival", min=0.0, help="mean time between job arrivals, s")
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0.001, help="a round's timeout before a new one, s")
]
SuspectOpt = Annotated[
    float | None,
    typer.Option(
        "--suspect-after",
        min=0.001,
        help="an agent silent this long is taken as dead and its unfinished jobs are selected "
        "again, s (default: 5 timeouts; live, at least 5 s)",
    ),
]


def _check_protocol(protocol: str) -> None:
    if protocol not in ("pbft", "swarm"):
        fail(f"--protocol {protocol}: use pbft or swarm")


def _report(record: Any, as_json: bool) -> None:
    from hpcsched.swarm.check import check, measures

    verdict = check(record)
    m = measures(record)
    result = {**m, **{k: v if isinstance(v, int) else len(v) for k, v in verdict.items()},
              "crashed": record.crashed}  # fmt: skip
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(
            f"{m['protocol']}, {m['agents']} agents, {m['jobs']} jobs: "
            f"{m['messages_per_job']:.1f} messages/job (formula {m['formula_per_job']:.1f}, "
            f"p = {m['proposers_per_job']:.2f} proposers/job); latency mean "
            f"{m['latency_mean_ms']:.1f} ms, P95 {m['latency_p95_ms']:.1f} ms; idle per agent "
            f"{m['idle_mean_s']:.2f} s of {m['span_s']:.2f} s"
        )
        typer.echo(
            f"selected {result['selected']}, lost {result['lost']}, twice {result['twice']}, "
            f"stranded on a dead agent {result['stranded']}"
            + (f" (agent {record.crashed[0]} killed)" if record.crashed else "")
        )
        typer.echo(
            f"re-selected after a crash: {result['reselected']}; heartbeats "
            f"{m['heartbeats_per_job']:.1f}/job"
            + (f"; re-selected too early {result['early']}" if result["early"] else "")
        )
    if verdict["twice"] or verdict["wrong_agent"]:
        raise typer.Exit(1)


@swarm_app.command()
def sim(
    agents: AgentsOpt = 5,
    jobs: JobsOpt = 1000,
    protocol: ProtocolOpt = "swarm",
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0.0, help="one-way link latency (x1-2 per link)")
    ] = 0.5,
    loss: Annotated[float, typer.Option(min=0.0, max=0.9, help="chance a message is lost")] = 0.0,
    service_us: Annotated[
        float, typer.Option("--service-us", min=0.0, help="agent time per message handled, us")
    ] = 0.0,
    kill_one_at: Annotated[
        float | None, typer.Option("--kill-one-at", help="crash agent 0 at this time, s")
    ] = None,
    interarrival: GapOpt = 0.02,
    timeout: TimeoutOpt = 0.2,
    suspect_after: SuspectOpt = None,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Run the protocol on a simulated network (per-link latency and loss, virtual time)."""
    from hpcsched.swarm.messages import make_jobs, site_capacities
    from hpcsched.swarm.netsim import NetModel, simulate

    _check_protocol(protocol)
    net = NetModel(latency=latency_ms / 1e3, loss=loss, service=service_us / 1e6)
    record = simulate(
        make_jobs(jobs, seed=seed, interarrival=interarrival),
        site_capacities(agents),
        protocol,
        net=net,
        timeout=timeout,
        seed=seed,
        crash=None if kill_one_at is None else (0, kill_one_at),
        suspect_after=suspect_after,
    )
    _report(record, as_json)


@swarm_app.command()
def live(
    agents: AgentsOpt = 3,
    jobs: JobsOpt = 100,
    protocol: ProtocolOpt = "swarm",
    bus: Annotated[
        str | None,
        typer.Option("--bus", help="broker, nats://HOST:PORT (default: $HPCSCHED_BUS_URL)"),
    ] = None,
    kill_one_at: Annotated[
        float | None, typer.Option("--kill-one-at", help="SIGKILL agent 0 at this time, s")
    ] = None,
    interarrival: GapOpt = 0.02,
    timeout: TimeoutOpt = 0.2,
    suspect_after: SuspectOpt = None,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Run the protocol live: one process per agent on the broker (NATS core subjects)."""
    import asyncio

    from hpcsched.bus.connection import BusError
    from hpcsched.swarm.live import LiveError, run_live
    from hpcsched.swarm.messages import make_jobs, site_capacities

    _check_protocol(protocol)
    server = (bus or os.environ.get("HPCSCHED_BUS_URL") or "").rstrip("/")
    if not server.startswith("nats://"):
        fail("--bus nats://HOST:PORT is needed (or $HPCSCHED_BUS_URL; scripts/bus-local.sh start)")
    try:
        record = asyncio.run(
            run_live(
                server,
                make_jobs(jobs, seed=seed, interarrival=interarrival),
                site_capacities(agents),
                protocol,
                timeout=timeout,
                seed=seed,
                kill=None if kill_one_at is None else (0, kill_one_at),
                suspect_after=suspect_after,
            )
        )
    except (BusError, LiveError) as exc:
        fail(f"{server}: {exc}")
    _report(record, as_json)


def register(app: typer.Typer) -> None:
    """Add ``hpcsched swarm`` to ``app``."""
    app.add_typer(swarm_app, name="swarm")
