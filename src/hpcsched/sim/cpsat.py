"""An exact reference: the instance as a CP-SAT model (OR-Tools), solved to a proven bound.

The model (the cumulative scheduling model of Baptiste, Le Pape & Nuijten, *Constraint-Based
Scheduling*, 2001, as CP-SAT states it): one fixed-size interval per job, its start at or after
the job's release; one cumulative constraint per resource that some job uses; a makespan variable
at least every end; the objective is the makespan, Σ w·C, or the lexicographic pair (the makespan
first, then Σ w·C with the makespan held at the value found: two solves).

Warm start: ``hint`` (the starts of the best heuristic's schedule) is checked feasible, given to
CP-SAT as a complete hint (every start and the makespan; ``AddHint``), and kept as the answer if
the solver finds nothing better within the time limit. The horizon is a bound some optimal
schedule meets: for the makespan the hint's makespan, else ``max r + Σ p`` (an active schedule,
among which an optimum lies for every regular objective, leaves no idle instant after the last
release).

The result says what is proven: ``proven`` only when CP-SAT reports OPTIMAL (for the lexicographic
pair, both solves); ``bound`` is the solver's own proven bound (for the pair, the second solve's,
which holds among schedules of the makespan found; ``makespan_proven`` says whether that makespan
is the optimum). OR-Tools is imported here only, inside the functions, so that importing this
module costs nothing.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hpcsched.policies.planned import PlannedStarts
from hpcsched.sim.instance import SchedulingInstance
from hpcsched.sim.replay import Schedule, replay
from hpcsched.sim.schedule_check import first_violation

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

Objective = Literal["makespan", "weighted_completion", "lexicographic"]
Status = Literal["optimal", "feasible", "unknown", "infeasible"]
OBJECTIVES: tuple[Objective, ...] = ("makespan", "weighted_completion", "lexicographic")


@dataclass(frozen=True)
class CpSatResult:
    """What one solve found and what it proved.

    ``objective_value`` and ``bound`` are in the objective's units (s for the makespan, w·s for
    Σ w·C; the lexicographic pair reports Σ w·C); both are ``None`` when there is no schedule.
    ``from_hint`` says the schedule returned is the hint itself (the solver found no better one).
    """

    objective: Objective
    status: Status
    starts: dict[int, int] = field(repr=False)
    objective_value: int | None
    bound: int | None
    proven: bool
    seconds: float
    makespan: int | None = None
    makespan_bound: int | None = None
    makespan_proven: bool = False
    from_hint: bool = False


@dataclass
class _Model:
    model: cp_model.CpModel
    start: list[cp_model.IntVar]
    makespan: cp_model.IntVar


def solve(
    inst: SchedulingInstance,
    objective: Objective,
    *,
    time_limit: float = 10.0,
    workers: int = 8,
    hint: Mapping[int, int] | None = None,
    seed: int = 0,
) -> CpSatResult:
    """Solve ``inst`` for ``objective`` within ``time_limit`` seconds on ``workers`` threads.

    ``hint`` must be a feasible schedule of every job (else ``ValueError`` says which rule it
    breaks). With ``workers=1`` and a fixed ``seed`` the search is deterministic.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective {objective!r} is not one of {', '.join(OBJECTIVES)}")
    if not time_limit > 0 or workers < 1:
        raise ValueError(f"need time_limit > 0 and workers >= 1 (got {time_limit}, {workers})")
    if hint is not None:
        why = first_violation(inst, hint)
        if why is not None:
            raise ValueError(f"the hint is not a feasible schedule: {why}")
        hint = {int(i): int(s) for i, s in hint.items()}
    importlib.import_module("ortools.sat.python.cp_model")  # its import is not solving time
    began = time.perf_counter()
    if not len(inst):
        return CpSatResult(objective, "optimal", {}, 0, 0, True, 0.0, 0, 0, True)
    if objective != "lexicographic":
        stage = _solve_stage(inst, objective, time_limit, workers, hint, seed, None)
        seconds = time.perf_counter() - began
        makespan = _makespan(inst, stage.starts) if stage.starts else None
        return CpSatResult(
            objective,
            stage.status,
            stage.starts,
            stage.value,
            stage.bound,
            stage.status == "optimal",
            seconds,
            makespan,
            stage.bound if objective == "makespan" else None,
            objective == "makespan" and stage.status == "optimal",
            stage.from_hint,
        )
    first = _solve_stage(inst, "makespan", time_limit / 2, workers, hint, seed, None)
    if not first.starts:
        seconds = time.perf_counter() - began
        return CpSatResult(objective, first.status, {}, None, None, False, seconds)
    assert first.value is not None  # a schedule always has a value
    remaining = max(time_limit - (time.perf_counter() - began), 0.01)
    second = _solve_stage(
        inst, "weighted_completion", remaining, workers, first.starts, seed, first.value
    )
    seconds = time.perf_counter() - began
    proven = first.status == "optimal" and second.status == "optimal"
    return CpSatResult(
        objective,
        "optimal" if proven else "feasible",
        second.starts,
        second.value,
        second.bound,
        proven,
        seconds,
        _makespan(inst, second.starts),
        first.bound,
        first.status == "optimal",
        first.from_hint and second.from_hint,
    )


@dataclass(frozen=True)
class _Stage:
    status: Status
    starts: dict[int, int]
    value: int | None
    bound: int | None
    from_hint: bool


