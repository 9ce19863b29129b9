"""The tool-selection knapsack: DP exact (brute force, CP-SAT), heuristics feasible and bounded."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcsched.plan import knapsack as ks
from hpcsched.plan import plan
from hpcsched.plan.greedy import lp_greedy, lp_greedy_cover, talk_greedy, talk_greedy_cover
from hpcsched.plan.knapsack import InfeasibleError, Instance, solve_budget, solve_cover
from hpcsched.plan.reference import cp_sat_budget, cp_sat_cover_lexicographic

options = st.lists(st.tuples(st.integers(0, 20), st.integers(0, 10)), min_size=1, max_size=4)
instances = st.lists(options, min_size=1, max_size=4)


def make(outputs: list[list[tuple[int, int]]]) -> Instance:
    return Instance.from_lists(
        [[float(u) for u, _ in out] for out in outputs],
        [[t for _, t in out] for out in outputs],
        [[u + t for u, t in out] for out in outputs],
    )


def combos(outputs: list[list[tuple[int, int]]]) -> list[tuple[int, int]]:
    """(utility, tokens) of every way to pick one option per output."""
    return [
        (sum(o[0] for o in pick), sum(o[1] for o in pick)) for pick in itertools.product(*outputs)
    ]


def totals(instance: Instance, choice: np.ndarray) -> tuple[float, int]:
    rows = instance.offsets[:-1] + choice
    return float(instance.utility[rows].sum()), int(instance.tokens[rows].sum())


@settings(max_examples=300, deadline=None)
@given(instances, st.integers(0, 45))
def test_budget_dp_equals_brute_force(outputs: list[list[tuple[int, int]]], budget: int) -> None:
    instance = make(outputs)
    fitting = [u for u, t in combos(outputs) if t <= budget]
    if not fitting:
        with pytest.raises(InfeasibleError, match="raise the budget to at least"):
            solve_budget(instance, budget)
        return
    for engine in ("compiled", "numpy"):
        chosen = solve_budget(instance, budget, engine=engine)
        assert chosen.utility == max(fitting)
        assert chosen.tokens <= budget
        assert totals(instance, chosen.choice) == (chosen.utility, chosen.tokens)


@settings(max_examples=300, deadline=None)
@given(instances, st.integers(0, 90))
def test_cover_dp_equals_brute_force(outputs: list[list[tuple[int, int]]], required: int) -> None:
    instance = make(outputs)
    covering = [t for u, t in combos(outputs) if u >= required]
    if not covering:
        with pytest.raises(InfeasibleError, match="lower it to at most"):
            solve_cover(instance, float(required))
        return
    for engine in ("compiled", "numpy"):
        chosen = solve_cover(instance, float(required), engine=engine)
        assert chosen.tokens == min(covering)
        assert chosen.utility >= required
    compute = [u + t for u, t in combos(outputs) if u >= required]  # compute = u + t per option
    assert solve_cover(instance, float(required), minimize="compute").compute == min(compute)


@settings(max_examples=200, deadline=None)
@given(instances, st.integers(0, 45))
def test_heuristics_feasible_and_bounded(outputs: list[list[tuple[int, int]]], budget: int) -> None:
    instance = make(outputs)
    if not [u for u, t in combos(outputs) if t <= budget]:
        return
    best = solve_budget(instance, budget).utility
    for heuristic in (talk_greedy, lp_greedy):
        chosen = heuristic(instance, budget)
        assert chosen.tokens <= budget
        assert chosen.utility <= best
    bound = lp_greedy(instance, budget).bound
    assert bound is not None and bound >= best - 1e-9


@settings(max_examples=200, deadline=None)
@given(instances, st.integers(0, 90))
def test_cover_heuristics_feasible_and_bounded(
    outputs: list[list[tuple[int, int]]], required: int
) -> None:
    instance = make(outputs)
    if not [t for u, t in combos(outputs) if u >= required]:
        return
    least = solve_cover(instance, float(required)).tokens
    for heuristic in (talk_greedy_cover, lp_greedy_cover):
        chosen = heuristic(instance, float(required))
        assert chosen.utility >= required
        assert chosen.tokens >= least
    bound = lp_greedy_cover(instance, float(required)).bound
    assert bound is not None and bound <= least + 1e-9


def random_instance(seed: int, n: int, k: int, tmax: int = 88, granular: bool = False) -> Instance:
    """Random options; ``granular``: utility rises with tokens, so no option is dominated."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, tmax + 1, size=(n, k))
    utility = rng.integers(1, 1001, size=(n, k)).astype(float)
    if granular:
        tokens.sort(axis=1)
        utility.sort(axis=1)
    return Instance.from_lists(utility.tolist(), tokens.tolist(), tokens.tolist())


