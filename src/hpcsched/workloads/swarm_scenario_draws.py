"""The job-size draws of the seven SWARM scenarios: walltime, nodes, memory, GPU flag, storage.

Each function re-expresses, vectorised over ``n`` jobs, one branch of the scenario loop of the
SWARM-DMAS-wrench generator's ``generate_synthetic_jobs_v2`` (``data_gen.py``; where it was
read and what it does is in :mod:`hpcsched.workloads.swarm_scenarios`). The values are the
reference's, before the talk's system clamps them: nodes may reach 512 and memory 2,312 GB
here; :func:`hpcsched.workloads.swarm_scenarios.generate` clamps to 256 nodes and 2,048 GB.

Integer ranges follow numpy's ``randint(lo, hi)``, which the reference calls: ``hi`` is
*excluded*, so the reference's ``randint(30, 120)`` is U{30..119}. Walltimes the reference
truncates with ``int()`` (Gamma, exponential) can be 0 s; a job runs at least 1 s here.
Memory and storage caps are per job and come from the job's site (:data:`SITES`), drawn
uniformly as the reference's ``random.choice`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Site:
    """One of the reference's three sites and the caps it puts on a job (reference units: a
    job's memory and storage are compared with these numbers as GB, though its comments call
    them TB and PB)."""

    name: str
    node_limit: int
    memory_limit_gb: int
    storage_limit_gb: int


#: The reference's ``site_configs``: Polaris (ALCF), Frontier (OLCF), Perlmutter (NERSC).
SITES: Final = (
    Site("ALCF", 560, 280, 1120),
    Site("OLCF", 9408, 128, 695),
    Site("NERSC", 4864, 2312, 44),
)


@dataclass(frozen=True)
class Draws:
    """One scenario's jobs, row ``i`` = job ``i`` in generation order (reference units)."""

    walltime: IntArray  # s, >= 1
    nodes: IntArray
    mem_gb: IntArray
    gpu: BoolArray  # the reference's RequestedGPU flag
    storage_gb: IntArray
    job_type: list[str]
    idle_delay: IntArray  # s added to the arrival (bursty_idle's off phases), else 0


@dataclass(frozen=True)
class Caps:
    """The per-job caps of the sites the jobs were assigned to."""

    nodes: IntArray
    mem_gb: IntArray
    storage_gb: IntArray


def _caps(site: IntArray) -> Caps:
    def pick(values: list[int]) -> IntArray:
        return np.asarray(values, dtype=np.int64)[site]

    return Caps(
        pick([s.node_limit for s in SITES]),
        pick([s.memory_limit_gb for s in SITES]),
        pick([s.storage_limit_gb for s in SITES]),
    )


def _ints(rng: np.random.Generator, lo: int, hi: int, n: int) -> IntArray:
    """U{lo..hi-1}: numpy's ``randint(lo, hi)`` as the reference calls it."""
    return rng.integers(lo, hi, size=n, dtype=np.int64)


def _trunc(values: npt.NDArray[np.float64]) -> IntArray:
    """The reference's ``int(x)`` of a non-negative draw, at least 1 s for a walltime."""
    return np.maximum(values.astype(np.int64), 1)


def _types(
    rng: np.random.Generator, names: tuple[str, ...], p: tuple[float, ...], n: int
) -> list[str]:
    return [names[k] for k in rng.choice(len(names), size=n, p=p)]


def _log2_uniform(rng: np.random.Generator, lo: int, hi: int, caps: Caps) -> IntArray:
    """``2 ** U{lo..hi-1}`` capped by the site's node limit (never binding: every site has at
    least 560 nodes and the reference's exponent stops at 9)."""
    return np.minimum(2 ** _ints(rng, lo, hi, len(caps.nodes)), caps.nodes)


def _none(n: int) -> IntArray:
    return np.zeros(n, dtype=np.int64)


def homogeneous_short(rng: np.random.Generator, caps: Caps) -> Draws:
    """U{30..119} s, 2 nodes, 4 GB, P(GPU) 0.1, storage int(Gamma(2, 5)) GB."""
    n = len(caps.nodes)
    return Draws(
        walltime=_ints(rng, 30, 120, n),
        nodes=np.full(n, 2, dtype=np.int64),
        mem_gb=np.full(n, 4, dtype=np.int64),
        gpu=rng.random(n) < 0.1,
        storage_gb=np.minimum(rng.gamma(2.0, 5.0, n).astype(np.int64), caps.storage_gb),
        job_type=_types(rng, ("HPC", "AI", "MEMORY"), (0.7, 0.2, 0.1), n),
        idle_delay=_none(n),
    )


