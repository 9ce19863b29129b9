"""A static workflow in virtual time: its makespan beside the bound no schedule can beat.

The workflow runs as a :class:`~hpcsched.campaigns.api.StaticWorkflow` campaign through
:func:`~hpcsched.sim.campaign.simulate_campaign` (the dispatcher and scheduler state the live
runtime uses), each task lasting its recorded runtime. ``classes="bottom-level"`` puts each task
in a PriorityBF class by its bottom-level quartile; any other rule keeps the tasks' own
``priority``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hpcsched.campaigns.api import StaticWorkflow
from hpcsched.campaigns.dag import DagBound, Transfers, bottom_level_classes, dag_bound, dag_ranks
from hpcsched.campaigns.task import Task
from hpcsched.core.pool import Pool
from hpcsched.policies.view import Policy
from hpcsched.sim.campaign import CampaignTrace, simulate_campaign

#: the class rule that turns bottom-level quartiles into PriorityBF classes
BOTTOM_LEVEL_CLASSES = "bottom-level"


@dataclass(frozen=True)
class WorkflowRun:
    """A simulated workflow: its makespan, the lower bound and what happened."""

    makespan: float
    bound: DagBound
    trace: CampaignTrace

    @property
    def ratio(self) -> float:
        bound = self.bound.lower_bound
        return self.makespan / bound if bound > 0 else 1.0


def with_classes(tasks: list[Task], rule: str | None) -> list[Task]:
    """The tasks with their PriorityBF class from ``rule`` (``bottom-level``), else unchanged."""
    if rule != BOTTOM_LEVEL_CLASSES:
        return tasks
    classes = bottom_level_classes(dag_ranks(tasks))
    return [task.model_copy(update={"priority": classes[task.id]}) for task in tasks]


def simulate_workflow(
    tasks: list[Task],
    policy: Policy,
    pool: Pool,
    runtimes: Mapping[str, float],
    *,
    transfers: Transfers | None = None,
    classes: str | None = None,
) -> WorkflowRun:
    """Replay ``tasks`` (dependencies first) on ``pool``, each lasting ``runtimes[id]``."""
    ranked = with_classes(tasks, classes)
    trace = simulate_campaign(
        StaticWorkflow(ranked, transfers),
        policy,
        pool,
        duration=lambda task: runtimes[task.id],
    )
    bound = dag_bound(ranked, pool.total.cpus, weight=lambda task: runtimes[task.id])
    return WorkflowRun(trace.makespan, bound, trace)
