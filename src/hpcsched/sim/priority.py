"""Each job's Slurm multifactor priority (without age) from a site's weights: the ``sim_priority``
column the ``multifactor`` order sorts by, and the policy with the site's age term.

The factors and the simplifications are written in :mod:`hpcsched.policies.multifactor`. The
fair-share usage is the table's own history (what the jobs really ran, by their recorded start
and end), not the replay's: a what-if under another policy keeps the usage that really happened.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt
import polars as pl

from hpcsched.advise.site import Site
from hpcsched.policies.backfilling import BackfillPolicy
from hpcsched.policies.multifactor import (
    PriorityWeights,
    fairshare_factor,
    job_size_factor,
    static_priority,
)
from hpcsched.policies.slurm_sched import SlurmScheduler
from hpcsched.policies.view import Policy


def weights_of(site: Site) -> PriorityWeights:
    p = site.priority
    if p is None:
        return PriorityWeights()
    return PriorityWeights(
        age=p.weight_age,
        fairshare=p.weight_fairshare,
        job_size=p.weight_job_size,
        partition=p.weight_partition,
        qos=p.weight_qos,
        max_age=p.max_age,
        favor_small=p.favor_small,
        decay_half_life=p.decay_half_life,
    )


def with_age(policy: Policy, age: tuple[float, float] | None) -> Policy:
    """``policy`` with ``age`` = (PriorityWeightAge, PriorityMaxAge) when it orders by
    multifactor priority; any other policy as it is."""
    if age is None:
        return policy
    if isinstance(policy, SlurmScheduler) or (
        isinstance(policy, BackfillPolicy) and policy.order == "multifactor"
    ):
        return replace(policy, age_weight=age[0], max_age=age[1])
    return policy


def with_scheduler(policy: Policy, site: Site | None) -> Policy:
    """Slurm's schedulers with the site's ``bf_interval``/``bf_resolution`` and its nodes'
    processors (a backfill reservation holds whole nodes); any other policy as it is."""
    if site is None or not isinstance(policy, SlurmScheduler):
        return policy
    cpus = {p.cpus_per_node for p in site.partitions.values()}
    node_cpus = min(cpus) if cpus else 1
    params = site.scheduler
    if params is None:
        return replace(policy, node_cpus=max(node_cpus, 1))
    return replace(
        policy,
        bf_interval=params.bf_interval,
        bf_resolution=params.bf_resolution,
        node_cpus=max(node_cpus, 1),
    )


def site_age(site: Site | None) -> tuple[float, float] | None:
    if site is None:
        return None
    w = weights_of(site)
    return w.age, w.max_age


def with_priority(table: pl.DataFrame, site: Site, unit: str, machine: float) -> pl.DataFrame:
    """``table`` with ``sim_priority``: the weighted fair-share, job size, partition and QoS
    factors of each job under ``site`` (``machine``: the machine's size in ``unit``)."""
    w = weights_of(site)
    factor = {n: p.priority_job_factor for n, p in site.partitions.items()}
    top = max(factor.values(), default=0)
    partition = [factor.get(p or "", 0) / top if top else 0.0 for p in table["partition"]]
    qos_priority = {n: q.priority for n, q in site.qos.items()}
    highest = max(qos_priority.values(), default=0)
    fallback = qos_priority[site.default_qos_name]
    qos = [
        max(qos_priority.get(q or "", fallback), 0) / highest if highest > 0 else 0.0
        for q in table["qos"]
    ]
    units = table[unit].fill_null(0).to_numpy().astype(np.float64)
    fairshare = _fairshare(table, unit, w.decay_half_life) if w.fairshare else np.ones(len(units))
    values = [
        static_priority(
            w,
            fairshare=float(fairshare[i]),
            job_size=job_size_factor(float(units[i]), machine, w.favor_small),
            partition=partition[i],
            qos=qos[i],
        )
        for i in range(table.height)
    ]
    return table.with_columns(pl.Series("sim_priority", values, dtype=pl.Float64))


def _fairshare(table: pl.DataFrame, unit: str, half_life: float) -> npt.NDArray[np.float64]:
    """``2^(-U/S)`` at each job's release: ``U`` the user's share of all usage (unit-seconds of
    jobs ended by then, decayed by ``half_life``), ``S`` equal shares per user."""
    users = table["user"].fill_null("").to_list()
    shares = 1.0 / max(len(set(users)), 1)
    released = table.select(
        pl.max_horizontal(pl.col("submit"), pl.col("eligible").cast(pl.Float64))
        if "eligible" in table.columns
        else pl.col("submit")
    ).to_series()
    used = (table["end"] - table["start"]).clip(lower_bound=0) * table[unit].fill_null(0)
    ends = sorted(
        (float(e), users[i], float(u))
        for i, (e, u) in enumerate(zip(table["end"], used, strict=True))
        if e is not None and u is not None and u == u
    )

    def decay(dt: float) -> float:
        return 2.0 ** (-dt / half_life) if half_life > 0 else 1.0

    mine: dict[str, tuple[float, float]] = {}  # user -> (usage, as of time)
    total, total_at, k = 0.0, 0.0, 0
    out = np.ones(table.height)
    for i in np.argsort(released.fill_null(0).to_numpy(), kind="stable"):
        now = float(released[int(i)] or 0.0)
        while k < len(ends) and ends[k][0] <= now:
            at, user, amount = ends[k]
            usage, since = mine.get(user, (0.0, at))
            mine[user] = (usage * decay(at - since) + amount, at)
            total, total_at = total * decay(at - total_at) + amount, at
            k += 1
        whole = total * decay(now - total_at)
        if whole > 0:
            usage, since = mine.get(users[int(i)], (0.0, now))
            out[i] = fairshare_factor(usage * decay(now - since) / whole, shares)
    return out
