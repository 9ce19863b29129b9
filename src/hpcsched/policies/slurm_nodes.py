"""Which nodes Slurm gives a job, and its backfill plan kept per node (``select/cons_tres``).

A Slurm replay that counts only processors cannot tell that a 2-processor job does not fit in
two free processors on two different nodes' worth of reservations: Slurm's backfill plan is a map
of *nodes* (``node_space`` in ``src/plugins/sched/backfill/backfill.c``), and a reservation takes
the very nodes the job would get. This module keeps each running job on its nodes and plans the
backfill loop node by node. The rules, with their sources (Slurm 22.05, equal node weights, no
topology plugin, jobs asking for tasks of one processor and no node count, as ``sbatch -n K``):

- **Node choice** (``_eval_nodes`` in ``src/plugins/select/cons_tres/job_test.c``): the nodes with
  free processors form runs of consecutive nodes; the run chosen is the tightest one with enough
  processors ("tightest fit (less resource/CPU waste)"), else the largest; in it, the first
  single node with the fewest free processors that still holds the whole job ("best fit single
  node"), else its nodes in order, each giving what it has free, until the job is placed; an
  insufficient run is used whole and the choice repeats among the rest.
- **Start now or reserve** (``_attempt_backfill``): a job may use only nodes that no reservation
  ahead of it holds at any time from the candidate start to that start plus its time limit
  (``node_space[j].begin_time <= end_time``: ending at a reservation's first second overlaps it);
  on those nodes, the earliest start is when enough running jobs have ended (the will-run test
  frees running jobs in order of their expected ends). A job that cannot start now reserves the
  nodes it would get then, from its start rounded down to ``bf_resolution`` to its end rounded
  down (at least one slot); if those nodes are held by an earlier reservation in that span, the
  candidate start moves to the next reservation boundary and the test is made again.

Checked against the controller's own log (``DebugFlags=Backfill,SelectType``) of the local
cluster: e.g. a 1-processor job with n[1-2] (4 free) and n4 (2 free) goes to n4, the tighter run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Placement = dict[int, int]  # node index in its pool -> processors


def choose_nodes(free: Sequence[int], cpus: int) -> Placement | None:
    """The nodes (and processors on each) ``select/cons_tres`` gives a job of ``cpus`` one-
    processor tasks on nodes with ``free`` processors each; ``None`` when they do not add up."""
    if cpus <= 0:
        return {}
    if sum(f for f in free if f > 0) < cpus:
        return None
    runs: list[list[int]] = []
    for i, f in enumerate(free):
        if f <= 0:
            continue
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    left = cpus
    chosen: Placement = {}
    while left > 0 and runs:
        best = _tightest_run(runs, free, left)
        run = runs.pop(best)
        single = [i for i in run if free[i] >= left]
        if single:
            fewest = min(free[i] for i in single)
            run = [next(i for i in single if free[i] == fewest)]
        for i in run:
            if left <= 0:
                break
            take = min(free[i], left)
            chosen[i] = take
            left -= take
    return chosen if left <= 0 else None


def _tightest_run(runs: list[list[int]], free: Sequence[int], need: int) -> int:
    """The first run with enough processors and the fewest of them, else the largest run."""
    best, best_total, best_enough = 0, -1, False
    for k, run in enumerate(runs):
        total = sum(free[i] for i in run)
        enough = total >= need
        if (
            best_total < 0
            or (enough and not best_enough)
            or (enough and total < best_total)
            or (not enough and not best_enough and total > best_total)
        ):
            best, best_total, best_enough = k, total, enough
    return best


@dataclass(frozen=True, slots=True)
class NodeReservation:
    begin: float  # rounded down to bf_resolution
    end: float  # rounded down, at least one slot after begin
    pool: int
    nodes: frozenset[int]


@dataclass(slots=True)
class NodeState:
    """Each pool's nodes: their processors, and the running jobs on them with expected ends."""

    node_cpus: int
    capacity: list[int]  # processors per pool
    running: dict[int, tuple[int, Placement, float]]  # job id -> (pool, placement, end)

    def nodes(self, pool: int) -> int:
        return self.capacity[pool] // self.node_cpus

    def free(
        self, pool: int, at: float | None = None, only: Iterable[int] | None = None
    ) -> list[int]:
        """Free processors per node of ``pool`` now, or once the running jobs ending by ``at``
        have ended; nodes outside ``only`` count as full."""
        free = [self.node_cpus] * self.nodes(pool)
        for k, placement, end in self.running.values():
            if k != pool or (at is not None and end <= at):
                continue
            for node, cpus in placement.items():
                free[node] -= cpus
        if only is not None:
            keep = set(only)
            free = [f if i in keep else 0 for i, f in enumerate(free)]
        return free

    def place(self, job_id: int, pool: int, placement: Placement, end: float) -> None:
        self.running[job_id] = (pool, placement, end)


