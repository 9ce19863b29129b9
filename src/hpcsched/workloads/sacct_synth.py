"""A realistic synthetic ``sacct -a -P -D`` dump with its ground truth, deterministic by seed.

Why: the sacct readers must be tested job by job on millions of rows and on every pitfall of
``shared/data/sacct/README.md``, and real dumps are personal data. This module is the
generator's public entry (``trace synth``, the tests); the work is done in these parts:

- :mod:`~hpcsched.workloads.sacct_synth_print`: how sacct prints numbers, durations and times
  (Slurm's ``sacct/print.c``);
- :mod:`~hpcsched.workloads.sacct_synth_model`: the jobs (Lublin–Feitelson, read as Frontier
  nodes), the 60 + 5 fields, one plan of all random draws, and the job table a correct reader
  makes of it; when the jobs ran comes from :mod:`~hpcsched.workloads.sacct_synth_times` (EASY
  backfilling on the 9,408 nodes, by the simulator of ``hpcsched simulate``) and their nodes from
  :mod:`~hpcsched.workloads.sacct_synth_nodes` (no node runs two jobs at once);
- :mod:`~hpcsched.workloads.sacct_synth_text`: the plan rendered as job and step rows with every
  pitfall, written chunk by chunk (:func:`write_sacct`), and the SWF twin
  (:func:`write_swf_trace`).

Everything is built column-wise (numpy, Polars): one plan of all jobs (all random draws, so the
bytes do not depend on the chunking), then the text chunk by chunk of jobs. A million jobs
(about 1.98 GB of text, 3.67M rows) take 30-45 s and 1.9 GB of memory on 2 cores: 43 s on a
shared machine where the generator took 46 s before its jobs were scheduled (the plan, with the
schedule and the node lists, is 9 s of it).
"""

from __future__ import annotations

from hpcsched.workloads.sacct_synth_model import (
    ARRAY_SHARE,
    CORES_PER_NODE,
    EPOCH,
    EXTRA_FIELDS,
    FIRST_JOB_ID,
    FRONTIER_FIELDS,
    HET_SHARE,
    LEGACY_MEM_SHARE,
    LIVE_TAIL,
    LOAD_SCALE,
    MACHINE_NODES,
    REQUEUE_SHARE,
    SACCT_FIELDS,
    STATE_MIX,
    expected_table,
    plan,
)
from hpcsched.workloads.sacct_synth_print import unit_text, units
from hpcsched.workloads.sacct_synth_text import SyntheticSacct, write_sacct, write_swf_trace

__all__ = [
    "ARRAY_SHARE",
    "CORES_PER_NODE",
    "EPOCH",
    "EXTRA_FIELDS",
    "FIRST_JOB_ID",
    "FRONTIER_FIELDS",
    "HET_SHARE",
    "LEGACY_MEM_SHARE",
    "LIVE_TAIL",
    "LOAD_SCALE",
    "MACHINE_NODES",
    "REQUEUE_SHARE",
    "SACCT_FIELDS",
    "STATE_MIX",
    "SyntheticSacct",
    "expected_table",
    "plan",
    "unit_text",
    "units",
    "write_sacct",
    "write_swf_trace",
]
