"""``hpcsched run --dry-run``: what a run would do, on the simulated clock, with nothing executed.

The DAG as levels (a task's level is one more than its deepest dependency), every request the
pool can never hold (all of them, where a real run stops at the first) with the tasks they would
block, and the order the policy would start the rest: the same dispatcher and policy as the live
pilot, driven by :func:`~hpcsched.sim.campaign.simulate_campaign`, each task lasting its declared
``runtime`` (else the default estimate). No executor starts and the run directory is not touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hpcsched.campaigns.api import StaticWorkflow
from hpcsched.campaigns.task import DEFAULT_RUNTIME, Task
from hpcsched.core.durations import duration_text
from hpcsched.core.pool import Pool
from hpcsched.policies.view import Policy
from hpcsched.sim.campaign import simulate_campaign


@dataclass(frozen=True)
class Refusal:
    task: str
    reason: str  #: "needs 64 cpus, the pool has 4", or "blocked: depends on refused big"


@dataclass(frozen=True)
class PlannedStart:
    task: str
    start: float  #: simulated seconds from the run's start
    end: float


@dataclass(frozen=True)
class DryRun:
    workflow: str
    policy: str
    pool: str
    tasks: int
    levels: list[list[str]]
    refused: list[Refusal] = field(default_factory=list)
    order: list[PlannedStart] = field(default_factory=list)
    makespan: float = 0.0
    #: what the workflow asks for that is ignored here (``FILE:LINE: ...``; the run warns too)
    ignored: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def levels_of(tasks: list[Task]) -> list[list[str]]:
    """Tasks by DAG level, each level in the workflow's (topological) order."""
    level: dict[str, int] = {}
    for task in tasks:  # topological: every dependency has its level already
        level[task.id] = 1 + max((level[d] for d in task.depends if d in level), default=-1)
    out: list[list[str]] = [[] for _ in range(1 + max(level.values(), default=-1))]
    for task in tasks:
        out[level[task.id]].append(task.id)
    return out


def _refusals(tasks: list[Task], pool: Pool) -> list[Refusal]:
    refused: list[Refusal] = []
    out: set[str] = set()
    for task in tasks:
        too_large = pool.refusal(task.cpus, task.gpus, task.mem, task.nodes)
        if too_large is not None:
            refused.append(Refusal(task.id, f"{too_large[1]}; lower {too_large[0]} or add more"))
            out.add(task.id)
        elif broken := [d for d in task.depends if d in out]:
            refused.append(Refusal(task.id, f"blocked: depends on refused {', '.join(broken)}"))
            out.add(task.id)
    return refused


def dry_run(
    workflow: str, tasks: list[Task], policy: Policy, pool: Pool, ignored: Sequence[str] = ()
) -> DryRun:
    """Plan ``tasks`` (in topological order) on ``pool`` under ``policy``; run nothing.
    ``ignored``: the loader's warnings (:attr:`~hpcsched.runtime.workflow.Workflow.notes`)."""
    refused = _refusals(tasks, pool)
    skip = {r.task for r in refused}
    runnable = [task for task in tasks if task.id not in skip]
    trace = simulate_campaign(StaticWorkflow(runnable), policy, pool)
    ends = {(tid, n): t for t, tid, n, _ in trace.ends}
    order = [PlannedStart(tid, t, ends.get((tid, n), t)) for t, tid, n in trace.starts]
    return DryRun(
        workflow=workflow,
        policy=policy.name,
        pool=pool.describe(),
        tasks=len(tasks),
        levels=levels_of(tasks),
        refused=refused,
        order=order,
        makespan=trace.makespan,
        ignored=list(ignored),
    )


def render_dry_run(plan: DryRun) -> str:
    """Plain text: the header, the levels, the refusals, the start order on the simulated clock."""
    lines = [
        f"dry run of {plan.workflow}: {plan.tasks} tasks in {len(plan.levels)} levels on "
        f"{plan.pool}; nothing is run and nothing is written",
        "levels:",
    ]
    lines += [f"  {i}: {', '.join(ids)}" for i, ids in enumerate(plan.levels)]
    if plan.refused:
        lines.append(f"refused ({len(plan.refused)}; a real run stops at the first):")
        lines += [f"  {r.task}: {r.reason}" for r in plan.refused]
    if plan.ignored:
        lines.append("ignored here (the workflow still runs):")
        lines += [f"  {note}" for note in plan.ignored]
    default = duration_text(DEFAULT_RUNTIME)
    clock = f"simulated clock: each task lasts its runtime, else {default}"
    lines.append(f"start order ({plan.policy}, {clock}):")
    width = max([4, *(len(s.task) for s in plan.order)])
    lines += [
        f"  {s.task:<{width}}  starts at {_at(s.start):>8}, ends at {_at(s.end):>8}"
        for s in plan.order
    ]
    lines.append(f"simulated makespan: {_at(plan.makespan)}")
    return "\n".join(lines)


def _at(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else duration_text(seconds)