def spread(free: Sequence[int], cpus: int) -> Placement:
    """Where a running job the plan did not place (started before it knew the nodes) is put:
    Slurm's choice on what is free, else its processors wherever some are free."""
    chosen = choose_nodes(free, cpus)
    if chosen is not None:
        return chosen
    out: Placement = {}
    for i, f in enumerate(free):
        if cpus <= 0:
            break
        take = min(max(f, 0), cpus)
        if take:
            out[i] = take
            cpus -= take
    if cpus > 0 and free:
        out[0] = out.get(0, 0) + cpus  # more than is free: the engine's counts decide
    return out


def earliest(
    state: NodeState, pool: int, cpus: int, usable: set[int], now: float
) -> tuple[float, Placement] | None:
    """The will-run test on ``usable`` nodes: now, else the first expected end of a running job
    after which the job fits there, with the nodes it would get."""
    free = state.free(pool, only=usable)
    chosen = choose_nodes(free, cpus)
    if chosen is not None:
        return now, chosen
    ending = sorted(
        (
            (end, placement)
            for k, placement, end in state.running.values()
            if k == pool and end > now
        ),
        key=lambda item: item[0],
    )
    for i, (end, placement) in enumerate(ending):
        for node, used in placement.items():
            if node in usable:
                free[node] += used
        if i + 1 < len(ending) and ending[i + 1][0] == end:
            continue  # jobs ending together free their nodes together
        chosen = choose_nodes(free, cpus)
        if chosen is not None:
            return end, chosen
    return None


def plan_job(
    state: NodeState,
    reservations: list[NodeReservation],
    pool: int,
    cpus: int,
    limit: float,
    now: float,
    resolution: float,
) -> tuple[float, Placement] | None:
    """One job of the backfill loop: (start, nodes). A start of ``now`` means start it; a later
    one has been added to ``reservations``. ``None``: no start on this pool's nodes."""
    ahead = [r for r in reservations if r.pool == pool]
    bounds = sorted({t for r in ahead for t in (r.begin, r.end)})
    start_res = now
    while True:
        end = start_res + limit
        held: set[int] = set()
        for r in ahead:
            if r.end > start_res and r.begin <= end:
                held |= r.nodes
        usable = set(range(state.nodes(pool))) - held
        later = next((t for t in bounds if t > start_res), None)
        found = earliest(state, pool, cpus, usable, now) if usable else None
        if found is not None and found[0] <= now and start_res <= now:
            return found
        if found is not None:
            t = max(found[0], start_res)
            first = math.floor(t / resolution) * resolution
            last = max(math.floor((t + limit) / resolution) * resolution, first + resolution)
            nodes = frozenset(found[1])
            # _test_resv_overlap: a reservation ending where another begins does not overlap it
            clash = any(r.nodes & nodes and r.begin < last and r.end > first for r in ahead)
            if not clash:
                reservations.append(NodeReservation(first, last, pool, nodes))
                return t, found[1]
        if later is None:
            return None
        start_res = later


def state_from(
    memory: object,
    node_cpus: int,
    capacity: Sequence[float],
    running: Iterable[tuple[int, int, int, float]],
) -> NodeState:
    """The nodes of the running jobs ``(id, pool, cpus, expected end)``: where this policy put
    them (``memory``), else placed now in order of id."""
    known: Mapping[int, tuple[int, Placement]] = memory if isinstance(memory, dict) else {}
    state = NodeState(node_cpus, [int(c) for c in capacity], {})
    later: list[tuple[int, int, int, float]] = []
    for job_id, pool, cpus, end in running:
        if job_id in known and known[job_id][0] == pool:
            state.place(job_id, pool, dict(known[job_id][1]), end)
        else:
            later.append((job_id, pool, cpus, end))
    for job_id, pool, cpus, end in sorted(later):
        state.place(job_id, pool, spread(state.free(pool), cpus), end)
    return state


def memory_of(state: NodeState) -> dict[int, tuple[int, Placement]]:
    return {job_id: (pool, placement) for job_id, (pool, placement, _) in state.running.items()}
