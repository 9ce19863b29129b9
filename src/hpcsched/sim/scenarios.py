"""The SWARM scenarios as scheduling instances: a scenario's jobs on the talk's system.

A thin join of two layers: the workload (:func:`hpcsched.workloads.swarm_scenarios.generate`,
which may import only ``core``) and the instance every scheduler of the scheduling benchmark is
judged on (:class:`hpcsched.sim.instance.SchedulingInstance`).
"""

from __future__ import annotations

from hpcsched.sim.instance import SchedulingInstance
from hpcsched.workloads.swarm_scenarios import SYSTEM, generate

__all__ = ["instance"]


def instance(scenario: str, jobs: int, seed: int) -> SchedulingInstance:
    """``jobs`` jobs of ``scenario`` (seed ``seed``) on 256 nodes, 2,048 GB and the GPUs of
    :data:`~hpcsched.workloads.swarm_scenarios.SYSTEM`, named ``{scenario}-{jobs}-s{seed}``."""
    table = generate(scenario, jobs, seed)
    return SchedulingInstance.from_table(table, dict(SYSTEM), name=f"{scenario}-{jobs}-s{seed}")
