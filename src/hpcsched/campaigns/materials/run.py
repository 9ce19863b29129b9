"""Run a plan under a policy: in virtual time (``sim``) or on real processes (``live``).

``run_sim`` hands the campaign to :func:`hpcsched.sim.campaign.simulate_campaign` with durations
from :mod:`.durations` and outcomes computed by the very task functions the live runtime calls
(on a :class:`~.stores.MemoryStore`). ``run_live`` builds the same campaign, its tasks sharing
state through files in a work folder, and hands it to a :data:`LiveDriver`: which executor runs
the tasks, on what pool, journaled where, is the caller's choice (``hpcsched campaign materials
--executor``), so a campaign never talks to an executor (``docs/architecture.md``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from hpcsched.campaigns.materials.campaign import MaterialsCampaign
from hpcsched.campaigns.materials.durations import DurationModel
from hpcsched.campaigns.materials.planner import Plan
from hpcsched.campaigns.materials.report import campaign_report
from hpcsched.campaigns.materials.stores import FileStore, MemoryStore
from hpcsched.campaigns.materials.tasks import execute
from hpcsched.campaigns.task import Task
from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy


@dataclass(frozen=True)
class LiveRun:
    """What a driver tells of a live run: its wall time and the task ids in start order."""

    wall_seconds: float
    order: list[str]


#: Runs a campaign to its end on real processes with its files in the given work folder (the
#: runtime's pilot with an executor, for the CLI).
LiveDriver = Callable[[MaterialsCampaign, Path], LiveRun]


@dataclass
class Outcome:
    report: dict[str, Any]
    order: list[str]  # task ids in start order
    campaign: MaterialsCampaign


def _campaign(
    plan: Plan, window: float, lookahead: int | None, pool: Pool, work_dir: str, **kw: Any
) -> MaterialsCampaign:
    # default: enough structures in flight to give every cpu a prediction
    cpus = pool.total.cpus
    ahead = lookahead if lookahead is not None else max(1, math.ceil(cpus / len(plan.methods)))
    # a fit uses up to 2 cpus of one worker: a task no worker can hold would never start
    fit = max(1, min(pool.largest.cpus, plan.fit_cpus))
    return MaterialsCampaign(
        plan, work_dir=work_dir, window=window, lookahead=ahead, fit_cpus=fit, **kw
    )


def run_sim(
    plan: Plan,
    policy: str,
    cpus: int,
    window: float = math.inf,
    *,
    lookahead: int | None = None,
    durations: DurationModel | None = None,
    work_dir: Path | None = None,
    duration: Callable[[Task], float] | None = None,
) -> Outcome:
    """``duration`` overrides the duration model (tests use a constant)."""
    from hpcsched.sim.campaign import simulate_campaign

    model = durations or DurationModel()
    pool = Pool.uniform(1, cpus, source="sim")
    campaign = _campaign(plan, window, lookahead, pool, str(work_dir or ""), durations=model)
    store = MemoryStore(plan.spec, work_dir)
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):  # in-process models: one BLAS thread, less overhead
        trace = simulate_campaign(
            campaign,
            get_policy(policy),
            pool,
            duration=duration or model.draw,
            outcome=lambda task: execute(task.kind, store, task.kwargs),
        )
    wall = time.perf_counter() - t0
    report = campaign_report(
        campaign,
        clock="sim",
        policy=policy,
        cpus=cpus,
        wall_seconds=wall,
        label=store.source.label,
    )
    return Outcome(report, trace.order, campaign)


def run_live(
    plan: Plan,
    policy: str,
    pool: Pool,
    window: float,
    work_dir: Path,
    drive: LiveDriver,
    *,
    lookahead: int | None = None,
) -> Outcome:
    """Run on real processes through ``drive``; the tasks' files go to ``work_dir``. ``pool`` is
    what the driver's policy plans on: it sizes the look-ahead and the model fits."""
    work = work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    campaign = _campaign(plan, window, lookahead, pool, str(work))
    done = drive(campaign, work)
    # The last picture, whatever the period: a short campaign (fewer materials than the
    # visualisation period) still leaves plots/landscape.svg, and a long one its final state.
    best = [[i, -h] for h, i in sorted(campaign.best, reverse=True)]
    execute("visualise", FileStore(work, plan.spec), {"number": "final", "best": best})
    report = campaign_report(
        campaign,
        clock="live",
        policy=policy,
        cpus=pool.total.cpus,
        wall_seconds=done.wall_seconds,
        label=MemoryStore(plan.spec).source.label,
    )
    return Outcome(report, done.order, campaign)
