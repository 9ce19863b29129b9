"""The simulator's invariants in the Slurm replay modes (issue 21, item 3), through ``simulate``:
whole nodes as the unit (both engines), partitions as separate pools, and Slurm's multifactor
order re-planned every pass (``slurm``: random priorities, an age term that reorders the queue),
deciding after every event, once an instant or at scheduler passes (``cycle``).

On random job tables: in every pool, the busy units never exceed the pool's size at any instant;
every job starts exactly once; no job runs outside its partition's pool.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcsched.core.schema import conform
from hpcsched.policies.registry import get_policy
from hpcsched.sim.pools import make_pools
from hpcsched.sim.priority import with_age
from hpcsched.sim.simulate import compiled_twin, simulate

NODES = 6


@st.composite
def tables(draw: st.DrawFn, max_jobs: int = 14) -> pl.DataFrame:
    n = draw(st.integers(1, max_jobs))
    submit, rows = 0.0, []
    for i in range(n):
        submit += draw(st.sampled_from([0, 0, 1, 5, 10]))  # many ties
        limit = float(draw(st.integers(1, 30)))
        runtime = draw(st.sampled_from([0.0, limit, limit / 2, limit * 2, 1.0]))
        rows.append(
            {
                "job_id": str(i + 1),
                "user": draw(st.sampled_from(["a", "b", "c"])),
                "submit": submit,
                "runtime": float(runtime),
                "timelimit": limit,
                "nodes": draw(st.integers(1, NODES // 2)),
                "partition": draw(st.sampled_from(["p", "q", "r"])),
                "sim_priority": float(draw(st.sampled_from([0, 10, 500]))),
                "cpus": None,
                "state": "completed",
            }
        )
    return conform(pl.DataFrame(rows))


def check(
    table: pl.DataFrame, out: pl.DataFrame, sizes: dict[frozenset[str], int], unit: str
) -> None:
    assert out.height == table.height and out["job_id"].n_unique() == table.height
    ran = out.filter(pl.col("state") != "refused")
    assert ran["start"].is_not_null().all(), "every job that fits must start"
    for pool, size in sizes.items():
        mine = ran.filter(pl.col("partition").is_in(sorted(pool)))
        start, end = mine["start"].to_numpy(), mine["end"].to_numpy()
        need = mine[unit].to_numpy().astype(float)
        for t in np.unique(start):
            busy = need[(start <= t) & (end > t)].sum()
            assert busy <= size, f"{pool} over-committed at t={t}: {busy} > {size}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), engine=st.sampled_from(["fast", "reference"]))
def test_whole_node_replay_keeps_the_invariants(table: pl.DataFrame, engine: str) -> None:
    for name in ("easy", "conservative", "slurm"):
        policy = with_age(get_policy(name), (1000.0, 20.0))
        chosen = engine if compiled_twin(policy) else "reference"
        out = simulate(table, policy, NODES, unit="nodes", engine=chosen).table
        check(table, out, {frozenset("pqr"): NODES}, "nodes")


#: p and q share node n3, so they are one pool of 3 nodes; r has its own 3; s is unknown
MEMBERS = {
    "p": dict.fromkeys(["n1", "n2", "n3"], 2),
    "q": dict.fromkeys(["n3"], 2),
    "r": dict.fromkeys(["n4", "n5", "n6"], 2),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    unit=st.sampled_from(["nodes", "cpus"]),
    name=st.sampled_from(["fcfs", "easy", "conservative", "prioritybf", "slurm"]),
    cycle=st.sampled_from([None, 0.0, 2.0, 7.5]),
)
def test_partition_pools_keep_the_invariants(
    table: pl.DataFrame, unit: str, name: str, cycle: float | None
) -> None:
    table = table.with_columns(cpus=pl.col("nodes") * 2)
    pools = make_pools(MEMBERS, unit)
    assert pools.sizes == ((3, 3) if unit == "nodes" else (6, 6))
    # multifactor with a short PriorityMaxAge: the order changes while jobs wait
    policy = with_age(get_policy(name), (1000.0, 20.0))
    out = simulate(table, policy, 0, unit=unit, pools=pools, classes="size", cycle=cycle).table
    check(table, out, {frozenset("pq"): pools.sizes[0], frozenset("r"): pools.sizes[1]}, unit)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), cycle=st.sampled_from([None, 0.0, 2.0, 7.5]))
def test_the_per_node_slurm_plan_keeps_the_invariants(
    table: pl.DataFrame, cycle: float | None
) -> None:
    # nodes of 2 processors: the policy keeps every job on its nodes and reserves whole nodes
    # (hpcsched.policies.slurm_nodes); the engine's processor counts must still hold
    table = table.with_columns(cpus=pl.col("nodes") * 2 - (pl.col("nodes") > 1).cast(pl.Int64))
    pools = make_pools(MEMBERS, "cpus")
    policy = replace(with_age(get_policy("slurm"), (1000.0, 20.0)), node_cpus=2)
    out = simulate(table, policy, 0, unit="cpus", pools=pools, cycle=cycle).table
    check(table, out, {frozenset("pq"): pools.sizes[0], frozenset("r"): pools.sizes[1]}, "cpus")
