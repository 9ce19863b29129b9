"""A static DAG's ranks and bounds: bottom level, HEFT's upward rank, critical path, work / N.

The bottom level of a task is the longest path, by estimated runtime, from the task (inclusive)
to an exit task: list scheduling by it is the critical-path heuristic of Adam, Chandy & Dickson
(CACM 1974). HEFT's upward rank (Topcuoglu, Hariri & Wu, TPDS 2002) adds each edge's mean
transfer time; on identical processors its mean computation cost is the runtime, so without
transfer times the two are equal. No schedule on ``N`` processors is shorter than
``max(critical path, work / N)`` (Graham, 1969): the lower bound a simulated makespan is set
beside. Edges are the tasks' ``depends`` (the loaders write inferred ones there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from hpcsched.campaigns.task import DEFAULT_RUNTIME, Task

#: edge (parent id, child id) -> seconds to move what the parent writes and the child reads
Transfers = Mapping[tuple[str, str], float]


@dataclass(frozen=True, slots=True)
class DagRank:
    bottom_level: float
    upward_rank: float


@dataclass(frozen=True, slots=True)
class DagBound:
    """``max(critical_path, work / cpus)``: no schedule on ``cpus`` processors is shorter."""

    critical_path: float
    work: float  # cpu-seconds
    cpus: int

    @property
    def lower_bound(self) -> float:
        return max(self.critical_path, self.work / self.cpus)


def planned_runtime(task: Task) -> float:
    """The runtime a rank is computed with: the task's own, else the planning default."""
    return task.runtime if task.runtime is not None else DEFAULT_RUNTIME


def _reverse_topological(tasks: list[Task]) -> tuple[list[Task], dict[str, list[str]]]:
    """Exit tasks first (Kahn on the children), and each task's children. Dependencies on
    unknown ids are left to the dispatcher to refuse; tasks on a cycle are left out."""
    ids = {task.id for task in tasks}
    children: dict[str, list[str]] = {task.id: [] for task in tasks}
    for task in tasks:
        for parent in set(task.depends) & ids:
            children[parent].append(task.id)
    by_id = {task.id: task for task in tasks}
    pending = {tid: len(kids) for tid, kids in children.items()}
    ready = [task.id for task in tasks if not children[task.id]]
    order: list[Task] = []
    while ready:
        task = by_id[ready.pop()]
        order.append(task)
        for parent in set(task.depends) & ids:
            pending[parent] -= 1
            if pending[parent] == 0:
                ready.append(parent)
    return order, children


def dag_ranks(
    tasks: Iterable[Task],
    weight: Callable[[Task], float] = planned_runtime,
    transfers: Transfers | None = None,
) -> dict[str, DagRank]:
    """Each task's bottom level and upward rank (seconds), by ``weight`` (its runtime)."""
    order, children = _reverse_topological(list(tasks))
    moved = transfers or {}
    level: dict[str, float] = {}
    rank: dict[str, float] = {}
    for task in order:  # every child is ranked before its parents
        kids = children[task.id]
        own = weight(task)
        level[task.id] = own + max((level[k] for k in kids), default=0.0)
        after = (moved.get((task.id, k), 0.0) + rank[k] for k in kids)
        rank[task.id] = own + max(after, default=0.0)
    return {tid: DagRank(level[tid], rank[tid]) for tid in level}


def dag_bound(
    tasks: Iterable[Task], cpus: int, weight: Callable[[Task], float] = planned_runtime
) -> DagBound:
    """The critical path (the largest bottom level) and the work (cpus x runtime, summed)."""
    listed = list(tasks)
    ranks = dag_ranks(listed, weight)
    critical = max((r.bottom_level for r in ranks.values()), default=0.0)
    work = sum(task.cpus * weight(task) for task in listed)
    return DagBound(critical, work, cpus)


def bottom_level_classes(ranks: Mapping[str, DagRank]) -> dict[str, int]:
    """PriorityBF classes by bottom-level quartile: class 0 the top quarter (the tasks furthest
    from the end of the workflow), class 3 the bottom quarter. Ties share a class."""
    levels = sorted(r.bottom_level for r in ranks.values())
    if not levels:
        return {}
    n = len(levels)
    cuts = [levels[min(n - 1, (n * q) // 4)] for q in (3, 2, 1)]  # P75, P50, P25 (lower)
    return {
        tid: next((c for c, cut in enumerate(cuts) if r.bottom_level >= cut), 3)
        for tid, r in ranks.items()
    }
