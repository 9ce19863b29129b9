"""Slurm's multifactor job priority (``PriorityType=priority/multifactor``), as a queue order.

Slurm's formula (https://slurm.schedmd.com/priority_multifactor.html, "Job Priority Factors In
General"), every factor a number in [0, 1]::

    Job_priority = PriorityWeightAge       * age_factor
                 + PriorityWeightFairshare * fair-share_factor
                 + PriorityWeightJobSize   * job_size_factor
                 + PriorityWeightPartition * partition_factor
                 + PriorityWeightQOS       * QOS_factor        (+ site, association, TRES, - nice)

- age: time since the job became eligible over ``PriorityMaxAge``, at most 1;
- job size: the job's share of the machine's nodes or processors (``1 -`` that with
  ``PriorityFavorSmall=YES``);
- partition: the partition's ``PriorityJobFactor`` over the largest of any partition;
- QoS: the QoS's ``Priority`` over the largest QoS priority;
- fair-share: the classic algorithm's ``2^(-U/S)``
  (https://slurm.schedmd.com/classic_fair_share.html), ``U`` the user's share of the decayed usage,
  ``S`` the user's normalised shares.

Simplifications, said once here: the site, association, TRES and nice terms are left out; all
but age are computed once when the job is released (:mod:`hpcsched.sim.priority`), where Slurm
recomputes them every ``PriorityCalcPeriod``; fair-share uses equal shares per user (no account
tree, no Fair Tree) and usage decayed with ``PriorityDecayHalfLife`` counted when a job ends (not
while it runs). The sum is truncated to an integer as Slurm's 32-bit priority is, so jobs whose
priorities tie are taken by eligible time, then job id (Slurm: submit time, then job id).

A policy holds the age weight and ``PriorityMaxAge`` (the only factor that changes while a job
waits); each :class:`~hpcsched.policies.view.WaitingJob` carries the rest as ``priority``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hpcsched.policies.view import WaitingJob

#: Slurm's default PriorityMaxAge (7-00:00:00)
DEFAULT_MAX_AGE = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class PriorityWeights:
    """The slurm.conf settings of the formula (``scontrol show config``)."""

    age: float = 0.0  # PriorityWeightAge
    fairshare: float = 0.0  # PriorityWeightFairshare
    job_size: float = 0.0  # PriorityWeightJobSize
    partition: float = 0.0  # PriorityWeightPartition
    qos: float = 0.0  # PriorityWeightQOS
    max_age: float = DEFAULT_MAX_AGE  # PriorityMaxAge, seconds
    favor_small: bool = False  # PriorityFavorSmall
    decay_half_life: float = 7 * 86400.0  # PriorityDecayHalfLife, seconds (0: no decay)


def age_factor(waited: float, max_age: float) -> float:
    return min(max(waited, 0.0), max_age) / max_age if max_age > 0 else 1.0


def job_size_factor(units: float, machine: float, favor_small: bool) -> float:
    share = min(units / machine, 1.0) if machine > 0 else 0.0
    return 1.0 - share if favor_small else share


def fairshare_factor(usage_share: float, shares: float) -> float:
    """Classic fair-share ``2^(-U/S)``: 1 with no usage, 0.5 at exactly the fair share."""
    return 2.0 ** (-usage_share / shares) if shares > 0 else 0.0


def static_priority(
    weights: PriorityWeights,
    *,
    fairshare: float,
    job_size: float,
    partition: float,
    qos: float,
) -> float:
    """Every weighted factor but age (each factor already in [0, 1])."""
    return (
        weights.fairshare * fairshare
        + weights.job_size * job_size
        + weights.partition * partition
        + weights.qos * qos
    )


def multifactor_key(age_weight: float, max_age: float) -> MultifactorKey:
    """The queue order (lower first): highest truncated priority, then eligible time, then id."""
    return MultifactorKey(age_weight, max_age)


@dataclass(frozen=True, slots=True)
class MultifactorKey:
    age_weight: float
    max_age: float

    def __call__(self, job: WaitingJob, now: float) -> tuple[float, ...]:
        age = self.age_weight * age_factor(now - job.submit, self.max_age)
        return (-math.floor(job.priority + age), job.submit, job.id)
