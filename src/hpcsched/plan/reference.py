"""The budget form solved by OR-Tools CP-SAT: the exact reference the DP is checked and timed
against (integer utilities only, as in the benchmark and test instances)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from hpcsched.plan.knapsack import Instance


@dataclass(frozen=True)
class CpSatResult:
    status: str  # CP-SAT's status name: OPTIMAL, FEASIBLE, ...
    objective: float
    bound: float
    seconds: float


def cp_sat_budget(
    instance: Instance, budget: int, *, seconds: float = 60.0, workers: int = 1
) -> CpSatResult:
    """Max utility, one option per output, total tokens within ``budget``."""
    from ortools.sat.python import cp_model

    started = time.perf_counter()
    model = cp_model.CpModel()
    rows = range(len(instance.utility))
    x = [model.new_bool_var(f"x{r}") for r in rows]
    for i in range(instance.n_outputs):
        model.add_exactly_one(x[instance.offsets[i] : instance.offsets[i + 1]])
    model.add(sum(int(instance.tokens[r]) * x[r] for r in rows) <= budget)
    model.maximize(sum(int(instance.utility[r]) * x[r] for r in rows))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = workers
    status = solver.solve(model)
    return CpSatResult(
        solver.status_name(status),
        float(solver.objective_value),
        float(solver.best_objective_bound),
        time.perf_counter() - started,
    )


def cp_sat_cover_lexicographic(
    instance: Instance, required_utility: int, *, seconds: float = 60.0, workers: int = 1
) -> tuple[str, int, int]:
    """Least compute reaching ``required_utility``, then the fewest tokens: one objective,
    ``compute · (Σ max tokens + 1) + tokens``. Returns CP-SAT's status, compute and tokens."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    rows = range(len(instance.utility))
    x = [model.new_bool_var(f"x{r}") for r in rows]
    for i in range(instance.n_outputs):
        model.add_exactly_one(x[instance.offsets[i] : instance.offsets[i + 1]])
    model.add(sum(int(instance.utility[r]) * x[r] for r in rows) >= required_utility)
    compute = sum(int(instance.compute[r]) * x[r] for r in rows)
    tokens = sum(int(instance.tokens[r]) * x[r] for r in rows)
    model.minimize(compute * (int(instance.tokens.sum()) + 1) + tokens)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = workers
    status = solver.solve(model)
    picked = [r for r in rows if solver.value(x[r])]
    return (
        solver.status_name(status),
        int(instance.compute[picked].sum()),
        int(instance.tokens[picked].sum()),
    )
