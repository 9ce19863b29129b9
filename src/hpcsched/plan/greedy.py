"""Two fast heuristics for the tool-selection knapsack, both forms (see :mod:`.knapsack`).

**The talk's greedy** (Gainaru, Lopes & Pallez 2026): take the best-utility option of every
output; while the budget is exceeded, go back and replace one output's choice by its next best.
"Next best" is the next option down the output's non-dominated list (the next lower utility
that also costs less: a next best that costs more cannot help). Which output goes back first is
not stated in the description of the slides we work from; we take the one that loses the least
utility per token saved, ties to the first output. Going back one step at a time is myopic where
an output's utility-for-tokens curve is not concave (a steep last step is never taken even when
dropping further would free many tokens): ``benchmarks/plan_speed.py`` measures what that
costs. The cover form goes back the same way for as long as the required utility still holds.

**LP-greedy** (Sinha & Zoltners 1979, "The multiple-choice knapsack problem", Operations
Research 27(3)): drop dominated and LP-dominated options (keep each output's upper convex hull in
the weight–utility plane), start from every output's cheapest option, and take the hull's
increments in decreasing incremental efficiency ``Δu/Δw``. The first increment that does not fit
is the LP's fractional one: its fraction gives the LP bound (≥ the integer optimum), the integer
solution rounds it down. Filling then takes the later increments of other outputs that still
fit, and finally any single upgrade (any non-dominated option) that fits the leftover budget,
largest gain first. The cover form takes increments until the required utility is reached
(rounding the last one up), then gives back the largest savings that keep the requirement.
"""

from __future__ import annotations

import heapq
import itertools
import time

import numpy as np

from hpcsched.plan.knapsack import (
    FloatArray,
    Frontier,
    Instance,
    IntArray,
    Selection,
    Weight,
    check_budget,
    check_required,
    frontier,
)


def _ratio(front: Frontier, k: int) -> float:
    """Utility lost per unit of weight saved by stepping from frontier row ``k`` to ``k − 1``."""
    return float(front.utility[k] - front.utility[k - 1]) / float(
        front.weight[k] - front.weight[k - 1]
    )


def _go_back_heap(front: Frontier, pos: IntArray) -> list[tuple[float, int]]:
    starts = front.offsets[:-1]
    heap = [(_ratio(front, int(k)), i) for i, k in enumerate(pos) if k > starts[i]]
    heapq.heapify(heap)
    return heap


def talk_greedy(instance: Instance, budget: int, *, weight: Weight = "tokens") -> Selection:
    """Best utility per output, then go back to next-best options until the budget holds."""
    t0 = time.perf_counter()
    front = frontier(instance, weight)
    check_budget(front, budget, weight)
    starts, pos = front.offsets[:-1], front.offsets[1:] - 1
    used = int(front.weight[pos].sum())
    heap = _go_back_heap(front, pos)
    while used > budget:
        _, i = heapq.heappop(heap)
        k = int(pos[i])
        used -= int(front.weight[k] - front.weight[k - 1])
        pos[i] = k - 1
        if k - 1 > starts[i]:
            heapq.heappush(heap, (_ratio(front, k - 1), i))
    return Selection.of(instance, front.rows[pos], "greedy", t0)


def talk_greedy_cover(
    instance: Instance,
    required_utility: float,
    *,
    minimize: Weight = "tokens",
    tolerance: float = 1e-9,
) -> Selection:
    """Best utility per output, then go back wherever the required utility still holds."""
    t0 = time.perf_counter()
    front = frontier(instance, minimize)
    need = check_required(front, required_utility, tolerance)
    starts, pos = front.offsets[:-1], front.offsets[1:] - 1
    value = float(front.utility[pos].sum())
    heap = _go_back_heap(front, pos)
    while heap:
        _, i = heapq.heappop(heap)
        k = int(pos[i])
        loss = float(front.utility[k] - front.utility[k - 1])
        if value - loss < need:
            continue  # this output stays: going back would break the requirement
        value -= loss
        pos[i] = k - 1
        if k - 1 > starts[i]:
            heapq.heappush(heap, (_ratio(front, k - 1), i))
    return Selection.of(instance, front.rows[pos], "greedy", t0)


