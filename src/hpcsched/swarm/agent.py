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

**Safety** (one assignee per job and selection instance) does not depend on timing: the locks
are Paxos's accepted values (Lamport, "Paxos made simple", 2001), in a form that keeps round 0
at three broadcasts. An agent votes (PREPARE) once per job and round, so one ballot per round
can reach a prepare quorum, and whoever sees that quorum locks (COMMIT) its (round, assignee).
A proposal carries the highest lock its proposer knows (its own or any commit heard; else
itself, round -1), and an agent votes only for proposals carrying a lock at least as recent as
its own, and then takes no lock of an older round (Paxos's promise). Once a quorum commits one
(round, assignee), every later round's prepare quorum shares an agent with it, so carries that
assignee. **Liveness**: a job still undecided after ``timeout`` starts a new round in which one
agent proposes, the first (with room, as far as it knows) in a rotation by job and round over
the agents it trusts; a locked agent proposes only after hearing a commit of another lock.
Locked agents resend their COMMIT each timeout; an agent that knows the decision answers a
resend (or a later round's proposal) with DECIDED. Split locks (a crash with lost messages) are
resolved by the next round that carries the highest of them, where they once waited for the
dead agent's lock forever.

**Crashes** (crash-stop): every message refreshes its sender at a failure detector
(``crashes.py``); an agent that broadcast nothing for ``heartbeat`` s (default: a quarter
timeout) sends a HEARTBEAT, and one silent for ``suspect_after`` s (default: five timeouts) is
suspected, for good. Each job selected for a suspected agent and not known to have ended (every
message carries the sender's recent ends) is selected again among the others, in a new instance
(generation ``gen`` + 1, the same number at every agent, so the survivors meet in one
consensus); an agent that hears a later generation joins it. A suspicion is taken as a death: a
wrongly suspected slow agent is fenced out of the votes of those that suspect it, but a job it
already started would also run at its new assignee (the check counts that as started twice);
the drivers make the assumption true (a SIGKILLed process, a crashed simulated agent, never
comes back). A job that the dead agent ended but whose end every survivor missed runs again: at
least once, never lost. Liveness is not claimed against an adversary that delays or drops
messages at will (no consensus can claim it: Fischer, Lynch and Paterson, 1985), only against
random loss, duplicates and delays.
"""

from __future__ import annotations

import math
import random

from hpcsched.swarm.crashes import EndedJobs, FailureDetector
from hpcsched.swarm.messages import (
    COMMIT,
    DECIDED,
    HEARTBEAT,
    NO_LOCK,
    PREPARE,
    PROPOSE,
    Ballot,
    JobSpec,
    Msg,
    Out,
    quorum,
)
from hpcsched.swarm.vote import Event, Vote

PROTOCOLS = ("pbft", "swarm")


class Agent:
    """An agent owning one site's cores; see the module docstring for the protocols."""

    def __init__(
        self, aid: int, capacities: list[int], protocol: str, *, timeout: float = 0.2,
        seed: int = 0, suspect_after: float | None = None, heartbeat: float | None = None,
    ) -> None:  # fmt: skip
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
        self.id = aid
        self.n = len(capacities)
        self.capacities = capacities
        self.protocol = protocol
        self.timeout = timeout
        self.heartbeat = timeout / 4 if heartbeat is None else heartbeat
        suspect_after = 5 * timeout if suspect_after is None else suspect_after
        if suspect_after <= self.heartbeat:
            raise ValueError(f"suspect_after {suspect_after} s: make it above the heartbeat")
        self.detector = FailureDetector(aid, self.n, suspect_after)
        self.ended = EndedJobs(suspect_after)
        self.q = quorum(protocol, self.n)
        self.free = capacities[aid]  # cores neither running nor held for an own proposal
        self.reserved: dict[int, int] = {}
        self.running: dict[int, tuple[float, int]] = {}  # job -> (end, cores)
        self.specs: dict[int, JobSpec] = {}
        self.pending: dict[int, JobSpec] = {}  # known and undecided, in arrival order
        self.votes: dict[int, Vote] = {}
        self.gens: dict[int, int] = {}  # job -> its current generation here (0 when absent)
        self.decided: dict[int, Ballot] = {}  # in the job's current generation
        self.watching: dict[int, int] = {}  # decided for another agent, not known ended
        self.loads = [0.0] * self.n
        self.events: list[Event] = []
        self._rng = random.Random(seed * 1_000_003 + aid)
        self._count = 0
        self._now = 0.0
        self._last_broadcast = 0.0

    # -- stimuli -------------------------------------------------------------------------------

    def on_job(self, job: JobSpec, now: float) -> list[Out]:
        """A job of the pool arrives."""
        self._now = now
        self.specs[job.job_id] = job
        if job.job_id in self.decided or job.job_id in self.pending:
            return []
        if job.job_id in self.ended.known or job.job_id in self.running:
            return []
        self.pending[job.job_id] = job
        self._vote(job.job_id, now)
        return self._sent(self._propose(job, now), now)

    def on_message(self, msg: Msg, now: float) -> list[Out]:
        self._now = now
        if not self.detector.hear(msg.sender, now):  # a suspect is dead to us (crash-stop)
            return []
        self.loads[msg.sender] = msg.load
        self._learn_ended(msg.ended)
        if msg.kind == HEARTBEAT:
            return []
        return self._sent(self._handle(msg, now), now)

    def on_tick(self, now: float) -> list[Out]:
        """Jobs that ended free their cores; silent agents are suspected and the jobs they held
        selected again; undecided jobs past the timeout start a new round; waiting jobs are
        proposed when they now fit; a heartbeat if nothing was broadcast for a while."""
        self._now = now
        out: list[Out] = []
        for job, (end, cores) in list(self.running.items()):
            if end <= now:
                del self.running[job]
                self.free += cores
                self.ended.own_end(job, end)
                self.events.append(Event("end", job, self.id, self.id, end, self.gens.get(job, 0)))
        self.detector.check(now)
        for job, assignee in list(self.watching.items()):  # its assignee may be decided dead
            if assignee in self.detector.suspected:
                self._new_generation(job, self.gens.get(job, 0) + 1, now)
        for job, v in list(self.votes.items()):
            if job in self.decided or now - v.round_start < self.timeout:
                continue
            v.round += 1
            v.round_start = now
            if v.locked != NO_LOCK:
                out.append(Out(None, self._msg(COMMIT, job, v.locked, again=True)))
        for spec in list(self.pending.values()):
            out += self._propose(spec, now)
        if not out and now - self._last_broadcast >= self.heartbeat:
            out.append(Out(None, self._msg(HEARTBEAT, -1, NO_LOCK)))
        return self._sent(out, now)

    def busy(self) -> bool:
        """Anything left to do or to watch (a driver may stop ticking an idle run)."""
        return bool(self.pending or self.running or self.votes or self.watching)

    # -- generations ---------------------------------------------------------------------------

    def _sent(self, outs: list[Out], now: float) -> list[Out]:
        if any(o.dest is None for o in outs):
            self._last_broadcast = now
        return outs

    def _learn_ended(self, jobs: tuple[int, ...]) -> None:
        self.ended.learn(jobs)
        for job in jobs:
            self.watching.pop(job, None)

    def _new_generation(self, job: int, gen: int, now: float) -> None:
        """Select ``job`` again: its assignee is dead (suspected here or by the sender of a
        message of ``gen``); the older generation's state is dropped."""
        prior = self.decided.pop(job, None)
        if prior is not None:
            self.detector.suspect(prior[1])
        self.watching.pop(job, None)
        self.gens[job] = gen
        self.votes[job] = Vote(gen=gen, round_start=now)
        spec = self.specs.get(job)
        if spec is not None and job not in self.running and job not in self.ended.known:
            self.pending[job] = spec

    def _handle(self, msg: Msg, now: float) -> list[Out]:
        gen = self.gens.get(msg.job, 0)
        if msg.gen < gen:  # a straggler of an older generation
            if msg.again and msg.job in self.decided:
                return [Out(msg.sender, self._decided_msg(msg.job))]
            return []
        if msg.gen > gen:
            self._new_generation(msg.job, msg.gen, now)
        if msg.job in self.decided:
            # a straggler resending, or proposing in a later round (it missed the decision)
            if msg.again or (msg.kind == PROPOSE and msg.ballot[0] > 0):
                return [Out(msg.sender, self._decided_msg(msg.job))]
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
            return self._on_prepare(msg, v, now)
        return self._on_commit(msg, v, now)

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

    def _vote(self, job: int, now: float) -> Vote:
        v = self.votes.get(job)
        if v is None:
            v = self.votes[job] = Vote(gen=self.gens.get(job, 0), round_start=now)
        return v

    def _msg(
        self, kind: str, job: int, ballot: Ballot, key: float = 0.0, again: bool = False,
        lock: Ballot = NO_LOCK,
    ) -> Msg:  # fmt: skip
        self._count += 1
        mid = f"{self.id}.{self._count}"
        return Msg(kind, job, ballot, self.id, key, self.load(), mid, again,
                   self.gens.get(job, 0), lock, self.ended.recent(self._now))  # fmt: skip

    def _decided_msg(self, job: int) -> Msg:
        return self._msg(DECIDED, job, self.decided[job])

    def _should_propose(self, job: JobSpec, v: Vote, now: float) -> bool:
        if v.proposed == v.round:
            return False
        # a locked agent proposes only against a split it has seen (a new round without one
        # would only scatter the commits of a lock that resends will complete)
        if v.locked != NO_LOCK and (v.round == 0 or not v.split):
            return False
        carried = v.carried()
        if (
            (carried == NO_LOCK or carried[1] == self.id)
            and job.job_id not in self.reserved
            and job.cores > self.free
        ):
            return False  # it would run the job itself: it needs the room
        # suspected agents and agents silent for ``suspect_after`` are left out of the matrix
        # (a dead agent's last load would otherwise look cheapest forever)
        heard = self.detector.trusted(now)
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
        carried = v.carried()
        value = carried if carried != NO_LOCK else (-1, self.id)
        if value[1] == self.id and job.job_id not in self.reserved:  # held until decided
            self.reserved[job.job_id] = job.cores
            self.free -= job.cores
        key = self._rng.random() if self.protocol == "pbft" else self.cost(self.id, job)
        msg = self._msg(PROPOSE, job.job_id, (v.round, self.id), key, lock=value)
        return [Out(None, msg), *self._on_propose(msg, v, now)]

    def _on_propose(self, msg: Msg, v: Vote, now: float) -> list[Out]:
        r = msg.ballot[0]
        v.proposals[msg.ballot] = (msg.key, msg.lock)
        if r > v.round:
            v.round, v.round_start = r, now
        # an older round's proposal is still voted on (once per round): rounds are local
        # timers that drift apart
        if r in v.voted:
            return []
        # a proposal carrying a lock older than this agent's is refused (it could undo a
        # selection); among the others, dominance: the best of this round seen so far
        best = v.best(r)
        if best is None:
            return []
        v.voted[r] = best
        v.promised = max(v.promised, r)
        prepare = self._msg(PREPARE, msg.job, best, lock=v.proposals[best][1])
        return [Out(None, prepare), *self._on_prepare(prepare, v, now)]

    def _on_prepare(self, msg: Msg, v: Vote, now: float) -> list[Out]:
        votes = v.prepares.setdefault(msg.ballot, set())
        votes.add(msg.sender)
        # one ballot per round can reach a prepare quorum (a vote per agent and round), so
        # whoever sees it locks the one assignee of that round: the ballot's carried value
        r = msg.ballot[0]
        if len(votes) == self.q and r >= v.promised and r > v.locked[0]:
            return self._lock(msg.job, v, (r, msg.lock[1]), now)
        return []

    def _lock(self, job: int, v: Vote, ballot: Ballot, now: float) -> list[Out]:
        v.locked = ballot
        v.split = False
        commit = self._msg(COMMIT, job, ballot)
        v.seen.add(commit.mid)
        return [Out(None, commit), *self._on_commit(commit, v, now)]

    def _on_commit(self, msg: Msg, v: Vote, now: float) -> list[Out]:
        # what is agreed is (round, assignee): a round locks at most one assignee
        v.commits.setdefault(msg.ballot, set()).add(msg.sender)
        if v.locked not in (NO_LOCK, msg.ballot):
            v.split = True
        out: list[Out] = []
        if msg.ballot[0] > v.locked[0] and msg.ballot[0] >= v.promised:
            out += self._lock(msg.job, v, msg.ballot, now)  # adopt: Paxos's accept
        if msg.job in self.decided:
            return out
        if len(v.commits[msg.ballot]) >= self.q:
            out += self._decide(msg.job, msg.ballot, now)
        return out

    def _decide(self, job: int, ballot: Ballot, now: float) -> list[Out]:
        if job in self.decided:
            return []
        gen = self.gens.get(job, 0)
        self.decided[job] = ballot
        self.votes.pop(job, None)
        self.pending.pop(job, None)
        assignee = ballot[1]
        self.events.append(Event("decided", job, self.id, assignee, now, gen))
        if assignee != self.id and job not in self.ended.known:
            self.watching[job] = assignee
        cores = self.reserved.pop(job, None)
        if assignee != self.id:
            if cores is not None:
                self.free += cores
            return []
        spec = self.specs.get(job)
        if spec is None or job in self.running or job in self.ended.known:
            if cores is not None:  # nothing to run (it runs or ran here already)
                self.free += cores
            return []
        if cores is None:  # selected here without a proposal of this agent's cores held
            cores = spec.cores
            self.free -= cores
        self.running[job] = (now + spec.runtime, cores)
        self.events.append(Event("start", job, self.id, self.id, now, gen))
        return []
