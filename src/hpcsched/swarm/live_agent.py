"""One live agent process: the sans-I/O ``Agent`` driven by NATS messages and the wall clock.

``python -m hpcsched.swarm.live_agent CONFIG_JSON`` (started by ``live.run_live``). The agent
answers on ``ready``, waits for ``start`` (the run's epoch, so every process measures ``now``
from the same instant on this machine), then loops: handle what arrived, tick every ``tick`` s,
send its new events with the messages it is about to send per job to the coordinator's ``log``
subject, then publish what the agent returned. Running a job is waiting for its runtime:
``on_tick`` ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

from hpcsched.swarm.agent import Agent
from hpcsched.swarm.messages import JobSpec, Msg, Out
from hpcsched.swarm.subjects import Subjects


async def run_agent(config: dict[str, Any]) -> None:
    from hpcsched.bus.connection import connect

    aid = int(config["aid"])
    n = len(config["capacities"])
    subjects = Subjects(str(config["run"]))
    silence = config.get("suspect_after")
    agent = Agent(aid, list(config["capacities"]), str(config["protocol"]),
                  timeout=float(config["timeout"]), seed=int(config["seed"]),
                  suspect_after=None if silence is None else float(silence))  # fmt: skip
    tick = float(config["tick"])
    nc = await connect(str(config["server"]), timeout=10.0)
    inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    started = asyncio.Event()
    stop = asyncio.Event()
    epoch = [0.0]

    async def on_msg(m: Any) -> None:
        inbox.put_nowait((m.subject, m.data))

    async def on_control(m: Any) -> None:
        word, value = json.loads(m.data)
        if word == "start":
            epoch[0] = float(value)
            started.set()
        else:
            stop.set()

    for subject in (subjects.agent(aid), subjects.all, subjects.pool):
        await nc.subscribe(subject, cb=on_msg)
    await nc.subscribe(subjects.control, cb=on_control)
    await nc.flush()
    await nc.publish(subjects.ready, str(aid).encode())
    await nc.flush()
    await started.wait()
    sent: dict[tuple[int, str], int] = {}
    next_tick = 0.0
    shipped = 0
    while not stop.is_set():
        now = time.time() - epoch[0]
        batch: list[tuple[str, bytes]] = []
        if inbox.empty() and next_tick > now:
            with contextlib.suppress(TimeoutError):
                batch.append(await asyncio.wait_for(inbox.get(), next_tick - now))
        while not inbox.empty() and len(batch) < 2000:
            batch.append(inbox.get_nowait())
        now = time.time() - epoch[0]
        outs: list[Out] = []
        for subject, data in batch:
            if subject == subjects.pool:
                outs += agent.on_job(JobSpec.from_json(data), now)
                continue
            msg = Msg.from_json(data)
            if msg.sender != aid:
                outs += agent.on_message(msg, now)
        if now >= next_tick:
            outs += agent.on_tick(now)
            next_tick = now + tick
        # the journal goes out before the messages: what a peer learns (a job ended, say) is in
        # the coordinator's record even when this process is killed right after
        for out in outs:
            key = (out.msg.job, out.msg.kind)
            sent[key] = sent.get(key, 0) + (n - 1 if out.dest is None else 1)
        if len(agent.events) > shipped or sent:
            events = [[e.kind, e.job, e.agent, e.assignee, e.time, e.gen]
                      for e in agent.events[shipped:]]  # fmt: skip
            shipped = len(agent.events)
            counts = [[j, k, c] for (j, k), c in sent.items()]
            sent = {}
            await nc.publish(subjects.log, json.dumps({"events": events, "sent": counts}).encode())
        for out in outs:
            target = subjects.all if out.dest is None else subjects.agent(out.dest)
            await nc.publish(target, out.msg.to_json())
    await nc.flush()
    await nc.close()


def main(argv: list[str]) -> None:
    asyncio.run(run_agent(json.loads(argv[1])))


if __name__ == "__main__":
    main(sys.argv)
