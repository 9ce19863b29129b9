"""A run's record (the same for the live and the simulated driver), its safety check and its
measures: messages per job against the formulas, selection latency, idle time per agent."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from hpcsched.swarm.messages import PROPOSE, JobSpec
from hpcsched.swarm.vote import Event


@dataclass
class RunRecord:
    protocol: str
    capacities: list[int]
    jobs: list[JobSpec]
    events: list[Event] = field(default_factory=list)
    #: messages sent per job and kind; a broadcast counts once per other agent (n - 1);
    #: heartbeats under job -1
    messages: dict[int, dict[str, int]] = field(default_factory=dict)
    crashed: list[int] = field(default_factory=list)
    wall_s: float = 0.0

    def count(self, job: int, kind: str, copies: int) -> None:
        per = self.messages.setdefault(job, {})
        per[kind] = per.get(kind, 0) + copies


def formula(protocol: str, n: int, proposers: float) -> float:
    """Messages per job of the issue's formulas: PBFT about 2n^2; SWARM (2n+p)(n-1) at best."""
    if protocol == "pbft":
        return 2.0 * n * n
    return (2 * n + proposers) * (n - 1)


def check(record: RunRecord) -> dict[str, Any]:
    """Every job selected exactly once per generation, and run by an agent that did not crash.

    ``twice``: a generation whose deciders name two assignees, or a job started twice by agents
    that did not crash (a crashed agent's start may be repeated: it died); ``wrong_agent``: a
    start by an agent other than its generation's assignee; ``lost``: never selected;
    ``early``: a new generation although the last one's assignee did not crash (the failure
    detector suspected a live agent); ``stranded``: never ended, its last assignee crashed;
    ``reselected``: jobs selected again after a crash (an int)."""
    assignees: dict[tuple[int, int], set[int]] = {}  # (job, generation) -> assignees named
    starts: dict[int, list[tuple[int, int]]] = {}  # job -> (agent, generation)
    ended: set[int] = set()
    for e in record.events:
        if e.kind == "decided":
            assignees.setdefault((e.job, e.gen), set()).add(e.assignee)
        elif e.kind == "start":
            starts.setdefault(e.job, []).append((e.agent, e.gen))
        elif e.kind == "end":
            ended.add(e.job)
    dead = set(record.crashed)
    last: dict[int, int] = {}
    for job, gen in assignees:
        last[job] = max(gen, last.get(job, 0))
    twice = {j for (j, _), a in assignees.items() if len(a) > 1}
    twice |= {j for j, s in starts.items() if len([a for a, _ in s if a not in dead]) > 1}
    wrong = {j for j, s in starts.items() if any(a not in assignees.get((j, g), ()) for a, g in s)}
    early = {
        j
        for (j, g) in assignees
        if g > 0 and not (assignees.get((j, g - 1), set()) and assignees[(j, g - 1)] <= dead)
    }
    stranded = {j for j, g in last.items() if j not in ended and assignees[(j, g)] <= dead}
    lost = sorted(s.job_id for s in record.jobs if s.job_id not in last)
    return {"selected": len(last), "twice": sorted(twice), "lost": lost,
            "wrong_agent": sorted(wrong), "early": sorted(early), "stranded": sorted(stranded),
            "reselected": sum(1 for g in last.values() if g > 0)}  # fmt: skip


def measures(record: RunRecord) -> dict[str, Any]:
    """Messages per job (and against the formula; heartbeats, counted under job -1, apart),
    selection latency (arrival to the first
    agent learning the decision), per-agent idle time (the run's span minus the time the agent
    ran at least one job)."""
    n = len(record.capacities)
    arrival = {s.job_id: s.arrival for s in record.jobs}
    first: dict[int, float] = {}
    busy: dict[int, list[tuple[float, float]]] = {a: [] for a in range(n)}
    starts: dict[int, tuple[int, float]] = {}
    span_end = 0.0
    for e in record.events:
        if e.kind == "decided" and (e.job not in first or e.time < first[e.job]):
            first[e.job] = e.time
        elif e.kind == "start":
            starts[e.job] = (e.agent, e.time)
        elif e.kind == "end" and e.job in starts:
            busy[e.agent].append((starts[e.job][1], e.time))
        span_end = max(span_end, e.time)
    latency = sorted(first[j] - arrival[j] for j in first if j in arrival)
    per_job = [per for job, per in record.messages.items() if job >= 0]
    totals = [sum(per.values()) for per in per_job]
    proposers = [per.get(PROPOSE, 0) / max(n - 1, 1) for per in per_job]
    heartbeats = sum(record.messages.get(-1, {}).values())
    mean = statistics.fmean(totals) if totals else 0.0
    p = statistics.fmean(proposers) if proposers else 0.0
    span_start = min(arrival.values(), default=0.0)
    idle = [_idle(busy[a], span_start, span_end) for a in range(n) if a not in record.crashed]
    return {
        "agents": n,
        "protocol": record.protocol,
        "jobs": len(record.jobs),
        "messages_per_job": mean,
        "heartbeats_per_job": heartbeats / max(len(record.jobs), 1),
        "proposers_per_job": p,
        "formula_per_job": formula(record.protocol, n, p),
        "latency_mean_ms": 1e3 * statistics.fmean(latency) if latency else 0.0,
        "latency_p95_ms": 1e3 * latency[int(0.95 * (len(latency) - 1))] if latency else 0.0,
        "idle_mean_s": statistics.fmean(idle) if idle else 0.0,
        "idle_per_agent_s": [round(x, 3) for x in idle],
        "span_s": span_end - span_start,
        "wall_s": record.wall_s,
    }


def _idle(spans: list[tuple[float, float]], start: float, end: float) -> float:
    """The part of [start, end] covered by no span (the union of overlapping runs)."""
    covered, reach = 0.0, start
    for a, b in sorted(spans):
        a, b = max(a, reach), min(b, end)
        if b > a:
            covered += b - a
            reach = b
    return max(0.0, end - start - covered)
