"""The synthetic ``sacct -a -P -D`` text: the planned jobs rendered as job and step rows.

The jobs and their ground truth come from :mod:`~hpcsched.workloads.sacct_synth_model`; values
are printed as sacct prints them (:mod:`~hpcsched.workloads.sacct_synth_print`). Pitfalls
present: steps (``.batch``/``.interactive``, ``.extern``, srun ``.0``/``.1`` with MaxRSS), array
tasks ``123_4`` and pending ranges ``123_[0-9]``, het components ``123+0``, requeued attempts
(``-D``: an earlier REQUEUED row and its steps before the final one), ``CANCELLED by <uid>``,
``UNLIMITED``/``Partition_Limit``, legacy ReqMem ``Mn``/``Mc``, Flags
``SchedBackfill``/``SchedMain`` with ``,StartRecieved`` (22.05-23.02) or ``,StartReceived``,
TRES strings (plain and typed GPUs), hostlists, ``Unknown``/``None`` times, and optionally
broken lines at known line numbers (a ``|`` or a newline inside JobName, a line cut short). The
text is built chunk by chunk of jobs with Polars expressions. :func:`write_swf_trace` is the SWF
twin for ``trace synth --format swf``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, cast

import numpy as np
import polars as pl

from hpcsched.core.outputs import atomic_output
from hpcsched.workloads import lublin
from hpcsched.workloads.sacct_synth_model import SACCT_FIELDS, expected_table, plan
from hpcsched.workloads.sacct_synth_print import cpu_time, duration, padded, timestamp, unit_text


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
        "Submit": timestamp(col("submit"), "Unknown"),
        "Start": timestamp(
            col("start"),
            pl.when(col("state") == "pending").then(pl.lit("Unknown")).otherwise(pl.lit("None")),
        ),
        "End": col("end_t"),
        "State": state.otherwise(col("state").str.to_uppercase()),
        "ExitCode": exit_code,
        "Priority": s("priority"),
        "Eligible": timestamp(col("eligible"), "Unknown"),
        "Constraints": pl.when(col("idx") % 10 == 0).then(pl.lit("nvme")).otherwise(pl.lit("")),
        "SystemCPU": cpu_time(col("user_ms") // 50),
        "CPUTimeRAW": (col("elapsed") * col("cpus")).cast(pl.String),
        "ElapsedRaw": s("elapsed"),
        "QOSREQ": col("qos"),
        "QOS": col("qos"),
        "Restarts": s("requeued").replace({"true": "1", "false": "0"}),
        "WorkDir": col("workdir"),
        "ConsumedEnergyRaw": (col("elapsed") * col("nodes") * 350).cast(pl.String),
        "FailedNode": pl.when(col("state") == "node_fail")
        .then("frontier" + padded(col("first_node"), 5))
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
        "Planned": duration(waited),
        "PlannedCPURAW": (waited * col("cpus")).cast(pl.String),
        "NCPUS": s("cpus"),
        "UserCPU": cpu_time(col("user_ms")),
        "ReqCPUS": s("cpus"),
        "TotalCPU": cpu_time(col("user_ms") + col("user_ms") // 50),
        "ReqTRES": tres,
        "AllocTRES": pl.when(started).then(tres).otherwise(pl.lit("")),
        "Flags": col("flags"),
        "JobID": col("job_id"),
        "User": col("user"),
        "NodeList": pl.when(started).then(col("nodelist")).otherwise(pl.lit("None assigned")),
        "Elapsed": col("elapsed_t"),
        "Timelimit": limit.otherwise(duration(col("limit_min") * 60)),
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
            cpu_time(col("cpu_ms")),
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
            "SystemCPU": cpu_time(col("cpu_ms") // 50),
            "UserCPU": cpu_time(col("cpu_ms")),
            "TotalCPU": cpu_time(col("cpu_ms") + col("cpu_ms") // 50),
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
            "NodeList": ("frontier" + padded(col("first_node"), 5)) if one else col("nodelist"),
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
        start_t=timestamp(pl.col("start"), ""),
        end_t=timestamp(pl.col("end"), "Unknown"),
        elapsed_t=duration(pl.col("elapsed")),
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
    with (
        atomic_output(path) as temp,
        cast(
            IO[bytes], gzip.open(temp, "wb") if path.name.endswith(".gz") else temp.open("wb")
        ) as out,
    ):
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
    with atomic_output(path) as temp:  # the damaged copy replaces the file whole
        temp.write_bytes(gzip.compress(payload, mtime=0) if packed else payload)
    return [int(i) + 1 for i in chosen]
