"""What the ``slurm`` executor asks Slurm for: step and job arguments, pools, and the outcome of a
job that ended without writing its result.

Resources come from the task (``--cpus-per-task``, ``--mem``, ``--gpus``; sbatch(1), srun(1)).
A batch job's ``--time`` comes from the task's timeout (the runner kills the attempt itself at
the timeout, so Slurm's limit is a backstop a minute later) or else from its runtime estimate,
doubled plus a minute, so that a slightly optimistic estimate does not kill the job.
"""

from __future__ import annotations

import math
import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpcsched.campaigns.task import Task
from hpcsched.core.pool import Pool
from hpcsched.core.resources import Resources
from hpcsched.runtime.executors.attempt_runner import outcome
from hpcsched.runtime.executors.slurm_runner import MODULE
from hpcsched.runtime.pools import MB, PoolError, pool_from_slurm_env
from hpcsched.slurm.states import canonical_state

TIME_MARGIN = 60.0  # seconds Slurm's limit leaves past the task's own timeout
_GPU_GRES = re.compile(r"gpu(?::[^:(,]+)?:(\d+)")


def runner_argv(spec: Path, result: Path) -> list[str]:
    """The command a step or job runs: this Python, the shared attempt runner."""
    return [sys.executable, "-m", MODULE, str(spec), str(result)]


def resource_args(task: Task) -> list[str]:
    args = [f"--cpus-per-task={task.cpus}"]
    if task.mem > 0:
        args.append(f"--mem={max(1, math.ceil(task.mem / MB))}M")
    if task.gpus > 0:
        args.append(f"--gpus={task.gpus}")
    return args


def srun_argv(task: Task, job_id: str, workdir: Path, runner: list[str]) -> list[str]:
    """One job step inside allocation ``job_id``: ``--exact`` so it holds only what it asks for
    and steps run side by side (srun(1), "--exact")."""
    return [
        "srun",
        f"--jobid={job_id}",
        "--exact",
        "--nodes=1",
        "--ntasks=1",
        *resource_args(task),
        f"--job-name={task.id}",
        f"--chdir={workdir}",
        *runner,
    ]


def time_limit_minutes(task: Task) -> int | None:
    """sbatch ``--time`` in minutes, or None to take the partition's default."""
    if task.timeout is not None:
        seconds = task.timeout + TIME_MARGIN
    elif task.runtime is not None:
        seconds = 2 * task.runtime + TIME_MARGIN
    else:
        return None
    return max(1, math.ceil(seconds / 60))


def sbatch_args(task: Task, workdir: Path, log: Path, partition: str | None) -> list[str]:
    args = [
        f"--job-name={task.id}",
        f"--nodes={task.nodes}",
        "--ntasks=1",
        *resource_args(task),
        f"--chdir={workdir}",
        f"--output={log}",
        f"--error={log}",
    ]
    if (minutes := time_limit_minutes(task)) is not None:
        args.append(f"--time={minutes}")
    if partition is not None:
        args.append(f"--partition={partition}")
    return args


def batch_script(runner: list[str]) -> str:
    # exec: the runner is the batch step's process, so scancel's SIGTERM reaches it.
    return f"#!/bin/sh\nexec {shlex.join(runner)}\n"


def allocation_pool(job_id: str, layout: list[dict[str, int]], env: Mapping[str, str]) -> Pool:
    """The pool of allocation ``job_id``: from the environment when this process runs inside it
    (pools.py), else from where slurmctld placed it (``layout``: cpus, mem MB per node)."""
    if env.get("SLURM_JOB_ID") == job_id:
        pool = pool_from_slurm_env(env)
        assert pool is not None
        return pool
    if not layout:
        raise PoolError(f"scontrol shows no nodes for Slurm job {job_id}; is it running?")
    sizes = [Resources(1, node["cpus"], 0, float(node["mem"] * MB)) for node in layout]
    return _pool_of(sizes, f"slurm job {job_id}")


def partition_pool(nodes: list[dict[str, str]], partition: str | None) -> Pool:
    """A partition's nodes (``sinfo``) as a pool: what ``jobs`` mode may ever run at once."""
    name = partition or "the default partition"
    if not nodes:
        raise PoolError(f"sinfo lists no nodes in {name}; check --partition")
    sizes = []
    for node in nodes:
        gpus = _GPU_GRES.search(node["gres"])
        sizes.append(
            Resources(
                1,
                int(node["cpus"]),
                int(gpus.group(1)) if gpus else 0,
                float(node["memory"].rstrip("+")) * MB,
            )
        )
    return _pool_of(sizes, f"slurm partition {nodes[0].get('partition') or partition}")


def _pool_of(sizes: list[Resources], source: str) -> Pool:
    total = Resources(
        len(sizes),
        sum(r.cpus for r in sizes),
        sum(r.gpus for r in sizes),
        sum(r.mem for r in sizes),
    )
    largest = Resources(
        1, max(r.cpus for r in sizes), max(r.gpus for r in sizes), max(r.mem for r in sizes)
    )
    return Pool(total, largest, len(sizes), source=source)


def ended_without_result(task: Task, number: int, what: str, state: str, exit_code: str) -> Any:
    """The result of a step or job that ended without writing one: Slurm's state says why."""
    canonical = canonical_state(state)
    reason = {
        "timeout": "timeout",
        "out_of_memory": "out-of-memory",
        "cancelled": "cancelled",
        "failed": "exit",
    }.get(canonical, "lost")
    message = f"{what} ended {state or 'unknown'} without a result"
    result = outcome(task.id, number, reason, message)
    code, _, _signal = exit_code.partition(":")
    if code.isdigit() and reason == "exit":
        result["exit_code"] = int(code)
    return result
