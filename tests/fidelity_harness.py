"""Does a replay of what Slurm did, under the site's own policy, start jobs when Slurm did?

Shared by ``tests/test_replay_fidelity.py`` (a few jobs) and ``benchmarks/replay_fidelity.py``
(30 by default). On the local cluster (``scripts/slurm-local.sh start``: n[1-4], 2 CPUs each;
``sched/backfill`` with ``bf_interval=2``; ``priority/multifactor`` with the weights of
``examples/site-local.yaml``):

1. submit a seeded mix of ``sleep`` jobs (1-8 tasks, 1-3 min time limits, QoS normal/high/low,
   partitions debug/batch), held, then release them together, so that most of them queue;
2. wait until sacct says every one has ended;
3. ``hpcsched trace pull`` the window, keep our jobs and every other job that ran while ours were
   in the system (other sessions share the cluster: their jobs held processors too);
4. ``hpcsched simulate --policy slurm --site examples/site-local.yaml --partitions sinfo
   --cycle 0`` (and the same with ``--policy slurm-plan``, the model before Slurm's two loops);
5. per job of ours: |simulated start - real start|.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from hpcsched.slurm import DELIMITER, SlurmAdapter

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "examples" / "site-local.yaml"
CLI = [sys.executable, "-m", "hpcsched.cli"]
REPLAY = ["--policy", "slurm", "--site", str(SITE), "--partitions", "sinfo", "--cycle", "0"]
#: the replay before issue 21 item 3: EASY on one machine, a decision after every event
BASELINE = ["--policy", "easy", "--partitions", "sinfo"]
#: the Slurm replay before its two scheduling loops were modelled: every job planned afresh
#: in priority order and started the instant it fits
PLANNED = ["--policy", "slurm-plan", *REPLAY[2:]]
ENDED = {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL"}


@dataclass(frozen=True)
class Spec:
    sleep: int
    tasks: int
    minutes: int
    qos: str
    partition: str


@dataclass
class Fidelity:
    jobs: int
    others: int
    tolerance: float
    errors: list[float] = field(default_factory=list)
    command: str = ""
    baseline: list[float] = field(default_factory=list)  # the same under BASELINE
    planned: list[float] = field(default_factory=list)  # the same under PLANNED

    @property
    def median(self) -> float:
        return statistics.median(self.errors)

    @property
    def p90(self) -> float:
        return percentile(self.errors, 0.9)

    @property
    def worst(self) -> float:
        return max(self.errors)

    @property
    def within(self) -> float:
        return share_within(self.errors, self.tolerance)

    def summary(self, errors: list[float]) -> str:
        return (
            f"median {statistics.median(errors):.1f} s, p90 {percentile(errors, 0.9):.1f} s, "
            f"max {max(errors):.1f} s, {share_within(errors, self.tolerance):.0%} within "
            f"{self.tolerance:g} s"
        )

    def text(self) -> str:
        return (
            f"{self.jobs} jobs (+{self.others} of other sessions replayed with them): "
            f"|start_sim - start_real| {self.summary(self.errors)}\n"
            f"before, {' '.join(PLANNED[:2])} --cycle 0: {self.summary(self.planned)}\n"
            f"baseline ({' '.join(BASELINE)}): {self.summary(self.baseline)}"
        )


def percentile(errors: list[float], q: float) -> float:
    """The ``q`` quantile, nearest rank (the 90th of 8 jobs is the 8th)."""
    ranked = sorted(errors)
    return ranked[max(0, min(len(ranked) - 1, int(-(-q * len(ranked) // 1)) - 1))]


def share_within(errors: list[float], tolerance: float) -> float:
    return sum(e <= tolerance for e in errors) / max(len(errors), 1)


def workload(n: int, seed: int, longest: int = 15) -> list[Spec]:
    rng = random.Random(seed)
    return [
        Spec(
            sleep=rng.randint(3, longest),
            tasks=rng.choice([1, 1, 2, 2, 3, 4, 6, 8]),
            minutes=rng.choice([1, 2, 3]),
            qos=rng.choice(["normal", "normal", "high", "low"]),
            partition=rng.choice(["debug", "batch"]),
        )
        for _ in range(n)
    ]


def submit(slurm: SlurmAdapter, specs: list[Spec]) -> list[str]:
    ids = []
    for s in specs:
        args = [
            "-o", "/dev/null", "--chdir=/tmp", "--job-name=r21-fidelity",
            f"--time={s.minutes}", f"--ntasks={s.tasks}", f"--qos={s.qos}",
            f"--partition={s.partition}", "--hold",
        ]  # fmt: skip
        ids.append(str(slurm.sbatch(f"#!/bin/bash\nsleep {s.sleep}\n", extra_args=args)))
    # released together: each job's eligible time is the same instant, so the replay and Slurm
    # both see the whole queue at once (sbatch's own pace, ~0.1 s a job, would otherwise race
    # Slurm's first scheduling pass)
    slurm.run(["scontrol", "release", ",".join(ids)])
    return ids


def wait_ended(slurm: SlurmAdapter, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = slurm.sacct(ids, fields=("JobID", "State"), duplicates=False)
        rows = [line.split(DELIMITER) for line in text.splitlines()[1:]]
        ended = {r[0] for r in rows if r[1].split()[0] in ENDED}
        if ended >= set(ids):
            return
        time.sleep(2)
    raise TimeoutError(f"jobs {ids} did not end within {timeout:g} s")


def hpcsched(*args: str) -> str:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"hpcsched {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def replay_window(pulled: pl.DataFrame, ids: list[str]) -> pl.DataFrame:
    """Our jobs, and every job of others that held processors while ours were in the system."""
    ours = pulled.filter(pl.col("job_id").is_in(ids))
    first, last = ours["submit"].min(), ours["end"].max()
    overlapping = pl.col("start").is_not_null() & (pl.col("start") < last)
    others = pulled.filter(
        ~pl.col("job_id").is_in(ids) & overlapping & (pl.col("end").fill_null(last) > first)
    )
    return pl.concat([ours, others])


def measure(
    slurm: SlurmAdapter,
    n: int,
    seed: int,
    tolerance: float,
    longest: int = 15,
    keep: Path | None = None,
) -> Fidelity:
    """Run the workload and measure; ``keep``: a folder for the pulled, replayed and simulated
    tables (else a temporary one)."""
    since = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S")
    specs = workload(n, seed, longest)
    ids = submit(slurm, specs)
    try:
        wait_ended(slurm, ids, timeout=120 + 3 * sum(s.sleep * s.tasks for s in specs) / 8)
    finally:
        for job_id in ids:
            slurm.scancel(job_id)
    with tempfile.TemporaryDirectory() as tmp:
        folder = keep or Path(tmp)
        pulled, window, sim = folder / "pulled.parquet", folder / "w.parquet", folder / "s.parquet"
        cache = ["--cache-dir", str(folder / "cache"), "--no-cache"]
        hpcsched("trace", "pull", "--since", since, "--out", str(pulled), *cache)
        table = replay_window(pl.read_parquet(pulled), ids)
        table.write_parquet(window)
        errors = {}
        for name, args in (("replay", REPLAY), ("planned", PLANNED), ("baseline", BASELINE)):
            hpcsched("simulate", str(window), *args, "--out", str(sim))
            errors[name] = start_errors(table, pl.read_parquet(sim), ids)
    command = "hpcsched simulate WINDOW.parquet " + " ".join(REPLAY).replace(str(ROOT) + "/", "")
    others = table.height - len(ids)
    return Fidelity(
        len(ids),
        others,
        tolerance,
        errors["replay"],
        command,
        errors["baseline"],
        errors["planned"],
    )


def start_errors(real: pl.DataFrame, simulated: pl.DataFrame, ids: list[str]) -> list[float]:
    """|simulated start - real start| of each of ``ids``."""
    both = real.select("job_id", real=pl.col("start")).join(
        simulated.select("job_id", sim=pl.col("start")), on="job_id"
    )
    ours = both.filter(pl.col("job_id").is_in(ids))
    return [abs(s - r) for s, r in zip(ours["sim"], ours["real"], strict=True)]
