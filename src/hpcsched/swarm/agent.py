"""One agent of decentralised job selection, sans I/O: ``on_job``, ``on_message`` and ``on_tick``
take ``now`` and return the messages to send; a driver (the live NATS one or the simulated
network) delivers them. The agent reads no clock and does no I/O, so the very same object runs on
the broker and in virtual time.

The protocol follows the README of SwarmAgents ("SwarmAgents-Consensus", which describes its
``pbft_agentv2.py`` and ``swarm_agent.py``: seeds, cost matrix, prepare and commit quorums), found
through the project's code search without its repository named; fabric-testbed/SwarmAgents itself
could not be fetched here, so its code was not read. Nothing is copied.

- **PBFT** (baseline): every agent that has room for a job proposes it with a random seed; a
  proposal collision is resolved by the lowest seed; prepare and commit quorums of
  2f+1 (f = floor((n-1)/3), never below a majority).
- **SWARM**: an agent proposes only when its own cost matrix (every agent's load, heard on every
  message, plus the job's share of that agent's cores; infinite when it does not fit) says it is
  the cheapest; voters filter dominated proposals (they vote for the cheapest proposal of the
  round they have seen); quorum floor(n/2)+1.

**Safety** (no job selected twice) does not depend on timing: an agent sends COMMIT for at most one
ballot per job and lock epoch (its lock), and a job is selected when a quorum commits one assignee
(by any of its ballots) in one epoch; two quorums share an agent, so two assignees can never both
reach one. Locks split so that no assignee can reach a quorum (the known locks plus every agent not
yet heard from fall short for each) prove the epoch stuck; only then are they released, in a new
epoch. An agent votes (PREPARE) once per job and round. **Liveness**: a job still undecided after
``timeout`` starts a new round in which one agent proposes, the first with room (as far as it
knows) in a rotation by job and round (a dead agent's proposals are replaced; a split vote does not
repeat); an agent that hears a COMMIT while unlocked adopts it (so a prepare quorum is not lost
when its proposer dies), locked agents resend their COMMIT each timeout, and an agent that knows
the decision answers a resend with DECIDED. A job committed to an agent that then died is selected
(once) but never runs: the run reports it as stranded. Not live under a crash together with lost
messages: two agents may lock different proposals while the dead agent's lock is unknown, and the
split cannot be proven stuck (a Paxos-style rule carrying earlier locks into later rounds would fix
it).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from hpcsched.swarm.messages import (
    COMMIT,
    DECIDED,
    PREPARE,
    PROPOSE,
    Ballot,
    JobSpec,
    Msg,
    Out,
    quorum,
)

PROTOCOLS = ("pbft", "swarm")


@dataclass(frozen=True)
class Event:
    """What an agent journals: ``decided`` (it learnt the job's assignee), ``start``, ``end``."""

    kind: str
    job: int
    agent: int
    assignee: int
    time: float


@dataclass
class _Vote:
    """One job's consensus state at one agent."""

    round: int = 0
    round_start: float = 0.0
    proposed: int = -1  # the last round this agent proposed in
    voted: dict[int, Ballot] = field(default_factory=dict)  # round -> the ballot voted for
    proposals: dict[Ballot, float] = field(default_factory=dict)  # ballot -> key (lower wins)
    prepares: dict[Ballot, set[int]] = field(default_factory=dict)
    commits: dict[int, set[int]] = field(default_factory=dict)  # assignee -> committers, epoch
    locked: Ballot | None = None
    epoch: int = 0
    lock_of: dict[int, int] = field(default_factory=dict)  # agent -> the assignee it locked
    seen: set[str] = field(default_factory=set)  # message ids, dropped with the job's state


class Agent:
    """An agent owning one site's cores; see the module docstring for the protocols."""

    def __init__(
        self, aid: int, capacities: list[int], protocol: str, *, timeout: float = 0.2, seed: int = 0
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
        self.id = aid
        self.n = len(capacities)
        self.capacities = capacities
        self.protocol = protocol
        self.timeout = timeout
        self.q = quorum(protocol, self.n)
        self.free = capacities[aid]  # cores neither running nor held for an own proposal
        self.reserved: dict[int, int] = {}
        self.running: dict[int, tuple[float, int]] = {}  # job -> (end, cores)
        self.pending: dict[int, JobSpec] = {}  # known and undecided, in arrival order
        self.votes: dict[int, _Vote] = {}
        self.decided: dict[int, Ballot] = {}
        self.loads = [0.0] * self.n
        self.heard = [0.0] * self.n  # when each agent was last heard from
        self.events: list[Event] = []
        self._rng = random.Random(seed * 1_000_003 + aid)
        self._count = 0

    # -- stimuli -------------------------------------------------------------------------------

    def on_job(self, job: JobSpec, now: float) -> list[Out]:
        """A job of the pool arrives."""
        if job.job_id in self.decided or job.job_id in self.pending:
            return []
        self.pending[job.job_id] = job
        self._vote(job.job_id, now)
        return self._propose(job, now)

    def on_message(self, msg: Msg, now: float) -> list[Out]:
        self.loads[msg.sender] = msg.load
        self.heard[msg.sender] = now
        if msg.job in self.decided:
            if msg.again and msg.sender != self.id:
                return [Out(msg.sender, self._msg(DECIDED, msg.job, self.decided[msg.job]))]
            return []
        if msg.kind == DECIDED:
            return self._decide(msg.job, msg.ballot, now)
        v = self._vote(msg.job, now)
        if msg.mid in v.seen:  # a duplicate delivery
            return []
        v.seen.add(msg.mid)
        if msg.kind == PROPOSE:
            return self._on_propose(msg, v, now)
        if msg.kind == PREPARE:
            v.prepares.setdefault(msg.ballot, set()).add(msg.sender)
            if v.locked is None and len(v.prepares[msg.ballot]) >= self.q:
                return self._lock(msg.job, v, msg.ballot, now)
            return []
        return self._on_commit(msg, v, now)

    def on_tick(self, now: float) -> list[Out]:
        """Jobs that ended free their cores; undecided jobs past the timeout start a new round;
        waiting jobs are proposed when they now fit."""
        out: list[Out] = []
        for job, (end, cores) in list(self.running.items()):
            if end <= now:
                del self.running[job]
                self.free += cores
                self.events.append(Event("end", job, self.id, self.id, end))
        for job, v in list(self.votes.items()):
            if job in self.decided or now - v.round_start < self.timeout:
                continue
            v.round += 1
            v.round_start = now
            if v.locked is not None:
                out.append(Out(None, self._msg(COMMIT, job, v.locked, again=True, epoch=v.epoch)))
        for spec in list(self.pending.values()):
            out += self._propose(spec, now)
        return out

    # -- the protocol --------------------------------------------------------------------------

    def load(self) -> float:
        return 1.0 - self.free / self.capacities[self.id]

    def cost(self, agent: int, job: JobSpec) -> float:
        """The cost matrix entry: the agent's load plus the job's share of its cores; infinite
        when the job does not fit what the agent has free (as last heard)."""
        cap = self.capacities[agent]
        free = self.free if agent == self.id else cap * (1.0 - self.loads[agent]) + 1e-9
        if job.cores > free:
            return math.inf
        load = self.load() if agent == self.id else self.loads[agent]
        return load + job.cores / cap

    def _vote(self, job: int, now: float) -> _Vote:
        v = self.votes.get(job)
        if v is None:
            v = self.votes[job] = _Vote(round_start=now)
        return v

    def _msg(
        self, kind: str, job: int, ballot: Ballot, key: float = 0.0, again: bool = False,
        epoch: int = 0,
    ) -> Msg:  # fmt: skip
        self._count += 1
        mid = f"{self.id}.{self._count}"
        return Msg(kind, job, ballot, self.id, key, self.load(), mid, again, epoch)

    def _should_propose(self, job: JobSpec, v: _Vote, now: float) -> bool:
        if v.locked is not None or v.proposed == v.round:
            return False
        if job.job_id not in self.reserved and job.cores > self.free:
            return False
        # agents silent for 5 timeouts are left out of the matrix (a dead agent's last load
        # would otherwise look cheapest forever and every job would wait for round 1)
        quiet = 5 * self.timeout
        heard = [a for a in range(self.n) if a == self.id or now - self.heard[a] <= quiet]
        if v.round == 0:
            if self.protocol == "pbft":
                return True
            mine = (self.cost(self.id, job), self.id)
            return all(mine <= (self.cost(a, job), a) for a in heard)
        # a later round: a split vote must not repeat (agents that all vote for themselves
        # split again forever), so one agent proposes, the first in a rotation (by job and
        # round). Round 1 rotates among those that have room as far as this agent knows (quick
        # for a job that waited for cores); later rounds among all agents heard from, room or
        # not: stale loads could otherwise have each agent wait for another forever
        room = [a for a in heard if a == self.id or math.isfinite(self.cost(a, job))]
        turn = min(
            room if v.round == 1 else heard, key=lambda a: (a - job.job_id - v.round) % self.n
        )
        return turn == self.id

    def _propose(self, job: JobSpec, now: float) -> list[Out]:
        v = self._vote(job.job_id, now)
        if not self._should_propose(job, v, now):
            return []
        v.proposed = v.round
        if job.job_id not in self.reserved:  # held until the job is decided, whoever wins
            self.reserved[job.job_id] = job.cores
            self.free -= job.cores
        key = self._rng.random() if self.protocol == "pbft" else self.cost(self.id, job)
        msg = self._msg(PROPOSE, job.job_id, (v.round, self.id), key)
        return [Out(None, msg), *self._on_propose(msg, v, now)]

    def _on_propose(self, msg: Msg, v: _Vote, now: float) -> list[Out]:
        r = msg.ballot[0]
        v.proposals[msg.ballot] = msg.key
        if r > v.round:
            v.round, v.round_start = r, now
        # an older round's proposal is still voted on (once per round): rounds are local
        # timers that drift apart, and the vote is not what makes a selection unique (the
        # commit lock is)
        if v.locked is not None or r in v.voted:
            return []
        # dominance filter: vote for the best proposal of this round seen so far
        best = min((key, b) for b, key in v.proposals.items() if b[0] == r)[1]
        v.voted[r] = best
        prepare = self._msg(PREPARE, msg.job, best)
        v.prepares.setdefault(best, set()).add(self.id)
        out = [Out(None, prepare)]
        if v.locked is None and len(v.prepares[best]) >= self.q:
            out += self._lock(msg.job, v, best, now)
        return out

    def _lock(self, job: int, v: _Vote, ballot: Ballot, now: float) -> list[Out]:
        v.locked = ballot
        commit = self._msg(COMMIT, job, ballot, epoch=v.epoch)
        return [Out(None, commit), *self._on_commit(commit, v, now)]

    def _on_commit(self, msg: Msg, v: _Vote, now: float) -> list[Out]:
        if msg.epoch < v.epoch:  # that epoch was proven stuck: it can decide nothing
            return []
        if msg.epoch > v.epoch:
            self._new_epoch(v, msg.epoch, now)
        # what is agreed is the assignee: two ballots of one proposer commit the same choice
        assignee = msg.ballot[1]
        v.lock_of[msg.sender] = assignee
        v.commits.setdefault(assignee, set()).add(msg.sender)
        out: list[Out] = []
        if v.locked is None:  # adopt: a commit means a prepare quorum exists for that ballot
            out += self._lock(msg.job, v, msg.ballot, now)
        if msg.job in self.decided:
            return out
        if len(v.commits[assignee]) >= self.q:
            out += self._decide(msg.job, msg.ballot, now)
        elif v.epoch == msg.epoch and self._stuck(v):
            self._new_epoch(v, v.epoch + 1, now)
        return out

    def _stuck(self, v: _Vote) -> bool:
        """No ballot can reach a commit quorum in this epoch: locks never change within an
        epoch, so the known ones plus every agent not yet heard from fall short for each."""
        unknown = self.n - len(v.lock_of)
        if unknown >= self.q:
            return False
        counts: dict[int, int] = {}
        for assignee in v.lock_of.values():
            counts[assignee] = counts.get(assignee, 0) + 1
        return all(c + unknown < self.q for c in counts.values())

    def _new_epoch(self, v: _Vote, epoch: int, now: float) -> None:
        """Locks of a stuck epoch are released (it provably decides nothing); a new round."""
        v.epoch = epoch
        v.locked = None
        v.lock_of = {}
        v.commits = {}
        v.prepares = {}
        v.round += 1
        v.round_start = now

    def _decide(self, job: int, ballot: Ballot, now: float) -> list[Out]:
        if job in self.decided:
            return []
        self.decided[job] = ballot
        self.votes.pop(job, None)
        spec = self.pending.pop(job, None)
        self.events.append(Event("decided", job, self.id, ballot[1], now))
        cores = self.reserved.pop(job, None)
        if cores is None:
            return []
        if ballot[1] != self.id:
            self.free += cores
            return []
        assert spec is not None  # an own proposal: the job was known
        self.running[job] = (now + spec.runtime, cores)
        self.events.append(Event("start", job, self.id, self.id, now))
        return []
