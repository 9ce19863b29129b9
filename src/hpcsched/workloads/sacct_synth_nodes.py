"""Which nodes each synthetic job ran on: no two jobs running at once share a node.

Why: node lists drawn at random let concurrent jobs overlap (issue 21, item 4). The requests
the simulator started (:mod:`~hpcsched.workloads.sacct_synth_times`) are swept in time order,
a request's end before another's start at the same second, over the machine's free nodes kept
as sorted ranges; a request takes the lowest-numbered free nodes (a simple stand-in for Slurm's
node selection), so long-lived jobs fragment the machine and later lists have several ranges,
as real ones do (``frontier[00017-00019,00023]``). A het job's components share their request's
nodes in order. The sweep is compiled (:file:`_synth_nodes.pyx`), with a pure-Python twin.
"""

from __future__ import annotations

import importlib
from bisect import bisect_left
from types import ModuleType
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from hpcsched.workloads.sacct_synth_print import padded

IntArray = npt.NDArray[np.int64]


def _take(lo: list[int], hi: list[int], count: int) -> list[int]:
    """Remove the ``count`` lowest free nodes; their ranges as flat ``[first, end)`` pairs."""
    got: list[int] = []
    i = 0
    while count > 0:
        first, end = lo[i], hi[i]
        if end - first <= count:
            got += (first, end)
            count -= end - first
            i += 1
        else:
            got += (first, first + count)
            lo[i] = first + count
            count = 0
    del lo[:i], hi[:i]
    return got


def _give(lo: list[int], hi: list[int], ranges: list[int]) -> None:
    """Return ``[first, end)`` ranges to the sorted free ranges, merging neighbours."""
    for k in range(0, len(ranges), 2):
        first, end = ranges[k], ranges[k + 1]
        j = bisect_left(lo, first)
        if j > 0 and hi[j - 1] == first:
            if j < len(lo) and lo[j] == end:
                hi[j - 1] = hi[j]
                del lo[j], hi[j]
            else:
                hi[j - 1] = end
        elif j < len(lo) and lo[j] == end:
            lo[j] = first
        else:
            lo.insert(j, first)
            hi.insert(j, end)


def _kernel() -> ModuleType | None:
    try:
        return importlib.import_module("hpcsched.workloads._synth_nodes")
    except ImportError:  # a source checkout without the build step: Python does the same
        return None


KERNEL: Final = _kernel()


def _events(start: IntArray, end: IntArray) -> IntArray:
    """Ends (``i``) and starts (``n + i``) in time order; at the same second the ends first, then
    the starts of zero-length requests (their nodes were free at some moment of that second)."""
    n = start.size
    kind = np.concatenate([np.zeros(n, np.int64), np.where(end > start, 2, 1)])
    return np.lexsort((np.tile(np.arange(n), 2), kind, np.concatenate([end, start])))


def assign_nodes(
    start: IntArray, end: IntArray, count: IntArray, capacity: int
) -> tuple[IntArray, IntArray]:
    """Nodes (1-based) of requests running over ``[start, end)``: per request the offset of its
    ranges (``offsets[i]:offsets[i + 1]``, pairs) in ``bounds``, flat ``[first, end)`` pairs.

    The requests must never need more than ``capacity`` nodes at once (a ``ValueError`` says
    which one does). Compiled when built, else :func:`assign_nodes_reference`.
    """
    if KERNEL is None:
        return assign_nodes_reference(start, end, count, capacity)
    args = (start, end, count)
    at, pairs, bounds, failed = KERNEL.sweep(_events(start, end), *args, capacity)
    if failed >= 0:
        raise ValueError(f"request {failed} needs {count[failed]} nodes at {start[failed]}")
    sizes = 2 * pairs
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], sizes)
    return offsets, bounds[np.repeat(at, sizes) + within]


def assign_nodes_reference(
    start: IntArray, end: IntArray, count: IntArray, capacity: int
) -> tuple[IntArray, IntArray]:
    """:func:`assign_nodes` in pure Python (the compiled sweep is tested against it)."""
    n = start.size
    order = _events(start, end)
    lo, hi = [1], [capacity + 1]
    held: list[list[int] | None] = [None] * n
    free = capacity
    starts, ends, counts = start.tolist(), end.tolist(), count.tolist()
    for event in order.tolist():
        if event < n:  # an end: its request's nodes come back (a zero-length one never held)
            ranges = held[event]
            if ranges is not None and ends[event] > starts[event]:
                _give(lo, hi, ranges)
                free += counts[event]
            continue
        i = event - n
        if counts[i] > free:
            raise ValueError(f"request {i} needs {counts[i]} nodes at {starts[i]}, {free} free")
        ranges = _take(lo, hi, counts[i])
        held[i] = ranges
        if ends[i] > starts[i]:
            free -= counts[i]
        else:
            _give(lo, hi, ranges)
    sizes = np.fromiter((len(r) if r is not None else 0 for r in held), np.int64, n)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    bounds = np.fromiter((b for r in held if r is not None for b in r), np.int64, int(offsets[-1]))
    return offsets, bounds