@pytest.mark.parametrize(("seed", "granular"), [(1, False), (2, True), (3, True)])
def test_compiled_kernel_equals_numpy(seed: int, granular: bool) -> None:
    """The compiled forward pass and the numpy one choose the same options bit for bit."""
    assert ks.compiled_available(), "the _mck extension is not built: pip install -e '.[dev]'"
    instance = random_instance(seed, 150, 9, granular=granular)
    budget = int(instance.tokens.sum() / 9 * 0.8)
    a = solve_budget(instance, budget, engine="compiled")
    b = solve_budget(instance, budget, engine="numpy")
    assert np.array_equal(a.choice, b.choice) and a.utility == b.utility
    required = 0.9 * float(instance.utility.reshape(150, 9).max(axis=1).sum())
    c = solve_cover(instance, required, engine="compiled")
    d = solve_cover(instance, required, engine="numpy")
    assert np.array_equal(c.choice, d.choice) and c.tokens == d.tokens


def test_fallback_used_without_the_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    instance = random_instance(4, 60, 5)
    expected = solve_budget(instance, 1500, engine="compiled")
    monkeypatch.setattr(ks, "_kernel", lambda: None)
    assert not ks.compiled_available()
    assert solve_budget(instance, 1500).utility == expected.utility
    with pytest.raises(ValueError, match="not built"):
        solve_budget(instance, 1500, engine="compiled")


def cp_sat_optimum(instance: Instance, budget: int) -> float:
    result = cp_sat_budget(instance, budget)
    assert result.status == "OPTIMAL"
    return result.objective


@pytest.mark.parametrize("granular", [False, True])
def test_dp_equals_cp_sat_on_a_medium_instance(granular: bool) -> None:
    instance = random_instance(5, 60, 8, granular=granular)
    budget = 60 * 40
    assert solve_budget(instance, budget).utility == cp_sat_optimum(instance, budget)


def test_float_utilities_match_brute_force_within_rounding() -> None:
    rng = np.random.default_rng(6)
    for _ in range(50):
        outputs = [[(rng.random(), int(rng.integers(0, 3))) for _ in range(3)] for _ in range(5)]
        instance = Instance.from_lists(
            [[u for u, _ in o] for o in outputs], [[t for _, t in o] for o in outputs]
        )
        best = max(u for u, t in combos(outputs) if t <= 10)  # type: ignore[arg-type]
        assert solve_budget(instance, 10).utility == pytest.approx(best, abs=1e-12)


def test_plan_dispatch_and_refusals() -> None:
    instance = random_instance(7, 30, 4)
    assert plan(instance, "dp", budget=900).utility == solve_budget(instance, 900).utility
    assert plan(instance, "greedy", budget=900).method == "greedy"
    assert plan(instance, "lp-greedy", require_utility=9000.0).method == "lp-greedy"
    with pytest.raises(ValueError, match="exactly one"):
        plan(instance, "dp", budget=900, require_utility=1.0)
    with pytest.raises(ValueError, match="use one of"):
        plan(instance, "simplex", budget=900)


def test_dp_beats_the_talks_greedy_where_going_back_is_myopic() -> None:
    """Going back on the least utility per token first can strand the budget it freed."""
    instance = Instance.from_lists([[10.0, 0.0], [10.0, 9.0, 0.0]], [[10, 0], [10, 5, 0]])
    assert talk_greedy(instance, 10).utility == 9.0  # 20 → 15 (output 1 to 9) → 5 (output 0)
    assert solve_budget(instance, 10).utility == 10.0  # one output at its best, the other off


