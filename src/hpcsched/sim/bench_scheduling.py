"""The scheduling benchmark (issue 18): scenarios × sizes × seeds × policies, one row per case.

Every case replays one :class:`~hpcsched.sim.instance.SchedulingInstance` under one policy with
the reference engine, deciding once an instant after all of its events (``cycle=0``), with
``strict=False``: a start that breaks a capacity is refused and counted rather than raised. The
schedule is measured with :mod:`hpcsched.sim.bench_metrics`; then each row gets its gap to the
lower bounds and to CP-SAT's schedule of the same instance.

A policy is a name in :data:`POLICIES`, whose factory builds it for one instance. The factory
sees the outcomes of the policies that already ran on that instance, so CP-SAT can start from
the best heuristic's schedule: the cases of one instance run together, in order, those in
:data:`RUNS_LAST` after the others (locally in a loop; on Dask as one task per instance).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpcsched.sim.bench_metrics import add_gaps, schedule_metrics
from hpcsched.sim.bench_policies import (
    HEURISTICS,
    OBJECTIVES,
    POLICIES,
    RUNS_LAST,
    BenchOptions,
    Outcome,
    PolicyFactory,
    Prepared,
    best_outcome,
)
from hpcsched.sim.bounds import makespan_lower_bound, weighted_completion_lower_bound
from hpcsched.sim.instance import SchedulingInstance
from hpcsched.sim.replay import replay

__all__ = [
    "HEURISTICS",
    "LOWER_BOUNDS",
    "OBJECTIVES",
    "POLICIES",
    "RUNS_LAST",
    "BenchOptions",
    "Case",
    "Outcome",
    "PolicyFactory",
    "Prepared",
    "best_outcome",
    "run_bench",
    "run_case",
    "run_instance",
]


@dataclass(frozen=True)
class Case:
    """One replay: an instance (scenario, jobs, seed) under one policy."""

    scenario: str
    jobs: int
    seed: int
    policy: str

    @property
    def instance_key(self) -> tuple[str, int, int]:
        return (self.scenario, self.jobs, self.seed)


InstanceSource = Callable[[str, int, int], SchedulingInstance]
Progress = Callable[[int, int], None]


def _span_lower_bound(instance: SchedulingInstance) -> float:
    # the bound is on the last end; the makespan column is counted from the first release
    first = int(instance.release.min()) if len(instance) else 0
    return float(makespan_lower_bound(instance) - first)


#: lower bounds by metric (:mod:`hpcsched.sim.bounds`), each valid for every feasible schedule
LOWER_BOUNDS: dict[str, Callable[[SchedulingInstance], float]] = {
    "makespan_s": _span_lower_bound,
    "weighted_completion": lambda instance: float(weighted_completion_lower_bound(instance)),
}


def scenario_catalogue() -> tuple[tuple[str, ...], InstanceSource]:
    """The SWARM scenarios' names and their instance builder, the command's instance source."""
    from hpcsched.sim.scenarios import instance
    from hpcsched.workloads.swarm_scenarios import SCENARIOS

    return tuple(SCENARIOS), instance


def measure(
    instance: SchedulingInstance,
    case: Case,
    options: BenchOptions,
    done: Sequence[Outcome] = (),
) -> Outcome:
    """Build ``case.policy`` for ``instance``, replay it and measure the schedule. A policy
    that cannot be built (CP-SAT found no schedule in time) or stalls gives a row with ``error``
    and no metrics; the other cases go on."""
    row: dict[str, Any] = {
        "scenario": case.scenario,
        "jobs": case.jobs,
        "seed": case.seed,
        "policy": case.policy,
    }
    began = time.perf_counter()
    prepared: Prepared | None = None
    start = np.full(len(instance), np.nan)
    try:
        built = POLICIES[case.policy](instance, options, done)
        prepared = built if isinstance(built, Prepared) else Prepared(built)
        row.update(prepared.fields)
        jobs = instance.job_arrays()
        if prepared.priority_class is not None:
            jobs = dataclasses.replace(jobs, priority_class=prepared.priority_class)
        # one decision an instant, after all of its events (a scheduler's pass; the language
        # model is asked once per instant, not once per arrival of a burst)
        schedule = replay(jobs, prepared.policy, instance.capacity, strict=False, cycle=0)
        row.update(schedule_metrics(instance, schedule))
        start = schedule.start
    except (RuntimeError, ValueError, KeyError) as exc:
        row["error"] = str(exc).strip("'\"")
    finally:
        wall = time.perf_counter() - began
        if prepared is not None and prepared.close is not None:
            prepared.close()
    row["wall_s"] = wall
    decisions = row.get("decisions") or 0
    row.update(
        fallback_share=0.0,
        seconds_per_decision=wall / decisions if decisions else None,
        tokens_per_decision=0.0,
    )
    if prepared is not None and prepared.after is not None:
        row.update(prepared.after())
    return Outcome(row, start)


def run_instance(
    instance: SchedulingInstance, cases: Sequence[Case], options: BenchOptions
) -> list[dict[str, Any]]:
    """The rows of every case of one instance, in the order of ``cases`` (those in
    :data:`RUNS_LAST` run after the others), with their gaps to the bounds and to CP-SAT."""
    order = sorted(range(len(cases)), key=lambda i: cases[i].policy in RUNS_LAST)
    done: list[Outcome] = []
    rows: dict[int, dict[str, Any]] = {}
    for i in order:
        outcome = measure(instance, cases[i], options, done)
        done.append(outcome)
        rows[i] = outcome.row
    ordered = [rows[i] for i in range(len(cases))]
    bounds = {metric: float(bound(instance)) for metric, bound in LOWER_BOUNDS.items()}
    add_gaps(ordered, bounds)
    return ordered


def run_case(
    case: Case, *, instance_source: InstanceSource, options: BenchOptions
) -> dict[str, Any]:
    """One row: ``case`` on its own instance (alone, so no warm start and no gap to CP-SAT
    unless the case is CP-SAT itself)."""
    instance = instance_source(case.scenario, case.jobs, case.seed)
    return run_instance(instance, [case], options)[0]


def cases_of(
    scenarios: Iterable[str], sizes: Iterable[int], seeds: int, policies: Iterable[str]
) -> list[Case]:
    """Every combination, scenario by scenario, size by size, seed by seed."""
    policies = list(policies)
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown policy {unknown[0]!r}; known: {', '.join(POLICIES)}")
    return [
        Case(scenario, jobs, seed, policy)
        for scenario in scenarios
        for jobs in sizes
        for seed in range(seeds)
        for policy in policies
    ]


def _groups(cases: Sequence[Case]) -> dict[tuple[str, int, int], list[Case]]:
    groups: dict[tuple[str, int, int], list[Case]] = {}
    for case in cases:
        groups.setdefault(case.instance_key, []).append(case)
    return groups


def run_bench(
    cases: Sequence[Case],
    *,
    instance_source: InstanceSource,
    options: BenchOptions | None = None,
    dask: str | None = None,
    workers: int = 2,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Every case's row, in the order of ``cases``.

    Instances are built here; each instance's cases run as one unit (locally in turn, or as one
    Dask task when ``dask`` is a scheduler address or ``"local"``, a ``LocalCluster`` of
    ``workers`` processes started here). ``progress(done, total)`` counts cases; it only
    observes.
    """
    options = options or BenchOptions()
    told = progress or (lambda done, total: None)
    groups = _groups(cases)
    instances = {key: instance_source(*key) for key in groups}
    results: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    finished = 0
    if dask is None:
        for key, group in groups.items():
            results[key] = run_instance(instances[key], group, options)
            finished += len(group)
            told(finished, len(cases))
    else:
        results = _on_dask(groups, instances, options, dask, workers, told, len(cases))
    by_case = {(key, i): row for key, rows in results.items() for i, row in enumerate(rows)}
    position: dict[tuple[str, int, int], int] = {}
    ordered = []
    for case in cases:
        i = position.get(case.instance_key, 0)
        position[case.instance_key] = i + 1
        ordered.append(by_case[(case.instance_key, i)])
    return ordered


def _on_dask(
    groups: Mapping[tuple[str, int, int], list[Case]],
    instances: Mapping[tuple[str, int, int], SchedulingInstance],
    options: BenchOptions,
    dask: str,
    workers: int,
    told: Progress,
    total: int,
) -> dict[tuple[str, int, int], list[dict[str, Any]]]:
    from distributed import as_completed

    from hpcsched.sim.dask_cluster import dask_client

    with dask_client(dask, workers) as client:
        futures = {
            client.submit(_remote_instance, instances[key], group, options, pure=False): key
            for key, group in groups.items()
        }
        results = {}
        finished = 0
        for future in as_completed(list(futures)):
            key = futures[future]
            results[key] = future.result()
            finished += len(groups[key])
            told(finished, total)
    return results


def _remote_instance(
    instance: SchedulingInstance, cases: Sequence[Case], options: BenchOptions
) -> list[dict[str, Any]]:
    import socket

    rows = run_instance(instance, cases, options)
    for row in rows:
        row["worker_host"] = socket.gethostname()
    return rows
