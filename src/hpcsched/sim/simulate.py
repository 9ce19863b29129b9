"""``simulate(table, policy) -> table'``: what a trace would have looked like under a policy.

The input and the output are job tables, so every chart and statistic applies to real and simulated
runs alike. A replayed job keeps the end state it really had (failed, cancelled, out of memory:
its run time is replayed, only its start moves), or ``timeout`` if the replay kills it. Jobs
larger than the machine are refused up front and counted (state ``refused``); jobs with no known
run time cannot be replayed and are counted too (``no_runtime``); jobs with no usable estimate
plan with their run time and are counted (``estimate_missing``).

Jobs are released to the scheduler when they could run: a job table from Slurm has ``eligible``
(held jobs, ``--begin``, dependencies), and a job is released at the later of ``submit`` and
``eligible``; waits then count from that moment, as Slurm's own "time waiting for resources" does
(``held`` counts the jobs released after their submission). ``release="submit"`` releases every
job at its submission instead.

The unit a job asks for is ``cpus`` (processors, the default) or ``nodes`` (whole nodes, as Slurm
allocates with ``--exclusive`` or node-granular partitions); ``capacity`` is in that unit. A table
that cannot be replayed in its unit (no job says it) or where no job can run at all is refused
with one line (:class:`ValueError`), never replayed as zero jobs.

With ``pools`` (:mod:`hpcsched.sim.pools`) each Slurm partition's jobs run only in its pool; the
machine is the pools, ``capacity`` is not used, jobs of a partition no pool holds are refused and
counted (``no_partition``), and the reference engine runs (the kernel has one pool).

``cycle`` (:func:`hpcsched.sim.replay.replay`): decide once an instant (0) or every ``cycle``
seconds (Slurm's ``bf_interval``) instead of after every event (None); the reference engine runs.

A ``sim_priority`` column (:func:`hpcsched.sim.priority.with_priority`: Slurm's multifactor
priority without its age term) is what the ``multifactor`` queue order sorts by.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from hpcsched.core.schema import TERMINAL_STATES
from hpcsched.policies.backfilling import BackfillPolicy
from hpcsched.policies.classes import assign_classes
from hpcsched.policies.view import Policy
from hpcsched.sim.metrics import summarize
from hpcsched.sim.pools import Pools
from hpcsched.sim.replay import JobArrays, Schedule, replay

ENGINES = ("auto", "fast", "reference")
RELEASES = ("eligible", "submit")
UNITS = ("cpus", "nodes")
#: order keys that read a job's size as ``request[0]``: meaningless with one dimension per pool
SIZE_ORDERS = frozenset({"f1", "f2", "f3", "f4", "wfp3", "unicep"})


@dataclass
class SimulationResult:
    table: pl.DataFrame
    metrics: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    sim_seconds: float = 0.0
    engine: str = "reference"


def _estimate_column(table: pl.DataFrame, estimate: str) -> pl.Expr:
    if estimate == "requested":
        return pl.col("timelimit")
    if estimate == "exact":
        return pl.col("runtime")
    if estimate not in table.columns:
        raise ValueError(
            f"--estimate {estimate!r}: no such column; use requested, exact or one of "
            + ", ".join(c for c in table.columns if table[c].dtype.is_numeric())
        )
    return pl.col(estimate).cast(pl.Float64)


def fast_engine_available() -> bool:
    from importlib.util import find_spec

    return find_spec("hpcsched.sim._fastsim") is not None


def simulate(
    table: pl.DataFrame,
    policy: Policy,
    capacity: int,
    *,
    estimate: str = "requested",
    window: tuple[int, int] | None = None,
    classes: str | None = None,
    kill_at_timelimit: bool = False,
    engine: str = "auto",
    release: str = "eligible",
    unit: str = "cpus",
    pools: Pools | None = None,
    cycle: float | None = None,
) -> SimulationResult:
    """Replay ``table`` (jobs need ``submit, runtime`` and ``unit``) on ``capacity`` of ``unit``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}")
    if cycle is not None and not (0 <= cycle < float("inf")):
        raise ValueError(f"--cycle {cycle}: give 0 (once an instant) or a positive number of s")
    if release not in RELEASES:
        raise ValueError(f"release must be one of {RELEASES}, not {release!r}")
    _check_unit(table, unit)
    if window is not None:
        first, count = window
        if first < 0 or count <= 0 or first >= table.height:
            raise ValueError(f"--window {first}:{count} is outside the {table.height} jobs")
        table = table.slice(first, count)
    if classes is not None:
        table = table.with_columns(assign_classes(table, classes))
    elif table["priority_class"].null_count() == table.height:
        table = table.with_columns(pl.lit(0, dtype=pl.Int32).alias("priority_class"))
    counts: dict[str, int] = {}
    table, counts["held"] = _released(table, release)
    runnable = pl.col("runtime").is_not_null() & (pl.col("runtime") >= 0)
    counts["no_runtime"] = table.height - int(table.select(runnable.sum()).item())
    machine: tuple[int, ...] = (capacity,)
    table = table.with_columns(pl.lit(0, dtype=pl.Int64).alias("_pool"))
    if pools is not None:
        machine = _pooled(table, policy, pools, unit)
        index = pl.col("partition").replace_strict(
            dict(pools.of_partition), default=None, return_dtype=pl.Int64
        )
        table = table.with_columns(index.alias("_pool"))
        counts["no_partition"] = int(table.select((runnable & index.is_null()).sum()).item())
    size = pl.col("_pool").replace_strict(dict(enumerate(machine)), default=0)
    fits = pl.col(unit).is_not_null() & (pl.col(unit) > 0) & (pl.col(unit) <= size)
    usable = table.filter(runnable & fits)
    refused = table.filter(runnable & ~fits).drop("_pool")
    counts["refused"] = refused.height
    if usable.is_empty() and not table.is_empty():
        where = "their partition's pool" if pools else f"the machine's {capacity} {unit}"
        raise ValueError(
            f"none of the {table.height} jobs can be replayed: {counts['no_runtime']} have no "
            f"run time, {counts['refused']} ask for more than {where} "
            "or for none (check the machine size and --unit)"
        )
    est = _estimate_column(usable, estimate)
    usable = usable.with_columns(est.alias("_estimate"))
    missing = pl.col("_estimate").is_null() | (pl.col("_estimate") <= 0)
    counts["estimate_missing"] = int(usable.select(missing.sum()).item())
    usable = usable.with_columns(
        pl.when(missing).then(pl.col("runtime")).otherwise(pl.col("_estimate")).alias("_estimate")
    )
    runtime = usable["runtime"].to_numpy().astype(np.float64)
    timelimit = usable["timelimit"].fill_null(np.nan).to_numpy().astype(np.float64)
    killed = np.zeros(len(runtime), dtype=bool)
    if kill_at_timelimit:
        killed = np.isfinite(timelimit) & (runtime > timelimit)
        runtime = np.where(killed, timelimit, runtime)
    jobs = JobArrays(
        submit=usable["released"].to_numpy().astype(np.float64),
        runtime=runtime,
        estimate=usable["_estimate"].to_numpy().astype(np.float64),
        timelimit=timelimit,
        request=_requests(usable, unit, len(machine)),
        priority_class=usable["priority_class"].fill_null(0).to_numpy().astype(np.int64),
        user=usable["user"].fill_null("").to_list(),
        priority=(
            usable["sim_priority"].fill_null(0.0).to_numpy().astype(np.float64)
            if "sim_priority" in usable.columns
            else None
        ),
    )
    started = time.perf_counter()
    schedule, used_engine = _run(jobs, policy, machine, engine, cycle)
    elapsed = time.perf_counter() - started
    out = usable.drop("_estimate", "_pool").with_columns(
        pl.Series("start", schedule.start),
        pl.Series("end", schedule.end),
        pl.Series("runtime", schedule.end - schedule.start),
        pl.Series("backfilled", schedule.backfilled),
        _simulated_state(usable["state"], killed),
        pl.lit(f"sim:{policy.name}").alias("source"),
        *_unplaced(usable),
    )
    if refused.height:
        out = pl.concat(
            [
                out,
                refused.with_columns(
                    pl.lit(None, dtype=pl.Float64).alias("start"),
                    pl.lit(None, dtype=pl.Float64).alias("end"),
                    pl.lit("refused").alias("state"),
                    pl.lit(f"sim:{policy.name}").alias("source"),
                ),
            ],
            how="diagonal_relaxed",
        )
    released = out.with_columns(pl.col("released").alias("submit"))
    metrics = summarize(released, sum(machine), unit=unit)
    metrics.update(counts)
    n = len(runtime)
    metrics["sim_seconds"] = elapsed
    metrics["jobs_per_second"] = n / elapsed if elapsed > 0 else float("inf")
    metrics["engine"] = used_engine
    if pools is not None:
        metrics["pools"] = pools.describe()
    metrics["violations"] = schedule.violations
    metrics["released_at"] = (
        "eligible" if "eligible" in table.columns and release == "eligible" else "submit"
    )
    return SimulationResult(out, metrics, counts, elapsed, used_engine)


