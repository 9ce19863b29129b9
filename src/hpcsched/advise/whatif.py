"""What if the job went to each partition/QoS: expected start, end and cost on the current queue.

The queue is ``squeue --json`` (Slurm 22.05's flat fields, or 23.02+'s ``{"set", "number"}``
wrappers). The project's engine (:func:`hpcsched.sim.replay.replay`, the reference engine, with
CPUs, memory and GPUs as resource dimensions) replays it under the site's policy. The engine
cannot begin with jobs already running, so a running job is modelled as submitted and started at
``now`` for its remaining time (limit - elapsed); pending jobs are queued in priority order (the
site's QoS priority first, then Slurm's job priority), each planned and run for its full limit,
and the candidate joins behind the pending jobs of its QoS (it is the youngest). Not modelled:
node packing (CPUs and memory are pooled over the nodes partitions share), dependencies of queued
jobs (they are assumed eligible now), fair-share and reservations.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hpcsched.advise.plan import Option, Prediction, Request
from hpcsched.advise.sbatch_script import MB, parse_memory
from hpcsched.advise.site import Site
from hpcsched.policies.registry import get_policy
from hpcsched.sim.replay import JobArrays, replay

_ACTIVE = frozenset({"RUNNING", "COMPLETING", "CONFIGURING", "PENDING", "REQUEUED", "RESIZING"})
_HELD = frozenset({"JobHeldUser", "JobHeldAdmin"})
YEAR = 365 * 86400.0


class QueueError(ValueError):
    """A queue file that cannot be read at all; one line."""


@dataclass(frozen=True)
class QueuedJob:
    job_id: str
    running: bool
    partition: str
    qos: str
    priority: int
    cpus: int
    mem: float  # bytes, whole job
    gpus: int
    nodes: int
    seconds: float  # remaining time (running) or time limit (pending)
    eligible: float  # when it may start (a --begin time, else now)


@dataclass
class Queue:
    jobs: list[QueuedJob]
    now: float
    skipped: dict[str, list[str]] = field(default_factory=dict)  # why -> job ids / positions
    notes: list[str] = field(default_factory=list)

    def skip(self, why: str, job: str) -> None:
        self.skipped.setdefault(why, []).append(job)


def _value(raw: Any) -> Any:
    """Slurm 23.02+ wraps numbers as ``{"set": bool, "infinite": bool, "number": n}``."""
    if isinstance(raw, dict) and "number" in raw:
        return math.inf if raw.get("infinite") else (raw["number"] if raw.get("set") else None)
    return raw


def _tres(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(",") if "=" in item)


def _array_tasks(text: str) -> int:
    """Tasks in a pending array's ``array_task_string``: ``1-5%2``, ``1,3,7-9``, ``0-9:3``."""
    count = 0
    for item in text.split("%")[0].split(","):
        span, _, step = item.partition(":")
        low, _, high = span.partition("-")
        count += len(range(int(low), int(high or low) + 1, int(step or 1)))
    return max(count, 1)


def _job(raw: dict[str, Any], now: float) -> tuple[QueuedJob, int]:
    state = _value(raw["job_state"])
    state = state[0] if isinstance(state, list) else state
    tres = _tres(str(raw.get("tres_alloc_str") or raw.get("tres_req_str") or ""))
    nodes = int(tres.get("node") or _value(raw.get("node_count")) or 1)
    limit = _value(raw["time_limit"])
    # an UNLIMITED job is planned for a year: longer than any what-if horizon, finite for the engine
    limit_s = YEAR if limit is None or limit == math.inf else float(limit) * 60
    start, end = float(_value(raw.get("start_time")) or 0), float(_value(raw.get("end_time")) or 0)
    running = state != "PENDING"
    seconds = max(1.0, (end if end > 0 else start + limit_s) - now) if running else limit_s
    gres = [v for k, v in tres.items() if k.startswith("gres/gpu")]
    tasks = _array_tasks(str(raw["array_task_string"])) if raw.get("array_task_string") else 1
    job = QueuedJob(
        str(raw["job_id"]),
        running,
        str(raw.get("partition") or ""),
        str(raw.get("qos") or ""),
        int(_value(raw.get("priority")) or 0),
        int(tres.get("cpu") or _value(raw.get("cpus")) or 1),
        parse_memory(tres["mem"]) if "mem" in tres else 0.0,
        int(gres[0]) if gres else 0,
        nodes,
        seconds,
        max(now, float(_value(raw.get("eligible_time")) or 0)) if not running else now,
    )
    return job, tasks


