"""Live runs on the real broker: n agent processes, one job pool, one coordinator that feeds the
pool at the jobs' arrival times, may SIGKILL one agent mid-run, and collects every agent's events
and message counts into the same ``RunRecord`` the simulator writes.

The coordinator decides nothing: it publishes jobs, starts and stops the run, and listens.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

from hpcsched.swarm.check import RunRecord
from hpcsched.swarm.messages import JobSpec
from hpcsched.swarm.subjects import Subjects
from hpcsched.swarm.vote import Event

#: the least silence, s, after which a live agent is taken as dead (``--suspect-after`` default)
LIVE_SUSPECT_AFTER = 5.0


class LiveError(RuntimeError):
    """The live run could not start or finish; the message is one line."""


async def run_live(
    server: str,
    jobs: list[JobSpec],
    capacities: list[int],
    protocol: str,
    *,
    timeout: float = 0.2,
    tick: float = 0.005,
    seed: int = 0,
    kill: tuple[int, float] | None = None,
    grace: float = 30.0,
    suspect_after: float | None = None,
) -> RunRecord:
    """Run ``jobs`` through ``len(capacities)`` agent processes; ``kill=(agent, t)`` SIGKILLs one
    agent t s after the start. Ends when every job has ended (the killed agent's unfinished ones
    selected again and run by the others), or ``grace`` s after the last arrival."""
    from hpcsched.bus.connection import connect

    n = len(capacities)
    subjects = Subjects(uuid.uuid4().hex[:12])
    record = RunRecord(protocol, list(capacities), list(jobs))
    nc = await connect(server, timeout=10.0)
    ready: set[int] = set()
    ended: set[int] = set()

    async def on_ready(m: Any) -> None:
        ready.add(int(m.data))

    async def on_log(m: Any) -> None:
        body = json.loads(m.data)
        for kind, job, agent, assignee, at, gen in body["events"]:
            record.events.append(Event(kind, job, agent, assignee, at, gen))
            if kind == "end":
                ended.add(job)
        for job, kind, copies in body["sent"]:
            record.count(job, kind, copies)

    await nc.subscribe(subjects.ready, cb=on_ready)
    await nc.subscribe(subjects.log, cb=on_log)
    await nc.flush()
    if suspect_after is None:
        # a live agent is an OS process: on a busy machine it can be descheduled for seconds, and
        # a false suspicion breaks the crash-stop assumption (its jobs could run twice)
        suspect_after = max(5 * timeout, LIVE_SUSPECT_AFTER)
    settings = {"capacities": capacities, "protocol": protocol, "timeout": timeout,
                "tick": tick, "seed": seed, "suspect_after": suspect_after}  # fmt: skip
    procs = [_spawn(server, subjects.run, a, settings) for a in range(n)]
    try:
        deadline = time.monotonic() + 60.0
        while len(ready) < n:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise LiveError(f"only {len(ready)} of {n} agents came up within 60 s")
            await asyncio.sleep(0.05)
        epoch = time.time() + 0.2
        await nc.publish(subjects.control, json.dumps(["start", epoch]).encode())
        await nc.flush()
        wall = time.perf_counter()
        killed = False
        for spec in jobs:
            if kill is not None and not killed and spec.arrival >= kill[1]:
                killed = await _kill(procs, kill, epoch, record)
            await asyncio.sleep(max(0.0, epoch + spec.arrival - time.time()))
            await nc.publish(subjects.pool, spec.to_json())
        if kill is not None and not killed:
            await _kill(procs, kill, epoch, record)
        give_up = time.time() + grace
        while time.time() < give_up:
            if len(ended) == len(jobs):
                break
            await asyncio.sleep(0.05)
        record.wall_s = time.perf_counter() - wall
        await nc.publish(subjects.control, json.dumps(["stop", 0]).encode())
        await nc.flush()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        await asyncio.sleep(0.2)  # the last log batches
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        await nc.close()
    return record


async def _kill(
    procs: list[subprocess.Popen[bytes]], kill: tuple[int, float], epoch: float, record: RunRecord
) -> bool:
    await asyncio.sleep(max(0.0, epoch + kill[1] - time.time()))
    os.kill(procs[kill[0]].pid, signal.SIGKILL)
    record.crashed.append(kill[0])
    return True


def _spawn(server: str, run: str, aid: int, settings: dict[str, Any]) -> subprocess.Popen[bytes]:
    config = {"server": server, "run": run, "aid": aid, **settings}
    return subprocess.Popen(
        [sys.executable, "-m", "hpcsched.swarm.live_agent", json.dumps(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
