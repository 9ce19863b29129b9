"""The policies of the scheduling benchmark: what a factory gets and returns, and the registry.

A factory builds one policy for one instance. It is told the benchmark's options and the
outcomes already measured on that instance, so CP-SAT can start from the best heuristic's
schedule (:data:`RUNS_LAST` run after the others). It returns a policy, or a :class:`Prepared`
policy with the row fields only it knows (CP-SAT's status and bound, a language model's
fallbacks and tokens) and what to release afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from hpcsched.policies.presets import PRESETS
from hpcsched.policies.view import Policy
from hpcsched.sim.instance import SchedulingInstance

FloatArray = npt.NDArray[np.float64]

#: CP-SAT's objectives, as the command line names them
OBJECTIVES = ("makespan", "weighted-completion", "lexicographic")


@dataclass(frozen=True)
class BenchOptions:
    """What the factories are told: CP-SAT's objective, time limit per instance and search
    workers; the language model's objective text and its deadline per decision."""

    objective: str = "weighted-completion"
    time_limit: float = 10.0
    cpsat_workers: int = 2
    llm_objective: str | None = None
    llm_deadline: float = 5.0


@dataclass(frozen=True)
class Outcome:
    """One finished case: its row and each job's start (NaN when it failed)."""

    row: dict[str, Any]
    start: FloatArray


@dataclass
class Prepared:
    """A policy with what the harness needs besides it: fixed ``fields`` for its row (CP-SAT's
    status and bound), ``after`` for the fields known once the replay is over (a language
    model's decisions, fallbacks and tokens) and ``close`` to release what it holds."""

    policy: Policy
    fields: dict[str, Any] = field(default_factory=dict)
    after: Callable[[], dict[str, Any]] | None = None
    close: Callable[[], None] | None = None


class PolicyFactory(Protocol):
    """Builds a policy for one instance; ``done`` holds the outcomes already measured on it."""

    def __call__(
        self, instance: SchedulingInstance, options: BenchOptions, done: Sequence[Outcome]
    ) -> Policy | Prepared: ...


def _preset(name: str) -> PolicyFactory:
    def build(
        instance: SchedulingInstance, options: BenchOptions, done: Sequence[Outcome]
    ) -> Policy:
        return PRESETS[name]

    return build


HEURISTICS = ("fcfs", "sjf", "easy", "conservative", "prioritybf")
POLICIES: dict[str, PolicyFactory] = {name: _preset(name) for name in HEURISTICS}
#: policies that need the others' outcomes on the same instance (CP-SAT's warm start)
RUNS_LAST = frozenset({"cpsat"})


def best_outcome(done: Sequence[Outcome], metric: str) -> Outcome | None:
    """The finished outcome with the smallest ``metric`` (a warm start's schedule)."""
    ok = [o for o in done if not o.row.get("error") and o.row.get(metric) is not None]
    return min(ok, key=lambda o: float(o.row[metric])) if ok else None
