"""The scheduling benchmark's harness (issue 18): each metric by hand on a 3-job instance, the
invariants on random instances, the gaps to the bounds and to CP-SAT, the per-instance order
(CP-SAT after the heuristics), Dask giving the local rows, and the Pareto chart. The command is
tested in test_bench_scheduling_cli.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcsched.policies.presets import PRESETS
from hpcsched.policies.view import Decision, Policy, SchedulerView
from hpcsched.sim import bench_scheduling as bench
from hpcsched.sim.bench_chart import pareto_figure, pareto_front
from hpcsched.sim.bench_metrics import mean_over_seeds, schedule_metrics
from hpcsched.sim.bench_scheduling import BenchOptions, Case, Outcome, Prepared
from hpcsched.sim.instance import SchedulingInstance
from hpcsched.sim.metrics import summarize
from hpcsched.sim.replay import replay

HEURISTICS = ["fcfs", "sjf", "easy", "conservative", "prioritybf"]


def random_instance(scenario: str, jobs: int, seed: int) -> SchedulingInstance:
    """A small random instance on 16 nodes and 64 GB (test input only, not a scenario)."""
    rng = np.random.default_rng([seed, jobs, len(scenario)])
    demand = np.stack([rng.integers(1, 9, jobs), rng.integers(1, 33, jobs)], axis=1)
    return SchedulingInstance(
        name=f"{scenario}-{jobs}-{seed}",
        release=np.sort(rng.integers(0, 40, jobs)),
        duration=rng.integers(1, 30, jobs),
        demand=demand,
        capacity=(16, 64),
        resources=("nodes", "mem_gb"),
        weight=rng.integers(1, 4, jobs),
        user=tuple(f"u{u}" for u in rng.integers(0, 3, jobs)),
        group=("g",) * jobs,
    )


def three_jobs() -> SchedulingInstance:
    # job 0 fills the 4 nodes for 10 s; job 1 (2 nodes) and job 2 (1 node, arriving at 1) wait
    return SchedulingInstance(
        name="three",
        release=np.array([0, 0, 1]),
        duration=np.array([10, 5, 2]),
        demand=np.array([[4, 2], [2, 2], [1, 1]]),
        capacity=(4, 8),
        resources=("nodes", "mem_gb"),
        weight=np.array([1, 2, 1]),
        user=("a", "b", "a"),
        group=("g", "g", "g"),
    )


def trivial_makespan_bound(instance: SchedulingInstance) -> float:
    # no job ends before its release plus its duration
    return float((instance.release + instance.duration).max() - instance.release.min())


def test_every_metric_of_fcfs_on_three_jobs_by_hand() -> None:
    row = bench.run_case(
        Case("three", 3, 0, "fcfs"), instance_source=lambda *_: three_jobs(), options=BenchOptions()
    )
    # FCFS: job 0 at 0; jobs 1 and 2 at 10 when it ends -> ends 10, 15, 12; waits 0, 10, 9
    assert row["makespan_s"] == 15.0
    assert row["mean_wait_s"] == pytest.approx(19 / 3)
    assert row["p95_wait_s"] == pytest.approx(9.9)  # linear between 9 and 10 at 0.95 * 2
    assert row["util_nodes"] == pytest.approx((10 * 4 + 5 * 2 + 2 * 1) / (4 * 15))
    assert row["util_mem_gb"] == pytest.approx((10 * 2 + 5 * 2 + 2 * 1) / (8 * 15))
    # per-user mean waits: a (0 + 9) / 2 = 4.5, b 10
    assert row["fairness_jain"] == pytest.approx(14.5**2 / (2 * (4.5**2 + 10**2)))
    assert row["weighted_completion"] == 1 * 10 + 2 * 15 + 1 * 12
    assert row["violations"] == 0
    assert row["decisions"] == 2  # starts at 0 and at 10
    assert row["fallback_share"] == 0.0 and row["tokens_per_decision"] == 0.0
    assert row["seconds_per_decision"] == pytest.approx(row["wall_s"] / 2)
    assert row["gap_cpsat_makespan_pct"] is None  # no CP-SAT in this run


def test_fairness_is_the_one_simulate_and_compare_print() -> None:
    instance = random_instance("x", 40, 3)
    schedule = replay(instance.job_arrays(), PRESETS["easy"], instance.capacity)
    table = pl.DataFrame(
        {
            "submit": instance.release.astype(float),
            "start": schedule.start,
            "end": schedule.end,
            "user": list(instance.user),
            "nodes": instance.demand[:, 0],
            "backfilled": schedule.backfilled,
            "priority_class": [None] * len(instance),
        }
    )
    ours = schedule_metrics(instance, schedule)
    theirs = summarize(table, 16, unit="nodes")
    assert ours["fairness_jain"] == pytest.approx(theirs["fairness_jain"])
    assert ours["makespan_s"] == pytest.approx(theirs["makespan"])
    assert ours["util_nodes"] == pytest.approx(theirs["utilization"])


@settings(max_examples=25, deadline=None)
@given(jobs=st.integers(1, 30), seed=st.integers(0, 10_000))
def test_heuristic_rows_are_complete_and_within_their_bounds(jobs: int, seed: int) -> None:
    instance = random_instance("r", jobs, seed)
    cases = [Case("r", jobs, seed, p) for p in HEURISTICS]
    bound = trivial_makespan_bound(instance)
    rows = bench.run_instance(instance, cases, BenchOptions())
    assert [r["policy"] for r in rows] == HEURISTICS
    for row in rows:
        assert "error" not in row
        assert row["violations"] == 0
        assert row["makespan_s"] >= bound
        assert 0 < row["util_nodes"] <= 1 and 0 < row["util_mem_gb"] <= 1
        assert 1 / 3 - 1e-9 <= row["fairness_jain"] <= 1 + 1e-9  # 3 users at most
        assert 1 <= row["decisions"] <= jobs
        assert row["p95_wait_s"] >= 0 and row["mean_wait_s"] >= 0


def test_gaps_to_the_lower_bounds_are_never_negative() -> None:
    options = BenchOptions(objective="makespan", time_limit=2.0, cpsat_workers=1)
    for seed in range(4):
        instance = random_instance("g", 12, seed)
        cases = [Case("g", 12, seed, p) for p in [*HEURISTICS, "cpsat"]]
        rows = bench.run_instance(instance, cases, options)
        for row in rows:
            assert row["lb_makespan"] >= trivial_makespan_bound(instance)
            assert row["gap_lb_makespan_pct"] >= 0 and row["gap_lb_wc_pct"] >= 0, row
    # the bound is on the last end; the makespan counts from the first release: one job released
    # at 100 for 10 s has a makespan of 10 and meets its bound
    late = SchedulingInstance(
        "late", np.array([100]), np.array([10]), np.array([[1]]), (1,), ("nodes",),
        np.array([1]), ("u",), ("g",),
    )  # fmt: skip
    (row,) = bench.run_instance(late, [Case("late", 1, 0, "fcfs")], options)
    assert row["makespan_s"] == row["lb_makespan"] == 10 and row["gap_lb_makespan_pct"] == 0
    assert row["weighted_completion"] == row["lb_wc"] == 110


def test_cpsat_starts_from_the_best_heuristic_and_no_heuristic_beats_its_proven_makespan() -> None:
    instance = random_instance("c", 10, 7)
    options = BenchOptions(objective="makespan", time_limit=5.0, cpsat_workers=1)
    rows = bench.run_instance(
        instance, [Case("c", 10, 7, p) for p in ["cpsat", *HEURISTICS]], options
    )
    cpsat, heuristics = rows[0], rows[1:]
    assert cpsat["cpsat_status"] == "optimal" and cpsat["cpsat_proven"] is True
    best = min(heuristics, key=lambda r: r["makespan_s"])
    assert cpsat["cpsat_hint"] == best["policy"]
    # the plan replays as planned, with no refused start: its last end is the solver's value
    first = int(instance.release.min())
    assert cpsat["violations"] == 0 and cpsat["makespan_s"] + first == cpsat["cpsat_value"]
    assert cpsat["gap_cpsat_makespan_pct"] == 0.0
    for row in heuristics:
        assert row["gap_cpsat_makespan_pct"] >= 0


def test_cpsat_lexicographic_reports_its_weighted_completion() -> None:
    instance = random_instance("l", 8, 2)
    options = BenchOptions(objective="lexicographic", time_limit=4.0, cpsat_workers=1)
    (row,) = bench.run_instance(instance, [Case("l", 8, 2, "cpsat")], options)
    assert row["cpsat_objective"] == "lexicographic"
    assert row["weighted_completion"] == row["cpsat_value"]
    assert row["cpsat_hint"] is None  # alone on its instance: no heuristic to start from


def test_a_late_policy_runs_after_the_heuristics_and_is_the_gap_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[str]] = []

    def replays_the_best(
        instance: SchedulingInstance, options: BenchOptions, done: Sequence[Outcome]
    ) -> Prepared:
        seen.append([o.row["policy"] for o in done])
        best = bench.best_outcome(done, "makespan_s")
        assert best is not None and not np.isnan(best.start).any()
        return Prepared(PRESETS[best.row["policy"]], fields={"hinted_by": best.row["policy"]})

    monkeypatch.setitem(bench.POLICIES, "cpsat", replays_the_best)
    instance = random_instance("o", 20, 1)
    cases = [Case("o", 20, 1, p) for p in ["cpsat", "fcfs", "easy"]]
    rows = bench.run_instance(instance, cases, BenchOptions())
    assert seen == [["fcfs", "easy"]]  # listed first, run last
    assert [r["policy"] for r in rows] == ["cpsat", "fcfs", "easy"]
    reference = rows[0]
    assert reference["hinted_by"] in ("fcfs", "easy")
    assert reference["gap_cpsat_makespan_pct"] == 0.0
    for row in rows[1:]:
        expected = 100 * (row["makespan_s"] - reference["makespan_s"]) / reference["makespan_s"]
        assert row["gap_cpsat_makespan_pct"] == pytest.approx(expected)
        assert row["gap_cpsat_makespan_pct"] >= 0  # the reference replays the best of them


class _Stalls:
    name = "stalls"

    def decide(self, view: SchedulerView) -> Decision:
        return Decision()


def test_a_policy_that_stalls_gives_an_error_row_and_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed: list[bool] = []

    def stalls(instance: SchedulingInstance, options: BenchOptions, done: Any) -> Prepared:
        policy: Policy = _Stalls()
        return Prepared(
            policy,
            after=lambda: {"fallback_share": 0.5, "tokens_per_decision": 321.0},
            close=lambda: closed.append(True),
        )

    monkeypatch.setitem(bench.POLICIES, "stalls", stalls)
    rows = bench.run_instance(
        three_jobs(), [Case("t", 3, 0, "stalls"), Case("t", 3, 0, "fcfs")], BenchOptions()
    )
    assert "never started" in rows[0]["error"] and "makespan_s" not in rows[0]
    assert rows[0]["fallback_share"] == 0.5 and rows[0]["tokens_per_decision"] == 321.0
    assert closed == [True]
    assert "error" not in rows[1]
    summary = mean_over_seeds(rows)
    assert summary["errors"].to_list() == [1, 0]


def test_rows_come_back_in_case_order_and_average_over_seeds() -> None:
    cases = bench.cases_of(["a", "b"], [5, 8], 2, ["easy", "fcfs"])
    rows = bench.run_bench(cases, instance_source=random_instance)
    assert [(r["scenario"], r["jobs"], r["seed"], r["policy"]) for r in rows] == [
        (c.scenario, c.jobs, c.seed, c.policy) for c in cases
    ]
    summary = mean_over_seeds(rows)
    assert summary.height == 8 and set(summary["seeds"]) == {2}
    first = [
        r["makespan_s"] for r in rows if (r["scenario"], r["jobs"], r["policy"]) == ("a", 5, "easy")
    ]
    assert summary.row(0, named=True)["makespan_s"] == pytest.approx(sum(first) / 2)
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        bench.cases_of(["a"], [5], 1, ["nope"])


def test_dask_gives_the_local_rows() -> None:
    cases = bench.cases_of(["a", "b"], [6], 1, ["fcfs", "easy"])
    local = bench.run_bench(cases, instance_source=random_instance)
    told: list[tuple[int, int]] = []
    remote = bench.run_bench(
        cases,
        instance_source=random_instance,
        dask="local",
        workers=1,
        progress=lambda done, total: told.append((done, total)),
    )
    timing = {"wall_s", "seconds_per_decision", "worker_host"}
    assert all("worker_host" in r for r in remote)  # ran inside a Dask worker
    assert [{k: v for k, v in r.items() if k not in timing} for r in remote] == [
        {k: v for k, v in r.items() if k not in timing} for r in local
    ]
    assert sorted(told) == [(2, 4), (4, 4)]  # one step per instance of two cases


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=12))
def test_the_pareto_front_is_exactly_the_undominated_points(
    points: list[tuple[int, int]],
) -> None:
    pts = [(float(x), float(y)) for x, y in points]
    front = set(pareto_front(pts))

    def dominates(q: tuple[float, float], p: tuple[float, float]) -> bool:
        return q[0] <= p[0] and q[1] <= p[1] and q != p

    for i, p in enumerate(pts):
        assert (i in front) == (not any(dominates(q, p) for q in pts))


def test_the_chart_has_a_panel_per_scenario_and_size_and_marks_the_front() -> None:
    cases = bench.cases_of(["a", "b"], [5, 9], 1, HEURISTICS)
    summary = mean_over_seeds(bench.run_bench(cases, instance_source=random_instance))
    fig = pareto_figure(summary)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["a, 5 jobs", "b, 5 jobs", "a, 9 jobs", "b, 9 jobs"]
    markers = [t for t in fig.data if t.mode == "markers"]
    assert len(markers) == summary.height
    assert {t.name for t in markers if t.showlegend} == set(HEURISTICS)  # one legend entry each
    assert all("fairness_jain" in t.hovertext[0] for t in markers)
    assert sum(1 for t in fig.data if t.mode == "lines") == 4  # one front per panel
