"""Tool selection as a multiple-choice knapsack, solved exactly by dynamic programming.

Every required output ``b_i`` must be produced by exactly one of its candidate tasks ``G_i``
(different granularity: one call per structure, a batch, a whole sweep), each with a utility
``U``, a token cost ``T`` and a compute cost. Gainaru, Lopes & Pallez (2026), "Dynamic Resource
Allocation for Reasoning Agents in HPC Workflows", pose the choice as a multiple-choice knapsack
(Sinha & Zoltners 1979):

- **budget form**: the most utility within a token budget, ``max Σ U  s.t.  Σ T ≤ B``;
- **cover form**: the fewest tokens (or compute units) reaching a required utility,
  ``min Σ T  s.t.  Σ U ≥ U*``.

Both come from one table ``f_i[b]`` = the most utility of outputs ``0..i`` within weight ``b``
(Kellerer, Pferschy & Pisinger, *Knapsack Problems*, 2004, ch. 11), ``O(Σ|G_i| · B)`` time:
the budget form reads ``f_n[B]``, the cover form the smallest ``b`` with ``f_n[b] ≥ U*``. Three
exact reductions keep the table small, none of which can lose an optimum:

1. *dominance*: an option costing at least as much as another for no more utility is never
   needed (its better sibling fits wherever it fits);
2. *shift*: each output's cheapest option is paid up front, so weights and the budget shrink by
   ``Σ min T``;
3. *reach*: after output ``i`` no budget above ``Σ_{j≤i} max w_j`` differs from that one, and
   (budget form) none below ``B − Σ_{j>i} max w_j`` can still reach ``B``.

At one budget, ties go to the cheaper option (options are tried cheapest first and must be
strictly better); the selection has the most utility, not always the fewest tokens among equals.
The cover form of least compute breaks its ties by tokens (:mod:`hpcsched.plan.tiebreak`): of the
selections of least compute that reach the utility, the fewest tokens, then the most utility.
The forward pass runs in the compiled kernel :mod:`hpcsched.plan._mck` when it is built, else in
numpy (same arithmetic in the same order, so the same choices).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Weight = Literal["tokens", "compute"]


class InfeasibleError(ValueError):
    """No selection meets the budget or the required utility; the message says by how much."""


class TableSizeError(ValueError):
    """The exact DP's table would not fit :data:`TABLE_BYTES`; the message says what to do."""


#: The most memory the DP's table may take (its choice bytes plus two float rows): it is
#: computed from the reach of every row before anything is allocated.
TABLE_BYTES: Final = 1 << 28


@dataclass(frozen=True)
class Instance:
    """Options of all outputs in flat arrays: output ``i`` owns rows ``offsets[i]:offsets[i+1]``."""

    utility: FloatArray
    tokens: IntArray
    compute: IntArray
    offsets: IntArray
    outputs: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    @classmethod
    def from_lists(
        cls,
        utility: Sequence[Sequence[float]],
        tokens: Sequence[Sequence[int]],
        compute: Sequence[Sequence[int]] | None = None,
    ) -> Instance:
        """An instance from one list of option values per output (tests and benchmarks)."""
        sizes = [len(row) for row in utility]
        if not sizes or min(sizes) == 0 or sizes != [len(row) for row in tokens]:
            raise ValueError("every output needs at least one option, with a utility and tokens")
        flat_c = [c for row in compute for c in row] if compute is not None else [0] * sum(sizes)
        return cls(
            utility=np.array([u for row in utility for u in row], dtype=np.float64),
            tokens=np.array([t for row in tokens for t in row], dtype=np.int64),
            compute=np.array(flat_c, dtype=np.int64),
            offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        )

    @property
    def n_outputs(self) -> int:
        return len(self.offsets) - 1

    def weight(self, kind: Weight) -> IntArray:
        return self.tokens if kind == "tokens" else self.compute

    def owner(self) -> IntArray:
        """The output each option row belongs to."""
        return np.repeat(np.arange(self.n_outputs), np.diff(self.offsets))


@dataclass(frozen=True)
class Selection:
    """One option per output (``choice[i]`` indexes output ``i``'s options) and its totals."""

    choice: IntArray
    utility: float
    tokens: int
    compute: int
    method: str
    seconds: float
    bound: float | None = None  # the LP relaxation's value (budget) or weight (cover), if known
    note: str | None = None  # what the user should know about how it was chosen

    @classmethod
    def of(
        cls, instance: Instance, rows: IntArray, method: str, t0: float, bound: float | None = None
    ) -> Selection:
        """Totals of the option ``rows`` (global row numbers); ``t0`` is when solving began."""
        return cls(
            choice=rows - instance.offsets[:-1],
            utility=float(instance.utility[rows].sum()),
            tokens=int(instance.tokens[rows].sum()),
            compute=int(instance.compute[rows].sum()),
            method=method,
            seconds=time.perf_counter() - t0,
            bound=bound,
        )


