"""The compiled engine: ``replay`` with a :class:`BackfillPolicy`, the same schedule bit for bit.

:func:`replay_fast` validates the jobs, turns the policy's parameters into integer codes, ranks
the jobs by the static order keys (numpy; ties broken by ``(submit, index)`` as the key tuples of
:mod:`hpcsched.policies.order` do, the index being the reference's ``job.id``) and runs
:func:`hpcsched.sim._fastsim.simulate`. The dynamic keys (wfp3, unicep) are evaluated by the
kernel at every pass with the same formulas. Logarithms go through :mod:`math` as in the
reference: numpy's vectorised ``log10`` may round differently, and one ulp can swap two jobs.

:func:`prepare` and :meth:`KernelCall.run` split the work, so that benchmarks can time the
kernel alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hpcsched.policies.backfilling import BackfillPolicy
from hpcsched.policies.order import DYNAMIC_KEYS
from hpcsched.scheduler.overrun import MIN_ESTIMATE
from hpcsched.sim import _fastsim
from hpcsched.sim.replay import JobArrays, Schedule

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _math(function: Callable[[float], float], values: FloatArray) -> FloatArray:
    """``function`` (from :mod:`math`) on every value, rounded exactly as the reference."""
    return np.fromiter(map(function, values.tolist()), dtype=np.float64, count=len(values))


def static_key(name: str, submit: FloatArray, estimate: FloatArray, procs: IntArray) -> FloatArray:
    """The first element of the static key tuple (``order._sjf`` ... ``order._f4``) per job."""
    if name == "sjf":
        return estimate.copy()
    r = np.where(estimate > 0, estimate, 0.1)  # order._r
    n = procs.astype(np.float64)
    log_s = _math(math.log10, np.where(submit > 0, submit, 0.1))  # log10(order._s)
    if name == "f1":
        return _math(math.log10, r) * n + 870.0 * log_s
    if name == "f2":
        return np.sqrt(r) * n + 25600.0 * log_s
    if name == "f3":
        return r * n + 6860000.0 * log_s
    if name == "f4":
        return r * np.sqrt(n) + 530000.0 * log_s
    raise ValueError(f"{name!r} is not a static order key with a value")


def static_rank(
    name: str,
    submit: FloatArray,
    estimate: FloatArray,
    procs: IntArray,
    priority_class: IntArray | None = None,
) -> IntArray:
    """Each job's position in the order ``(priority_class?, key value?, submit, index)``."""
    index = np.arange(len(submit), dtype=np.int64)
    keys: list[npt.NDArray[np.generic]] = [index, submit]
    if name != "fcfs":
        keys.append(static_key(name, submit, estimate, procs))
    if priority_class is not None:
        keys.append(priority_class)
    rank = np.empty(len(submit), dtype=np.int64)
    rank[np.lexsort(keys)] = index  # lexsort: the last key is the primary one
    return rank


@dataclass(frozen=True)
class KernelCall:
    """One :func:`hpcsched.sim._fastsim.simulate` call, inputs and (filled by ``run``) outputs."""

    submit: FloatArray
    runtime: FloatArray
    estimate: FloatArray
    timelimit: FloatArray
    request: IntArray
    submit_order: IntArray  # jobs by (submit, index): the order the reference submits them
    rank: IntArray  # queue order for static keys (class first for prioritybf)
    backfill_rank: IntArray  # EASY's static backfill order, or FCFS for rlscheduler
    priority_class: IntArray  # dense: 0 .. n_classes - 1, in the original order
    n_classes: int
    key_r: FloatArray  # order._r(job)
    key_den: FloatArray  # log2(n + 1e-15) * order._r(job), for unicep
    capacity: int
    variant: int
    order_kind: int
    backfill_kind: int
    sticky_head: bool
    event_release: bool
    start: FloatArray
    end: FloatArray
    backfilled: npt.NDArray[np.uint8]

    def run(self) -> int:
        """Run the kernel; return how many jobs never started."""
        return _fastsim.simulate(
            self.submit,
            self.runtime,
            self.estimate,
            self.timelimit,
            self.request,
            self.submit_order,
            self.rank,
            self.backfill_rank,
            self.priority_class,
            self.n_classes,
            self.key_r,
            self.key_den,
            self.capacity,
            self.variant,
            self.order_kind,
            self.backfill_kind,
            self.sticky_head,
            self.event_release,
            self.start,
            self.end,
            self.backfilled,
        )


def _float_column(jobs: JobArrays, name: str, *, finite: bool, non_negative: bool) -> FloatArray:
    values = np.ascontiguousarray(getattr(jobs, name), dtype=np.float64)
    if values.shape != (len(jobs.submit),):
        raise ValueError(f"jobs.{name} must hold one number per job, not shape {values.shape}")
    bad = np.zeros(len(values), dtype=bool)
    if finite:
        bad |= ~np.isfinite(values)
    if non_negative:
        bad |= values < 0
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        need = "a finite number" + (" >= 0" if non_negative else "")
        raise ValueError(f"job {j}: {name} is {values[j]}, it must be {need}")
    return values


