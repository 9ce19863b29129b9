"""The seven SWARM scenarios as a workload: ``generate(scenario, jobs, seed)`` → a job table.

Reference: the scenario generator of SWARM-DMAS-wrench (the SWARM multi-agent scheduling study
that issue 18 compares against), ``data_gen.py``, function ``generate_synthetic_jobs_v2``, as
stored in the public code index this project searches (the README beside it: "Synthetic HPC Job
Generator ... ``python data_gen.py --scenario <name> --n_jobs <n> --seed <s>``"; the same
seven-scenario function, with ``cpus`` instead of ``nodes`` and other site caps, exists in an
earlier copy; the later ``swarm-workflows/WRENCH-DMAS`` ``data_generation/job_generation.py``
replaced the seven scenarios by busy/idle days and is *not* followed). Read, re-expressed with a
seeded ``numpy.random.Generator``, not copied. Line numbers below are that file's.

What the reference does, and what this module does with it:

* **Arrivals** (l. 28-39, 149-151, 157-159). ``np.cumsum(np.random.exponential(r, n))`` with
  ``r`` = 1/20, 1/10, 1/8, 1/5, 1/12, 1/6 s: numpy's ``exponential`` takes the *scale*, so the
  inter-arrival time is Exp(mean ``r``) and the k-th arrival is Gamma(k, scale ``r``) - the
  issue's "Gamma(n, λ)" with λ the mean inter-arrival in seconds (the reference names the
  variable ``arrival_rate``, but the code uses it as the mean gap). Here the first job arrives
  at 0 and job k at the sum of k such gaps (the reference's first arrival is one gap after 0
  and is rounded up with ``ceil``); times are rounded to whole seconds. These are dense
  arrivals: 1,000 homogeneous_short jobs arrive within about 50 s.
* **bursty_idle** (l. 115-131): jobs alternate in phases of 100 by index, burst first; an
  off-phase job's own arrival is moved 50 s later (not a cumulative gap), so with mean gap
  1/6 s a phase lasts ~17 s, an off phase lands ~3 phases later and leaves its window idle.
  The table is sorted by arrival afterwards (the reference leaves it in index order).
* **adversarial** (l. 133-151): job 0 runs 100,000 s on 128 nodes with a GPU and 256 GB
  (capped by the site); every other job runs 60 s on 1 node with 4 GB; job i arrives at i s
  (``np.arange``); the 1/25 interval is never used.
* **Sites** (l. 20-26): each job draws one of ALCF (560 nodes, 280, 1120), OLCF (9,408, 128,
  695), NERSC (4,864, 2,312, 44) uniformly (``random.choice``); the job's node count, memory
  and storage are capped by its site (the reference compares them with GB values, although its
  comments say TB and PB). Node caps never bind (no site has under 560 nodes); memory caps bind
  on long_job_dominant's long jobs, high_parallelism and adversarial's first job (OLCF's 128 GB,
  ALCF's 280 GB); storage caps bind often (NERSC's 44 GB).
* **Per-scenario walltime, nodes, memory, GPU, storage** (l. 62-147): see
  :mod:`hpcsched.workloads.swarm_scenario_draws`, one function per scenario.
* **Users and groups** (l. 153-155): ``user_{U{1..n//2}}`` and, drawn independently,
  ``group_{U{1..n//4}}`` (at least one of each); a user is not tied to one group.

What the reference does not have, chosen here:

* **The talk's system** (:data:`SYSTEM`): 256 nodes and 2,048 GB of memory (the talk's prompt),
  and 128 GPUs. The reference's ``RequestedGPU`` is a yes/no flag; here a GPU job asks one GPU
  per node, at most 128. 128 is half the nodes: Perlmutter (NERSC) has 1,536 GPU nodes of
  4,864 (about a third), Polaris (ALCF) has GPUs on every node; and with a GPU on every node
  the GPU count could never bind before the node count, so the comparison would not be
  three-resource.
* **Clamps to the system**: high_parallelism draws up to 512 nodes (2^9) and, at NERSC, up to
  2,312 GB: nodes are clamped to 256 and memory to 2,048 GB (memory is drawn from the
  unclamped node count, then clamped). No other scenario exceeds the system.
* **Runtime = timelimit = walltime**, at least 1 s (the reference truncates Gamma and
  exponential walltimes with ``int()``, which gives 0 s now and then).
* **Storage, job type, site** are kept as ``swarm_storage_gb``, ``swarm_job_type``,
  ``swarm_site`` (no scheduler here reads them).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from hpcsched.core.schema import conform
from hpcsched.workloads.swarm_scenario_draws import DRAWS, SITES, Draws, draw

__all__ = [
    "MEAN_INTERARRIVAL_S",
    "SCENARIOS",
    "SITES",
    "SYSTEM",
    "as_swf_jobs",
    "describe",
    "generate",
    "scenario_error",
]

#: The seven scenario names, in the reference's order.
SCENARIOS: Final[tuple[str, ...]] = tuple(DRAWS)

#: The talk's system: resources in the order :class:`hpcsched.sim.instance.SchedulingInstance`
#: takes them (``mem_gb`` is read from ``mem_req`` in bytes).
SYSTEM: Final[dict[str, int]] = {"nodes": 256, "mem_gb": 2048, "gpus": 128}

#: The reference's ``submission_intervals``: the mean gap between arrivals, s (λ of the issue).
#: adversarial's 1/25 is listed by the reference but unused: its jobs arrive one a second.
MEAN_INTERARRIVAL_S: Final[dict[str, float]] = {
    "homogeneous_short": 1 / 20,
    "heterogeneous_mix": 1 / 10,
    "long_job_dominant": 1 / 8,
    "high_parallelism": 1 / 5,
    "resource_sparse": 1 / 12,
    "bursty_idle": 1 / 6,
    "adversarial": 1.0,
}

GB: Final = 2**30


def scenario_error(scenario: str) -> str | None:
    """Why ``scenario`` is not one of the seven (one line naming them), or ``None``."""
    if scenario in DRAWS:
        return None
    return f"unknown scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}"


def _arrivals(scenario: str, rng: np.random.Generator, jobs: Draws) -> np.ndarray:
    """Arrival times, s (float): job 0 at 0, then Exp(mean λ) gaps; adversarial one a second;
    bursty_idle's off-phase jobs moved by their delay."""
    n = len(jobs.walltime)
    if scenario == "adversarial":
        return np.arange(n, dtype=np.float64)
    gaps = rng.exponential(MEAN_INTERARRIVAL_S[scenario], n - 1)
    return np.concatenate([[0.0], np.cumsum(gaps)]) + jobs.idle_delay


