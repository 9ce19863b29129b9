"""Small random multi-resource instances for the CP-SAT and lower-bound tests (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from hpcsched.sim.instance import SchedulingInstance


@st.composite
def tiny_instances(draw: st.DrawFn, max_jobs: int = 5) -> SchedulingInstance:
    """Up to ``max_jobs`` jobs on 1–2 resources with small integers; half of the draws have equal
    weights (where the Σ C bound is Schrage's SRPT)."""
    n = draw(st.integers(1, max_jobs))
    k = draw(st.integers(1, 2))
    capacity = tuple(draw(st.lists(st.integers(1, 4), min_size=k, max_size=k)))
    small = st.integers(0, 6)
    release = draw(st.lists(small, min_size=n, max_size=n))
    duration = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    demand = [[draw(st.integers(0, c)) for c in capacity] for _ in range(n)]
    if draw(st.booleans()):
        weight = [draw(st.integers(1, 3))] * n
    else:
        weight = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    return SchedulingInstance(
        name="tiny",
        release=np.asarray(release, dtype=np.int64),
        duration=np.asarray(duration, dtype=np.int64),
        demand=np.asarray(demand, dtype=np.int64).reshape(n, k),
        capacity=capacity,
        resources=("nodes", "gpus")[:k],
        weight=np.asarray(weight, dtype=np.int64),
        user=("u",) * n,
        group=("g",) * n,
    )


def random_instance(n: int, seed: int, *, spread: int = 10) -> SchedulingInstance:
    """``n`` jobs on (16 nodes, 64 GB, 4 GPUs): releases uniform in ``[0, spread·n)``, durations
    1–100 s, 1–16 nodes, 0–64 GB, a GPU or none, weights 1–5."""
    rng = np.random.default_rng(seed)
    capacity = (16, 64, 4)
    demand = np.stack(
        [rng.integers(1, 17, n), rng.integers(0, 65, n), rng.integers(0, 2, n)], axis=1
    )
    return SchedulingInstance(
        name=f"random-{n}-{seed}",
        release=np.sort(rng.integers(0, spread * n, n)),
        duration=rng.integers(1, 101, n),
        demand=demand.astype(np.int64),
        capacity=capacity,
        resources=("nodes", "mem_gb", "gpus"),
        weight=rng.integers(1, 6, n),
        user=("u",) * n,
        group=("g",) * n,
    )
