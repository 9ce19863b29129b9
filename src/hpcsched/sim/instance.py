"""A multi-resource scheduling instance: what the scheduling benchmark hands every scheduler.

Jobs with integer release dates, integer durations (the exact run time, which every scheduler is
also told as its estimate: the SWARM comparison is clairvoyant, as CP-SAT must be) and an integer
demand per resource, on one machine with an integer capacity per resource. Integers because
CP-SAT works on integers; the heuristics see the same numbers as floats.

The same instance drives the replay engine (:meth:`SchedulingInstance.job_arrays`), CP-SAT
(:mod:`hpcsched.sim.cpsat`), the lower bounds (:mod:`hpcsched.sim.bounds`) and the language
model's prompt, so every scheduler is judged on one set of numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from hpcsched.sim.replay import JobArrays

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SchedulingInstance:
    """``n`` jobs on one machine of ``k`` resources; job ``i`` is row ``i`` everywhere."""

    name: str
    release: IntArray  # (n,) s, >= 0
    duration: IntArray  # (n,) s, >= 1
    demand: IntArray  # (n, k)
    capacity: tuple[int, ...]  # (k,)
    resources: tuple[str, ...]  # (k,) e.g. ("nodes", "mem_gb", "gpus")
    weight: IntArray  # (n,) the w of sum w*C, >= 1
    user: tuple[str, ...]
    group: tuple[str, ...]

    def __post_init__(self) -> None:
        n, k = len(self.release), len(self.capacity)
        if self.demand.shape != (n, k) or len(self.resources) != k:
            raise ValueError(f"demand {self.demand.shape} does not match {n} jobs x {k} resources")
        for name, column in (("duration", self.duration), ("weight", self.weight)):
            if len(column) != n:
                raise ValueError(f"{name} has {len(column)} entries for {n} jobs")
        if len(self.user) != n or len(self.group) != n:
            raise ValueError("user and group need one entry per job")
        if n and (self.release.min() < 0 or self.duration.min() < 1 or self.weight.min() < 1):
            raise ValueError("releases must be >= 0, durations and weights >= 1")
        too_big = [
            f"job {i} needs {int(self.demand[i, r])} {self.resources[r]} of {self.capacity[r]}"
            for i in range(n)
            for r in range(k)
            if self.demand[i, r] > self.capacity[r] or self.demand[i, r] < 0
        ]
        if too_big:
            raise ValueError(f"{len(too_big)} job(s) can never run: {too_big[0]}")

    def __len__(self) -> int:
        return len(self.release)

    def job_arrays(self) -> JobArrays:
        """The replay engine's columns: estimates are the exact durations, no timelimit."""
        n = len(self)
        return JobArrays(
            submit=self.release.astype(np.float64),
            runtime=self.duration.astype(np.float64),
            estimate=self.duration.astype(np.float64),
            timelimit=np.full(n, np.nan),
            request=self.demand.astype(np.int64),
            priority_class=np.zeros(n, dtype=np.int64),
            user=list(self.user),
        )

    @classmethod
    def from_table(
        cls, table: pl.DataFrame, capacity: dict[str, int], *, name: str = "table"
    ) -> SchedulingInstance:
        """An instance from a job table with ``submit``, ``runtime`` and one column per resource
        named in ``capacity`` (``mem_gb`` is read from ``mem_req`` in bytes, rounded up)."""
        columns = []
        for resource in capacity:
            if resource == "mem_gb":
                columns.append((pl.col("mem_req") / 2**30).ceil().fill_null(0).cast(pl.Int64))
            else:
                columns.append(pl.col(resource).fill_null(0).cast(pl.Int64))
        demand = table.select(columns).to_numpy().astype(np.int64).reshape(table.height, -1)
        users = table["user"].fill_null("").cast(pl.String).to_list()
        groups = (
            table["account"].fill_null("").cast(pl.String).to_list()
            if "account" in table.columns
            else [""] * table.height
        )
        return cls(
            name=name,
            release=table["submit"].round(0).cast(pl.Int64).to_numpy(),
            duration=table["runtime"].ceil().cast(pl.Int64).clip(1).to_numpy(),
            demand=demand,
            capacity=tuple(int(v) for v in capacity.values()),
            resources=tuple(capacity),
            weight=np.ones(table.height, dtype=np.int64),
            user=tuple(users),
            group=tuple(groups),
        )
