"""Horizontal job clustering: many short independent tasks run as a few longer ones.

A task that lasts 5 ms still pays the runtime's ~10 ms per attempt (a launch, a journal write, a
staging folder), so a workflow of thousands of them runs at a fraction of the machine. Pegasus
solves this by *job clustering* (user guide, "Job Clustering"): horizontal clustering groups jobs
of the same level of the DAG into clustered jobs of at most ``clusters.size`` members, label
clustering groups the jobs that carry the same label, and a clustered job runs its members one
after another (``pegasus-cluster``; with ``-f`` it stops at the first failure). Here:

- a job opts in with ``cluster: {size: k}`` (on the job or in ``defaults``), grouping it with the
  jobs of its level that share its ``kind``, or ``cluster: {label: NAME, size: k}``, grouping it
  with the jobs of its level that share the label. Only jobs of one level are grouped, so members
  never depend on each other and the rewritten graph stays acyclic; a group of one is left alone.
- a cluster is a callable task (:func:`run_members`) whose ``kwargs`` hold its members. It depends
  on the union of its members' dependencies (mapped to their clusters), and a job that depended on
  a member depends on the member's cluster. It reads and writes the union of the members' files,
  holds the largest of their resources, plans with the sum of their runtimes, retries as often as
  the most-retried member, and is as urgent as the most urgent member.
- one attempt runs the members in order in the attempt's folder; the first one to fail fails the
  cluster with a message naming it, its exit status and its stdout/stderr tails, and the members
  after it are not run. A retry runs every member again in a fresh folder.

Not covered: a ``cancel`` does not kill a member command in flight (the cluster is an in-process
callable; the cancel takes effect when it returns); a callable member's own ``timeout`` is only
enforced through the cluster's, the sum of its members' (when every member has one); ``status``,
``tasks`` and ``--rerun`` see clusters, not members (a succeeded cluster's value lists its members
with their seconds and return values; a failed one's message names the failing member).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcsched.campaigns.task import MOST_SECONDS, Task
from hpcsched.runtime.executors import attempt_runner
from hpcsched.runtime.staging import safe_id

RUNNER = "hpcsched.runtime.clustering:run_members"


@dataclass(frozen=True)
class ClusterSpec:
    """A job's ``cluster:`` option: at most ``size`` members; ``label`` groups across kinds."""

    size: int
    label: str = ""


