"""``job-refused-too-long``: a pending job that can never start because its time limit exceeds
its partition's ``MaxTime``.

slurmctld keeps such a job pending with ``Reason=PartitionTimeLimit`` (squeue(1), JOB REASON
CODES: "The job's time limit exceeds its partition's current time limit"). It happens when an
administrator lowers a partition's ``MaxTime`` after the job was submitted, or on a site without
``EnforcePartLimits`` (where sbatch accepts such a job). ``hpcsched watch --observe`` reports
each one once (:meth:`hpcsched.advise.watch.Watcher.once`), for an agent's ``split`` rule.

:func:`is_refused` is the test on a ``squeue --json`` row and :func:`refused_fields` the event's
fields from ``scontrol show job -o``; neither does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

#: squeue's reason for a job whose limit exceeds its partition's current MaxTime.
REASON: Final = "PartitionTimeLimit"
EVENT: Final = "job-refused-too-long"


def is_refused(job: Mapping[str, Any]) -> bool:
    """A ``squeue --json`` row of a pending job held back by its partition's time limit."""
    return (
        str(job.get("job_state", "")).upper() == "PENDING"
        and str(job.get("state_reason", "")) == REASON
    )


def _value(info: Mapping[str, str], key: str) -> str | None:
    value = info.get(key, "")
    return None if value in ("", "(null)", "N/A", "None") else value


def _int(info: Mapping[str, str], key: str) -> int | None:
    value = _value(info, key) or ""
    return int(value) if value.isdigit() else None


def refused_fields(job_id: str, info: Mapping[str, str], max_time: float) -> dict[str, Any]:
    """The event's fields: the job, its limit and its partition's MaxTime (seconds), who and
    where (``user``, ``name``, ``work_dir``, ``script``: ``Command=``, None for a script sent
    on stdin) and the job-table columns a rule may match on (``state`` is ``pending``)."""
    from hpcsched.advise.sbatch_script import parse_time

    try:
        limit = parse_time(info.get("TimeLimit", ""))
    except ValueError:
        limit = None
    user = (_value(info, "UserId") or "").split("(")[0] or None
    return {
        "job_id": job_id,
        "partition": _value(info, "Partition"),
        "timelimit": limit,
        "max_time": max_time if math.isfinite(max_time) else None,
        "user": user,
        "name": _value(info, "JobName"),
        "work_dir": _value(info, "WorkDir"),
        "script": _value(info, "Command"),
        "account": _value(info, "Account"),
        "qos": _value(info, "QOS"),
        "state": "pending",
        "reason": REASON,
        "submit": _value(info, "SubmitTime"),
        "nodes": _int(info, "NumNodes"),
        "cpus": _int(info, "NumCPUs"),
        "mem_req": _value(info, "MinMemoryNode") or _value(info, "MinMemoryCPU"),
    }