def heterogeneous_mix(rng: np.random.Generator, caps: Caps) -> Draws:
    """int(Gamma(1.5, 300)) s, 2^U{1..8} nodes, 2^U{1..7} GB, P(GPU) 0.3,
    storage int(LogNormal(3, 1.5)) GB."""
    n = len(caps.nodes)
    return Draws(
        walltime=_trunc(rng.gamma(1.5, 300.0, n)),
        nodes=_log2_uniform(rng, 1, 9, caps),
        mem_gb=np.minimum(2 ** _ints(rng, 1, 8, n), caps.mem_gb),
        gpu=rng.random(n) < 0.3,
        storage_gb=np.minimum(rng.lognormal(3.0, 1.5, n).astype(np.int64), caps.storage_gb),
        job_type=_types(
            rng,
            ("HPC", "AI", "HYBRID", "GPU", "MEMORY", "STORAGE"),
            (0.25, 0.2, 0.15, 0.15, 0.15, 0.1),
            n,
        ),
        idle_delay=_none(n),
    )


def long_job_dominant(rng: np.random.Generator, caps: Caps) -> Draws:
    """20 % long: U{10,000..49,999} s, 128 nodes, min(128 * U{2..7}, site) GB, P(GPU) 0.8,
    storage int(Gamma(3, 200)); 80 % short: U{100..499} s, 2 nodes, 2 * U{2..7} GB,
    P(GPU) 0.1, storage int(Gamma(1.5, 10))."""
    n = len(caps.nodes)
    long = rng.random(n) < 0.2
    nodes = np.where(long, np.minimum(128, caps.nodes), 2)
    long_types = _types(rng, ("HPC", "HYBRID", "MEMORY"), (0.6, 0.3, 0.1), n)
    short_types = _types(rng, ("HPC", "AI", "GPU"), (0.5, 0.3, 0.2), n)
    return Draws(
        walltime=np.where(long, _ints(rng, 10_000, 50_000, n), _ints(rng, 100, 500, n)),
        nodes=nodes,
        mem_gb=np.minimum(nodes * _ints(rng, 2, 8, n), caps.mem_gb),
        gpu=rng.random(n) < np.where(long, 0.8, 0.1),
        storage_gb=np.minimum(
            np.where(long, rng.gamma(3.0, 200.0, n), rng.gamma(1.5, 10.0, n)).astype(np.int64),
            caps.storage_gb,
        ),
        job_type=[
            a if is_long else b for a, b, is_long in zip(long_types, short_types, long, strict=True)
        ],
        idle_delay=_none(n),
    )


def high_parallelism(rng: np.random.Generator, caps: Caps) -> Draws:
    """int(Exp(800)) s (the reference's Gamma(1, 800)), 2^U{6..9} nodes,
    min(int(nodes * U(2, 6)), site) GB, P(GPU) 0.6, storage int(nodes * U(1, 5)) GB."""
    n = len(caps.nodes)
    nodes = _log2_uniform(rng, 6, 10, caps)
    return Draws(
        walltime=_trunc(rng.gamma(1.0, 800.0, n)),
        nodes=nodes,
        mem_gb=np.minimum((nodes * rng.uniform(2.0, 6.0, n)).astype(np.int64), caps.mem_gb),
        gpu=rng.random(n) < 0.6,
        storage_gb=np.minimum((nodes * rng.uniform(1.0, 5.0, n)).astype(np.int64), caps.storage_gb),
        job_type=_types(rng, ("GPU", "HYBRID", "HPC", "AI"), (0.4, 0.3, 0.2, 0.1), n),
        idle_delay=_none(n),
    )


