"""Run one trace under several policies, locally or as a sweep on a Dask cluster."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from hpcsched.policies.registry import get_policy
from hpcsched.sim.pools import Pools
from hpcsched.sim.priority import with_age
from hpcsched.sim.protocols import simulate_windows, windows_of
from hpcsched.sim.simulate import SimulationResult


@dataclass(frozen=True)
class Case:
    """One simulation of a sweep: a policy name plus the options common to all cases."""

    policy: str
    capacity: int
    estimate: str = "requested"
    classes: str | None = None
    window: tuple[int, int] | None = None
    kill_at_timelimit: bool = False
    protocol: str = "default"
    release: str = "eligible"
    unit: str = "cpus"
    pools: Pools | None = None
    age: tuple[float, float] | None = None  # PriorityWeightAge, PriorityMaxAge (multifactor)


def run_case(table: pl.DataFrame, case: Case) -> SimulationResult:
    policy = with_age(get_policy(case.policy, protocol=case.protocol), case.age)
    # class rules only change PriorityBF's decisions, but the per-class table is useful for all
    return simulate_windows(
        table,
        policy,
        case.capacity,
        windows_of(case.protocol, case.window),
        estimate=case.estimate,
        classes=case.classes,
        kill_at_timelimit=case.kill_at_timelimit,
        release=case.release,
        unit=case.unit,
        pools=case.pools,
    )


def _metrics_row(case: Case, result: SimulationResult) -> dict[str, Any]:
    return {"policy": case.policy, **result.metrics}


def compare(
    table: pl.DataFrame,
    cases: list[Case],
    *,
    dask: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, SimulationResult]]:
    """Metrics per case (and the full results when run locally).

    ``dask`` is a scheduler address, or ``"local"`` for a ``LocalCluster`` started here; the table
    is scattered once and each case runs as one task. ``progress(done, total)`` is told each
    finished case (on Dask in the order they finish); it only observes.
    """
    told = progress or (lambda done, total: None)
    if dask is None:
        results: dict[str, SimulationResult] = {}
        for done, case in enumerate(cases, start=1):
            results[case.policy] = run_case(table, case)
            told(done, len(cases))
        return [_metrics_row(c, results[c.policy]) for c in cases], results
    from distributed import as_completed

    from hpcsched.sim.dask_cluster import dask_client

    with dask_client(dask) as client:
        shared = client.scatter(table, broadcast=True)
        futures = [client.submit(_remote_case, shared, case, pure=False) for case in cases]
        for done, _ in enumerate(as_completed(futures), start=1):
            told(done, len(cases))
        rows: list[dict[str, Any]] = client.gather(futures)
    return rows, {}


def _remote_case(table: pl.DataFrame, case: Case) -> dict[str, Any]:
    result = run_case(table, case)
    row = _metrics_row(case, result)
    import socket

    row["worker_host"] = socket.gethostname()
    return row
