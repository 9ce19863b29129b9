"""Ties of the cover form broken by tokens: among the covers of least compute, the fewest tokens.

The DP over compute (:func:`hpcsched.plan.knapsack.solve_cover`) finds the least compute ``C*``
that reaches the required utility ``U*`` and, at ``C*``, the selection of most utility. Many
selections can share ``C*`` (every prompt-only option costs no compute), and the one of most
utility may spend twice the tokens of another that also reaches ``U*`` (issue 21: 73,000 tokens
where 33,600 reach 3.5 at the same 3,400 GPU-s). "Fewest tokens with compute ≤ C* and utility ≥
U*" has two constraints, which one weight's DP table cannot hold; a label DP can. After each
output it keeps the partial selections no other beats on all of compute (less), tokens (less) and
utility (more), pruned by what the outputs still to come can add (their least compute and tokens;
the most utility they can add in the compute left, from a backward table of at most
:data:`MOST_CELLS`) and by the DP's own selection's tokens, an upper bound. Exact; when the labels
outgrow :data:`MOST_WORK` the DP's selection (still of least compute) is kept, and says so.

Remaining ties go to the most utility, then to the options met first (spec order).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from hpcsched.plan.knapsack import Instance, IntArray

#: The most candidates (partial selections extended by one option) formed over all outputs:
#: ~0.5 s of the Python sweep. Specs of a few dozen outputs stay far below it.
MOST_WORK: Final = 400_000
#: The most cells of the table of utility still reachable per output and compute left (8 bytes
#: each): within it, labels that cannot reach the required utility are dropped early.
MOST_CELLS: Final = 4_000_000


def _pareto(c: IntArray, t: IntArray, u: np.ndarray) -> IntArray:
    """Indices of the candidates no other beats (compute ≤, tokens ≤, utility ≥), in the order
    (compute, tokens, −utility, index): a sweep by compute over a staircase of (tokens, utility)."""
    order = np.lexsort((np.arange(len(c)), -u, t, c))
    first = np.ones(len(order), dtype=bool)  # of equal (compute, tokens) only the first can stay
    first[1:] = (c[order][1:] != c[order][:-1]) | (t[order][1:] != t[order][:-1])
    order = order[first]
    stair_t: list[int] = []
    stair_u: list[float] = []
    kept: list[int] = []
    for k, tk, uk in zip(order.tolist(), t[order].tolist(), u[order].tolist(), strict=True):
        j = bisect_right(stair_t, tk) - 1
        if j >= 0 and stair_u[j] >= uk:
            continue  # an earlier label (no more compute) has no more tokens and no less utility
        kept.append(k)
        if j >= 0 and stair_t[j] == tk:
            j -= 1
            del stair_t[j + 1], stair_u[j + 1]
        end = j + 1
        while end < len(stair_t) and stair_u[end] <= uk:
            end += 1
        stair_t[j + 1 : end] = [tk]
        stair_u[j + 1 : end] = [uk]
    return np.array(kept, dtype=np.int64)


def _utility_to_go(
    instance: Instance, spans: list[tuple[int, int]], most_compute: int
) -> tuple[int, np.ndarray] | None:
    """``(g, ahead)``: ``ahead[i][k]`` is the most utility outputs ``i..`` add with compute ≤
    ``k·g`` (``g`` the gcd of the computes; −inf: nothing fits), an exact bound for pruning; None
    when the table would exceed :data:`MOST_CELLS` (then the weaker bounds alone prune)."""
    c, u = instance.compute, instance.utility
    scale = max(int(np.gcd.reduce(c)), 1)
    width = most_compute // scale + 1
    if (len(spans) + 1) * width > MOST_CELLS:
        return None
    ahead = np.full((len(spans) + 1, width), -np.inf)
    ahead[-1] = 0.0
    for i in range(len(spans) - 1, -1, -1):
        row, nxt = ahead[i], ahead[i + 1]
        for k in range(*spans[i]):
            w = int(c[k]) // scale
            if w < width:
                np.maximum(row[w:], nxt[: width - w] + u[k], out=row[w:])
    return scale, ahead


def fewest_tokens_cover(
    instance: Instance, need: float, most_compute: int, most_tokens: int
) -> IntArray | None:
    """Global option rows of the selection with the fewest tokens among those with compute ≤
    ``most_compute`` and utility ≥ ``need``; None when none has at most ``most_tokens`` or the
    labels outgrow :data:`MOST_WORK`."""
    off = instance.offsets
    spans = list(zip(off[:-1].tolist(), off[1:].tolist(), strict=True))
    u, t, c = instance.utility, instance.tokens, instance.compute
    rest_u = np.concatenate([np.cumsum([u[a:b].max() for a, b in spans][::-1])[::-1], [0.0]])
    rest_t = np.concatenate([np.cumsum([t[a:b].min() for a, b in spans][::-1])[::-1], [0]])
    rest_c = np.concatenate([np.cumsum([c[a:b].min() for a, b in spans][::-1])[::-1], [0]])
    reach = _utility_to_go(instance, spans, most_compute)
    slack = 1e-9 * max(1.0, abs(need))  # sums in another order may differ in the last bits
    lc, lt, lu = np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1)
    stages: list[tuple[IntArray, IntArray]] = []
    work = 0
    for i, (a, b) in enumerate(spans):
        work += len(lc) * (b - a)
        if work > MOST_WORK:
            return None
        rows = np.arange(a, b, dtype=np.int64)
        parent = np.repeat(np.arange(len(lc), dtype=np.int64), len(rows))
        row = np.tile(rows, len(lc))
        pc, pt, pu = lc[parent] + c[row], lt[parent] + t[row], lu[parent] + u[row]
        ok = (
            (pc + rest_c[i + 1] <= most_compute)
            & (pt + rest_t[i + 1] <= most_tokens)
            & (pu + rest_u[i + 1] >= need)
        )
        parent, row, pc, pt, pu = parent[ok], row[ok], pc[ok], pt[ok], pu[ok]
        if reach is not None:  # what the outputs to come can add within the compute left
            scale, ahead = reach
            ok = pu + ahead[i + 1][(most_compute - pc) // scale] >= need - slack
            parent, row, pc, pt, pu = parent[ok], row[ok], pc[ok], pt[ok], pu[ok]
        if len(row) == 0:
            return None
        keep = _pareto(pc, pt, pu)
        stages.append((parent[keep], row[keep]))
        lc, lt, lu = pc[keep], pt[keep], pu[keep]
    if not (lu >= need - slack).any():
        return None
    lt = np.where(lu >= need - slack, lt, np.iinfo(np.int64).max)
    best = int(np.lexsort((np.arange(len(lt)), -lu, lt))[0])  # fewest tokens, most utility, first
    picks = np.empty(len(spans), dtype=np.int64)
    for i in range(len(spans) - 1, -1, -1):
        parents, chosen = stages[i]
        picks[i] = chosen[best]
        best = int(parents[best])
    return picks