def resource_sparse(rng: np.random.Generator, caps: Caps) -> Draws:
    """U{30..299} s, 1 node, U{1..7} GB, P(GPU) 0.05, storage int(Exp(2) + 1) GB."""
    n = len(caps.nodes)
    return Draws(
        walltime=_ints(rng, 30, 300, n),
        nodes=np.ones(n, dtype=np.int64),
        mem_gb=_ints(rng, 1, 8, n),  # randint(1, min(8, site)): every site allows 8
        gpu=rng.random(n) < 0.05,
        storage_gb=np.minimum((rng.exponential(2.0, n) + 1.0).astype(np.int64), caps.storage_gb),
        job_type=_types(rng, ("HPC", "MEMORY", "AI"), (0.6, 0.3, 0.1), n),
        idle_delay=_none(n),
    )


#: bursty_idle alternates phases of this many jobs (by generation index), burst first.
BURST_JOBS: Final = 100
#: Seconds the reference adds to the arrival of each job of an off-burst phase.
IDLE_DELAY_S: Final = 50


def bursty_idle(rng: np.random.Generator, caps: Caps) -> Draws:
    """int(Exp(600)) s, 2^U{1..6} nodes, min(nodes * U{1..3}, site) GB; burst phases (jobs
    0-99, 200-299, ...) P(GPU) 0.4, storage int(Gamma(2, 30)); off phases P(GPU) 0.1, storage
    int(Gamma(1, 8)) and each job's arrival 50 s later (not cumulative: the reference adds 50 to
    that job's own arrival time)."""
    n = len(caps.nodes)
    burst = (np.arange(n) // BURST_JOBS) % 2 == 0
    nodes = _log2_uniform(rng, 1, 7, caps)
    on_types = _types(rng, ("AI", "GPU", "HYBRID"), (0.4, 0.4, 0.2), n)
    off_types = _types(rng, ("HPC", "MEMORY", "STORAGE"), (0.5, 0.3, 0.2), n)
    return Draws(
        walltime=_trunc(rng.gamma(1.0, 600.0, n)),
        nodes=nodes,
        mem_gb=np.minimum(nodes * _ints(rng, 1, 4, n), caps.mem_gb),
        gpu=rng.random(n) < np.where(burst, 0.4, 0.1),
        storage_gb=np.minimum(
            np.where(burst, rng.gamma(2.0, 30.0, n), rng.gamma(1.0, 8.0, n)).astype(np.int64),
            caps.storage_gb,
        ),
        job_type=[a if on else b for a, b, on in zip(on_types, off_types, burst, strict=True)],
        idle_delay=np.where(burst, 0, IDLE_DELAY_S).astype(np.int64),
    )


#: adversarial's first job: walltime s, nodes, memory GB (before the site cap), storage GB.
BLOCKER: Final = (100_000, 128, 256, 10_000)


def adversarial(rng: np.random.Generator, caps: Caps) -> Draws:
    """Job 0: 100,000 s, 128 nodes, min(256, site) GB, a GPU, min(10,000, site) GB storage;
    every other job: 60 s, 1 node, 4 GB, no GPU, 1 GB storage (arrivals: one a second)."""
    n = len(caps.nodes)
    first = np.arange(n) == 0
    walltime, nodes, mem, storage = BLOCKER
    return Draws(
        walltime=np.where(first, walltime, 60).astype(np.int64),
        nodes=np.where(first, np.minimum(nodes, caps.nodes), 1).astype(np.int64),
        mem_gb=np.where(first, np.minimum(mem, caps.mem_gb), 4).astype(np.int64),
        gpu=first.copy(),
        storage_gb=np.where(first, np.minimum(storage, caps.storage_gb), 1).astype(np.int64),
        job_type=["HYBRID" if f else "HPC" for f in first],
        idle_delay=_none(n),
    )


DRAWS: Final[dict[str, Callable[[np.random.Generator, Caps], Draws]]] = {
    "homogeneous_short": homogeneous_short,
    "heterogeneous_mix": heterogeneous_mix,
    "long_job_dominant": long_job_dominant,
    "high_parallelism": high_parallelism,
    "resource_sparse": resource_sparse,
    "bursty_idle": bursty_idle,
    "adversarial": adversarial,
}


def draw(scenario: str, rng: np.random.Generator, site: IntArray) -> Draws:
    """The jobs of ``scenario`` for jobs assigned to ``site`` (indices into :data:`SITES`)."""
    return DRAWS[scenario](rng, _caps(site))
