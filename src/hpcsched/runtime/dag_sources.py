"""A workflow from any file that holds one, as a :class:`~hpcsched.runtime.wfformat.Instance`.

Three sources: a WfCommons instance (WfFormat JSON, recorded runtimes), the project's YAML
workflow (each job's ``runtime``, else the 60 s planning default) and a job table exported from a
run (``hpcsched export``: its ``depends`` column, each task lasting its measured ``runtime``; a task
that never ran lasts 0 s). ``workflow_kind`` tells them apart without reading a whole trace.
"""

from __future__ import annotations

from pathlib import Path

from hpcsched.campaigns.dag import planned_runtime
from hpcsched.campaigns.task import Task
from hpcsched.runtime.wfformat import (
    Instance,
    WfFormatError,
    is_wfformat,
    read_instance,
    topological,
)

WORKFLOW_SUFFIXES = (".yaml", ".yml")


def workflow_kind(path: Path) -> str | None:
    """``wfformat``, ``yaml``, ``table`` (a Parquet job table with ``depends``) or None."""
    if is_wfformat(path):
        return "wfformat"
    if path.suffix.lower() in WORKFLOW_SUFFIXES:
        return "yaml"
    if path.suffix.lower() == ".parquet" and path.is_file():
        import pyarrow.parquet as pq

        try:
            return "table" if "depends" in pq.read_schema(path).names else None
        except OSError:
            return None
    return None


def _from_yaml(path: Path) -> Instance:
    from hpcsched.runtime.workflow import load_workflow

    loaded = load_workflow(path)
    runtimes = {task.id: planned_runtime(task) for task in loaded.tasks}
    return Instance(loaded.name, loaded.tasks, runtimes, {}, "")


def _from_table(path: Path) -> Instance:
    import polars as pl

    table = pl.read_parquet(path)
    records = []
    for row in table.iter_rows(named=True):
        depends = [d for d in (row["depends"] or "").split(",") if d]
        records.append({"id": str(row["job_id"]), "parents": depends, "row": row})
    tasks: list[Task] = []
    runtimes: dict[str, float] = {}
    for record in topological(records, str(path)):
        row = record["row"]
        seconds = float(row["runtime"] or 0.0)
        runtimes[record["id"]] = seconds
        tasks.append(
            Task(
                id=record["id"],
                command=f"sleep {seconds:.6f}",
                depends=sorted(set(record["parents"])),
                cpus=max(1, int(row.get("cpus") or 1)),
                mem=float(row.get("mem_req") or 0.0),
                priority=int(row.get("priority_class") or 0),
                runtime=max(seconds, 1e-3),
                kind=str(row.get("name") or ""),
            )
        )
    return Instance(path.stem, tasks, runtimes, {}, "")


def load_dag(path: Path, scale: float = 1.0) -> Instance:
    """The workflow in ``path``; :class:`WfFormatError` or ``WorkflowError`` (one line) when it
    cannot be read. ``scale`` multiplies a WfFormat instance's runtimes (for live runs)."""
    kind = workflow_kind(path)
    if kind == "wfformat":
        return read_instance(path, scale)
    if kind == "yaml":
        return _from_yaml(path)
    if kind == "table":
        return _from_table(path)
    raise WfFormatError(f"{path}: not a workflow (WfFormat .json, .yaml, or a table with depends)")
