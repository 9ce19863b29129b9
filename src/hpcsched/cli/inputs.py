"""A command's input job table, through the one opener (:func:`hpcsched.workloads.load.load_jobs`),
or one error line: skipped lines are warned about, never dropped silently."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hpcsched.cli.errors import fail, warn_implausible, warn_malformed

if TYPE_CHECKING:
    from hpcsched.workloads.load import LoadedTable


def open_job_table(path: Path) -> LoadedTable:
    """Any job table the analytics read (Parquet, SWF, ``sacct -P``, ``sacct --json``); an empty
    table is refused (``report``, ``dashboard``)."""
    from hpcsched.workloads.load import InputError, load_jobs

    try:
        opened = load_jobs(path)
    except InputError as exc:
        fail(str(exc))
    warn_malformed(path, opened.malformed)
    warn_implausible(path, opened.implausible)
    if opened.table.is_empty():
        fail(f"{path} holds no jobs (check the file, or the sacct -S/-E window)")
    return opened


def open_trace(
    trace: Path,
    filter_name: str,
    strict: bool,
    procs: int | None,
    unit: str = "cpus",
    nodes: int | None = None,
    *,
    sized: bool = True,
) -> tuple[LoadedTable, int]:
    """A trace to replay and the machine size in ``unit`` (``--nodes`` for whole nodes; for
    processors ``--procs``, else the file's), for ``simulate`` and ``compare``; 0 when not
    ``sized`` (the partitions' pools are the machine)."""
    from hpcsched.workloads.load import InputError, load_jobs

    try:
        loaded = load_jobs(trace, filter_name=filter_name, strict=strict)
    except InputError as exc:
        fail(str(exc))
    warn_malformed(trace, loaded.malformed, "; use --strict to stop at the first")
    warn_implausible(trace, loaded.implausible)
    if not sized:
        return loaded, 0
    if unit == "nodes":
        if not nodes:
            fail(f"{trace}: --unit nodes needs the machine's node count; pass --nodes N")
        return loaded, int(nodes)
    capacity = procs or loaded.machine_procs
    if not capacity:
        fail(f"{trace} does not say the machine size; pass --procs N")
    return loaded, int(capacity)
