"""Trace filters: which jobs of an SWF trace a published protocol simulates, and how.

Each filter returns the trace with a new table that keeps file order (``rlscheduler``: job-number
order, identical for every PWA file here), gains ``swf_index`` (0-based position in the filtered
list) and has the canonical ``cpus``, ``runtime`` and ``timelimit`` the simulator must use. Like the
reference tools, ``strong`` and ``rlscheduler`` rewrite the corresponding ``swf_*`` fields too, so
:func:`~hpcsched.workloads.swf.write_swf` of a filtered trace writes the filtered log.

* ``none``: every row, values as read.
* ``strong``: the "strong filter" of Gaussier et al. SC'15 (predictsim/pyss), rung 3 of
  VALIDATION.md.
* ``rlscheduler``: the SWF parsing of Zhang et al. SC'20 (RLScheduler), rung 2.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from hpcsched.workloads.swf import SWF_COLUMNS, Trace, derive_canonical

__all__ = ["FILTERS", "RLSCHEDULER_MAX_JOBS", "apply_filter", "machine_size"]

FILTERS: Final = ("none", "strong", "rlscheduler")

#: RLScheduler evaluates on the first 10,000 parsed jobs (its ``--batch_job_slice 10000``; the
#: Lublin files hold exactly 10,000), VALIDATION.md rung 2.
RLSCHEDULER_MAX_JOBS: Final = 10_000


def machine_size(trace: Trace) -> int:
    """Processors of the machine as both reference tools read it: ``MaxProcs``, else ``MaxNodes``.

    predictsim ``experiments/data_manipulation/extract_maxprocs.py`` and pyss ``run_simulator.py``
    read ``; MaxProcs:``; RLScheduler ``job.py`` (``Workloads``) uses ``MaxNodes`` when
    ``MaxProcs`` is absent (the Lublin files). RLScheduler's ``cluster.py`` then allocates whole
    nodes of ``MaxProcs / MaxNodes`` processors; that ratio is 1 for its rung-2 traces.
    """
    if trace.max_procs is not None:
        return trace.max_procs
    if trace.max_nodes is not None:
        return trace.max_nodes
    raise ValueError(
        f"trace {trace.path} has no MaxProcs or MaxNodes header line, so its machine size is "
        "unknown (add a '; MaxProcs: N' line to its header)"
    )


def apply_filter(trace: Trace, name: str) -> Trace:
    """Apply the filter ``name`` (one of :data:`FILTERS`) and number the kept jobs."""
    if name not in FILTERS:
        raise ValueError(f"unknown filter {name!r}; valid filters: {', '.join(FILTERS)}")
    table = trace.table
    if name != "none":
        missing = [c for c in SWF_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(
                f"filter {name!r} needs the raw SWF fields, but the table of {trace.path} lacks "
                f"{', '.join(missing[:3])}{'...' if len(missing) > 3 else ''} (read it with "
                "read_swf)"
            )
        table = _strong(table, machine_size(trace)) if name == "strong" else _rlscheduler(table)
    return trace.with_table(table.with_columns(swf_index=pl.int_range(pl.len(), dtype=pl.Int64)))


def _strong(table: pl.DataFrame, max_procs: int) -> pl.DataFrame:
    """predictsim ``experiments/data_manipulation/strong_filter_all_swf`` (the version with the
    processor copy and the runtime clip), an awk pipeline over the SWF fields, in file order.
    Every rule is row-wise, so applying them at once equals the pipeline."""
    col = pl.col
    alloc, req_procs = col("swf_alloc_procs"), col("swf_req_procs")
    run, req_time = col("swf_run_time"), col("swf_req_time")
    kept = table.filter(
        # "$5<=m" and "$8<=m", m = MaxProcs, on the raw fields (before the copy below).
        (alloc <= max_procs) & (req_procs <= max_procs),
        # "if all strictly positive dont touch, if one is, take it for both, and if none are,
        # do not print".
        (alloc > 0) | (req_procs > 0),
        # "$4>0": runtime > 0.
        run > 0,
        # "if ($9<=0)" -> not printed: requested time > 0.
        req_time > 0,
        # "$2>=0": submit time >= 0 (the comment says ">0", the code keeps 0).
        col("swf_submit") >= 0,
    )
    kept = kept.with_columns(
        swf_alloc_procs=pl.when(alloc > 0).then(alloc).otherwise(req_procs),
        swf_req_procs=pl.when(req_procs > 0).then(req_procs).otherwise(alloc),
        # "if ($9<$4){$4=$9}": clip the runtime to the requested time.
        swf_run_time=pl.min_horizontal(run, req_time),
    )
    # cpus = allocated processors: pyss ``run_simulator.py`` builds jobs with
    # ``base/prototype.py:_job_input_to_job``, which uses ``num_allocated_processors`` (field 5);
    # runtime = clipped field 4, timelimit (the EASY estimate) = field 9.
    return derive_canonical(kept)


def _rlscheduler(table: pl.DataFrame) -> pl.DataFrame:
    """DIR-LAB/deep-batch-scheduler ``job.py`` (``Job.__init__`` then ``Workloads.__init__``)."""
    col = pl.col
    run = col("swf_run_time")
    parsed = table.with_columns(
        # Job.__init__: "using a larger one will be sufficient": both processor counts become
        # max(allocated, requested).
        swf_alloc_procs=pl.max_horizontal(col("swf_alloc_procs"), col("swf_req_procs")),
        swf_req_procs=pl.max_horizontal(col("swf_alloc_procs"), col("swf_req_procs")),
        # Job.__init__: "if self.request_time == -1: self.request_time = self.run_time", exactly
        # -1 (0 or other negatives stay), with the *raw* run time: this runs before the fix
        # below, so run time -1 and requested time -1 leave a requested time of -1 (one job in
        # SDSC-SP2's first 10,000, index 5046).
        swf_req_time=pl.when(col("swf_req_time") == -1).then(run).otherwise(col("swf_req_time")),
        # Workloads.__init__: "if j.run_time < 0: j.run_time = 10".
        swf_run_time=pl.when(run < 0).then(10.0).otherwise(run),
    )
    # Workloads.__init__: "if j.run_time > 0: append" -> drops run time 0. Nothing else is
    # dropped (no check against the machine size, no submit or processor check).
    parsed = parsed.filter(col("swf_run_time") > 0)
    # Workloads.__init__ sorts by job id (stable); HPCSimPickJobs indexes that list.
    parsed = parsed.sort("swf_job_number", maintain_order=True).head(RLSCHEDULER_MAX_JOBS)
    # The simulator uses the requested time as is, even when it is <= 0 (see above), so
    # timelimit here is field 9 verbatim rather than null-for-unknown.
    return derive_canonical(parsed).with_columns(timelimit=col("swf_req_time"))