def read_squeue(data: Any, *, now: float | None = None, source: str = "squeue") -> Queue:
    """The active jobs of ``squeue --json`` output. ``now`` defaults to the latest time the
    output itself shows (22.05 prints no clock): the last scheduler pass or the last start."""
    jobs = data.get("jobs") if isinstance(data, dict) else data
    if not isinstance(jobs, list):
        raise QueueError(f"{source}: no 'jobs' list; give the output of squeue --json")
    derived = now is None
    if now is None:
        seen = [
            float(_value(j.get(k)) or 0)
            for j in jobs
            if isinstance(j, dict)
            for k in ("last_sched_evaluation", "submit_time")
        ]
        now = max(seen, default=0.0)
    queue = Queue([], now)
    if derived:
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        queue.notes.append(f"now = {stamp}, the latest time {source} shows (no clock in it)")
    for index, raw in enumerate(jobs):
        label = f"{source}: jobs[{index}]"
        try:
            state = _value(raw["job_state"])
            state = state[0] if isinstance(state, list) else state
            if state not in _ACTIVE:
                continue  # finished jobs squeue still lists (MinJobAge)
            if raw.get("state_reason") in _HELD or (
                state == "PENDING" and _value(raw.get("priority")) == 0
            ):
                queue.skip("held (never starts by itself)", str(raw["job_id"]))
                continue
            job, tasks = _job(raw, now)
        except (KeyError, TypeError, ValueError) as exc:
            queue.skip(f"malformed ({exc.__class__.__name__}: {exc})", label)
            continue
        if raw.get("dependency"):
            queue.skip("has a dependency (assumed eligible now)", job.job_id)
        queue.jobs += [job] * tasks
    return queue


