"""Where the pilot's pool comes from: a Slurm allocation's environment, flags, this machine."""

from __future__ import annotations

import pytest

from hpcsched.runtime.pools import (
    PoolError,
    cpus_per_node,
    hostlist_count,
    machine_cpus,
    pool_from_flags,
    pool_from_slurm_env,
)

MB = 1024**2


def test_hostlists_and_cpus_per_node() -> None:
    assert hostlist_count("n[1-4,7],gpu01") == 6
    assert hostlist_count("frontier[00001-00128]") == 128
    assert hostlist_count("a[1-2]b[1-3]") == 6
    assert cpus_per_node("4(x2),2") == [4, 4, 2]
    with pytest.raises(PoolError, match="SLURM_JOB_CPUS_PER_NODE"):
        cpus_per_node("4x2")


def test_a_slurm_allocation_becomes_the_pool() -> None:
    env = {
        "SLURM_JOB_ID": "42",
        "SLURM_JOB_NODELIST": "n[1-2]",
        "SLURM_JOB_CPUS_PER_NODE": "8(x2)",
        "SLURM_MEM_PER_NODE": "16000",
        "SLURM_GPUS_ON_NODE": "4",
    }
    pool = pool_from_slurm_env(env)
    assert pool is not None
    assert (pool.nodes, pool.total.cpus, pool.total.gpus) == (2, 16, 8)
    assert pool.total.mem == 2 * 16000 * MB and pool.largest.cpus == 8
    assert pool.refuses(cpus=12, gpus=0, mem=0) == "needs 12 cpus, any single node has 8"
    assert pool.refuses(cpus=12, gpus=0, mem=0, nodes=2) is None
    assert "slurm job 42" in pool.describe()


def test_per_cpu_memory_and_node_count_without_cpus_per_node() -> None:
    env = {
        "SLURM_JOB_ID": "7",
        "SLURM_NNODES": "3",
        "SLURM_CPUS_ON_NODE": "4",
        "SLURM_MEM_PER_CPU": "1000",
    }
    pool = pool_from_slurm_env(env)
    assert pool is not None
    assert (pool.nodes, pool.total.cpus, pool.total.mem) == (3, 12, 12 * 1000 * MB)


def test_outside_slurm_the_machine_or_the_flags() -> None:
    assert pool_from_slurm_env({}) is None
    here = pool_from_flags()
    assert here.total.cpus == machine_cpus() and here.total.mem > 0
    given = pool_from_flags(cpus=3, gpus=1, mem=2 * 1024**3)
    assert (given.total.cpus, given.total.gpus, given.total.mem) == (3, 1, 2 * 1024**3)
    assert given.refuses(cpus=1, gpus=2, mem=0) == "needs 2 gpus, the pool has 1"
