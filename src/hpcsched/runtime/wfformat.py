"""A WfCommons instance (WfFormat 1.4 or 1.5 JSON) as a static workflow of tasks.

WfFormat (https://github.com/wfcommons/WfFormat) records one real execution of a workflow. 1.5
splits it in two: ``workflow.specification.tasks`` holds the DAG (``parents``, ``inputFiles``,
``outputFiles``; ``specification.files`` the sizes), ``workflow.execution.tasks`` what each task
measured (``runtimeInSeconds``, ``coreCount``, ``memoryInBytes``). 1.4 keeps both in
``workflow.tasks`` (``runtimeInSeconds``, ``cores``, ``memoryInBytes``, ``parents``, ``files``
with ``link`` input/output and ``sizeInBytes``). A task without a core count holds one core.

Each task becomes a :class:`Task` that sleeps for its recorded runtime times ``scale`` (for a live
run) and plans with that runtime; ``runtimes`` keeps the recorded values, zeros included (a
task's planned runtime must be positive, so a zero is planned as a millisecond). An edge's
transfer time, for HEFT's upward rank, is the bytes the child reads of what the parent wrote over
:data:`BANDWIDTH` (the 10 Gb/s of the Chameleon nodes most instances ran on).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcsched.campaigns.task import Task

BANDWIDTH = 1.25e9  # bytes/s: 10 Gb/s Ethernet
_SMALLEST_PLAN = 1e-3  # seconds: the planned runtime of a task recorded as taking 0 s


class WfFormatError(ValueError):
    """An instance that cannot be read; ``str(err)`` is one line: file, what, what to do."""


@dataclass(frozen=True)
class Instance:
    """A read instance: tasks in topological order, recorded runtimes and edge transfer times."""

    name: str
    tasks: list[Task]
    runtimes: dict[str, float]  # recorded seconds x scale, by task id
    transfers: dict[tuple[str, str], float]
    schema_version: str


def is_wfformat(path: Path) -> bool:
    """A ``.json`` file whose beginning names a ``schemaVersion`` (a sacct --json dump does not)."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    with path.open("rb") as handle:
        return b'"schemaVersion"' in handle.read(65536)


def _number(value: Any, default: float = 0.0) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


def _records(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per task: id, parents, runtime, cores, memory, inputs and outputs with sizes."""
    spec = workflow.get("specification")
    if isinstance(spec, dict):  # 1.5
        sizes = {f.get("id"): _number(f.get("sizeInBytes")) for f in spec.get("files") or []}
        measured = {t.get("id"): t for t in (workflow.get("execution") or {}).get("tasks") or []}
        out = []
        for task in spec.get("tasks") or []:
            run = measured.get(task.get("id"), {})
            out.append(
                {
                    "id": task.get("id"),
                    "parents": task.get("parents") or [],
                    "runtime": _number(run.get("runtimeInSeconds"), -1.0),
                    "cores": run.get("coreCount") or 1,
                    "memory": _number(run.get("memoryInBytes")),
                    "inputs": {f: sizes.get(f, 0.0) for f in task.get("inputFiles") or []},
                    "outputs": {f: sizes.get(f, 0.0) for f in task.get("outputFiles") or []},
                }
            )
        return out
    out = []
    for task in workflow.get("tasks") or []:  # 1.4
        files = task.get("files") or []

        def linked(link: str, files: list[Any] = files) -> dict[str, float]:
            return {
                str(f.get("name") or f.get("id")): _number(f.get("sizeInBytes", f.get("size")))
                for f in files
                if f.get("link") == link
            }

        out.append(
            {
                "id": task.get("id") or task.get("name"),
                "parents": task.get("parents") or [],
                "runtime": _number(task.get("runtimeInSeconds", task.get("runtime")), -1.0),
                "cores": task.get("cores") or task.get("coreCount") or 1,
                "memory": _number(task.get("memoryInBytes", task.get("memory"))),
                "inputs": linked("input"),
                "outputs": linked("output"),
            }
        )
    return out


def topological(records: list[dict[str, Any]], file: str) -> list[dict[str, Any]]:
    """Parents before children, ties in file order; a cycle or an unknown parent refused."""
    index = {r["id"]: i for i, r in enumerate(records)}
    children: list[list[int]] = [[] for _ in records]
    waiting = [0] * len(records)
    for i, record in enumerate(records):
        for parent in set(record["parents"]):
            if parent not in index:
                raise WfFormatError(
                    f"{file}: task {record['id']!r} has unknown parent {parent!r}; "
                    "the instance is incomplete"
                )
            children[index[parent]].append(i)
            waiting[i] += 1
    ready = [i for i in range(len(records)) if waiting[i] == 0]
    order: list[int] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for child in children[i]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) < len(records):
        stuck = next(records[i]["id"] for i in range(len(records)) if waiting[i])
        raise WfFormatError(f"{file}: the tasks' parents form a cycle (through {stuck!r})")
    return [records[i] for i in order]


def read_instance(path: Path | str, scale: float = 1.0) -> Instance:
    """Read a WfFormat instance; :class:`WfFormatError` (one line) on anything unreadable."""
    path = Path(path)
    file = str(path)
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise WfFormatError(f"{file}: cannot read ({exc.strerror}); check the path") from exc
    except ValueError as exc:
        raise WfFormatError(f"{file}: not JSON ({exc}); give a WfFormat instance") from exc
    workflow = data.get("workflow") if isinstance(data, dict) else None
    if not isinstance(workflow, dict):
        raise WfFormatError(f"{file}: no 'workflow' object; this is not a WfFormat instance")
    records = _records(workflow)
    if not records:
        raise WfFormatError(f"{file}: the workflow has no tasks")
    for record in records:
        if not isinstance(record["id"], str) or not record["id"]:
            raise WfFormatError(f"{file}: a task has no id")
        if record["runtime"] < 0:
            raise WfFormatError(
                f"{file}: task {record['id']!r} has no runtimeInSeconds; "
                "only executed instances can be replayed"
            )
    tasks: list[Task] = []
    runtimes: dict[str, float] = {}
    transfers: dict[tuple[str, str], float] = {}
    by_id = {r["id"]: r for r in records}
    for record in topological(records, file):
        tid, seconds = record["id"], record["runtime"] * scale
        runtimes[tid] = seconds
        tasks.append(
            Task(
                id=tid,
                command=f"sleep {seconds:.6f}",
                depends=sorted(set(record["parents"])),
                cpus=max(1, int(record["cores"])),
                mem=record["memory"],
                runtime=max(seconds, _SMALLEST_PLAN),
                kind=tid.split("_ID")[0],  # Pegasus ids are TRANSFORMATION_IDnnnnnnn
            )
        )
        for parent in set(record["parents"]):
            written = by_id[parent]["outputs"]
            moved = sum(size for f, size in record["inputs"].items() if f in written)
            transfers[(parent, tid)] = moved / BANDWIDTH
    name = str(data.get("name") or path.stem)
    return Instance(name, tasks, runtimes, transfers, str(data.get("schemaVersion", "")))
