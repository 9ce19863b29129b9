"""The job table: one tabular schema for jobs from every source.

A parsed ``sacct`` dump, a parsed SWF trace, a simulator's output, a runtime journal export and a
predictor's training set are all this table. Units are SI, times are seconds. ``wait`` is derived
(``start - submit``) and never stored.

Times: for sources with a wall clock (sacct, the runtime) ``submit/start/end`` are UTC epoch
seconds. SWF times are seconds since the trace's ``UnixStartTime`` header; the reader keeps them
relative and records the origin in :class:`hpcsched.workloads.swf.Trace` (order keys such as F1
use the trace-relative submit time, as the RLScheduler paper does).

Column reference (the one place it is documented):

============== ========= ==============================================================
column         type      meaning
============== ========= ==============================================================
job_id         str       the source's id (``123``, ``123_4``, ``123+0``, SWF job number)
user           str       user name or SWF user id
account        str       Slurm account / SWF group id
partition      str       Slurm partition / SWF partition number
qos            str       Slurm QoS ("" when the source has none)
priority_class int32     0 = highest; null when no class rule was applied
submit         float64   submission time, s
start          float64   start time, s (null if never started)
end            float64   end time, s (null if not ended)
runtime        float64   elapsed run time, s (``end - start`` for finished jobs)
timelimit      float64   requested walltime, s (null = unlimited)
nodes          int64     allocated (or requested) nodes
cpus           int64     allocated (or requested) processors
gpus           int64     allocated GPUs
mem_req        float64   requested memory, bytes
mem_used       float64   peak memory used (max MaxRSS over steps), bytes
state          str       canonical state, one of :data:`STATES`
exit_code      int32     exit status of the job (null when unknown)
backfilled     bool      started by backfilling (Slurm ``SchedBackfill`` / the simulator)
name           str       job name
source         str       ``swf``, ``sacct``, ``sim:<policy>``, ``runtime``
============== ========= ==============================================================

Optional columns: ``eligible, reason, array_id, step_count, workdir``; anything a single source
has that others lack goes under its own prefix (``swf_*``, ``sacct_*``, ``sim_*``).
"""

from __future__ import annotations

from typing import Final

import polars as pl

#: Canonical job states (Slurm's terminal states, lower case; ``blocked``, a workflow task that
#: never ran because a dependency failed, as the runtime's ``status``/``why`` name it; then the
#: live ones).
STATES: Final = (
    "completed",
    "failed",
    "timeout",
    "cancelled",
    "out_of_memory",
    "node_fail",
    "preempted",
    "boot_fail",
    "deadline",
    "blocked",
    "running",
    "pending",
    "requeued",
    "suspended",
    "refused",
    "unknown",
)

#: The states a job never leaves (the first ten of :data:`STATES`: Slurm's finished base states
#: and ``blocked``).
TERMINAL_STATES: Final[frozenset[str]] = frozenset(STATES[:10])

JOB_TABLE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "job_id": pl.String(),
    "user": pl.String(),
    "account": pl.String(),
    "partition": pl.String(),
    "qos": pl.String(),
    "priority_class": pl.Int32(),
    "submit": pl.Float64(),
    "start": pl.Float64(),
    "end": pl.Float64(),
    "runtime": pl.Float64(),
    "timelimit": pl.Float64(),
    "nodes": pl.Int64(),
    "cpus": pl.Int64(),
    "gpus": pl.Int64(),
    "mem_req": pl.Float64(),
    "mem_used": pl.Float64(),
    "state": pl.String(),
    "exit_code": pl.Int32(),
    "backfilled": pl.Boolean(),
    "name": pl.String(),
    "source": pl.String(),
}

CANONICAL_COLUMNS: Final = tuple(JOB_TABLE_SCHEMA)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Return ``frame`` with every canonical column present, in order, with its canonical type.

    Missing canonical columns are added as nulls; extra (prefixed) columns are kept after them.
    """
    exprs: list[pl.Expr] = []
    for name, dtype in JOB_TABLE_SCHEMA.items():
        if name in frame.columns:
            exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    extras = [c for c in frame.columns if c not in JOB_TABLE_SCHEMA]
    return frame.select([*exprs, *[pl.col(c) for c in extras]])


def empty_job_table() -> pl.DataFrame:
    """An empty table with the canonical schema."""
    return pl.DataFrame(schema=JOB_TABLE_SCHEMA)


def with_wait(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the derived ``wait = start - submit`` column (for analysis; never stored)."""
    return frame.with_columns((pl.col("start") - pl.col("submit")).alias("wait"))
