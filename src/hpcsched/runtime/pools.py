"""Where the pilot's resource pool comes from: flags, a Slurm allocation, or this machine.

Inside ``salloc``/``sbatch`` Slurm describes the allocation in the environment (``sbatch(1)``,
"OUTPUT ENVIRONMENT VARIABLES"): ``SLURM_JOB_NODELIST``/``SLURM_JOB_NUM_NODES``,
``SLURM_JOB_CPUS_PER_NODE`` (``4(x2),2``), ``SLURM_CPUS_ON_NODE``, ``SLURM_MEM_PER_NODE`` (MB),
``SLURM_MEM_PER_CPU`` (MB) and ``SLURM_GPUS_ON_NODE``. The Dask pool comes from the connected
workers (``DaskExecutor.pool``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from hpcsched.core.pool import Pool
from hpcsched.core.resources import Resources

MB = 1024**2
_REPEAT = re.compile(r"^(\d+)(?:\(x(\d+)\))?$")


class PoolError(ValueError):
    """A pool description that cannot be read (one line: which variable, what to do)."""


def machine_memory() -> float:
    """Physical memory of this machine, bytes."""
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def machine_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pool_from_flags(cpus: int | None = None, gpus: int = 0, mem: float | None = None) -> Pool:
    """This machine, or what the flags say (``--cpus --gpus --mem``)."""
    return Pool.uniform(
        1,
        cpus if cpus is not None else machine_cpus(),
        gpus,
        mem if mem is not None else machine_memory(),
        source="flags" if cpus is not None or mem is not None else "this machine",
    )


def hostlist_count(nodelist: str) -> int:
    """How many hosts a Slurm hostlist names: ``n[1-4,7],gpu01`` -> 6."""
    count = 0
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\])?[^,]*", nodelist):
        ranges = re.findall(r"\[([^\]]*)\]", part)
        n = 1
        for spec in ranges:
            width = 0
            for item in spec.split(","):
                lo, _, hi = item.partition("-")
                width += int(hi) - int(lo) + 1 if hi else 1
            n *= width
        count += n
    return count


def cpus_per_node(value: str) -> list[int]:
    """``SLURM_JOB_CPUS_PER_NODE`` (``4(x2),2``) -> ``[4, 4, 2]``."""
    cpus: list[int] = []
    for item in value.split(","):
        match = _REPEAT.match(item.strip())
        if not match:
            raise PoolError(
                f"SLURM_JOB_CPUS_PER_NODE={value!r} is not like 4(x2),2; unset it or pass --cpus"
            )
        cpus += [int(match.group(1))] * int(match.group(2) or 1)
    return cpus


def pool_from_slurm_env(env: Mapping[str, str] | None = None) -> Pool | None:
    """The pool of the Slurm allocation this process runs in (``None`` outside one)."""
    env = os.environ if env is None else env
    if "SLURM_JOB_ID" not in env:
        return None
    try:
        if "SLURM_JOB_CPUS_PER_NODE" in env:
            per_node = cpus_per_node(env["SLURM_JOB_CPUS_PER_NODE"])
        else:
            nodes = int(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or 0) or (
                hostlist_count(env["SLURM_JOB_NODELIST"]) if "SLURM_JOB_NODELIST" in env else 1
            )
            per_node = [int(env.get("SLURM_CPUS_ON_NODE", "1"))] * nodes
        gpus = int(env.get("SLURM_GPUS_ON_NODE", "0") or 0)
        if "SLURM_MEM_PER_NODE" in env:
            mems = [float(env["SLURM_MEM_PER_NODE"]) * MB] * len(per_node)
        elif "SLURM_MEM_PER_CPU" in env:
            mems = [float(env["SLURM_MEM_PER_CPU"]) * MB * c for c in per_node]
        else:
            mems = [0.0] * len(per_node)  # no memory limit was requested: not accounted
    except ValueError as err:
        raise PoolError(f"cannot read the Slurm allocation from the environment: {err}") from err
    total = Resources(len(per_node), sum(per_node), gpus * len(per_node), sum(mems))
    largest = Resources(1, max(per_node), gpus, max(mems))
    return Pool(total, largest, len(per_node), source=f"slurm job {env['SLURM_JOB_ID']}")