def _processors(jobs: JobArrays, capacity: int) -> IntArray:
    if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) or capacity < 1:
        raise ValueError(f"capacity must be a positive number of processors, not {capacity!r}")
    request = np.asarray(jobs.request)
    if request.ndim != 2 or request.shape != (len(jobs.submit), 1):
        raise ValueError(
            f"the fast engine simulates one resource (processors): jobs.request must have shape "
            f"({len(jobs.submit)}, 1), not {request.shape}; use replay() for several resources"
        )
    procs = np.ascontiguousarray(request[:, 0], dtype=np.int64)
    bad = np.flatnonzero((procs < 0) | (procs > capacity))
    if bad.size:
        j = int(bad[0])
        raise ValueError(
            f"job {j} requests {procs[j]} processors but the machine has {capacity}: "
            "drop such jobs first (simulate() refuses them up front)"
        )
    return procs


def prepare(jobs: JobArrays, policy: BackfillPolicy, capacity: int) -> KernelCall:
    """Validate the jobs and encode ``policy`` for the kernel (see :func:`replay_fast`)."""
    if not isinstance(policy, BackfillPolicy):
        raise TypeError(f"the fast engine runs BackfillPolicy only, not {type(policy).__name__}")
    procs = _processors(jobs, capacity)
    submit = _float_column(jobs, "submit", finite=True, non_negative=False)
    runtime = _float_column(jobs, "runtime", finite=True, non_negative=True)
    estimate = _float_column(jobs, "estimate", finite=True, non_negative=True)
    # the state's planning estimate (scheduler.overrun.planning_estimate), vectorised
    estimate = np.where(estimate >= MIN_ESTIMATE, estimate, MIN_ESTIMATE)
    timelimit = _float_column(jobs, "timelimit", finite=False, non_negative=False)
    classes = np.asarray(jobs.priority_class, dtype=np.int64)
    if classes.shape != submit.shape:
        raise ValueError("jobs.priority_class must hold one class per job")
    levels, dense = np.unique(classes, return_inverse=True)
    priority_class = np.ascontiguousarray(dense.reshape(-1), dtype=np.int64)
    n = len(submit)

    def encode(name: str | None, by_class: bool) -> tuple[int, IntArray]:
        """Kernel code and static rank of an order key (None: the queue's own order)."""
        if name is None or name in DYNAMIC_KEYS:
            return _fastsim.KEY_CODES[name or "queue"], np.zeros(n, dtype=np.int64)
        rank = static_rank(name, submit, estimate, procs, priority_class if by_class else None)
        return _fastsim.KEY_CODES["static"], rank

    order_kind, rank = encode(policy.order, policy.backfill == "prioritybf")
    backfill_order = {"easy": policy.backfill_order, "rlscheduler": "fcfs"}.get(policy.backfill)
    backfill_kind, backfill_rank = encode(backfill_order, False)
    key_r = np.where(estimate > 0, estimate, 0.1)  # order._r
    if "unicep" in (policy.order, backfill_order):
        key_den = _math(math.log2, procs.astype(np.float64) + 1e-15) * key_r
    else:
        key_den = np.zeros(n)
    return KernelCall(
        submit=submit,
        runtime=runtime,
        estimate=estimate,
        timelimit=timelimit,
        request=procs,
        submit_order=np.argsort(submit, kind="stable").astype(np.int64),
        rank=rank,
        backfill_rank=backfill_rank,
        priority_class=priority_class,
        n_classes=max(len(levels), 1),
        key_r=key_r,
        key_den=key_den,
        capacity=int(capacity),
        variant=_fastsim.VARIANT_CODES[policy.backfill],
        order_kind=order_kind,
        backfill_kind=backfill_kind,
        sticky_head=policy.sticky_head,
        event_release=policy.release == "event",
        start=np.full(n, np.nan),
        end=np.full(n, np.nan),
        backfilled=np.zeros(n, dtype=np.uint8),
    )


def replay_fast(jobs: JobArrays, policy: BackfillPolicy, capacity: int) -> Schedule:
    """``replay(jobs, policy, (capacity,))`` in compiled code: the same start, end, backfilled.

    One resource dimension (processors); every request must fit in ``capacity``.
    """
    call = prepare(jobs, policy, capacity)
    never = call.run()
    if never:
        raise RuntimeError(f"{never} jobs never started (policy {policy.name} stalled)")
    return Schedule(call.start, call.end, call.backfilled.astype(bool))