def _simulated_state(real: pl.Series, killed: np.ndarray[Any, np.dtype[np.bool_]]) -> pl.Series:
    """The end state of a replayed job: ``timeout`` when the replay killed it, else the state it
    really ended in (a job that failed after 3 min fails after 3 min under any policy: only its
    start moves), ``completed`` when the table has none or the job had not finished."""
    ended = (
        real.cast(pl.String)
        .to_frame("s")
        .select(
            pl.when(pl.col("s").is_in(sorted(TERMINAL_STATES)))
            .then("s")
            .otherwise(pl.lit("completed"))
        )
    )
    return pl.Series("state", np.where(killed, "timeout", ended.to_series().to_numpy()))


def _unplaced(table: pl.DataFrame) -> list[pl.Expr]:
    """The replay places jobs on processors, not on named nodes: the real node lists no longer
    say where a job ran (busy nodes would be counted from the real run's placement)."""
    gone = [c for c in ("sacct_nodelist", "sacct_nodelist_nodes") if c in table.columns]
    return [pl.lit(None, dtype=table.schema[c]).alias(c) for c in gone]


def _pooled(table: pl.DataFrame, policy: Policy, pools: Pools, unit: str) -> tuple[int, ...]:
    """The pools' sizes, after refusing what cannot be replayed on them (one line each)."""
    if pools.unit != unit:
        raise ValueError(f"the pools are sized in {pools.unit}, the replay counts {unit}")
    if len(pools.sizes) > 1:
        orders = {str(getattr(policy, a, None)) for a in ("order", "backfill_order")}
        if orders & SIZE_ORDERS:
            raise ValueError(
                f"queue order {sorted(orders & SIZE_ORDERS)[0]} reads one machine's job sizes; "
                "with several partition pools use fcfs, sjf or multifactor"
            )
    return pools.sizes