def split_ranges(ranges: list[int], counts: list[int]) -> list[list[int]]:
    """Flat ``[first, end)`` pairs cut in order into pieces of ``counts`` nodes."""
    pieces: list[list[int]] = []
    k, first = 0, ranges[0] if ranges else 0
    for want in counts:
        piece: list[int] = []
        while want > 0:
            end = ranges[k + 1]
            step = min(want, end - first)
            piece += (first, first + step)
            want -= step
            first += step
            if first == end and k + 2 < len(ranges):
                k += 2
                first = ranges[k]
        pieces.append(piece)
    return pieces


def hostlists(job: IntArray, first: IntArray, end: IntArray, nodes: IntArray) -> pl.DataFrame:
    """Per job (``job`` numbers, ranges ``[first, end)`` in node order): its sacct NodeList
    (``frontier00017``, ``frontier[00017-00020,00023]``) and its first node."""
    ranges = pl.DataFrame({"job": job, "first": first, "last": end - 1})
    one = padded(pl.col("first"), 5)
    text = (
        pl.when(pl.col("first") == pl.col("last"))
        .then(one)
        .otherwise(one + "-" + padded(pl.col("last"), 5))
    )
    ranges = ranges.select("job", "first", text.alias("text"))
    # most jobs have one range: only the others are joined (a group_by of all takes 2 s per 1M)
    lone = pl.Series(np.bincount(job, minlength=nodes.size)[job] == 1)
    joined = (
        ranges.filter(~lone)
        .group_by("job", maintain_order=True)
        .agg(pl.col("first").first(), pl.col("text").str.join(","))
    )
    lists = pl.concat([ranges.filter(lone), joined]).rename({"first": "first_node"})
    many = pl.DataFrame({"job": np.arange(nodes.size), "nodes": nodes}).join(
        lists, on="job", how="left", maintain_order="left"
    )
    return many.select(
        "first_node",
        nodelist=pl.when(pl.col("nodes") == 1)
        .then("frontier" + pl.col("text"))
        .otherwise("frontier[" + pl.col("text") + "]"),
    )


def node_lists(
    head: IntArray,
    kind: IntArray,
    started: npt.NDArray[np.bool_],
    first: IntArray,
    until: IntArray,
    nodes: IntArray,
    capacity: int,
) -> pl.DataFrame:
    """Per job its ``first_node`` and ``nodelist`` (null when it never started): a request per
    started plain job, array task and het job (``kind`` 2, at its ``head``), held from
    ``first`` to ``until``."""
    n, idx = nodes.size, np.arange(nodes.size)
    leader = started & ((kind != 2) | (idx == head))
    units = np.flatnonzero(leader)
    het = started & (kind == 2)
    het_nodes = np.bincount(head[het], weights=nodes[het], minlength=n).astype(np.int64)
    het_size = np.bincount(head[het], minlength=n)
    count = np.where(kind == 2, het_nodes, nodes)[units]
    offsets, bounds = assign_nodes(first[units], until[units], count, capacity)
    # plain jobs and array tasks: their request's ranges, expanded without a loop
    pairs = np.diff(offsets) // 2
    alone = kind[units] != 2
    owner = np.repeat(units[alone], pairs[alone])
    within = np.arange(owner.size) - np.repeat(np.cumsum(pairs[alone]) - pairs[alone], pairs[alone])
    at = np.repeat(offsets[:-1][alone], pairs[alone]) + 2 * within
    jobs, lows, highs = [owner], [bounds[at]], [bounds[at + 1]]
    # het jobs: the components cut their leader's ranges in order
    for u in np.flatnonzero(~alone).tolist():
        lead = int(units[u])
        parts = lead + np.arange(het_size[lead])  # components follow their leader
        pieces = split_ranges(bounds[offsets[u] : offsets[u + 1]].tolist(), nodes[parts].tolist())
        for job, piece in zip(parts.tolist(), pieces, strict=True):
            jobs.append(np.full(len(piece) // 2, job))
            lows.append(np.asarray(piece[0::2], dtype=np.int64))
            highs.append(np.asarray(piece[1::2], dtype=np.int64))
    job, low, high = (np.concatenate(a).astype(np.int64) for a in (jobs, lows, highs))
    order = np.lexsort((low, job))
    return hostlists(job[order], low[order], high[order], nodes)
