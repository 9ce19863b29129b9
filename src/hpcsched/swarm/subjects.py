"""The NATS core subjects of one live run (no JetStream: consensus messages are not kept)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subjects:
    run: str

    @property
    def base(self) -> str:
        return f"hpcsched.swarm.{self.run}"

    def agent(self, aid: int) -> str:
        return f"{self.base}.a.{aid}"

    @property
    def all(self) -> str:  # broadcast: every agent subscribes; a sender skips its own
        return f"{self.base}.all"

    @property
    def pool(self) -> str:  # the job pool: jobs as they arrive
        return f"{self.base}.pool"

    @property
    def ready(self) -> str:
        return f"{self.base}.ready"

    @property
    def control(self) -> str:  # "start" with the run's epoch, then "stop"
        return f"{self.base}.ctl"

    @property
    def log(self) -> str:  # agents' events and message counts, to the coordinator
        return f"{self.base}.log"