@dataclass(frozen=True)
class Frontier:
    """Each output's non-dominated options, cheapest first (so utility strictly increases too)."""

    rows: IntArray  # global row numbers into the instance
    offsets: IntArray
    weight: IntArray
    utility: FloatArray


def frontier(instance: Instance, kind: Weight = "tokens") -> Frontier:
    """Drop dominated options (reduction 1) without a Python loop over outputs.

    Sorted by (output, weight ↑, utility ↓, row), an option is dominated exactly when an earlier
    option of its output has at least its utility. A running maximum of ``output·N + rank(utility)``
    tracks that per output in one pass, because every earlier output's values are smaller.
    """
    weight, utility, owner = instance.weight(kind), instance.utility, instance.owner()
    order = np.lexsort((np.arange(len(weight)), -utility, weight, owner))
    _, rank = np.unique(utility[order], return_inverse=True)
    key = owner[order] * (len(weight) + 1) + rank.astype(np.int64)
    best_before = np.concatenate([[-1], np.maximum.accumulate(key)[:-1]])
    rows = order[key > best_before]
    sizes = np.bincount(owner[rows], minlength=instance.n_outputs)
    return Frontier(
        rows=rows,
        offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        weight=weight[rows],
        utility=utility[rows],
    )


def _forward_numpy(
    offsets: IntArray,
    weight: IntArray,
    utility: FloatArray,
    lo: IntArray,
    hi: IntArray,
    coff: IntArray,
    capacity: int,
) -> tuple[npt.NDArray[np.uint8], FloatArray]:
    """The kernel's loop (see ``_mck.pyx``) with one numpy slice per option."""
    old, new = np.zeros(capacity + 1), np.zeros(capacity + 1)
    choice = np.empty(int(coff[-1]), dtype=np.uint8)
    hi_prev = 0
    for i in range(len(offsets) - 1):
        L, H, k0 = int(lo[i]), int(hi[i]), int(offsets[i])
        old[hi_prev + 1 : H + 1] = old[hi_prev]
        ch = choice[coff[i] : coff[i + 1]]
        new[L : H + 1] = old[L : H + 1] + utility[k0]
        ch[:] = 0
        for k in range(k0 + 1, int(offsets[i + 1])):
            wj, start = int(weight[k]), max(int(weight[k]), L)
            if start > H:
                break  # options are cheapest first: the rest do not fit either
            cand = old[start - wj : H + 1 - wj] + utility[k]
            better = cand > new[start : H + 1]
            new[start : H + 1][better] = cand[better]
            ch[start - L :][better] = k - k0
        old, new, hi_prev = new, old, H
    return choice, old[int(lo[-1]) : int(hi[-1]) + 1].copy()


def _kernel() -> Any:
    """The compiled module, or None when it was not built (then numpy runs the same loop)."""
    try:
        return importlib.import_module("hpcsched.plan._mck")
    except ImportError:
        return None


def compiled_available() -> bool:
    return _kernel() is not None


@dataclass(frozen=True)
class _Table:
    front: Frontier
    shifted: IntArray  # weights less their output's cheapest option
    lo: IntArray
    hi: IntArray
    coff: IntArray
    choice: npt.NDArray[np.uint8]
    last: FloatArray  # f_n on lo[-1]..hi[-1]


