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

    objective: str = "lexicographic"
    time_limit: float = 10.0
    cpsat_workers: int = 8  # the 8 search workers (a portfolio; fewer cores still run them)
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
    priority_class: npt.NDArray[np.int64] | None = None  # per job (PriorityBF's classes)
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


def size_classes(instance: SchedulingInstance) -> npt.NDArray[np.int64]:
    """PriorityBF's classes by the default rule every command shares (``size``: above the 90th
    percentile of nodes class 0, below the 80th class 2, else 1; see
    :mod:`hpcsched.policies.classes`)."""
    import polars as pl

    from hpcsched.policies.classes import DEFAULT_CLASSES, assign_classes

    column = instance.resources.index("nodes") if "nodes" in instance.resources else 0
    table = pl.DataFrame({"nodes": instance.demand[:, column]})
    return assign_classes(table, DEFAULT_CLASSES).to_numpy().astype(np.int64)


def prioritybf_policy(
    instance: SchedulingInstance, options: BenchOptions, done: Sequence[Outcome]
) -> Prepared:
    """PriorityBF with the size classes (without classes it is EASY, job for job)."""
    return Prepared(PRESETS["prioritybf"], priority_class=size_classes(instance))


HEURISTICS = ("fcfs", "sjf", "easy", "conservative", "prioritybf")
POLICIES: dict[str, PolicyFactory] = {name: _preset(name) for name in HEURISTICS}
POLICIES["prioritybf"] = prioritybf_policy
#: policies that need the others' outcomes on the same instance (CP-SAT's warm start)
RUNS_LAST = frozenset({"cpsat"})


def best_outcome(done: Sequence[Outcome], metric: str) -> Outcome | None:
    """The finished outcome with the smallest ``metric`` (a warm start's schedule)."""
    ok = [o for o in done if not o.row.get("error") and o.row.get(metric) is not None]
    return min(ok, key=lambda o: float(o.row[metric])) if ok else None


def _feasible_hint(done: Sequence[Outcome], metric: str) -> Outcome | None:
    """The best outcome with no refused start: a schedule CP-SAT may take as its hint."""
    return best_outcome([o for o in done if not o.row.get("violations")], metric)


def cpsat_policy(
    instance: SchedulingInstance, options: BenchOptions, done: Sequence[Outcome]
) -> Prepared:
    """CP-SAT's plan (:func:`hpcsched.sim.cpsat.solve`) for ``options.objective``, warm-started
    from the best heuristic already measured on the instance (by makespan, unless the objective
    is Σ w·C), executed by :class:`~hpcsched.policies.planned.PlannedStarts`. The row gets the
    solver's status, value, proven bound and seconds, and which schedule was its hint."""
    from hpcsched.policies.planned import PlannedStarts
    from hpcsched.sim.cpsat import solve

    objective = options.objective.replace("-", "_")
    metric = "weighted_completion" if objective == "weighted_completion" else "makespan_s"
    best = _feasible_hint(done, metric)
    hint = None if best is None else {i: int(s) for i, s in enumerate(best.start)}
    result = solve(
        instance,
        objective,  # type: ignore[arg-type]  # checked by solve against its OBJECTIVES
        time_limit=options.time_limit,
        workers=options.cpsat_workers,
        hint=hint,
    )
    if not result.starts and len(instance):
        raise ValueError(
            f"CP-SAT found no schedule of {instance.name} in {options.time_limit:g} s "
            f"(status {result.status}): give it more --time-limit"
        )
    fields = {
        "cpsat_objective": options.objective,
        "cpsat_status": result.status,
        "cpsat_value": result.objective_value,
        "cpsat_bound": result.bound,
        "cpsat_proven": result.proven,
        "cpsat_makespan_proven": result.makespan_proven,
        "cpsat_seconds": result.seconds,
        "cpsat_hint": best.row["policy"] if best is not None else None,
        "cpsat_kept_hint": result.from_hint,
    }
    plan = {i: float(s) for i, s in result.starts.items()}
    return Prepared(PlannedStarts(plan, name="cpsat"), fields=fields)


def llm_fields(stats: dict[str, Any]) -> dict[str, Any]:
    """A language-model policy's row fields from its ``stats()``: decisions it was asked or
    forced to make, the share that fell back to EASY, the share of its own answers that were the
    menu's first action, seconds (mean and P95) and tokens (prompt plus completion) per
    decision."""
    decisions = int(stats.get("decisions", 0))
    seconds = stats.get("seconds_per_decision") or {}
    prompt = float(stats.get("prompt_tokens_per_decision", 0.0))
    completion = float(stats.get("completion_tokens_per_decision", 0.0))
    return {
        "decisions": decisions,
        "llm_forced": stats.get("forced"),
        "llm_calls": stats.get("calls"),
        **{
            f"llm_fallback_{why}": count
            for why, count in (stats.get("fallback_reasons") or {}).items()
        },
        "fallback_share": stats.get("fallbacks", 0) / decisions if decisions else 0.0,
        # the share of the model's own choices that were the menu's first action (starts are
        # listed in queue order: always first is a greedy first fit, no reasoning needed)
        "llm_first_action_share": (
            stats.get("model_chose_first_action", 0) / answered
            if (answered := decisions - int(stats.get("fallbacks", 0))) > 0
            else None
        ),
        "seconds_per_decision": seconds.get("mean"),
        "seconds_per_decision_p95": seconds.get("p95"),
        "tokens_per_decision": prompt + completion,
        "prompt_tokens_per_decision": prompt,
        "completion_tokens_per_decision": completion,
    }


def llm_policy(
    instance: SchedulingInstance, options: BenchOptions, done: Sequence[Outcome]
) -> Prepared:
    """The language-model scheduler (:class:`hpcsched.llmsched.policy.LlmPolicy`) on the
    instance's machine, with the user's objective and deadline per decision; its counts come
    from ``stats()`` once the replay is over."""
    from hpcsched.llmsched.policy import LlmPolicy

    policy = LlmPolicy(
        instance.resources,
        instance.capacity,
        objective=options.llm_objective,
        deadline=options.llm_deadline,
    )
    return Prepared(policy, after=lambda: llm_fields(policy.stats()), close=policy.close)


POLICIES["cpsat"] = cpsat_policy
POLICIES["llm"] = llm_policy
