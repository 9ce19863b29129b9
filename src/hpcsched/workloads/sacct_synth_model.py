"""The synthetic sacct workload: which jobs the dump holds and what a reader must make of them.

Jobs come from the Lublin–Feitelson model (:mod:`hpcsched.workloads.lublin`, sizes read as
Frontier nodes); the dump has the Frontier study's 60 fields (:data:`FRONTIER_FIELDS`, in its
order) followed by :data:`EXTRA_FIELDS` (JobID, User, NodeList, Elapsed, Timelimit: without them
a dump cannot show arrays, het jobs, user names or hostlists). :func:`plan` draws every attribute
of every job (states, arrays, het jobs, requeues, broken lines, resources, steps) at once,
column-wise (numpy, Polars), so the text does not depend on how it is chunked; when the jobs
ran is not drawn but scheduled (:mod:`~hpcsched.workloads.sacct_synth_times`: EASY on the
machine) and their nodes assigned so that no two running jobs share one
(:mod:`~hpcsched.workloads.sacct_synth_nodes`); :func:`expected_table` is the job table a correct
reader makes of those jobs. The text itself is
written by :mod:`~hpcsched.workloads.sacct_synth_text`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from hpcsched.core.schema import conform
from hpcsched.workloads import lublin
from hpcsched.workloads.sacct_synth_nodes import node_lists
from hpcsched.workloads.sacct_synth_print import units
from hpcsched.workloads.sacct_synth_times import schedule_jobs

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
#: Lublin's jobs, read as Frontier nodes, are big and long (about 4,000 node-hours each; 19% of
#: them ask >= 1,024 nodes): at Lublin's own rate (a job an hour) they would offer the machine
#: 0.47 of its nodes; x1.7 offers about 0.8, a busy but stable queue (about 40 jobs a day: a
#: million jobs span decades; Frontier runs ~1,400 smaller ones a day).
LOAD_SCALE: Final = 1.7
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
#: Of the last 2% of jobs, 30% never start (pending at the dump) and 25% are drawn running: those
#: the schedule has not finished by the dump run, the others completed.
LIVE_TAIL: Final = 0.02
ARRAY_SHARE, HET_SHARE, REQUEUE_SHARE, LEGACY_MEM_SHARE = 0.02, 0.01, 0.01, 0.05
_NAMES: Final = ("lammps_md", "vasp_relax", "train_llm", "gromacs", "cp2k_scf", "nekrs", "wrf")
_PARTITIONS: Final = ("batch", "debug", "extended")
_QOS: Final = ("normal", "debug", "high", "low")
_SURNAMES: Final = ("smith", "garcia", "chen", "patel", "mueller", "rossi", "kim", "okafor")
_PROJECTS: Final = ("csc", "bip", "phy", "chm", "mat", "cli", "ast", "fus", "cfd", "gen")


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
    # a het job is one request: its components together fit the machine
    nodes = np.where(kind == 2, np.minimum(nodes, MACHINE_NODES // blen), nodes)
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
    pending_draw = state == "pending"
    # times (epoch s): eligible later for 5% (BeginTime/Dependency)
    delayed = rng.random(n) < 0.05
    eligible = submit + np.where(delayed, rng.integers(60, 7200, n), 0)
    eligible = np.where(kind == 2, eligible[head], eligible)
    limits = rng.random(n)
    limit_text = np.where(
        limits < 0.005, "UNLIMITED", np.where(limits < 0.01, "Partition_Limit", "")
    )
    limit_text = np.where(state == "timeout", "", limit_text)
    elapsed = np.minimum(runtime, limit_min * 60)
    elapsed = np.where(state == "timeout", limit_min * 60 + rng.integers(0, 90, n), elapsed)
    cut = np.isin(state, ["failed", "out_of_memory", "node_fail", "preempted", "cancelled"])
    elapsed = np.where(cut, np.maximum(1, np.floor(elapsed * frac)), elapsed).astype(np.int64)
    # starts: EASY on the machine; the dump's moment settles which jobs run or wait
    times = schedule_jobs(
        rng,
        head=head,
        kind=kind,
        tail=tail,
        submit=submit,
        eligible=eligible,
        nodes=nodes,
        elapsed=elapsed,
        limit_s=limit_min * 60,
        state=state,
        frac=frac,
        requeue_share=REQUEUE_SHARE,
        capacity=MACHINE_NODES,
    )
    submit, start, end = times.submit, times.start, times.end
    # the jobs drawn pending never start: held at submission or waiting on a job that failed,
    # so they never became eligible (sacct: Eligible Unknown); the schedule's waiting jobs did
    held = pending_draw
    eligible = np.where(held, -1, times.eligible)
    elapsed, state, never, requeued = times.elapsed, times.state, times.never, times.requeued
    running, now = state == "running", times.now
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
    backfilled = times.backfilled
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
    reason = np.where(held, np.where(frac < 0.5, "JobHeldUser", "DependencyNeverSatisfied"), reason)
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
            "requeued": requeued,
            "r_submit": times.r_submit,
            "r_start": times.r_start,
            "r_end": times.r_end,
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
    frame = frame.hstack(
        node_lists(head, kind, ~never, times.r_start, times.until, nodes, MACHINE_NODES)
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
        eligible=pl.when(col("eligible") >= 0).then(col("eligible").cast(pl.Float64)),
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