def _table(front: Frontier, capacity: int, trim_low: bool, engine: str) -> _Table:
    """Shift (reduction 2), the reach of every row (reduction 3), then the forward pass."""
    starts = front.offsets[:-1]
    wmin = front.weight[starts]
    shifted = front.weight - np.repeat(wmin, np.diff(front.offsets))
    wmax = shifted[front.offsets[1:] - 1]
    cum = np.cumsum(wmax)
    cap = min(capacity - int(wmin.sum()), int(cum[-1]))
    hi = np.minimum(cum, cap)
    lo = np.maximum(cap - (cum[-1] - cum), 0) if trim_low else np.zeros_like(cum)
    coff = np.concatenate([[0], np.cumsum(hi - lo + 1)]).astype(np.int64)
    need = int(coff[-1]) + 16 * (cap + 1)
    if need > TABLE_BYTES:
        raise TableSizeError(
            f"the exact table would take {need / 2**30:.2f} GiB (budget {capacity:,} over "
            f"{len(hi)} outputs; at most {TABLE_BYTES / 2**30:.2f} GiB); count tokens in a "
            "coarser unit, lower the budget, or use --method greedy or lp-greedy"
        )
    if int(np.diff(front.offsets).max()) > 256:
        raise ValueError("an output has more than 256 non-dominated options; split it")
    args = (front.offsets, shifted, front.utility, lo, hi, coff, cap)
    if engine == "auto":
        engine = "compiled" if compiled_available() else "numpy"
    if engine == "compiled":
        if (kernel := _kernel()) is None:
            raise ValueError("the compiled DP kernel is not built; reinstall with pip install -e .")
        choice, last = kernel.forward(*args)
    elif engine == "numpy":
        choice, last = _forward_numpy(*args)
    else:
        raise ValueError(f"engine {engine!r}: use auto, compiled or numpy")
    return _Table(front, shifted, lo, hi, coff, choice, last)


def _trace_back(table: _Table, budget: int) -> IntArray:
    """Walk the choices back from output n−1 at shifted ``budget``; global rows, output order."""
    front, lo, hi, coff, shifted = table.front, table.lo, table.hi, table.coff, table.shifted
    starts = front.offsets[:-1]
    picks = np.empty(len(starts), dtype=np.int64)
    b = budget
    for i in range(len(starts) - 1, -1, -1):
        b = min(b, int(hi[i]))  # past its reach the row is flat: the same choice as at hi
        k = int(starts[i]) + int(table.choice[coff[i] + b - lo[i]])
        picks[i] = k
        b -= int(shifted[k])
    return front.rows[picks]


def check_budget(front: Frontier, budget: int, weight: Weight) -> None:
    """Refuse a budget below what the cheapest option of every output needs together."""
    least = int(front.weight[front.offsets[:-1]].sum())
    if budget < least:
        raise InfeasibleError(
            f"budget {budget:,} {weight} is below the {least:,} that the cheapest option of every "
            f"output needs together; raise the budget to at least {least:,}"
        )


def check_required(front: Frontier, required_utility: float, tolerance: float) -> float:
    """Refuse a utility above the best options' total; return the threshold with tolerance."""
    need = required_utility - tolerance * max(1.0, abs(required_utility))
    most = float(front.utility[front.offsets[1:] - 1].sum())
    if most < need:
        raise InfeasibleError(
            f"required utility {required_utility:g} is above the {most:g} that the best option "
            f"of every output gives together; lower it to at most {most:g}"
        )
    return need


def solve_budget(
    instance: Instance, budget: int, *, weight: Weight = "tokens", engine: str = "auto"
) -> Selection:
    """The most utility with total ``weight`` ≤ ``budget`` (exact)."""
    t0 = time.perf_counter()
    front = frontier(instance, weight)
    check_budget(front, budget, weight)
    table = _table(front, budget, trim_low=True, engine=engine)
    rows = _trace_back(table, int(table.hi[-1]))
    return Selection.of(instance, rows, "dp", t0)


def solve_cover(
    instance: Instance,
    required_utility: float,
    *,
    minimize: Weight = "tokens",
    engine: str = "auto",
    tolerance: float = 1e-9,
) -> Selection:
    """The least total ``minimize`` whose utility reaches ``required_utility`` (exact).

    Utilities are floats, so "reaches" allows ``tolerance · max(1, |U*|)`` of rounding.
    """
    t0 = time.perf_counter()
    front = frontier(instance, minimize)
    need = check_required(front, required_utility, tolerance)
    from hpcsched.plan.greedy import talk_greedy_cover  # a feasible cover bounds the table

    upper = talk_greedy_cover(instance, required_utility, minimize=minimize, tolerance=tolerance)
    capacity = upper.tokens if minimize == "tokens" else upper.compute
    table = _table(front, capacity, trim_low=False, engine=engine)
    b = int(np.argmax(table.last >= need))  # f_n is non-decreasing: the first budget that covers
    rows = _trace_back(table, b)
    if minimize == "compute":  # ties of least compute go to the fewest tokens
        from hpcsched.plan.tiebreak import fewest_tokens_cover

        least = int(front.weight[front.offsets[:-1]].sum()) + b
        fewer = fewest_tokens_cover(instance, need, least, int(instance.tokens[rows].sum()))
        if fewer is None:
            note = "ties of least compute not broken by tokens (too many partial selections)"
            return replace(Selection.of(instance, rows, "dp", t0), note=note)
        rows = fewer
    return Selection.of(instance, rows, "dp", t0)
