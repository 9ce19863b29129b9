"""The resource pool a pilot owns: what it may hand out, and whether a request can ever fit.

The pool is the sum of its workers (the nodes of a Slurm allocation, the Dask workers, or this
machine). A request is accounted pool-wide on (cpus, gpus, mem), the vector the policies see; a
single-node request must also fit on the largest worker, so that a task no worker can ever run is
refused up front instead of waiting for ever.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpcsched.core.profile import Vector
from hpcsched.core.resources import Resources

POOL_DIMENSIONS = ("cpus", "gpus", "mem")


def format_bytes(value: float) -> str:
    for unit, size in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if value >= size:
            return f"{value / size:.4g}{unit}"
    return f"{value:.0f}B"


@dataclass(frozen=True, slots=True)
class Pool:
    """``total``: the sum over workers; ``largest``: the biggest one; ``nodes``: how many."""

    total: Resources
    largest: Resources
    nodes: int = 1
    source: str = "flags"

    @classmethod
    def uniform(
        cls, nodes: int, cpus: int, gpus: int = 0, mem: float = 0.0, source: str = "flags"
    ) -> Pool:
        """``nodes`` identical workers of ``cpus/gpus/mem`` each."""
        one = Resources(nodes=1, cpus=cpus, gpus=gpus, mem=mem)
        total = Resources(nodes=nodes, cpus=nodes * cpus, gpus=nodes * gpus, mem=nodes * mem)
        return cls(total, one, nodes, source)

    @property
    def capacity(self) -> Vector:
        return (float(self.total.cpus), float(self.total.gpus), float(self.total.mem))

    def describe(self) -> str:
        mem = format_bytes(self.total.mem) if self.total.mem else "unlimited"
        return (
            f"{self.total.cpus} cpus, {self.total.gpus} gpus, {mem} memory on {self.nodes} "
            f"node(s) ({self.source})"
        )

    def request(self, cpus: int, gpus: int, mem: float) -> Vector:
        """The policy's vector for a request. Memory counts only when the pool has a limit."""
        return (float(cpus), float(gpus), float(mem) if self.total.mem else 0.0)

    def refuses(self, cpus: int, gpus: int, mem: float, nodes: int = 1) -> str | None:
        """Why a request can never run here (``None`` when it can)."""
        refusal = self.refusal(cpus, gpus, mem, nodes)
        return None if refusal is None else refusal[1]

    def refusal(self, cpus: int, gpus: int, mem: float, nodes: int = 1) -> tuple[str, str] | None:
        """``(field, why)`` for a request that can never run here: the task field to lower
        (``nodes``, ``cpus``, ``gpus``, ``mem``) and one line saying why."""
        if nodes > self.nodes:
            return "nodes", f"needs {nodes} nodes, the pool has {self.nodes}"
        limit = self.largest if nodes == 1 else self.total
        where = "any single node" if nodes == 1 and self.nodes > 1 else "the pool"
        if cpus > limit.cpus:
            return "cpus", f"needs {cpus} cpus, {where} has {limit.cpus}"
        if gpus > limit.gpus:
            return "gpus", f"needs {gpus} gpus, {where} has {limit.gpus}"
        if self.total.mem and mem > limit.mem:
            needs, has = format_bytes(mem), format_bytes(limit.mem)
            return "mem", f"needs {needs} memory, {where} has {has}"
        return None
