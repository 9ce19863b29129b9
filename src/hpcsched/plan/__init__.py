"""Token-budget tool selection for reasoning agents, and the planner's token ledger.

- :mod:`.knapsack`: the multiple-choice knapsack and its exact DP (budget and cover forms);
- :mod:`.greedy`: the talk's greedy with back-off and Sinha–Zoltners' LP-greedy;
- :mod:`.spec`: the YAML spec of outputs and their candidate tasks;
- :mod:`.ledger`: tokens per call (reported or estimated) and fine vs coarse granularity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpcsched.plan.knapsack import Instance, Selection, Weight

METHODS = ("dp", "greedy", "lp-greedy")


def plan(
    instance: Instance,
    method: str = "dp",
    *,
    budget: int | None = None,
    require_utility: float | None = None,
    weight: Weight = "tokens",
) -> Selection:
    """Solve the budget form (``budget``) or the cover form (``require_utility``, least
    ``weight``) with ``method``; :class:`~.knapsack.InfeasibleError` when nothing qualifies."""
    from hpcsched.plan import greedy, knapsack

    if (budget is None) == (require_utility is None):
        raise ValueError("give exactly one of a budget or a required utility")
    if method not in METHODS:
        raise ValueError(f"method {method!r}: use one of {', '.join(METHODS)}")
    if budget is not None:
        solve = {"dp": knapsack.solve_budget, "greedy": greedy.talk_greedy}.get(
            method, greedy.lp_greedy
        )
        return solve(instance, budget, weight=weight)
    cover = {"dp": knapsack.solve_cover, "greedy": greedy.talk_greedy_cover}.get(
        method, greedy.lp_greedy_cover
    )
    assert require_utility is not None
    return cover(instance, require_utility, minimize=weight)