def generate(scenario: str, jobs: int, seed: int) -> pl.DataFrame:
    """``jobs`` jobs of ``scenario`` (deterministic by ``seed``) as a canonical job table that
    fits :data:`SYSTEM`: a workload (state ``completed``, no start or end), sorted by ``submit``
    (whole seconds, the first at 0), ``job_id`` 1..n in that order."""
    problem = scenario_error(scenario)
    if problem is not None:
        raise ValueError(problem)
    if jobs < 1:
        raise ValueError(f"jobs={jobs}: give at least 1 job")
    rng = np.random.default_rng(seed)
    site = rng.integers(0, len(SITES), size=jobs, dtype=np.int64)
    drawn = draw(scenario, rng, site)
    submit = np.round(_arrivals(scenario, rng, drawn))
    users = rng.integers(1, max(1, jobs // 2) + 1, size=jobs)
    groups = rng.integers(1, max(1, jobs // 4) + 1, size=jobs)

    nodes = np.minimum(drawn.nodes, SYSTEM["nodes"])
    mem_gb = np.minimum(drawn.mem_gb, SYSTEM["mem_gb"])
    gpus = np.where(drawn.gpu, np.minimum(nodes, SYSTEM["gpus"]), 0)
    walltime = drawn.walltime.astype(np.float64)
    order = np.argsort(submit, kind="stable")
    table = pl.DataFrame(
        {
            "submit": submit - submit.min(),
            "runtime": walltime,
            "timelimit": walltime,
            "nodes": nodes,
            "gpus": gpus,
            "mem_req": (mem_gb * GB).astype(np.float64),
            "user": [f"user_{u}" for u in users],
            "account": [f"group_{g}" for g in groups],
            "swarm_site": [SITES[s].name for s in site],
            "swarm_storage_gb": drawn.storage_gb,
            "swarm_job_type": drawn.job_type,
        }
    )[order]
    return conform(
        table.with_columns(
            job_id=pl.int_range(1, jobs + 1, eager=True).cast(pl.String),
            state=pl.lit("completed"),
            name=pl.lit(scenario),
            source=pl.lit(f"swarm:{scenario}"),
        )
    )


def as_swf_jobs(table: pl.DataFrame) -> pl.DataFrame:
    """The table as SWF can say it: SWF counts processors and numbers users and groups, so a
    node is one processor (the talk's system counts nodes, not cores) and ``user_12`` is user
    12, ``group_3`` group 3."""
    return table.with_columns(
        cpus=pl.col("nodes"),
        user=pl.col("user").str.strip_prefix("user_"),
        account=pl.col("account").str.strip_prefix("group_"),
    )


def describe(table: pl.DataFrame) -> dict[str, float]:
    """What ``trace synth --scenario`` reports: the arrival span (s), mean nodes, mean memory
    (GB) and the share of jobs asking for GPUs."""
    return {
        "span_s": float(table["submit"].to_numpy().max() - table["submit"].to_numpy().min()),
        "mean_nodes": round(float(table["nodes"].to_numpy().mean()), 2),
        "mean_mem_gb": round(float(table["mem_req"].to_numpy().mean()) / GB, 2),
        "gpu_share": round(float((table["gpus"].to_numpy() > 0).mean()), 4),
    }