def test_dp_meets_the_speed_target_in_cpu_time() -> None:
    """1,000 outputs × 9 undominated options × 44,000 tokens within 0.1 s of CPU (best of 5;
    CPU, not wall: the machine is shared). The numpy fallback takes ~0.4 s and would fail."""
    instance = random_instance(8, 1000, 9, granular=True)
    assert len(ks.frontier(instance).rows) > 8000  # almost nothing to prune: the worst case
    cpu = []
    for _ in range(5):
        started = time.process_time()
        solve_budget(instance, 44_000)
        cpu.append(time.process_time() - started)
    assert min(cpu) <= 0.1, f"best CPU time {min(cpu):.3f} s"


triples = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 12), st.integers(0, 4)), min_size=1, max_size=4
)


@settings(max_examples=300, deadline=None)
@given(st.lists(triples, min_size=1, max_size=4), st.integers(0, 24))
def test_cover_least_compute_breaks_ties_by_tokens(
    outputs: list[list[tuple[int, int, int]]], required: int
) -> None:
    """Least compute first, then the fewest tokens among the covers of that compute (issue 21:
    the DP's selection of most utility at the least compute spent 73,000 tokens, not 33,600)."""
    instance = Instance.from_lists(
        [[float(u) for u, _, _ in out] for out in outputs],
        [[t for _, t, _ in out] for out in outputs],
        [[c for _, _, c in out] for out in outputs],
    )
    picks = [
        (sum(o[2] for o in p), sum(o[1] for o in p), sum(o[0] for o in p))
        for p in itertools.product(*outputs)
    ]
    covering = [(c, t) for c, t, u in picks if u >= required]
    if not covering:
        return
    for engine in ("compiled", "numpy"):
        chosen = solve_cover(instance, float(required), minimize="compute", engine=engine)
        assert (chosen.compute, chosen.tokens) == min(covering)
        assert chosen.utility >= required
        assert totals(instance, chosen.choice) == (chosen.utility, chosen.tokens)


def test_cover_tie_break_is_deterministic_then_most_utility() -> None:
    # both covers cost compute 1 and 5 tokens; the one of more utility is taken, whatever order
    instance = Instance.from_lists([[1.0, 2.0], [0.0]], [[5, 5], [0]], [[1, 1], [0]])
    chosen = solve_cover(instance, 1.0, minimize="compute")
    assert chosen.choice.tolist() == [1, 0] and chosen.tokens == 5


def test_cover_tie_break_gives_up_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpcsched.plan import tiebreak

    instance = Instance.from_lists([[3.0, 2.0], [0.0]], [[9, 1], [0]], [[1, 1], [0]])
    assert solve_cover(instance, 2.0, minimize="compute").tokens == 1
    monkeypatch.setattr(tiebreak, "MOST_WORK", 0)
    chosen = solve_cover(instance, 2.0, minimize="compute")
    assert chosen.compute == 1 and chosen.tokens == 9 and chosen.note is not None
    assert "not broken by tokens" in chosen.note


@pytest.mark.parametrize("seed", [9, 10])
def test_cover_least_compute_then_tokens_equals_cp_sat(seed: int) -> None:
    """40 outputs × 5 options, beyond brute force: the same (compute, tokens) as CP-SAT's
    lexicographic optimum, with no note (the tie-break did not give up)."""
    rng = np.random.default_rng(seed)
    utility = rng.integers(0, 20, size=(40, 5)).astype(float)
    tokens = rng.integers(0, 400, size=(40, 5))
    compute = rng.integers(0, 4, size=(40, 5)) * 25  # few distinct computes: many ties
    instance = Instance.from_lists(utility.tolist(), tokens.tolist(), compute.tolist())
    required = int(0.8 * utility.max(axis=1).sum())
    chosen = solve_cover(instance, float(required), minimize="compute")
    status, least_compute, fewest_tokens = cp_sat_cover_lexicographic(instance, required)
    assert status == "OPTIMAL" and chosen.note is None
    assert (chosen.compute, chosen.tokens) == (least_compute, fewest_tokens)
    assert chosen.utility >= required
