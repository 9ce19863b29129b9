"""What agents say to each other, the jobs of the pool and the sites that run them.

A message is one JSON object with a per-message id (``mid``: sender and a counter), so a
duplicate delivery is recognised. Every message carries its sender's current load, which is how
the SWARM cost matrix stays fresh without messages of its own.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Final

#: Message kinds. PROPOSE: "I will run job j in ballot (round, me)"; PREPARE: "I vote for that
#: ballot" (one vote per job and round, carrying the voter's lock: Paxos's promise); COMMIT: "I
#: lock (round, assignee)" (the Paxos accept: at most one assignee per round, and a later round
#: carries the highest lock its voters reported); DECIDED: "a commit quorum exists", the answer
#: to a straggler that is still voting on a decided job; HEARTBEAT: "I am alive" (sent only by
#: an agent that broadcast nothing else for a while; ``job`` is -1).
PROPOSE: Final = "propose"
PREPARE: Final = "prepare"
COMMIT: Final = "commit"
DECIDED: Final = "decided"
HEARTBEAT: Final = "heartbeat"
KINDS: Final = (PROPOSE, PREPARE, COMMIT, DECIDED, HEARTBEAT)

Ballot = tuple[int, int]  # (round, proposer)


NO_LOCK: Final[Ballot] = (-1, -1)


@dataclass(frozen=True)
class Msg:
    kind: str
    job: int
    ballot: Ballot  # COMMIT and DECIDED: (lock round, assignee)
    sender: int
    key: float = 0.0  # PBFT: the proposer's random seed; SWARM: its cost (lower wins)
    load: float = 0.0
    mid: str = ""
    again: bool = False  # a resend after a timeout: an agent that knows the decision answers it
    gen: int = 0  # the job's selection instance: a new one once its assignee is suspected dead
    lock: Ballot = NO_LOCK  # PREPARE: the voter's lock (round, assignee) when it voted
    ended: tuple[int, ...] = ()  # jobs the sender ended lately (what a crash must not re-run)

    def to_json(self) -> bytes:
        return json.dumps(
            [self.kind, self.job, self.ballot[0], self.ballot[1], self.sender, self.key,
             self.load, self.mid, self.again, self.gen, self.lock[0], self.lock[1],
             self.ended],
            separators=(",", ":"),
        ).encode()  # fmt: skip

    @staticmethod
    def from_json(data: bytes) -> Msg:
        k, j, r, p, s, key, load, mid, again, gen, lr, la, ended = json.loads(data)
        return Msg(str(k), int(j), (int(r), int(p)), int(s), float(key), float(load), str(mid),
                   bool(again), int(gen), (int(lr), int(la)),
                   tuple(int(e) for e in ended))  # fmt: skip


@dataclass(frozen=True)
class Out:
    """A message to send: ``dest`` an agent id, or None for every other agent."""

    dest: int | None
    msg: Msg


@dataclass(frozen=True)
class JobSpec:
    job_id: int
    cores: int
    runtime: float  # seconds (live: slept; simulated: virtual)
    arrival: float  # seconds after the run's start

    def to_json(self) -> bytes:
        return json.dumps([self.job_id, self.cores, self.runtime, self.arrival]).encode()

    @staticmethod
    def from_json(data: bytes) -> JobSpec:
        j, c, r, a = json.loads(data)
        return JobSpec(int(j), int(c), float(r), float(a))


def site_capacities(n: int) -> list[int]:
    """Cores of n sites: a machine split into heterogeneous sites (16, 8, 12, 4 cores, repeated).

    The SwarmAgents README describes agents by their resources but we found no fixed three-site
    table there, so the split is ours: heterogeneous on purpose, so the cost matrix matters."""
    pattern = (16, 8, 12, 4)
    return [pattern[i % len(pattern)] for i in range(n)]


def make_jobs(
    count: int,
    *,
    seed: int = 0,
    interarrival: float = 0.02,
    runtime: tuple[float, float] = (0.05, 0.5),
) -> list[JobSpec]:
    """Poisson arrivals (mean ``interarrival`` s), 1-4 cores, runtimes uniform in ``runtime``."""
    rng = random.Random(seed)
    now, jobs = 0.0, []
    for j in range(count):
        now += rng.expovariate(1.0 / interarrival)
        jobs.append(JobSpec(j, rng.randint(1, 4), round(rng.uniform(*runtime), 4), round(now, 6)))
    return jobs


def quorum(protocol: str, n: int) -> int:
    """SWARM: a majority, floor(n/2)+1 (crash faults). PBFT: 2f+1 with f = floor((n-1)/3), never
    below a majority (two quorums must share an agent, or one job could be committed twice)."""
    majority = n // 2 + 1
    if protocol == "swarm":
        return majority
    return max(2 * ((n - 1) // 3) + 1, majority)
