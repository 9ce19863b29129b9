"""Run a plan under a policy: in virtual time (``sim``) or on real processes (``live``).

``run_sim`` hands the campaign to :func:`hpcsched.sim.campaign.simulate_campaign` with durations
from :mod:`.durations` and outcomes computed by the very task functions the live runtime calls
(on a :class:`~.stores.MemoryStore`). ``run_live`` hands the same campaign to the
:class:`~hpcsched.runtime.pilot.Pilot` with the local executor; tasks share state through files
in ``out/work`` and the run is journaled in ``out/run``.
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
from hpcsched.campaigns.materials.stores import MemoryStore
from hpcsched.campaigns.materials.tasks import execute
from hpcsched.campaigns.task import Task
from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy


@dataclass
class Outcome:
    report: dict[str, Any]
    order: list[str]  # task ids in start order
    campaign: MaterialsCampaign


def _campaign(
    plan: Plan, window: float, lookahead: int | None, cpus: int, work_dir: str, **kw: Any
) -> MaterialsCampaign:
    # default: enough structures in flight to give every cpu a prediction
    ahead = lookahead if lookahead is not None else max(1, math.ceil(cpus / len(plan.methods)))
    return MaterialsCampaign(
        plan, work_dir=work_dir, window=window, lookahead=ahead, fit_cpus=min(cpus, 2), **kw
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
    campaign = _campaign(plan, window, lookahead, cpus, str(work_dir or ""), durations=model)
    store = MemoryStore(plan.spec, work_dir)
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):  # in-process models: one BLAS thread, less overhead
        trace = simulate_campaign(
            campaign,
            get_policy(policy),
            Pool.uniform(1, cpus, source="sim"),
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
    cpus: int,
    window: float,
    out: Path,
    *,
    lookahead: int | None = None,
    progress: Any = None,
) -> Outcome:
    """Run on this machine's processes; ``out/work`` gets the files, ``out/run`` the journal."""
    from hpcsched.runtime.executors.local import LocalExecutor
    from hpcsched.runtime.journal import read_journal
    from hpcsched.runtime.pilot import Pilot

    work = (out / "work").resolve()
    work.mkdir(parents=True, exist_ok=True)
    campaign = _campaign(plan, window, lookahead, cpus, str(work))
    executor = LocalExecutor(max_workers=cpus)
    pilot = Pilot(
        campaign,
        get_policy(policy),
        Pool.uniform(1, cpus, source="flags"),
        executor,
        out / "run",
        work,
        label=f"materials {plan.goal}",
        progress=progress,
    )
    try:
        summary = pilot.run()
    finally:
        executor.shutdown()
    record = read_journal(out / "run")
    starts = sorted(
        (a.started_wall, tid) for tid, rec in record.tasks.items() for a in rec.attempts
    )
    report = campaign_report(
        campaign,
        clock="live",
        policy=policy,
        cpus=cpus,
        wall_seconds=summary.wall_seconds,
        label=MemoryStore(plan.spec).source.label,
    )
    return Outcome(report, [tid for _, tid in starts], campaign)
