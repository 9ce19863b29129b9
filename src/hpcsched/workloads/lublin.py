"""Synthetic rigid-job workloads from the Lublin–Feitelson model.

Model: U. Lublin and D. G. Feitelson, "The workload on parallel supercomputers: modeling the
characteristics of rigid jobs", J. Parallel Distrib. Comput. 63(11):1105–1122, 2003, as
distributed by the Parallel Workloads Archive in ``m_lublin99.c``. This is an independent numpy
implementation of that program's *batch* job stream (``INCLUDE_JOBS_TYPE`` with batch parameters
only); parameter names below are the C program's ``*_BATCH`` constants.

Validity: the model was fitted to 1990s production logs of machines with O(100–1000) processors;
defaults describe a 128-node machine, other sizes rescale only the job-size range (``UHI``,
``UMED``), and runtimes are capped at e^12 s (~45 h) as in the original.

Two additions that the model does not have (documented where they are generated):
user runtime estimates (``timelimit``) and user/account ids.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from hpcsched.core.schema import conform

__all__ = ["LUBLIN_DEFAULT_JOBS", "generate"]

LUBLIN_DEFAULT_JOBS: Final = 5000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# --- job size (number of processors) ---------------------------------------------------------
SERIAL_PROB: Final = 0.2927  # SERIAL_PROB_BATCH: fraction of serial (1-processor) jobs
POW2_PROB: Final = 0.6686  # POW2_PROB_BATCH: fraction of jobs drawn as 2^k-sized parallel jobs
ULOW: Final = 1.2  # ULOW_BATCH: log2 of the smallest parallel job
UHI_REF: Final = 7.0  # UHI_BATCH: log2 of the reference 128-node machine
UMED_REF: Final = 5.0  # UMED_BATCH: breakpoint of the two-stage uniform (= UHI - 2)
UPROB: Final = 0.875  # UPROB_BATCH: weight of the lower stage [ULOW, UMED]

# --- runtime: log(runtime) ~ hyper-gamma(A1, B1, A2, B2, p), p = PA * size + PB ----------------
A1: Final = 6.57  # A1_BATCH (shape of the "short" gamma; scale B1)
B1: Final = 0.823  # B1_BATCH
A2: Final = 639.1  # A2_BATCH (shape of the "long" gamma; scale B2)
B2: Final = 0.0156  # B2_BATCH
PA: Final = -0.003  # PA_BATCH: p falls with size -> big jobs run longer
PB: Final = 0.6986  # PB_BATCH
TOO_MUCH_TIME: Final = 12.0  # redraw log-runtimes above this (e^12 s ~ 45 h)

# --- arrivals ----------------------------------------------------------------------------------
AARR: Final = 6.0415  # AARR_BATCH: shape of gamma for log(inter-arrival) at rush hours
BARR: Final = 0.8531  # BARR_BATCH: its scale
ARAR: Final = 1.0519  # ARAR_BATCH: arrive-rush-to-all ratio; the shape used is AARR * ARAR
ANUM: Final = 6.1271  # ANUM_BATCH: shape of gamma for the time of day (half-hour units)
BNUM: Final = 5.2740  # BNUM_BATCH: its scale
TOO_MUCH_ARRIVE_TIME: Final = 13.0  # redraw log-inter-arrivals above this (e^13 s ~ 5 days)
BUCKETS: Final = 48  # half-hour buckets per day
CYCLIC_DAY_START: Final = 11  # the fitted day runs over buckets [11, 59), wrapped onto [0, 48)
SECONDS_IN_BUCKET: Final = 86400.0 / BUCKETS

# --- additions: runtime estimates and users (not part of Lublin's model) -----------------------
#: Popular walltime requests (s): round values, as Tsafrir, Etsion & Feitelson (JSSPP 2005)
#: observe that a few "canonical" values dominate. The top one is the machine's maximum, which
#: must exceed e^TOO_MUCH_TIME.
ESTIMATE_VALUES: Final = np.array(
    [m * 60.0 for m in (5, 10, 15, 20, 30, 45)]
    + [h * 3600.0 for h in (1, 1.5, 2, 3, 4, 6, 8, 10, 12, 18, 24, 36, 48)]
)
ESTIMATE_MAX_PROB: Final = 0.15  # share of jobs that just request the maximum
ESTIMATE_MIN_ACCURACY: Final = 0.1  # accuracy runtime/estimate ~ U(this, 1) for the rest
ZIPF_EXPONENT: Final = 1.0  # user popularity: P(user k) ~ 1 / k^s
JOBS_PER_USER: Final = 25
MAX_USERS: Final = 200
USERS_PER_ACCOUNT: Final = 10


def _gamma_cdf(x: FloatArray, shape: float, scale: float) -> FloatArray:
    """Regularized lower incomplete gamma P(shape, x/scale) by its power series (small x only)."""
    z = x / scale
    terms = np.ones_like(z)
    total = np.ones_like(z)
    for n in range(1, 400):
        terms = terms * z / (shape + n)
        total = total + terms
    log_front = shape * np.log(z) - z - math.lgamma(shape + 1.0)
    return np.asarray(np.exp(log_front) * total, dtype=np.float64)


def _day_weights() -> FloatArray:
    """Relative arrival intensity of each half-hour bucket (mean 1), as ``arrive_init``.

    Bucket ``i`` of the fitted day (``CYCLIC_DAY_START <= i < BUCKETS + CYCLIC_DAY_START``)
    gets the gamma(ANUM, BNUM) mass of [i - 0.5, i + 0.5] and lands in slot ``(i - 1) % 48``
    of the 0:00-based day; the peak falls near 13:00, the trough near 05:00.
    """
    i = np.arange(CYCLIC_DAY_START, BUCKETS + CYCLIC_DAY_START, dtype=np.float64)
    mass = _gamma_cdf(i + 0.5, ANUM, BNUM) - _gamma_cdf(i - 0.5, ANUM, BNUM)
    weights: FloatArray = np.empty(BUCKETS)
    weights[(i.astype(np.int64) - 1) % BUCKETS] = mass
    return weights / float(weights.mean())


def _truncated_gamma(
    rng: np.random.Generator, shape: float, scale: float, limit: float, n: int
) -> FloatArray:
    """gamma(shape, scale) samples, each redrawn while above ``limit`` (the model's rule)."""
    out = rng.gamma(shape, scale, n)
    bad = np.flatnonzero(out > limit)
    while bad.size:
        out[bad] = rng.gamma(shape, scale, bad.size)
        bad = bad[out[bad] > limit]
    return out


def _arrivals(rng: np.random.Generator, n: int, load_scale: float) -> FloatArray:
    """Submit offsets (s from midnight of day 0) with the model's daily cycle.

    ``calc_next_arrive`` draws g ~ gamma(AARR*ARAR, BARR) and gets e^g / SECONDS_IN_BUCKET
    "points"; time then advances through the buckets, each costing its weight in points. That
    is a time warp: arrival k happens when the cumulative bucket weight reaches the sum of the
    points drawn so far. We invert that piecewise-linear map for all jobs at once. The first
    job arrives at offset 0; ``load_scale`` divides the points (compressing inter-arrivals).
    """
    gam = _truncated_gamma(rng, AARR * ARAR, BARR, TOO_MUCH_ARRIVE_TIME, n)
    points = np.exp(gam) / SECONDS_IN_BUCKET / load_scale
    total = np.concatenate(([0.0], np.cumsum(points[:-1])))
    weights = _day_weights()
    edges = np.concatenate(([0.0], np.cumsum(weights)))  # points at each bucket start
    per_day = edges[-1]
    day = np.floor(total / per_day)
    within = total - day * per_day
    bucket = np.clip(np.searchsorted(edges, within, side="right") - 1, 0, BUCKETS - 1)
    frac = (within - edges[bucket]) / weights[bucket]
    return np.asarray((day * BUCKETS + bucket + frac) * SECONDS_IN_BUCKET, dtype=np.float64)


def _sizes(rng: np.random.Generator, n: int, machine_procs: int) -> IntArray:
    """``calc_number_of_nodes``: serial, else 2^two-stage-uniform, rounded to 2^k for pow2 jobs.

    UHI = log2(machine size) and UMED = UHI - (UHI_REF - UMED_REF) follow the C program's advice
    (UMED in [UHI-3.5, UHI-1.5]); on tiny machines UMED is kept inside [ULOW, UHI].
    """
    uhi = math.log2(machine_procs)
    ulow = min(ULOW, uhi)
    umed = min(max(uhi - (UHI_REF - UMED_REF), ulow), uhi)
    if umed == ulow:
        umed = (ulow + uhi) / 2.0
    u = rng.random(n)
    lower = rng.random(n) <= UPROB
    par = np.where(lower, rng.uniform(ulow, umed, n), rng.uniform(umed, uhi, n))
    pow2 = (u > SERIAL_PROB) & (u <= SERIAL_PROB + POW2_PROB)
    par = np.where(pow2, np.floor(par + 0.5), par)
    size = np.floor(np.exp2(par) + 0.5).astype(np.int64)
    size[u <= SERIAL_PROB] = 1
    return np.clip(size, 1, machine_procs)


def _runtimes(rng: np.random.Generator, size: IntArray) -> FloatArray:
    """``time_from_nodes``: log(runtime) ~ hyper-gamma with p = clip(PA*size + PB, 0, 1).

    As in ``m_lublin99.c`` the mixing probability is linear in the size itself (not its log);
    log-runtimes above TOO_MUCH_TIME are redrawn (component choice included); the result is
    truncated to whole seconds like the C cast, and is >= 1 s since the gammas are >= 0.
    """
    p = np.clip(PA * size + PB, 0.0, 1.0)
    hg = np.empty(size.size)
    todo = np.arange(size.size)
    while todo.size:
        first = rng.random(todo.size) <= p[todo]
        hg[todo] = rng.gamma(np.where(first, A1, A2), np.where(first, B1, B2))
        todo = todo[hg[todo] > TOO_MUCH_TIME]
    return np.maximum(np.floor(np.exp(hg)), 1.0)


def _estimates(rng: np.random.Generator, runtime: FloatArray) -> FloatArray:
    """User walltime requests (Lublin's model has none): a simplified Tsafrir–Etsion–Feitelson.

    Rule: with probability ESTIMATE_MAX_PROB the user asks for the maximum (48 h); otherwise
    the intended request is runtime / a with accuracy a ~ U(ESTIMATE_MIN_ACCURACY, 1), rounded
    *up* to the next popular value. Hence timelimit >= runtime always, requests are a few round
    numbers, and the maximum is one of the most popular (~18% of jobs with the defaults).
    """
    n = runtime.size
    wants_max = rng.random(n) < ESTIMATE_MAX_PROB
    accuracy = rng.uniform(ESTIMATE_MIN_ACCURACY, 1.0, n)
    idx = np.searchsorted(ESTIMATE_VALUES, runtime / accuracy, side="left")
    idx = np.minimum(idx, ESTIMATE_VALUES.size - 1)
    idx[wants_max] = ESTIMATE_VALUES.size - 1
    return np.asarray(ESTIMATE_VALUES[idx], dtype=np.float64)


def _users(rng: np.random.Generator, n: int) -> tuple[IntArray, IntArray]:
    """User 1..U with Zipf-like popularity P(k) ~ k^-ZIPF_EXPONENT (u1 most active), and account.

    U = clip(ceil(jobs / JOBS_PER_USER), 1, MAX_USERS); user k is in account
    1 + (k - 1) % ceil(U / USERS_PER_ACCOUNT). Users are independent of the job attributes
    (the model has no per-user locality).
    """
    n_users = min(MAX_USERS, max(1, math.ceil(n / JOBS_PER_USER)))
    popularity = 1.0 / np.arange(1, n_users + 1, dtype=np.float64) ** ZIPF_EXPONENT
    user = rng.choice(n_users, size=n, p=popularity / popularity.sum()) + 1
    account = (user - 1) % math.ceil(n_users / USERS_PER_ACCOUNT) + 1
    return user.astype(np.int64), account.astype(np.int64)


def generate(
    jobs: int,
    *,
    machine_procs: int = 256,
    seed: int = 0,
    start_time: float = 0.0,
    load_scale: float = 1.0,
) -> pl.DataFrame:
    """Generate ``jobs`` batch jobs of the Lublin–Feitelson model for ``machine_procs`` CPUs.

    Returns a canonical job table sorted by ``submit`` (``start_time`` is taken as midnight of
    the first day, the model's START hour 0; the first job arrives at ``start_time``).
    ``load_scale`` > 1 compresses inter-arrival times by that factor (higher offered load).
    Arrivals do not depend on the machine size, so the offered load does (about 0.35 at 64,
    0.4 at 256 and 0.5 at 1024 processors with ``load_scale=1``). The same ``seed`` gives an
    identical table.
    """
    if jobs < 0:
        raise ValueError(f"jobs must be >= 0, got {jobs}")
    if machine_procs < 1:
        raise ValueError(f"machine_procs must be >= 1, got {machine_procs}")
    if not load_scale > 0:
        raise ValueError(f"load_scale must be > 0, got {load_scale}")
    rng = np.random.default_rng(seed)
    submit = start_time + _arrivals(rng, jobs, load_scale) if jobs else np.empty(0)
    size = _sizes(rng, jobs, machine_procs)
    runtime = _runtimes(rng, size)
    timelimit = _estimates(rng, runtime)
    user, account = _users(rng, jobs)
    frame = pl.DataFrame(
        {
            "job_id": pl.int_range(1, jobs + 1, eager=True).cast(pl.String),
            "submit": submit,
            "runtime": runtime,
            "timelimit": timelimit,
            "cpus": size,
            "user": pl.Series(user, dtype=pl.Int64).cast(pl.String),
            "account": pl.Series(account, dtype=pl.Int64).cast(pl.String),
        }
    ).with_columns(
        ("u" + pl.col("user")).alias("user"),
        ("g" + pl.col("account")).alias("account"),
        pl.lit("batch").alias("partition"),
        pl.lit("normal").alias("qos"),
        pl.lit("completed").alias("state"),
        pl.lit("lublin").alias("source"),
        pl.lit("").alias("name"),
    )
    return conform(frame)
