"""The protocols in virtual time: a discrete-event network with per-link latency, loss and
duplication, on the simulation clock (a heap of ``(time, seq, event)``; the counter breaks ties
deterministically, as in SimPy's core).

Links: the one-way latency from a to b is ``latency`` scaled by a fixed per-link factor in
[1, 2) (a hash of the pair, so no n^2 table) plus a jitter (10 % by default); each copy is lost with
probability ``loss`` and delivered twice with probability ``duplicate``. An agent handles its
messages one at a time, ``service`` s each (the CPU a live agent spends decoding and deciding),
so a busy agent queues. The pool is reliable: every job reaches every live agent. A crashed agent
takes no more messages or ticks, ever (crash-stop, as the agents assume); copies it sent before
are still delivered.
"""

from __future__ import annotations

import heapq
import random
import time
from dataclasses import dataclass
from typing import Any

from hpcsched.swarm.agent import Agent
from hpcsched.swarm.check import RunRecord
from hpcsched.swarm.messages import JobSpec, Out


@dataclass(frozen=True)
class NetModel:
    latency: float = 0.0005  # s, one way, before the per-link factor
    loss: float = 0.0
    duplicate: float = 0.0
    service: float = 0.0  # s of agent time per message handled
    tick: float = 0.005  # s between an agent's ticks (the live agents' period)
    jitter: float = 0.1  # a copy's extra delay, up to this fraction of the link's latency


def _link_factor(a: int, b: int) -> float:
    return 1.0 + ((a * 7919 + b * 104_729) % 1000) / 1000.0


def simulate(
    jobs: list[JobSpec],
    capacities: list[int],
    protocol: str,
    *,
    net: NetModel | None = None,
    timeout: float = 0.2,
    seed: int = 0,
    crash: tuple[int, float] | None = None,
    crashes: list[tuple[int, float]] | None = None,
    until: float | None = None,
    suspect_after: float | None = None,
) -> RunRecord:
    """Run ``jobs`` through ``len(capacities)`` agents; ``crash=(agent, t)`` kills one at t,
    ``crashes`` any number (an agent crashes once)."""
    net = net or NetModel()
    rng = random.Random(seed)
    n = len(capacities)
    agents = [Agent(a, capacities, protocol, timeout=timeout, seed=seed,
                    suspect_after=suspect_after) for a in range(n)]  # fmt: skip
    record = RunRecord(protocol, list(capacities), list(jobs))
    heap: list[tuple[float, int, str, Any]] = []
    seq = 0
    alive = [True] * n
    busy_until = [0.0] * n

    def push(t: float, kind: str, data: Any) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, seq, kind, data))

    def send(src: int, now: float, outs: list[Out]) -> None:
        for out in outs:
            dests = range(n) if out.dest is None else (out.dest,)
            record.count(out.msg.job, out.msg.kind, n - 1 if out.dest is None else 1)
            for d in dests:
                if d == src or rng.random() < net.loss:
                    continue
                copies = 2 if net.duplicate and rng.random() < net.duplicate else 1
                for _ in range(copies):
                    delay = net.latency * _link_factor(src, d) * (1.0 + net.jitter * rng.random())
                    push(now + delay, "msg", (d, out.msg))

    for spec in jobs:
        for a in range(n):
            push(spec.arrival + net.latency * _link_factor(n, a), "job", (a, spec))
    for a in range(n):
        push(net.tick * (a + 1) / n, "tick", a)
    for agent_id, at in [*([crash] if crash else []), *(crashes or [])]:
        push(at, "crash", agent_id)
    horizon = until if until is not None else _horizon(jobs, timeout)
    started = time.perf_counter()
    while heap:
        now, _, kind, data = heapq.heappop(heap)
        if now > horizon:
            break
        if kind == "crash":
            if not alive[data]:
                continue
            alive[data] = False
            record.crashed.append(data)
            continue
        a = data if kind == "tick" else data[0]
        if not alive[a]:
            continue
        agent = agents[a]
        if kind == "tick":
            send(a, now, agent.on_tick(now))
            if _busy(agents, alive, jobs, now):
                push(now + net.tick, "tick", a)
            continue
        if kind == "msg" and net.service > 0.0:  # the agent handles one message at a time
            start = max(now, busy_until[a])
            busy_until[a] = start + net.service
            if busy_until[a] > now:
                push(busy_until[a], "handle", data)
                continue
        if kind == "job":
            send(a, now, agent.on_job(data[1], now))
        else:
            send(a, now, agent.on_message(data[1], now))
    for agent in agents:
        record.events.extend(agent.events)
    record.wall_s = time.perf_counter() - started
    return record


def _busy(agents: list[Agent], alive: list[bool], jobs: list[JobSpec], now: float) -> bool:
    """Ticks go on while a job is yet to arrive, or a live agent has a job undecided, running
    or assigned to another agent and not known to have ended (a crash would strand it)."""
    if jobs and now < jobs[-1].arrival:
        return True
    return any(alive[i] and a.busy() for i, a in enumerate(agents))


def _horizon(jobs: list[JobSpec], timeout: float) -> float:
    """A generous end: every job could wait for all earlier ones to run one after another."""
    last = max((j.arrival for j in jobs), default=0.0)
    return last + sum(j.runtime for j in jobs) + 1000 * timeout
