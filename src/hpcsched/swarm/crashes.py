"""What an agent needs to outlive a crashed peer, sans I/O: a failure detector (who has been
silent too long) and the jobs known to have ended (which a crash must not re-select).

The detector is the timeout-based one of Chandra and Toueg ("Unreliable failure detectors for
reliable distributed systems", JACM 1996): every message heard refreshes its sender; an agent
silent for ``suspect_after`` s is suspected, for good. The agents assume crash-stop, so a
suspicion is taken as a death: the suspecting agent ignores the suspect's messages from then on
(a fence: a slow agent wrongly suspected cannot vote any more), and the drivers make it true (a
SIGKILLed process, a crashed simulated agent, never comes back). Heartbeats keep an agent that
has nothing else to say from being suspected; ``heartbeat`` is well below ``suspect_after`` so
that one agent is suspected only after many of its heartbeats in a row are lost (20 at the
defaults, a heartbeat every timeout/4 and suspicion after 5 timeouts: at 30 % loss, about 3e-11
per silence).
"""

from __future__ import annotations


class FailureDetector:
    """Who was heard when, and who is suspected (for good)."""

    def __init__(self, me: int, n: int, suspect_after: float) -> None:
        self.me = me
        self.suspect_after = suspect_after
        self.heard = [0.0] * n  # the run starts at 0: an agent silent from the start is suspected
        self.suspected: set[int] = set()

    def hear(self, agent: int, now: float) -> bool:
        """A message from ``agent``; False when it is suspected (then it is to be ignored)."""
        if agent in self.suspected:
            return False
        self.heard[agent] = max(self.heard[agent], now)
        return True

    def suspect(self, agent: int) -> None:
        if agent != self.me:
            self.suspected.add(agent)

    def check(self, now: float) -> list[int]:
        """Agents newly suspected at ``now``: silent for more than ``suspect_after``."""
        new = [
            a
            for a, t in enumerate(self.heard)
            if a != self.me and a not in self.suspected and now - t > self.suspect_after
        ]
        self.suspected.update(new)
        return new

    def trusted(self, now: float) -> list[int]:
        """Agents taken as alive: this one, and the others heard within ``suspect_after``."""
        return [
            a
            for a, t in enumerate(self.heard)
            if a == self.me or (a not in self.suspected and now - t <= self.suspect_after)
        ]


class EndedJobs:
    """Jobs known to have ended, and the own ends lately, piggybacked on every message.

    An own end is repeated on every message for ``window`` s (the detector's silence), so a peer
    misses it only by losing every message of that window; a peer that misses it anyway would
    re-select the job should this agent die later: at least once, never lost."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.known: set[int] = set()
        self._mine: list[tuple[float, int]] = []  # (end, job), oldest first

    def own_end(self, job: int, now: float) -> None:
        self.known.add(job)
        self._mine.append((now, job))

    def learn(self, jobs: tuple[int, ...]) -> None:
        self.known.update(jobs)

    def recent(self, now: float) -> tuple[int, ...]:
        while self._mine and now - self._mine[0][0] > self.window:
            self._mine.pop(0)
        return tuple(job for _, job in self._mine)
