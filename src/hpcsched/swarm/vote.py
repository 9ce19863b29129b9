"""One job's consensus state at one agent, and what an agent journals (see ``agent.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hpcsched.swarm.messages import NO_LOCK, Ballot


@dataclass(frozen=True)
class Event:
    """What an agent journals: ``decided`` (it learnt the job's assignee), ``start``, ``end``;
    ``gen`` is the job's selection instance (0, then one more after each crashed assignee)."""

    kind: str
    job: int
    agent: int
    assignee: int
    time: float
    gen: int = 0


@dataclass
class Vote:
    """One job's consensus state at one agent, in one generation."""

    gen: int = 0
    round: int = 0
    round_start: float = 0.0
    proposed: int = -1  # the last round this agent proposed in
    promised: int = 0  # the highest round voted in: no lock of an older round is taken after
    voted: dict[int, Ballot] = field(default_factory=dict)  # round -> the ballot voted for
    #: ballot -> (key, lower wins; the (round, assignee) it proposes: a lock carried, or
    #: (-1, its proposer))
    proposals: dict[Ballot, tuple[float, Ballot]] = field(default_factory=dict)
    prepares: dict[Ballot, set[int]] = field(default_factory=dict)
    commits: dict[Ballot, set[int]] = field(default_factory=dict)  # (round, assignee) -> agents
    locked: Ballot = NO_LOCK  # (round, assignee)
    split: bool = False  # a commit of another (round, assignee) heard since this agent locked
    seen: set[str] = field(default_factory=set)  # message ids, dropped with the job's state

    def carried(self) -> Ballot:
        """The highest lock known (own, or committed by anyone): what a proposal must carry.
        One assignee per round, so any lock of the highest round names the one that can have
        been selected."""
        return max([self.locked, *self.commits], key=lambda b: b[0])

    def best(self, r: int) -> Ballot | None:
        """The ballot to vote for in round ``r``: a proposal carrying a lock older than this
        agent's is refused (it could undo a selection); among the others, dominance: the
        lowest key seen so far."""
        fit = [(key, b) for b, (key, lock) in self.proposals.items()
               if b[0] == r and lock[0] >= self.locked[0]]  # fmt: skip
        return min(fit)[1] if fit else None