def load_squeue(path: str | Path) -> Queue:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as exc:
        raise QueueError(f"cannot read {p}: {exc.__class__.__name__} (check the path)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise QueueError(f"{p}: not JSON ({exc}); give the output of squeue --json") from None
    return read_squeue(data, source=str(p))


@dataclass(frozen=True)
class WhatIf:
    """One row of the what-if table."""

    option: Option
    start: float  # epoch s, first part
    end: float  # epoch s, expected end of the last part
    fastest: bool = False
    cheapest: bool = False


def _node_sizes(site: Site) -> dict[str, tuple[int, float, int]]:
    sizes: dict[str, tuple[int, float, int]] = {}
    for part in site.partitions.values():
        for node in part.node_names:
            sizes.setdefault(node, (part.cpus_per_node, part.mem_per_node, part.gpus_per_node))
    return sizes


def _vector(cpus: int, mem: float, gpus: int) -> tuple[int, int, int]:
    return (cpus, math.ceil(mem / MB - 1e-9), gpus)


def simulate_option(
    site: Site, queue: Queue, request: Request, option: Option, prediction: Prediction
) -> tuple[float, float]:
    """(start of the first part, expected end of the last) for ``option`` on ``queue``.

    Part ``k`` of a chain is submitted when part ``k - 1`` is expected to end (``afterok``); the
    replay is deterministic, so adding it changes nothing before that time.
    """
    pools = site.pools()
    pool = pools[option.partition]
    sizes = _node_sizes(site)
    capacity = tuple(int(sum(x)) for x in zip(*(_vector(*sizes[n]) for n in pool), strict=True))
    qos_priority = {name: q.priority for name, q in site.qos.items()}
    levels = sorted(set(qos_priority.values()), reverse=True)
    mine = qos_priority[option.qos]

    def level(job: QueuedJob) -> int:  # the site's QoS priority; an unknown QoS ranks last
        return qos_priority.get(job.qos, min(levels) - 1)

    local = [j for j in queue.jobs if pools.get(j.partition) == pool and _fits(j, site)]
    running = [j for j in local if j.running]
    pending = sorted((j for j in local if not j.running), key=lambda j: (-level(j), -j.priority))
    ahead = [j for j in pending if level(j) >= mine]
    behind = pending[len(ahead) :]
    shares = _shares(prediction.runtime_point, option.parts)
    cand = _vector(request.cpus, request.mem or 0, request.gpus)
    policy = get_policy(site.policy)
    submits = [queue.now]
    starts: list[float] = []
    for k in range(len(option.parts)):
        others = [*running, *ahead, *behind]
        parts = range(k + 1)
        at = len(running) + len(ahead)  # the parts sit between the two groups
        n = len(others) + len(parts)
        submit = [queue.now] * len(running) + [j.eligible for j in (*ahead, *behind)]
        runtime = [j.seconds for j in others]
        classes = [0] * len(running) + [1 + _rank(levels, level(j)) for j in (*ahead, *behind)]
        requests = [_request(j) for j in others]
        for i in parts:
            submit.insert(at + i, submits[i])
            runtime.insert(at + i, shares[i])
            classes.insert(at + i, 1 + _rank(levels, mine))
            requests.insert(at + i, cand)
        estimate = list(runtime)
        for i in parts:
            estimate[at + i] = option.parts[i]
        arrays = JobArrays(
            submit=np.array(submit, dtype=np.float64),
            runtime=np.array(runtime, dtype=np.float64),
            estimate=np.array(estimate, dtype=np.float64),
            timelimit=np.full(n, np.nan),
            request=np.array(requests, dtype=np.int64).reshape(n, len(capacity)),
            priority_class=np.array(classes, dtype=np.int64),
        )
        schedule = replay(arrays, policy, capacity)
        starts.append(float(schedule.start[at + k]))
        submits.append(float(schedule.end[at + k]))
    return starts[0], submits[-1]


def _fits(job: QueuedJob, site: Site) -> bool:
    """Whether the job's per-node share fits a node of its partition (else it never starts)."""
    part = site.partitions[job.partition]
    per_node = _vector(job.cpus, job.mem, job.gpus)
    size = _vector(part.cpus_per_node, part.mem_per_node, part.gpus_per_node)
    return job.nodes <= part.node_limit and all(
        math.ceil(r / job.nodes) <= c for r, c in zip(per_node, size, strict=True)
    )


def _rank(levels: list[int], value: int) -> int:
    return sum(1 for v in levels if v > value)


def _request(job: QueuedJob) -> tuple[int, int, int]:
    return _vector(job.cpus, job.mem, job.gpus)


def _shares(point: float, parts: tuple[float, ...]) -> list[float]:
    """The predicted run time spread over the parts in order (each at most its limit)."""
    left, out = point, []
    for limit in parts:
        out.append(max(1.0, min(limit, left)))
        left -= min(limit, left)
    return out


def what_if(
    site: Site, queue: Queue, request: Request, valid: list[Option], prediction: Prediction
) -> list[WhatIf]:
    """Every valid option simulated; the fastest (earliest end) and cheapest marked."""
    for job in queue.jobs:
        if job.partition not in site.partitions:
            queue.skip("in a partition the site file does not define (ignored)", job.job_id)
        elif not _fits(job, site):
            queue.skip("larger than a node of its partition (never starts; ignored)", job.job_id)
    for why, ids in queue.skipped.items():
        queue.skipped[why] = list(dict.fromkeys(ids))
    rows = [WhatIf(o, *simulate_option(site, queue, request, o, prediction)) for o in valid]
    if not rows:
        return rows
    fastest = min(rows, key=lambda r: (r.end, r.option.cost_expected))
    cheapest = min(rows, key=lambda r: (r.option.cost_expected, r.end))
    return [WhatIf(r.option, r.start, r.end, r is fastest, r is cheapest) for r in rows]
