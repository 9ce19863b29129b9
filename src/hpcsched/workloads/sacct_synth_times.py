"""When each synthetic job ran: EASY backfilling on the stated machine, then the dump's moment.

Why: waits drawn at random ignore the load and the size of a job, and a machine never runs
more nodes than it has (issue 21, item 4). The jobs that start are handed to the project's
compiled simulator (:func:`hpcsched.sim.fast.replay_fast`, the engine of ``hpcsched simulate``;
the reference engine, which gives the same schedule, when it is not built):
EASY backfilling in FCFS order (Lifka 1995; Mu'alem & Feitelson, TPDS 2001) on the machine's
nodes, released at ``eligible``, run for their elapsed time, planned with their timelimit. A
request holds whole nodes (a shared 1-node job too); a het job is one request (its components'
nodes for its longest component: Slurm starts the components together); a requeued job holds its
nodes from its first start to its final end (the gap between the attempts included, so the same
nodes serve both).

The dump is taken one hour after the last job became eligible, later if needed so that every
array task and het job that started did so before it and every requeued job ended. Then a plain job
that has not started yet is pending, and every job whose run spans it is running; the jobs drawn
running that are over by then completed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hpcsched.policies.presets import PRESETS
from hpcsched.sim.replay import JobArrays, replay
from hpcsched.sim.simulate import fast_engine_available

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def easy_starts(
    released: IntArray, runtime: IntArray, timelimit: IntArray, nodes: IntArray, capacity: int
) -> tuple[IntArray, BoolArray]:
    """Start (epoch s) and backfilled flag of each request under EASY on ``capacity`` nodes."""
    jobs = JobArrays(
        submit=released.astype(np.float64),
        runtime=runtime.astype(np.float64),
        estimate=timelimit.astype(np.float64),
        timelimit=timelimit.astype(np.float64),
        request=nodes.astype(np.int64).reshape(-1, 1),
        priority_class=np.zeros(released.size, dtype=np.int64),
    )
    if fast_engine_available():
        from hpcsched.sim.fast import replay_fast

        schedule = replay_fast(jobs, PRESETS["easy"], capacity)
    else:  # a source checkout without the build step: the reference engine, the same schedule
        schedule = replay(jobs, PRESETS["easy"], (capacity,))
    # integral inputs give integral starts (every event time is a sum of them)
    return np.rint(schedule.start).astype(np.int64), schedule.backfilled


@dataclass(frozen=True)
class Times:
    """Per job: the final attempt's times (-1: not yet or never), the state at the dump, and
    the requeued jobs' first attempts; ``now`` is when the dump is taken."""

    submit: IntArray
    eligible: IntArray
    start: IntArray
    end: IntArray
    elapsed: IntArray
    state: npt.NDArray[np.str_]
    never: BoolArray
    backfilled: BoolArray
    requeued: BoolArray
    r_submit: IntArray
    r_start: IntArray
    r_end: IntArray
    until: IntArray  # when the job's request gives its nodes back
    now: int


def schedule_jobs(
    rng: np.random.Generator,
    *,
    head: IntArray,
    kind: IntArray,
    tail: BoolArray,
    submit: IntArray,
    eligible: IntArray,
    nodes: IntArray,
    elapsed: IntArray,
    limit_s: IntArray,
    state: npt.NDArray[np.str_],
    frac: npt.NDArray[np.float64],
    requeue_share: float,
    capacity: int,
) -> Times:
    """Schedule the jobs that start (see the module docstring) and settle the dump's moment.

    ``elapsed`` is each job's run time in its drawn final state; ``state`` the drawn state, the
    last jobs (``tail``) possibly pending or running.
    """
    n, idx = submit.size, np.arange(submit.size)
    never = (state == "pending") | ((state == "cancelled") & (frac < 0.3))
    drawn_running = state == "running"
    # -D: 1% of plain finished jobs ran once, were requeued, and were submitted again
    requeued = (kind == 0) & ~never & ~drawn_running & ~tail & (rng.random(n) < requeue_share)
    first_run = np.maximum(1, np.floor(elapsed * rng.random(n))).astype(np.int64)
    gap = 120 + rng.integers(0, 600, n)
    cancel_wait = np.minimum(np.floor(rng.lognormal(5.5, 2.0, n)), 14 * 86400).astype(np.int64)
    hold = np.where(requeued, first_run + gap + elapsed, elapsed)
    # one request per plain job, array task and het job (at its leader)
    leader = ~never & ((kind != 2) | (idx == head))
    het = (kind == 2) & ~never
    het_nodes = np.bincount(head[het], weights=nodes[het], minlength=n).astype(np.int64)
    het_hold = np.zeros(n, dtype=np.int64)
    np.maximum.at(het_hold, head[het], hold[het])
    req_nodes = np.where(kind == 2, het_nodes, nodes)[leader]
    req_hold = np.where(kind == 2, het_hold, hold)[leader]
    unit_start, unit_backfilled = easy_starts(
        eligible[leader], req_hold, limit_s[leader], req_nodes, capacity
    )
    first = np.full(n, -1, dtype=np.int64)
    first[leader] = unit_start
    unit_end = np.full(n, -1, dtype=np.int64)
    unit_end[leader] = unit_start + req_hold
    backfilled = np.zeros(n, dtype=bool)
    backfilled[leader] = unit_backfilled
    first = np.where(kind == 2, first[head], first)
    unit_end = np.where(kind == 2, unit_end[head], unit_end)
    backfilled = np.where(kind == 2, backfilled[head], backfilled)
    start = np.where(requeued, first + first_run + gap, first)
    r_end = first + first_run
    # the dump's moment: arrays, het jobs and requeued jobs never become pending by it
    now = int(eligible.max()) + 3600
    fixed = ~never & ((kind != 0) | requeued)
    if fixed.any():
        now = max(now, int(start[fixed].max()) + 1, int((start + elapsed)[requeued].max(initial=0)))
    late = ~never & ~fixed & (start >= now)
    state = np.where(late, "pending", state)
    never = never | late
    live = ~never & (first < now) & (unit_end > now)
    state = np.where(live, "running", np.where(drawn_running & ~never, "completed", state))
    running = state == "running"
    elapsed = np.where(running, now - start, np.where(never, 0, elapsed))
    end = np.where(running | (state == "pending"), -1, start + elapsed)
    gave_up = np.minimum(eligible + (cancel_wait * frac).astype(np.int64), now - 1)
    end = np.where(never & (state == "cancelled"), gave_up, end)
    return Times(
        submit=np.where(requeued, r_end, submit),
        eligible=np.where(requeued, r_end + 120, eligible),
        start=np.where(never, -1, start),
        end=end,
        elapsed=elapsed,
        state=state,
        never=never,
        backfilled=backfilled,
        requeued=requeued,
        r_submit=submit,
        r_start=first,
        r_end=r_end,
        until=unit_end,
        now=now,
    )