def _requests(usable: pl.DataFrame, unit: str, dimensions: int) -> npt.NDArray[np.int64]:
    """Each job's units in its pool's dimension, none in the others."""
    request = np.zeros((usable.height, dimensions), dtype=np.int64)
    pool = usable["_pool"].to_numpy().astype(np.int64)
    request[np.arange(usable.height), pool] = usable[unit].to_numpy().astype(np.int64)
    return request


def _check_unit(table: pl.DataFrame, unit: str) -> None:
    """Refuse, in one line, a unit the table cannot honour (sacct without AllocCPUS, say)."""
    if unit not in UNITS:
        raise ValueError(f"--unit {unit!r}: choose one of {', '.join(UNITS)}")
    if table.is_empty() or table[unit].drop_nulls().gt(0).any():
        return
    others = [u for u in UNITS if u != unit and table[u].drop_nulls().gt(0).any()]
    hint = f"; the table has {others[0]}: replay with --unit {others[0]}" if others else ""
    raise ValueError(f"no job says how many {unit} it asks for{hint}")


def _released(table: pl.DataFrame, release: str) -> tuple[pl.DataFrame, int]:
    """``table`` with its ``released`` column (see the module docstring), and how many jobs are
    released after their submission."""
    if release == "eligible" and "eligible" in table.columns:
        eligible = pl.col("eligible").cast(pl.Float64)
        released = pl.max_horizontal(pl.col("submit"), eligible.fill_null(pl.col("submit")))
    else:
        released = pl.col("submit")
    table = table.with_columns(released.cast(pl.Float64).alias("released"))
    held = int(table.select((pl.col("released") > pl.col("submit")).sum()).item() or 0)
    return table, held


def compiled_twin(policy: Policy) -> bool:
    """The compiled kernel implements exactly this policy: the class itself (a subclass may
    override ``decide``) with a variant and order keys it knows."""
    from hpcsched.policies.order import DAG_KEYS, ORDER_KEYS

    return (
        type(policy) is BackfillPolicy
        and "multifactor" not in (policy.order, policy.backfill_order)
        and not policy.replan
        and policy.backfill in ("none", "easy", "conservative", "prioritybf", "rlscheduler")
        and policy.order in ORDER_KEYS
        and policy.order not in DAG_KEYS
        and policy.backfill_order not in DAG_KEYS
        and (policy.backfill_order is None or policy.backfill_order in ORDER_KEYS)
    )


def _run(
    jobs: JobArrays, policy: Policy, machine: tuple[int, ...], engine: str, cycle: float | None
) -> tuple[Schedule, str]:
    if engine == "fast" and (len(machine) > 1 or cycle is not None):
        raise ValueError(
            "the fast engine has one pool and decides after every event; "
            "use --engine reference or auto"
        )
    if len(machine) > 1 or cycle is not None:
        return replay(jobs, policy, machine, strict=False, cycle=cycle), "reference"
    capacity = machine[0]
    if engine == "fast" and not compiled_twin(policy):
        raise ValueError(
            f"the fast engine has no compiled twin of policy {policy.name!r} "
            f"({type(policy).__name__}); use --engine reference or auto"
        )
    if engine == "fast" or (engine == "auto" and compiled_twin(policy) and fast_engine_available()):
        from hpcsched.sim.fast import replay_fast

        assert isinstance(policy, BackfillPolicy)
        return replay_fast(jobs, policy, capacity), "fast"
    # a policy's illegal start is refused and counted, not raised: the user sees the count
    return replay(jobs, policy, machine, strict=False), "reference"