def _increments(front: Frontier) -> tuple[IntArray, IntArray, FloatArray]:
    """Hull steps of all outputs, most efficient first: (output, frontier row stepped to, Δu/Δw).

    The hull of each output is its upper concave chain from the cheapest option (the frontier
    already has weight and utility strictly increasing); a point on or under the chord of its
    neighbours is LP-dominated and dropped, so the efficiencies strictly decrease per output.
    """
    w, u = front.weight, front.utility
    out: list[int] = []
    to: list[int] = []
    eff: list[float] = []
    for i in range(len(front.offsets) - 1):
        hull = [int(front.offsets[i])]
        for k in range(int(front.offsets[i]) + 1, int(front.offsets[i + 1])):
            while len(hull) >= 2:
                a, b = hull[-2], hull[-1]
                if (u[b] - u[a]) * (w[k] - w[b]) > (u[k] - u[b]) * (w[b] - w[a]):
                    break
                hull.pop()
            hull.append(k)
        for a, b in itertools.pairwise(hull):
            out.append(i)
            to.append(b)
            eff.append(float(u[b] - u[a]) / float(w[b] - w[a]))
    out_a, to_a, eff_a = np.array(out, np.int64), np.array(to, np.int64), np.array(eff)
    order = np.lexsort((to_a, out_a, -eff_a))
    return out_a[order], to_a[order], eff_a[order]


def lp_greedy(instance: Instance, budget: int, *, weight: Weight = "tokens") -> Selection:
    """Sinha–Zoltners: the LP relaxation's greedy, rounded down, then filled; with the LP bound."""
    t0 = time.perf_counter()
    front = frontier(instance, weight)
    check_budget(front, budget, weight)
    w, u = front.weight, front.utility
    pos = front.offsets[:-1].copy()
    used, value = int(w[pos].sum()), float(u[pos].sum())
    bound: float | None = None
    blocked = np.zeros(len(pos), dtype=bool)
    for i, k in zip(*_increments(front)[:2], strict=True):
        if blocked[i]:
            continue
        dw, du = int(w[k] - w[pos[i]]), float(u[k] - u[pos[i]])
        if used + dw <= budget:
            used, value, pos[i] = used + dw, value + du, k
            continue
        if bound is None:  # the LP's fractional increment
            bound = value + du * (budget - used) / dw
        blocked[i] = True
    owner = np.repeat(np.arange(len(pos)), np.diff(front.offsets))
    while True:  # filling: the single upgrade with the largest gain that still fits
        gain = u - u[pos][owner]
        fits = (w - w[pos][owner] <= budget - used) & (gain > 0)
        if not fits.any():
            break
        k = int(np.argmax(np.where(fits, gain, -np.inf)))
        used += int(w[k] - w[pos[owner[k]]])
        pos[owner[k]] = k
    return Selection.of(
        instance, front.rows[pos], "lp-greedy", t0, bound=value if bound is None else bound
    )


def lp_greedy_cover(
    instance: Instance,
    required_utility: float,
    *,
    minimize: Weight = "tokens",
    tolerance: float = 1e-9,
) -> Selection:
    """Sinha–Zoltners for the cover form: increments until covered, last one rounded up."""
    t0 = time.perf_counter()
    front = frontier(instance, minimize)
    need = check_required(front, required_utility, tolerance)
    w, u = front.weight, front.utility
    pos = front.offsets[:-1].copy()
    used, value = float(w[pos].sum()), float(u[pos].sum())
    bound = used
    for i, k in zip(*_increments(front)[:2], strict=True):
        if value >= need:
            break
        dw, du = float(w[k] - w[pos[i]]), float(u[k] - u[pos[i]])
        bound = used + dw * min(1.0, (need - value) / du)  # the LP's least weight
        used, value, pos[i] = used + dw, value + du, k
    owner = np.repeat(np.arange(len(pos)), np.diff(front.offsets))
    while True:  # give back: the largest saving that keeps the requirement
        saving = w[pos][owner] - w
        keeps = (saving > 0) & (value - (u[pos][owner] - u) >= need)
        if not keeps.any():
            break
        k = int(np.argmax(np.where(keeps, saving, -1)))
        value -= float(u[pos[owner[k]]] - u[k])
        pos[owner[k]] = k
    return Selection.of(instance, front.rows[pos], "lp-greedy", t0, bound=bound)
