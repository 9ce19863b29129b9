"""The scheduling benchmark's numbers for one schedule of one instance, and its gaps.

Every number is read from the replayed schedule, whichever scheduler made it (a heuristic, a
CP-SAT plan, a language model), so all are measured alike:

- wait ``start - release``; makespan ``max end - min release`` (the span the machine is busy
  with this instance; with every release at 0 it is Graham's C_max);
- utilisation of resource ``r``: Σ p_j q_jr / (C_r · makespan), the share of the capacity-time
  the jobs used, one column per resource (``util_nodes``, ``util_mem_gb``, ...);
- fairness: Jain's index of the per-user mean waits, :func:`hpcsched.sim.metrics.jain_index`
  (the definition ``simulate`` and ``compare`` print, so the numbers agree across commands);
- Σ w·C: the weighted sum of completion times (the ``end`` each job got), CP-SAT's second
  objective;
- decisions: the decision instants that started at least one job, i.e. the distinct start times
  (the replay asks the policy once an instant; an instant where it started nothing is not
  counted, as the language model is not asked when nothing can start; the language model's row
  counts its own decisions instead, :func:`hpcsched.sim.bench_policies.llm_fields`).

Gaps are in percent of the reference: ``100 (value - reference) / reference``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from hpcsched.sim.instance import SchedulingInstance
from hpcsched.sim.metrics import jain_index
from hpcsched.sim.replay import Schedule

#: the metrics a reference (a lower bound, CP-SAT's schedule) is compared on, and their gap column
GAP_METRICS = {"makespan_s": "makespan", "weighted_completion": "wc"}


def schedule_metrics(instance: SchedulingInstance, schedule: Schedule) -> dict[str, Any]:
    """Makespan, mean and P95 wait, utilisation per resource, Jain fairness over users, Σ w·C,
    capacity violations and decisions of ``schedule`` (every job must have run)."""
    start, end = schedule.start, schedule.end
    if np.isnan(start).any() or np.isnan(end).any():
        raise ValueError(f"{int(np.isnan(end).sum())} job(s) of {instance.name} never ran")
    release = instance.release.astype(np.float64)
    wait = start - release
    makespan = float(end.max() - release.min()) if len(instance) else 0.0
    per_user: dict[str, list[float]] = defaultdict(list)
    for user, w in zip(instance.user, wait.tolist(), strict=True):
        per_user[user].append(w)
    run = end - start
    row: dict[str, Any] = {
        "makespan_s": makespan,
        "mean_wait_s": float(wait.mean()) if len(wait) else 0.0,
        "p95_wait_s": float(np.percentile(wait, 95)) if len(wait) else 0.0,
    }
    for r, resource in enumerate(instance.resources):
        used = float((run * instance.demand[:, r]).sum())
        capacity_time = instance.capacity[r] * makespan
        row[f"util_{resource}"] = used / capacity_time if capacity_time > 0 else 0.0
    row["fairness_jain"] = jain_index([sum(w) / len(w) for w in per_user.values()])
    row["weighted_completion"] = float((instance.weight * end).sum())
    row["violations"] = schedule.violations
    row["decisions"] = len(np.unique(start))
    return row


def gap_pct(value: float | None, reference: float | None) -> float | None:
    """``100 (value - reference) / reference``; None when either is missing or the reference
    is not positive."""
    if value is None or reference is None or reference <= 0:
        return None
    return 100.0 * (value - reference) / reference


def add_gaps(
    rows: list[dict[str, Any]], bounds: Mapping[str, float], reference_policy: str = "cpsat"
) -> None:
    """Add to every row of one instance its gap to each lower bound in ``bounds`` (keyed by
    metric, e.g. ``makespan_s``) and, when ``reference_policy`` ran without error, to that
    policy's value on the same metric (``gap_cpsat_makespan_pct``, ``gap_cpsat_wc_pct``)."""
    reference = next(
        (r for r in rows if r["policy"] == reference_policy and not r.get("error")), None
    )
    for row in rows:
        for metric, short in GAP_METRICS.items():
            value = row.get(metric)
            if metric in bounds:
                row[f"lb_{short}"] = bounds[metric]
                row[f"gap_lb_{short}_pct"] = gap_pct(value, bounds[metric])
            row[f"gap_{reference_policy}_{short}_pct"] = gap_pct(
                value, reference.get(metric) if reference else None
            )


#: the columns that identify a row; everything else numeric is averaged over seeds
KEYS = ("scenario", "jobs", "policy")


#: boolean columns counted over seeds by :func:`mean_over_seeds`
PROOFS = ("cpsat_proven", "cpsat_makespan_proven")


def mean_over_seeds(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per (scenario, jobs, policy): the mean over seeds of every numeric column (a
    missing value, e.g. a gap with no CP-SAT run, is left out of its mean), the seeds counted,
    the failed ones in ``errors`` and CP-SAT's proofs (:data:`PROOFS`) counted; in the order the
    rows came."""
    table = pl.DataFrame(rows, infer_schema_length=None)
    if "error" not in table.columns:
        table = table.with_columns(pl.lit(None, dtype=pl.String).alias("error"))
    numeric = [
        c
        for c, dtype in table.schema.items()
        if dtype.is_numeric() and c not in KEYS and c != "seed"
    ]
    # CP-SAT's proofs are counted over seeds (how many instances it proved optimal)
    proofs = [c for c, dtype in table.schema.items() if dtype == pl.Boolean and c in PROOFS]
    return (
        table.with_row_index("_order")
        .group_by(list(KEYS), maintain_order=True)
        .agg(
            pl.col("_order").min(),
            pl.len().alias("seeds"),
            pl.col("error").is_not_null().sum().alias("errors"),
            *[pl.col(c).cast(pl.Float64).mean() for c in numeric],
            *[pl.col(c).sum().alias(c) for c in proofs],
            *[pl.col(c).drop_nulls().first() for c in ("cpsat_objective",) if c in table.columns],
        )
        .sort("_order")
        .drop("_order")
    )