def _solve_stage(
    inst: SchedulingInstance,
    objective: Literal["makespan", "weighted_completion"],
    time_limit: float,
    workers: int,
    hint: dict[int, int] | None,
    seed: int,
    makespan_cap: int | None,
) -> _Stage:
    from ortools.sat.python import cp_model

    if makespan_cap is not None:
        horizon = makespan_cap
    elif objective == "makespan" and hint is not None:
        horizon = _makespan(inst, hint)
    else:
        horizon = int(inst.release.max() + inst.duration.sum())
        if hint is not None:  # a hint with idle time may end later; keep it inside the domain
            horizon = max(horizon, _makespan(inst, hint))
    built = build_model(inst, horizon)
    weighted = sum(
        int(inst.weight[i]) * (start + int(inst.duration[i])) for i, start in enumerate(built.start)
    )
    if objective == "makespan":
        built.model.minimize(built.makespan)
    else:
        built.model.minimize(weighted)
    if hint is not None:
        _add_hint(built, inst, hint)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    code = solver.solve(built.model)
    status = _status(code, cp_model)
    starts: dict[int, int] = {}
    value: int | None = None
    if status in ("optimal", "feasible"):
        starts = {i: int(solver.value(s)) for i, s in enumerate(built.start)}
        value = round(solver.objective_value)
    bound = _bound(solver.best_objective_bound) if status != "infeasible" else None
    if hint is not None:
        hinted = _value(inst, hint, objective)
        if value is None or hinted < value:
            # the solver found nothing better than the warm start in time: keep the warm start
            status = "feasible" if status != "optimal" else status
            return _Stage(status, dict(hint), hinted, bound, True)
    return _Stage(status, starts, value, bound, False)


def build_model(inst: SchedulingInstance, horizon: int) -> _Model:
    """The cumulative model of the module docstring with every job ending by ``horizon``
    (no objective yet)."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    starts, intervals = [], []
    for i in range(len(inst)):
        release, length = int(inst.release[i]), int(inst.duration[i])
        start = model.new_int_var(release, max(horizon - length, release), f"s{i}")
        starts.append(start)
        intervals.append(model.new_fixed_size_interval_var(start, length, f"job{i}"))
    for r, capacity in enumerate(inst.capacity):
        users = [i for i in range(len(inst)) if inst.demand[i, r] > 0]
        if users:
            demands = [int(inst.demand[i, r]) for i in users]
            model.add_cumulative([intervals[i] for i in users], demands, int(capacity))
    lowest = int((inst.release + inst.duration).max())
    makespan = model.new_int_var(lowest, max(horizon, lowest), "makespan")
    for i, start in enumerate(starts):
        model.add(makespan >= start + int(inst.duration[i]))
    return _Model(model, starts, makespan)


def hint_is_feasible(inst: SchedulingInstance, hint: Mapping[int, int]) -> bool:
    """CP-SAT's own check of a warm start: every variable fixed to its hinted value
    (``fix_variables_to_their_hinted_value``) must leave the model feasible."""
    from ortools.sat.python import cp_model

    if set(hint) != set(range(len(inst))):
        return False
    ints = {int(i): int(s) for i, s in hint.items()}
    built = build_model(inst, max(_makespan(inst, ints), 0))
    _add_hint(built, inst, ints)
    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 10.0
    return solver.solve(built.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)


def plan_and_replay(
    inst: SchedulingInstance, objective: Objective, **options: Any
) -> tuple[CpSatResult, Schedule]:
    """Solve, then execute the plan with :class:`PlannedStarts` through the replay engine (the
    capacity check every policy goes through); the replayed starts must equal the plan."""
    result = solve(inst, objective, **options)
    if not result.starts and len(inst):
        raise ValueError(
            f"CP-SAT found no schedule of {inst.name!r} in {options.get('time_limit', 10.0)} s "
            "(status unknown): give it more time or a hint"
        )
    policy = PlannedStarts({i: float(s) for i, s in result.starts.items()}, name="cpsat")
    schedule = replay(inst.job_arrays(), policy, inst.capacity, strict=True)
    differ = [i for i, s in result.starts.items() if schedule.start[i] != s]
    if differ:
        i = differ[0]
        raise RuntimeError(
            f"job {i} planned at {result.starts[i]} started at {schedule.start[i]:g} "
            f"in the replay ({len(differ)} jobs differ): a bug in the plan or the policy"
        )
    return result, schedule


def _add_hint(built: _Model, inst: SchedulingInstance, hint: Mapping[int, int]) -> None:
    # a complete hint (every start and the makespan): CP-SAT uses a full hint best
    for i, start in enumerate(built.start):
        built.model.add_hint(start, int(hint[i]))
    built.model.add_hint(built.makespan, _makespan(inst, hint))


def _makespan(inst: SchedulingInstance, starts: Mapping[int, int]) -> int:
    return max((s + int(inst.duration[i]) for i, s in starts.items()), default=0)


def _value(inst: SchedulingInstance, starts: Mapping[int, int], objective: str) -> int:
    if objective == "makespan":
        return _makespan(inst, starts)
    return sum(int(inst.weight[i]) * (s + int(inst.duration[i])) for i, s in starts.items())


def _bound(raw: float) -> int | None:
    # the objective is an integer, so its bound rounds up (less a hair for float noise)
    return math.ceil(raw - 1e-6) if math.isfinite(raw) else None


def _status(code: Any, cp_model: Any) -> Status:
    table: dict[Any, Status] = {
        cp_model.OPTIMAL: "optimal",
        cp_model.FEASIBLE: "feasible",
        cp_model.INFEASIBLE: "infeasible",
        cp_model.UNKNOWN: "unknown",
    }
    if code not in table:
        raise RuntimeError(f"CP-SAT rejected the model (status {code}): a bug in build_model")
    return table[code]