class ClusterError(ValueError):
    """A clustering that cannot be done: ``str(err)`` says what, ``fix`` what to do."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.fix = fix


def levels(tasks: list[Task]) -> dict[str, int]:
    """Each task's level: 0 without dependencies, else one more than its deepest dependency.
    ``tasks`` must be in topological order (as :func:`load_workflow` returns them)."""
    level: dict[str, int] = {}
    for task in tasks:
        level[task.id] = 1 + max((level[d] for d in task.depends), default=-1)
    return level


def cluster_tasks(tasks: list[Task], specs: Mapping[str, ClusterSpec]) -> list[Task]:
    """Replace the jobs named in ``specs`` by clustered tasks; the rest keep their ids. Returns
    the tasks in topological order (by level, then by position) when anything was clustered."""
    level = levels(tasks)
    groups: dict[tuple[int, str], list[Task]] = {}
    for task in tasks:
        if (spec := specs.get(task.id)) is not None:
            name = spec.label or task.kind or "cluster"
            groups.setdefault((level[task.id], name), []).append(task)
    cluster_of: dict[str, str] = {}
    made: dict[str, list[Task]] = {}
    taken = {task.id for task in tasks}
    for (lvl, name), members in groups.items():
        size = specs[members[0].id].size
        if other := next((m for m in members if specs[m.id].size != size), None):
            what = f"jobs {members[0].id!r} and {other.id!r} share cluster {name!r} at level {lvl}"
            raise ClusterError(
                f"{what} with sizes {size} and {specs[other.id].size}", "give one size"
            )
        if len(members) < 2 or size < 2:
            continue
        for n, start in enumerate(range(0, len(members), size), start=1):
            chunk = members[start : start + size]
            if len(chunk) < 2:
                continue
            cid = f"merge_{name}_level{lvl}_{n}"  # Pegasus names its clustered jobs merge_*
            if cid in taken:
                raise ClusterError(
                    f"the cluster id {cid!r} is already a job's id", "rename that job"
                )
            taken.add(cid)
            made[cid] = chunk
            cluster_of.update((m.id, cid) for m in chunk)
    if not made:
        return tasks

    def mapped(depends: list[str], own: str) -> list[str]:
        return sorted({cluster_of.get(d, d) for d in depends} - {own})

    out: list[tuple[int, int, Task]] = []
    for position, task in enumerate(tasks):
        owner = cluster_of.get(task.id)
        if owner is None:
            update = {"depends": mapped(task.depends, task.id)}
            out.append((level[task.id], position, task.model_copy(update=update)))
        elif made[owner][0].id == task.id:
            chunk = made[owner]
            depends = mapped([d for m in chunk for d in m.depends], owner)
            out.append((level[task.id], position, _merge(owner, chunk, depends)))
    return [task for _, _, task in sorted(out, key=lambda entry: entry[:2])]


def _merge(cid: str, members: list[Task], depends: list[str]) -> Task:
    runtimes = [m.runtime for m in members]
    timeouts = [m.timeout for m in members]
    # a sum only when every member states one (an unknown runtime is the policy's default)
    runtime = min(MOST_SECONDS, sum(r for r in runtimes if r)) if all(runtimes) else None
    timeout = min(MOST_SECONDS, sum(t for t in timeouts if t)) if all(timeouts) else None
    return Task(
        id=cid,
        callable=RUNNER,
        kwargs={"members": [m.model_dump(mode="json") for m in members]},
        inputs=sorted({f for m in members for f in m.inputs}),
        outputs=sorted({f for m in members for f in m.outputs}),
        depends=depends,
        cpus=max(m.cpus for m in members),
        gpus=max(m.gpus for m in members),
        mem=max(m.mem for m in members),
        nodes=max(m.nodes for m in members),
        priority=min(m.priority for m in members),
        runtime=runtime,
        timeout=timeout,
        retries=max(m.retries for m in members),
        backoff=max(m.backoff for m in members),
        kind=cid.rsplit("_", 2)[0],
    )


class ClusterMemberError(RuntimeError):
    """A member of a cluster failed; the first line names it (the run summary shows that line)."""


def run_members(members: list[dict[str, Any]]) -> dict[str, Any]:
    """Run a cluster's members in order in the current directory (the attempt's folder).

    Returns ``{"members": [{"id", "seconds", "value"}...]}``; raises :class:`ClusterMemberError`
    at the first member that fails, naming it, with its stdout and stderr tails."""
    done: list[dict[str, Any]] = []
    for raw in members:
        member = Task.model_validate(raw)
        start = time.monotonic()
        value = _run_one(member, len(done), len(members))
        done.append(
            {"id": member.id, "seconds": round(time.monotonic() - start, 6), "value": value}
        )
    return {"members": done}


def _run_one(member: Task, index: int, count: int) -> Any:
    where = f"member {member.id!r} ({index + 1} of {count})"
    if member.callable is not None:
        function = attempt_runner._resolve(member.callable)
        saved = {name: os.environ.get(name) for name in member.env}
        os.environ.update(member.env)
        try:
            value = function(*member.args, **member.kwargs)
            return json.loads(json.dumps(value))
        except (Exception, SystemExit) as exc:
            raise ClusterMemberError(f"{where} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            for name, old in saved.items():
                if old is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = old
    assert member.command is not None
    # each member's own files, beside the attempt's (why reads stdout.txt/stderr.txt, not these)
    out, err = (Path(f"{safe_id(member.id)}.{name}.txt") for name in ("stdout", "stderr"))
    env = os.environ | member.env | {"HPCSCHED_MEMBER_ID": member.id}
    command = member.command
    if member.mem > 0:  # as attempt_runner does for a task: the shell lowers its own limit
        command = f"ulimit -v {max(1, int(member.mem // 1024))} || exit 125\n{command}"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        try:
            process = subprocess.Popen(
                command,
                shell=True,
                start_new_session=True,
                stdout=stdout,
                stderr=stderr,
                env=env,
            )
        except OSError as exc:
            raise ClusterMemberError(f"{where} failed: cannot start: {exc}") from exc
        try:
            code = process.wait(timeout=member.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = None
    if code == 0:
        return None
    status = f"killed after {member.timeout:g} s (timeout)" if code is None else f"exit {code}"
    tails = "".join(
        f"\n{label} of {member.id}:\n{attempt_runner._tail(path)}"
        for label, path in (("stdout", out), ("stderr", err))
        if path.stat().st_size
    )
    raise ClusterMemberError(f"{where} failed: {status}{tails}")
