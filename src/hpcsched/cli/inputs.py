"""A command's input job table, through the one opener (:func:`hpcsched.workloads.load.load_jobs`),
or one error line: skipped lines are warned about, never dropped silently; the WfCommons instance
``run`` replays."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from hpcsched.cli.errors import fail, warn_implausible, warn_malformed

if TYPE_CHECKING:
    from hpcsched.runtime.wfformat import Instance
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


def wfcommons_instance(path: Path, scale: float | None) -> Instance | None:
    """The WfCommons instance in ``path`` with its runtimes scaled, or None for a YAML file."""
    from hpcsched.runtime.wfformat import WfFormatError, is_wfformat, read_instance

    if not is_wfformat(path):
        if scale is not None:
            fail(f"--scale applies to a WfCommons instance (.json); {path} is not one")
        return None
    if scale is not None and not scale > 0:
        fail(f"--scale {scale:g}: give a positive factor, e.g. 0.01")
    try:
        instance = read_instance(path, 1.0 if scale is None else scale)
    except WfFormatError as exc:
        fail(str(exc))
    # a sleep stands in for each task: the recorded peak memory would become its address-space
    # limit (the executors enforce ``mem``), which kills a sleep given a few megabytes
    tasks = [task.model_copy(update={"mem": 0.0}) for task in instance.tasks]
    return replace(instance, tasks=tasks)
