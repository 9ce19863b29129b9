"""Queue order keys (lower first).

Static keys depend only on the job; dynamic ones (``wfp3``, ``unicep``) also on ``now``.
``r`` is the job's estimate (the requested time by default), ``n`` its processors (first request
component), ``s`` its trace-relative submit time. F1–F4 are the functions found by Carastan-Santos
and de Camargo (SC'17) as used by RLScheduler (Zhang et al., SC'20, ``HPCSimPickJobs.py``);
WFP3 and UNICEP are Tang et al.'s (IPDPS'09) as written there. ``multifactor`` is Slurm's
multifactor priority (:mod:`hpcsched.policies.multifactor`): dynamic, by the job's age.
``bottom-level`` and ``upward-rank`` put the task with the longest remaining path to the end of
its DAG first (the critical-path list scheduling of Adam, Chandy & Dickson, CACM 1974; HEFT's
upward rank, Topcuoglu, Hariri & Wu, TPDS 2002); outside a DAG every rank is 0 and they are FCFS.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from hpcsched.policies.multifactor import DEFAULT_MAX_AGE, multifactor_key
from hpcsched.policies.view import WaitingJob

ORDER_KEYS = (
    "fcfs",
    "sjf",
    "f1",
    "f2",
    "f3",
    "f4",
    "wfp3",
    "unicep",
    "multifactor",
    "bottom-level",
    "upward-rank",
)
DYNAMIC_KEYS = frozenset({"wfp3", "unicep", "multifactor"})
#: orders that read a DAG's ranks (the compiled replay kernel, which has no DAG, does not know them)
DAG_KEYS = frozenset({"bottom-level", "upward-rank"})

Key = Callable[[WaitingJob, float], tuple[float, ...]]


def _s(job: WaitingJob) -> float:
    # RLScheduler guards log10 of a zero submit time with 0.1 in F1; we apply the same guard to all.
    return job.submit if job.submit > 0 else 0.1


def _r(job: WaitingJob) -> float:
    return job.estimate if job.estimate > 0 else 0.1


def _fcfs(job: WaitingJob, now: float) -> tuple[float, ...]:
    return (job.submit, job.id)


def _sjf(job: WaitingJob, now: float) -> tuple[float, ...]:
    return (job.estimate, job.submit, job.id)


def _f1(job: WaitingJob, now: float) -> tuple[float, ...]:
    return (math.log10(_r(job)) * job.request[0] + 870 * math.log10(_s(job)), job.submit, job.id)


def _f2(job: WaitingJob, now: float) -> tuple[float, ...]:
    return (math.sqrt(_r(job)) * job.request[0] + 25600 * math.log10(_s(job)), job.submit, job.id)


def _f3(job: WaitingJob, now: float) -> tuple[float, ...]:
    return (_r(job) * job.request[0] + 6860000 * math.log10(_s(job)), job.submit, job.id)


def _f4(job: WaitingJob, now: float) -> tuple[float, ...]:
    return (_r(job) * math.sqrt(job.request[0]) + 530000 * math.log10(_s(job)), job.submit, job.id)


def _wfp3(job: WaitingJob, now: float) -> tuple[float, ...]:
    wait = now - job.submit
    return (-((wait / _r(job)) ** 3) * job.request[0], job.submit, job.id)


def _unicep(job: WaitingJob, now: float) -> tuple[float, ...]:
    wait = now - job.submit
    n = job.request[0]
    denominator = math.log2(n + 1e-15) * _r(job)
    value = -(wait + 1e-15) / denominator if denominator != 0 else -math.inf
    return (value, job.submit, job.id)


def _bottom_level(job: WaitingJob, now: float) -> tuple[float, ...]:
    return (-job.bottom_level, job.submit, job.id)


def _upward_rank(job: WaitingJob, now: float) -> tuple[float, ...]:
    return (-job.upward_rank, job.submit, job.id)


_KEYS: dict[str, Key] = {
    "fcfs": _fcfs,
    "sjf": _sjf,
    "f1": _f1,
    "f2": _f2,
    "f3": _f3,
    "f4": _f4,
    "wfp3": _wfp3,
    "unicep": _unicep,
    "bottom-level": _bottom_level,
    "upward-rank": _upward_rank,
}


def order_key(name: str, *, age_weight: float = 0.0, max_age: float = DEFAULT_MAX_AGE) -> Key:
    """The key function called ``name``; unknown names list the valid ones. ``age_weight`` and
    ``max_age`` are the multifactor order's (``PriorityWeightAge``, ``PriorityMaxAge``)."""
    if name == "multifactor":
        return multifactor_key(age_weight, max_age)
    try:
        return _KEYS[name]
    except KeyError:
        raise ValueError(
            f"unknown queue order {name!r}; choose one of {', '.join(ORDER_KEYS)}"
        ) from None
