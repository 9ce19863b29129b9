"""A realistic synthetic ``sacct -a -P -D`` dump with its ground truth, deterministic by seed.

Why: the sacct readers must be tested job by job on millions of rows and on every pitfall of
``shared/data/sacct/README.md``, and real dumps are personal data. Jobs come from the
Lublin–Feitelson model (:mod:`hpcsched.workloads.lublin`, sizes read as Frontier nodes); the
text has the Frontier study's 60 fields (:data:`FRONTIER_FIELDS`, in its order) followed by
:data:`EXTRA_FIELDS` (JobID, User, NodeList, Elapsed, Timelimit: without them a dump cannot show
arrays, het jobs, user names or hostlists). What is printed follows Slurm's ``sacct/print.c``:
``convert_num_unit`` with ``CONVERT_NUM_UNIT_EXACT`` (divide by 1024 while the value is a
multiple of 512: 1536 -> ``1.50K``, 4232 stays), ReqMem/TRES memory in MB, MaxRSS in bytes,
``secs2time_str`` for durations (``[D-]HH:MM:SS``; CPU times under an hour ``MM:SS.mmm``).

Pitfalls present: steps (``.batch``/``.interactive``, ``.extern``, srun ``.0``/``.1`` with
MaxRSS), array tasks ``123_4`` and pending ranges ``123_[0-9]``, het components ``123+0``,
requeued attempts (``-D``: an earlier REQUEUED row and its steps before the final one),
``CANCELLED by <uid>``, ``UNLIMITED``/``Partition_Limit``, legacy ReqMem ``Mn``/``Mc``, Flags
``SchedBackfill``/``SchedMain`` with ``,StartRecieved`` (22.05-23.02) or ``,StartReceived``,
TRES strings (plain and typed GPUs), hostlists ``frontier[00001-00004,00010]``,
``Unknown``/``None`` times, and optionally broken lines at known line numbers (a ``|`` or a
newline inside JobName, a line cut short). Everything is built column-wise (numpy, Polars):
one plan of all jobs (all random draws, so the bytes do not depend on the chunking), then the
text chunk by chunk of jobs. A million jobs (about 1.96 GB of text, 3.67M rows) take about
30 s and 1.9 GB of memory on 2 cores.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, cast

import numpy as np
import polars as pl

from hpcsched.core.schema import conform
from hpcsched.workloads import lublin

__all__ = [
    "EXTRA_FIELDS",
    "FRONTIER_FIELDS",
    "SACCT_FIELDS",
    "SyntheticSacct",
    "unit_text",
    "units",
    "write_sacct",
    "write_swf_trace",
]

#: The 60 fields of the Frontier study's query (``sacct -a -P``), in its order.
FRONTIER_FIELDS: Final = (
    "UID",
    "GID",
    "JobIDRaw",
    "Group",
    "Account",
    "JobName",
    "TimelimitRaw",
    "Submit",
    "Start",
    "End",
    "State",
    "ExitCode",
    "ReservationId",
    "Reservation",
    "Priority",
    "Eligible",
    "Constraints",
    "SystemCPU",
    "CPUTimeRAW",
    "ElapsedRaw",
    "Layout",
    "NTasks",
    "QOSREQ",
    "QOS",
    "Restarts",
    "WorkDir",
    "ConsumedEnergyRaw",
    "FailedNode",
    "AveDiskRead",
    "AveDiskWrite",
    "MaxDiskRead",
    "MaxDiskWrite",
    "Partition",
    "Reason",
    "Suspended",
    "AllocNodes",
    "AveRSS",
    "MaxRSS",
    "DerivedExitCode",
    "AveVMSize",
    "MaxVMSize",
    "ReqMem",
    "ReqNodes",
    "NNodes",
    "Planned",
    "PlannedCPURAW",
    "NCPUS",
    "UserCPU",
    "ReqCPUS",
    "TotalCPU",
    "TRESUsageInTot",
    "TRESUsageOutTot",
    "ReqTRES",
    "AllocTRES",
    "TRESUsageInMax",
    "TRESUsageOutMax",
    "Flags",
    "Comment",
    "SystemComment",
    "AdminComment",
)
EXTRA_FIELDS: Final = ("JobID", "User", "NodeList", "Elapsed", "Timelimit")
SACCT_FIELDS: Final = FRONTIER_FIELDS + EXTRA_FIELDS

EPOCH: Final = 1704067200  # 2024-01-01T00:00:00Z, midnight of the model's first day
#: Lublin's arrivals fit 1990s machines (a job an hour here); x60 gives a job a minute, about
#: Frontier's ~500k jobs a year, so a million jobs span two years, not a century.
LOAD_SCALE: Final = 60.0
MACHINE_NODES: Final = 9408  # Frontier
CORES_PER_NODE: Final = 64
FIRST_JOB_ID: Final = 1_500_000
#: Terminal states and their shares (completed most; Frontier-like failure mix).
STATE_MIX: Final = {
    "completed": 0.70,
    "failed": 0.11,
    "cancelled": 0.09,
    "timeout": 0.06,
    "out_of_memory": 0.02,
    "node_fail": 0.01,
    "preempted": 0.01,
}
#: The last 2% of jobs are still queued (30%) or running (25%) when the dump is taken.
LIVE_TAIL: Final = 0.02
ARRAY_SHARE, HET_SHARE, REQUEUE_SHARE, LEGACY_MEM_SHARE = 0.02, 0.01, 0.01, 0.05
_NAMES: Final = ("lammps_md", "vasp_relax", "train_llm", "gromacs", "cp2k_scf", "nekrs", "wrf")
_PARTITIONS: Final = ("batch", "debug", "extended")
_QOS: Final = ("normal", "debug", "high", "low")
_SURNAMES: Final = ("smith", "garcia", "chen", "patel", "mueller", "rossi", "kim", "okafor")
_PROJECTS: Final = ("csc", "bip", "phy", "chm", "mat", "cli", "ast", "fus", "cfd", "gen")


@dataclass
class SyntheticSacct:
    """What :func:`write_sacct` wrote and what a correct reader must make of it.

    ``expected`` is the job table (canonical columns plus the reader's ``sacct_*`` facts) in
    file order; ``malformed_lines`` the 1-based numbers of the broken lines; ``rows`` the data
    rows a reader reads (job and step rows, broken lines excluded); ``orphan_steps`` the steps
    of jobs whose own line is broken.
    """

    path: Path
    expected: pl.DataFrame
    rows: int
    steps: int
    requeues: int
    orphan_steps: int
    malformed_lines: list[int] = field(default_factory=list)


def units(values: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slurm's exact ``convert_num_unit``: (hundredths, unit power, value a reader gets back).

    ``first`` is the unit of ``values`` (0 for counts and bytes, 2 for MB). The value keeps
    dividing by 1024 while it is >= 1024 and its integer part a multiple of 512, then prints
    with ``%.2f`` unless whole; the parsed value is in units of the bare field (bytes, count).
    """
    num = np.asarray(values, dtype=np.float64).copy()
    power = np.full(num.shape, first, dtype=np.int64)
    for _ in range(6):
        step = (num >= 1024) & (np.floor(num) % 512 == 0)
        if not step.any():
            break
        num, power = np.where(step, num / 1024.0, num), power + step
    cents = np.round(num * 100).astype(np.int64)
    return cents, power, cents / 100 * 1024.0**power


def unit_text(values: np.ndarray, first: int) -> pl.Series:
    """``values`` as sacct prints them (see :func:`units`)."""
    cents, power, _ = units(values, first)
    frame = pl.DataFrame({"c": cents, "p": power})
    c = pl.col("c")
    suffix = pl.col("p").replace_strict(dict(enumerate(("", "K", "M", "G", "T", "P", "E"))))
    number = pl.concat_str(
        (c // 100).cast(pl.String),
        pl.when(c % 100 > 0)
        .then("." + (c % 100).cast(pl.String).str.zfill(2))
        .otherwise(pl.lit("")),
    )
    text = pl.when(c == 0).then(pl.lit("0")).otherwise(number + suffix)
    return frame.select(text.alias("t")).to_series()


def _z(expr: pl.Expr, width: int = 2) -> pl.Expr:
    return expr.cast(pl.String).str.zfill(width)


def _duration(seconds: pl.Expr) -> pl.Expr:
    """``secs2time_str``: ``[D-]HH:MM:SS``."""
    s = seconds.cast(pl.Int64)
    hms = pl.concat_str(_z(s % 86400 // 3600), _z(s % 3600 // 60), _z(s % 60), separator=":")
    return (
        pl.when(s >= 86400)
        .then(pl.concat_str((s // 86400).cast(pl.String), pl.lit("-"), hms))
        .otherwise(hms)
    )


def _cpu_time(ms: pl.Expr) -> pl.Expr:
    """CPU fields: ``MM:SS.mmm`` under an hour, else ``[D-]HH:MM:SS``."""
    short = pl.concat_str(
        _z(ms // 60000), pl.lit(":"), _z(ms // 1000 % 60), pl.lit("."), _z(ms % 1000, 3)
    )
    return pl.when(ms < 3_600_000).then(short).otherwise(_duration(ms // 1000))


def _time(epoch: pl.Expr, missing: pl.Expr | str) -> pl.Expr:
    """``%FT%T`` in UTC; ``missing`` where the epoch is negative (not yet / never)."""
    text = pl.from_epoch(epoch, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")
    return (
        pl.when(epoch >= 0)
        .then(text)
        .otherwise(pl.lit(missing) if isinstance(missing, str) else missing)
    )


def _hostlist() -> pl.Expr:
    """``frontier00017``, ``frontier[00017-00020]`` or ``frontier[00017-00019,00023]``."""
    f, n, gap, tail = (pl.col(c) for c in ("first_node", "nodes", "node_gap", "tail_nodes"))

    def span(first: pl.Expr, count: pl.Expr) -> pl.Expr:
        one = _z(first, 5)
        return pl.when(count == 1).then(one).otherwise(one + "-" + _z(first + count - 1, 5))

    main = n - tail
    both = (
        pl.when(tail > 0)
        .then(span(f, main) + "," + span(f + main + gap, tail))
        .otherwise(span(f, n))
    )
    return pl.when(n == 1).then("frontier" + _z(f, 5)).otherwise("frontier[" + both + "]")


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> np.ndarray:
    return np.asarray(options)[rng.integers(0, len(options), n)]


def plan(jobs: int, seed: int = 0, malformed: int = 0) -> pl.DataFrame:
    """One row per job (its final attempt) with every drawn attribute, typed, in file order.

    All randomness is drawn here, for all jobs at once, so the text does not depend on how
    it is chunked. Negative times mean "not yet" (pending start, running end) or "never".
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    rng = np.random.default_rng(seed)
    base = lublin.generate(
        jobs, machine_procs=MACHINE_NODES, seed=seed, start_time=EPOCH, load_scale=LOAD_SCALE
    )
    n, idx = jobs, np.arange(jobs)
    # consecutive blocks: plain jobs, job arrays (2-16 tasks), het jobs (2-3 components)
    draw = rng.random(n)
    kind_b = np.where(draw < ARRAY_SHARE, 1, np.where(draw < ARRAY_SHARE + HET_SHARE, 2, 0))
    len_b = np.where(
        kind_b == 1, rng.integers(2, 17, n), np.where(kind_b == 2, 2 + (draw < 0.025), 1)
    )
    nb = int(np.searchsorted(np.cumsum(len_b), n)) + 1
    len_b, kind_b = len_b[:nb], kind_b[:nb]
    len_b[-1] -= int(len_b.sum()) - n
    head = np.repeat(np.cumsum(len_b) - len_b, len_b)
    blen = np.repeat(len_b, len_b)
    kind = np.where(blen > 1, np.repeat(kind_b, len_b), 0)
    pos = idx - head
    submit = np.floor(base["submit"].to_numpy()).astype(np.int64)[head]
    user = base["user"].str.slice(1).cast(pl.Int64).to_numpy()[head]
    nodes = base["cpus"].to_numpy().astype(np.int64)
    # 30% of the big power-of-two jobs ask 512 nodes more: AllocNodes prints 1.50K, 4.50K
    bigger = (nodes >= 1024) & (nodes % 1024 == 0) & (nodes + 512 <= MACHINE_NODES)
    nodes = np.where(bigger & (draw > 0.7), nodes + 512, nodes)
    nodes = np.where(kind == 1, nodes[head], nodes)
    runtime = base["runtime"].to_numpy().astype(np.int64)
    limit_min = np.ceil(base["timelimit"].to_numpy() / 60.0).astype(np.int64)[head]
    frac = rng.random(n)
    frac = np.where(kind == 2, frac[head], frac)
    # states; het components share their leader's; the tail is queued or running at dump time
    shares = np.array(list(STATE_MIX.values()))
    state = np.asarray(list(STATE_MIX))[rng.choice(shares.size, n, p=shares / shares.sum())]
    live = rng.random(n)
    tail = idx >= n - max(1, int(n * LIVE_TAIL))
    state = np.where(tail & (live < 0.30), "pending", state)
    state = np.where(tail & (live >= 0.30) & (live < 0.55), "running", state)
    state = np.where(kind == 2, state[head], state)
    pending_array = (kind == 1) & (state[head] == "pending")
    state = np.where(pending_array, "pending", state)
    # times (epoch s): eligible later for 5% (BeginTime/Dependency); waits lognormal
    delayed = rng.random(n) < 0.05
    eligible = submit + np.where(delayed, rng.integers(60, 7200, n), 0)
    eligible = np.where(kind == 2, eligible[head], eligible)
    wait = np.minimum(np.floor(rng.lognormal(5.5, 2.0, n)), 14 * 86400).astype(np.int64)
    start = np.where(kind == 2, (eligible + wait)[head], eligible + wait)
    limits = rng.random(n)
    limit_text = np.where(
        limits < 0.005, "UNLIMITED", np.where(limits < 0.01, "Partition_Limit", "")
    )
    limit_text = np.where(state == "timeout", "", limit_text)
    elapsed = np.minimum(runtime, limit_min * 60)
    elapsed = np.where(state == "timeout", limit_min * 60 + rng.integers(0, 90, n), elapsed)
    cut = np.isin(state, ["failed", "out_of_memory", "node_fail", "preempted", "cancelled"])
    elapsed = np.where(cut, np.maximum(1, np.floor(elapsed * frac)), elapsed).astype(np.int64)
    never = (state == "pending") | ((state == "cancelled") & (frac < 0.3))
    running = state == "running"
    now = int(eligible.max()) + 3600
    start = np.where(running, np.maximum(eligible, np.minimum(start, now - 1 - idx % 600)), start)
    elapsed = np.where(running, now - start, np.where(never, 0, elapsed))
    end = np.where(running | (state == "pending"), -1, start + elapsed)
    end = np.where(never & (state == "cancelled"), eligible + (wait * frac).astype(np.int64), end)
    start = np.where(never, -1, start)
    # -D: 1% of plain finished jobs ran once, were requeued, and were submitted again
    requeued = (kind == 0) & ~never & ~running & (rng.random(n) < REQUEUE_SHARE)
    r_start = start.copy()
    r_end = start + np.maximum(1, np.floor(elapsed * rng.random(n))).astype(np.int64)
    shift = np.where(requeued, r_end + 120 + rng.integers(0, 600, n) - start, 0)
    r_submit = submit.copy()
    submit, eligible = np.where(requeued, r_end, submit), np.where(requeued, r_end + 120, eligible)
    start, end = start + shift, np.where(end >= 0, end + shift, end)
    # broken lines: 1 = "|" in JobName, 2 = line cut short, 3 = newline in JobName (2 lines)
    broken = np.zeros(n, dtype=np.int64)
    if malformed > 0:
        fine = np.flatnonzero((kind == 0) & ~requeued)
        chosen = np.sort(rng.choice(fine, size=min(malformed, fine.size), replace=False))
        kinds = np.arange(chosen.size) % 3 + 1
        kinds[np.cumsum(np.where(kinds == 3, 2, 1)) > malformed] = 1
        used = int(np.searchsorted(np.cumsum(np.where(kinds == 3, 2, 1)), malformed, "right"))
        broken[chosen[:used]] = kinds[:used]
    # resources: whole Frontier nodes (64 cores, 8 GPUs, 512 GiB); small jobs may share one
    shared = (nodes == 1) & (rng.random(n) < 0.4)
    cpus = np.where(shared, rng.integers(1, CORES_PER_NODE + 1, n), nodes * CORES_PER_NODE)
    gpu_job = rng.random(n) < 0.65
    gpus = np.where(gpu_job, np.where(shared, rng.integers(1, 9, n), nodes * 8), 0)
    legacy = np.where(rng.random(n) < LEGACY_MEM_SHARE, np.where(frac < 0.5, "c", "n"), "")
    per_cpu = np.asarray([1536, 2000, 4000, 7996])[rng.integers(0, 4, n)]
    legacy_mb = np.where(legacy == "c", per_cpu, 257000)
    mem_mb = np.where(shared, cpus * per_cpu, nodes * 524288)
    mem_mb = np.where(legacy == "", mem_mb, legacy_mb * np.where(legacy == "c", cpus, nodes))
    mem_req = units(np.where(legacy == "", mem_mb, legacy_mb), 2)[2]
    mem_req = mem_req * np.where(legacy == "c", cpus, np.where(legacy == "n", nodes, 1))
    # steps: .batch (else .interactive), .extern, srun .0 and .1; MaxRSS KiB per kind
    draws = rng.random((5, n))
    has_batch = np.where(never | ((kind == 2) & (pos > 0)), 0, np.where(draws[0] < 0.95, 1, 2))
    n_srun = np.where(never, 0, (draws[1] < 0.55).astype(np.int64) + (draws[1] < 0.2))
    rss = np.floor(np.exp(rng.normal([[9.0], [6.5], [14.0], [14.5]], 1.0, (4, n)))).astype(np.int64)
    rss[2] = np.where(draws[4] < 0.03, 2**20, rss[2])  # a round 1 GiB prints as "1G"
    present = np.stack([has_batch > 0, ~never, n_srun >= 1, n_srun >= 2]) & ~running
    rss_bytes = np.stack([units(r * 1024, 0)[2] for r in rss])
    mem_used = np.where(present, rss_bytes, -1.0).max(axis=0)
    backfilled = draws[2] < 0.28
    flags = np.where(
        backfilled, "SchedBackfill", np.where(draws[3] < 0.05, "SchedSubmit", "SchedMain")
    )
    flags = np.char.add(flags, np.where(draws[4] < 0.7, ",StartRecieved", ",StartReceived"))
    signal = (state == "failed") & (frac < 0.1)
    exit_status = np.where((state == "failed") & ~signal, np.asarray([1, 2, 127, 255])[idx % 4], 0)
    exit_signal = np.select(
        [signal, state == "out_of_memory", (state == "cancelled") & ~never], [11, 125, 15], 0
    )
    canceller = np.where(frac < 0.9, 10000 + user, 0)
    reason = np.where(delayed, np.where(frac < 0.5, "BeginTime", "Dependency"), "None")
    reason = np.where(state == "pending", np.where(frac < 0.6, "Priority", "Resources"), reason)
    node_gap = np.where((nodes > 2) & (draws[0] < 0.2), rng.integers(1, 6, n), 0)
    tail_nodes = np.where(node_gap > 0, 1 + (draws[1] < 0.5), 0)
    first_node = 1 + np.floor(rng.random(n) * (MACHINE_NODES - nodes - node_gap)).astype(np.int64)
    account = np.char.add(
        np.asarray(_PROJECTS)[(user - 1) % 40 % 10], ((user - 1) % 40 + 100).astype(str)
    )
    user_name = np.char.add(
        np.asarray(_SURNAMES)[user % 8],
        np.char.add(
            np.asarray(list("abcdefghijklmnopqrstuvwxyz"))[user * 7 % 26], (user // 8).astype(str)
        ),
    )
    frame = pl.DataFrame(
        {
            "idx": idx,
            "raw": FIRST_JOB_ID + idx,
            "kind": kind,
            "pos": pos,
            "blen": blen,
            "head_raw": FIRST_JOB_ID + head,
            "drop": pending_array & (pos > 0),
            "pending_range": pending_array,
            "uid": 10000 + user,
            "gid": 20000 + (user - 1) % 40,
            "user": user_name,
            "account": account,
            "name": _pick(rng, _NAMES, n)[head],
            "partition": np.asarray(_PARTITIONS)[np.searchsorted([0.85, 0.93], rng.random(n))],
            "qos": np.asarray(_QOS)[np.searchsorted([0.85, 0.9, 0.95], rng.random(n))],
            "priority": rng.integers(1000, 200000, n),
            "submit": submit,
            "eligible": eligible,
            "start": start,
            "end": end,
            "elapsed": elapsed,
            "now": np.full(n, now),
            "limit_min": limit_min,
            "limit_text": limit_text,
            "nodes": nodes,
            "cpus": cpus,
            "gpus": gpus,
            "gpu_typed": gpu_job & (draws[3] < 0.3),
            "mem_mb": mem_mb,
            "legacy": legacy,
            "legacy_mb": legacy_mb,
            "mem_req": mem_req,
            "state": state,
            "cancelled_by": canceller,
            "exit_status": exit_status,
            "exit_signal": exit_signal,
            "flags": np.where(never, "SchedNotSet", flags),
            "backfilled": backfilled,
            "reason": np.where(requeued, "BeginTime", reason),
            "first_node": first_node,
            "node_gap": node_gap,
            "tail_nodes": tail_nodes,
            "requeued": requeued,
            "r_submit": r_submit,
            "r_start": r_start,
            "r_end": r_end,
            "broken": broken,
            "has_batch": has_batch,
            "n_srun": n_srun,
            "rss_batch": rss[0],
            "rss_extern": rss[1],
            "rss_s0": rss[2],
            "rss_s1": rss[3],
            "mem_used": mem_used,
            "never": never,
            "running": running,
        }
    )
    array_task = pl.format("{}_{}", "head_raw", "pos")
    pending_range = pl.format("{}_[0-{}]", "head_raw", pl.col("blen") - 1)
    return frame.with_columns(
        job_id=pl.when(pl.col("kind") == 0)
        .then(pl.col("raw").cast(pl.String))
        .when(pl.col("kind") == 2)
        .then(pl.format("{}+{}", "head_raw", "pos"))
        .when(pl.col("pending_range"))
        .then(pending_range)
        .otherwise(array_task),
        workdir=pl.when(pl.col("idx") % 3 == 0)
        .then(pl.format("/ccs/home/{}/{}", "user", "name"))
        .otherwise(pl.format("/lustre/orion/{}/scratch/{}/{}", "account", "user", "name")),
        nodelist=_hostlist(),
    )


def expected_table(jobs: pl.DataFrame) -> pl.DataFrame:
    """The job table a correct reader makes of :func:`plan`'s jobs (broken lines left out)."""
    col = pl.col
    steps = (col("has_batch") > 0).cast(pl.Int64) + (~col("never")).cast(pl.Int64) + col("n_srun")
    when_known = {c: pl.when(col(c) >= 0).then(col(c).cast(pl.Float64)) for c in ("start", "end")}
    table = jobs.filter(~col("drop") & (col("broken") == 0)).select(
        "job_id",
        "user",
        "account",
        "partition",
        "qos",
        submit=col("submit").cast(pl.Float64),
        **when_known,
        runtime=col("elapsed").cast(pl.Float64),
        timelimit=pl.when(col("limit_text") == "").then(col("limit_min") * 60.0),
        nodes="nodes",
        cpus="cpus",
        gpus="gpus",
        mem_req="mem_req",
        mem_used=pl.when(col("mem_used") >= 0).then("mem_used"),
        state="state",
        exit_code=col("exit_status").cast(pl.Int32),
        backfilled=pl.when(~col("never")).then("backfilled"),
        name="name",
        source=pl.lit("sacct"),
        eligible=col("eligible").cast(pl.Float64),
        reason="reason",
        array_id=pl.when(col("kind") == 1).then("head_raw"),
        step_count=steps,
        workdir="workdir",
        sacct_job_id_raw=col("raw").cast(pl.String),
        sacct_array_tasks=pl.when(col("kind") != 1)
        .then(None)
        .when(col("pending_range"))
        .then("blen")
        .otherwise(1),
        sacct_requeues=col("requeued").cast(pl.Int64),
        sacct_cancelled_by=pl.when(col("state") == "cancelled").then("cancelled_by"),
        sacct_exit_signal=col("exit_signal").cast(pl.Int32),
        sacct_nodelist=pl.when(col("never")).then(pl.lit("None assigned")).otherwise("nodelist"),
        sacct_nodelist_nodes=pl.when(~col("never")).then("nodes"),
    )
    return conform(table)


_STEP_STATE: Final = {
    "completed": "COMPLETED",
    "failed": "FAILED",
    "out_of_memory": "OUT_OF_MEMORY",
}


def _s(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String)


def _line(fields: dict[str, pl.Expr]) -> pl.Expr:
    return pl.concat_str([fields.get(f, pl.lit("")) for f in SACCT_FIELDS], separator="|")


def _job_rows(c: pl.DataFrame, order: int) -> pl.DataFrame:
    """The job rows of ``c`` as text, keyed ``_k`` (file order) and ``_broken``."""
    col, s = pl.col, _s
    c = c.with_columns(
        nodes_t=unit_text(c["nodes"].to_numpy(), 0),
        mem_t=unit_text(c["mem_mb"].to_numpy(), 2),
        legacy_t=unit_text(c["legacy_mb"].to_numpy(), 2),
        user_ms=col("elapsed") * col("cpus") * (200 + col("idx") * 7919 % 750),
    )
    started = col("start") >= 0
    gres = pl.when(col("gpus") > 0).then(
        pl.format("gres/gpu={},", "gpus")
        + pl.when(col("gpu_typed"))
        .then(pl.format("gres/gpu:mi250x={},", "gpus"))
        .otherwise(pl.lit(""))
    )
    tres = pl.concat_str(
        pl.format("billing={},cpu={},", "cpus", "cpus"),
        gres.otherwise(pl.lit("")),
        pl.format("mem={},node={}", "mem_t", "nodes"),
    )
    state = pl.when(col("state") == "cancelled").then(pl.format("CANCELLED by {}", "cancelled_by"))
    exit_code = pl.format("{}:{}", "exit_status", "exit_signal")
    waited = (
        pl.when(started)
        .then(col("start"))
        .when(col("end") >= 0)
        .then(col("end"))
        .otherwise(col("now"))
    )
    waited = waited - col("eligible")
    limit = pl.when(col("limit_text") != "").then(col("limit_text"))
    fields = {
        "UID": s("uid"),
        "GID": s("gid"),
        "JobIDRaw": s("raw"),
        "Group": col("account"),
        "Account": col("account"),
        "JobName": pl.when(col("broken") == 1)
        .then(col("name") + "|mpi")
        .when(col("broken") == 3)
        .then(col("name") + "\nrun2")
        .otherwise(col("name")),
        "TimelimitRaw": limit.otherwise(s("limit_min")),
        "Submit": _time(col("submit"), "Unknown"),
        "Start": _time(
            col("start"),
            pl.when(col("state") == "pending").then(pl.lit("Unknown")).otherwise(pl.lit("None")),
        ),
        "End": col("end_t"),
        "State": state.otherwise(col("state").str.to_uppercase()),
        "ExitCode": exit_code,
        "Priority": s("priority"),
        "Eligible": _time(col("eligible"), "Unknown"),
        "Constraints": pl.when(col("idx") % 10 == 0).then(pl.lit("nvme")).otherwise(pl.lit("")),
        "SystemCPU": _cpu_time(col("user_ms") // 50),
        "CPUTimeRAW": (col("elapsed") * col("cpus")).cast(pl.String),
        "ElapsedRaw": s("elapsed"),
        "QOSREQ": col("qos"),
        "QOS": col("qos"),
        "Restarts": s("requeued").replace({"true": "1", "false": "0"}),
        "WorkDir": col("workdir"),
        "ConsumedEnergyRaw": (col("elapsed") * col("nodes") * 350).cast(pl.String),
        "FailedNode": pl.when(col("state") == "node_fail")
        .then("frontier" + _z(col("first_node"), 5))
        .otherwise(pl.lit("")),
        "Partition": col("partition"),
        "Reason": col("reason"),
        "Suspended": pl.lit("00:00:00"),
        "AllocNodes": pl.when(started).then(col("nodes_t")).otherwise(pl.lit("0")),
        "DerivedExitCode": pl.when(col("state") == "failed")
        .then(exit_code)
        .otherwise(pl.lit("0:0")),
        "ReqMem": pl.when(col("legacy") == "")
        .then(col("mem_t"))
        .otherwise(col("legacy_t") + col("legacy")),
        "ReqNodes": col("nodes_t"),
        "NNodes": s("nodes"),
        "Planned": _duration(waited),
        "PlannedCPURAW": (waited * col("cpus")).cast(pl.String),
        "NCPUS": s("cpus"),
        "UserCPU": _cpu_time(col("user_ms")),
        "ReqCPUS": s("cpus"),
        "TotalCPU": _cpu_time(col("user_ms") + col("user_ms") // 50),
        "ReqTRES": tres,
        "AllocTRES": pl.when(started).then(tres).otherwise(pl.lit("")),
        "Flags": col("flags"),
        "JobID": col("job_id"),
        "User": col("user"),
        "NodeList": pl.when(started).then(col("nodelist")).otherwise(pl.lit("None assigned")),
        "Elapsed": col("elapsed_t"),
        "Timelimit": limit.otherwise(_duration(col("limit_min") * 60)),
    }
    line = _line(fields)
    line = (
        pl.when(col("broken") == 2)
        .then(line.str.slice(0, line.str.len_chars() // 2))
        .otherwise(line)
    )
    return c.select(_k=col("idx") * 10 + order, _broken=col("broken"), line=line)


def _step_rows(c: pl.DataFrame, order: int) -> list[pl.DataFrame]:
    """Step rows (.batch/.interactive, .extern, .0, .1) of the jobs in ``c``, keyed ``_k``."""
    col, s = pl.col, _s
    out = []
    specs = (
        ("batch", col("has_batch") > 0, "rss_batch"),
        ("extern", ~col("never"), "rss_extern"),
        ("0", col("n_srun") >= 1, "rss_s0"),
        ("1", col("n_srun") >= 2, "rss_s1"),
    )
    for rank, (step, present, rss) in enumerate(specs, 1):
        t = c.filter(present)
        if not t.height:
            continue
        kib = t[rss].to_numpy()
        one = step == "batch"
        t = t.with_columns(
            rss_t=unit_text(kib * 1024, 0),
            vm_t=unit_text((kib * 3 + 70000) * 1024, 0),
            step_nodes=pl.lit(1) if one else col("nodes"),
            step_cpus=(col("cpus") // col("nodes")).clip(1) if one else col("cpus"),
            cpu_ms=col("elapsed") * (200 + col("idx") * 7919 % 750) * (1 if one else 8),
            disk=col(rss) * 37 + col("idx") % 4096,
        )
        t = t.with_columns(nodes_t=unit_text(t["step_nodes"].to_numpy(), 0))
        suffix = pl.when(col("has_batch") == 2).then(pl.lit("interactive")) if one else None
        suffix_e = suffix.otherwise(pl.lit("batch")) if suffix is not None else pl.lit(step)
        if step == "extern":
            state = pl.lit("COMPLETED")
        else:
            state = col("state").replace_strict(_STEP_STATE, default="CANCELLED")
        running = col("running")
        rss_t = pl.when(running).then(pl.lit("")).otherwise(col("rss_t"))
        usage = pl.format(
            "cpu={},energy=0,fs/disk={},mem={},pages=0,vmem={}",
            _cpu_time(col("cpu_ms")),
            "disk",
            "rss_t",
            "vm_t",
        )
        alloc = pl.format("cpu={},mem={},node={}", "step_cpus", "mem_t", "step_nodes")
        fields = {
            "JobIDRaw": s("raw") + "." + suffix_e,
            "JobID": col("job_id") + "." + suffix_e,
            "Account": col("account"),
            "JobName": suffix_e if step in ("batch", "extern") else col("name"),
            "Submit": col("start_t"),
            "Start": col("start_t"),
            "Eligible": col("start_t"),
            "End": col("end_t"),
            "State": pl.when(running).then(pl.lit("RUNNING")).otherwise(state),
            "ExitCode": pl.lit("0:0")
            if step == "extern"
            else pl.format("{}:{}", "exit_status", "exit_signal"),
            "SystemCPU": _cpu_time(col("cpu_ms") // 50),
            "UserCPU": _cpu_time(col("cpu_ms")),
            "TotalCPU": _cpu_time(col("cpu_ms") + col("cpu_ms") // 50),
            "CPUTimeRAW": (col("elapsed") * col("step_cpus")).cast(pl.String),
            "ElapsedRaw": s("elapsed"),
            "Layout": pl.lit("Unknown") if rank < 3 else pl.lit("Block"),
            "NTasks": pl.lit("1") if rank < 3 else s("step_cpus"),
            "ConsumedEnergyRaw": pl.lit("0"),
            "AveDiskRead": s("disk"),
            "AveDiskWrite": (col("disk") // 3).cast(pl.String),
            "MaxDiskRead": s("disk"),
            "MaxDiskWrite": (col("disk") // 3).cast(pl.String),
            "Suspended": pl.lit("00:00:00"),
            "AllocNodes": col("nodes_t"),
            "AveRSS": rss_t,
            "MaxRSS": rss_t,
            "AveVMSize": col("vm_t"),
            "MaxVMSize": col("vm_t"),
            "ReqNodes": col("nodes_t"),
            "NNodes": s("step_nodes"),
            "NCPUS": s("step_cpus"),
            "ReqCPUS": s("step_cpus"),
            "TRESUsageInTot": pl.when(running).then(pl.lit("")).otherwise(usage),
            "TRESUsageOutTot": pl.format("energy=0,fs/disk={}", col("disk") // 3),
            "AllocTRES": (pl.format("billing={},", "cpus") + alloc) if step == "extern" else alloc,
            "TRESUsageInMax": pl.when(running).then(pl.lit("")).otherwise(usage),
            "TRESUsageOutMax": pl.format("energy=0,fs/disk={}", col("disk") // 3),
            "NodeList": ("frontier" + _z(col("first_node"), 5)) if one else col("nodelist"),
            "Elapsed": col("elapsed_t"),
        }
        t = t.with_columns(mem_t=unit_text(t["mem_mb"].to_numpy(), 2))
        out.append(
            t.select(
                _k=col("idx") * 10 + order + rank, _broken=pl.lit(0, pl.Int64), line=_line(fields)
            )
        )
    return out


def _with_texts(frame: pl.DataFrame) -> pl.DataFrame:
    """Start, End and Elapsed as text once per job (its job and step rows all print them)."""
    return frame.with_columns(
        start_t=_time(pl.col("start"), ""),
        end_t=_time(pl.col("end"), "Unknown"),
        elapsed_t=_duration(pl.col("elapsed")),
    )


def _attempts(c: pl.DataFrame) -> pl.DataFrame:
    """The earlier, requeued attempt of each requeued job in ``c`` (``sacct -D``)."""
    return c.filter("requeued").with_columns(
        submit="r_submit",
        eligible="r_submit",
        start="r_start",
        end="r_end",
        elapsed=pl.col("r_end") - pl.col("r_start"),
        state=pl.lit("requeued"),
        reason=pl.lit("None"),
        exit_status=0,
        exit_signal=0,
        requeued=False,
        n_srun=0,
        rss_batch=pl.col("rss_batch") // 2,
    )


def write_sacct(
    path: str | Path, jobs: int, *, seed: int = 0, malformed: int = 0, chunk_jobs: int = 100_000
) -> SyntheticSacct:
    """Write ``jobs`` synthetic jobs as ``sacct -a -P -D`` text (gzip if ``.gz``) to ``path``.

    ``malformed`` broken lines are placed at random jobs (the same for the same seed).
    """
    path = Path(path)
    jobs_plan = plan(jobs, seed, malformed)
    written, rows, steps = 1, 0, 0
    bad: list[int] = []
    with cast(
        IO[bytes], gzip.open(path, "wb") if path.name.endswith(".gz") else path.open("wb")
    ) as out:
        out.write(("|".join(SACCT_FIELDS) + "\n").encode())
        for offset in range(0, jobs, chunk_jobs):
            c = jobs_plan.slice(offset, chunk_jobs).filter(~pl.col("drop"))
            c, again = _with_texts(c), _with_texts(_attempts(c))
            parts = [_job_rows(again, 0), *_step_rows(again, 0), _job_rows(c, 5), *_step_rows(c, 5)]
            text = pl.concat(parts).sort("_k")
            lines = 1 + (text["_broken"] == 3).cast(pl.Int64)
            first = written + lines.cum_sum() - lines + 1
            for line, kind in zip(
                first.filter(text["_broken"] > 0),
                text["_broken"].filter(text["_broken"] > 0),
                strict=False,
            ):
                bad.extend(range(line, line + (2 if kind == 3 else 1)))
            written += int(lines.sum())
            rows += text.height
            steps += text.filter(pl.col("_k") % 10 % 5 != 0).height
            text.select("line").write_csv(out, include_header=False, quote_style="never")
    broken = jobs_plan.filter(pl.col("broken") > 0)
    orphans = (
        broken.select(
            (pl.col("has_batch") > 0).cast(pl.Int64)
            + (~pl.col("never")).cast(pl.Int64)
            + pl.col("n_srun")
        )
        .to_series()
        .sum()
    )
    return SyntheticSacct(
        path,
        expected_table(jobs_plan),
        rows - broken.height,
        steps,
        int(jobs_plan["requeued"].sum()),
        int(orphans),
        bad,
    )


def write_swf_trace(
    path: str | Path, jobs: int, *, seed: int = 0, malformed: int = 0, machine_procs: int = 256
) -> list[int]:
    """The SWF twin for ``trace synth --format swf``: a Lublin trace with ``malformed`` data
    lines cut to 17 of the 18 fields; returns their 1-based line numbers."""
    from hpcsched.workloads.swf import Trace, write_swf

    path = Path(path)
    table = lublin.generate(jobs, machine_procs=machine_procs, seed=seed)
    write_swf(Trace(table, str(path), max_procs=machine_procs), path)
    if malformed <= 0:
        return []
    raw = path.read_bytes()
    packed = raw[:2] == b"\x1f\x8b"
    lines = (gzip.decompress(raw) if packed else raw).decode().split("\n")
    data = [i for i, line in enumerate(lines) if line and not line.startswith(";")]
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(data, size=min(malformed, len(data)), replace=False))
    for i in chosen:
        lines[i] = " ".join(lines[i].split()[:17])
    payload = "\n".join(lines).encode()
    path.write_bytes(gzip.compress(payload, mtime=0) if packed else payload)
    return [int(i) + 1 for i in chosen]
