# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled node sweep of the synthetic sacct dump (see
:mod:`hpcsched.workloads.sacct_synth_nodes`, whose pure-Python ``assign_nodes_reference`` it
reproduces exactly): 0.15 s instead of 2.4 s for a million requests.

The machine's free nodes are sorted ``[first, end)`` ranges in two arrays; a request takes the
lowest-numbered free nodes (the ranges in front, shifted out with ``memmove``), an ending one
gives its ranges back (a binary search, merged with its neighbours).
"""

from libc.stdint cimport int64_t
from libc.string cimport memmove

import numpy as np


cdef inline Py_ssize_t _lower_bound(int64_t* lo, Py_ssize_t m, int64_t value) noexcept nogil:
    cdef Py_ssize_t a = 0, b = m, mid
    while a < b:
        mid = (a + b) >> 1
        if lo[mid] < value:
            a = mid + 1
        else:
            b = mid
    return a


cdef inline Py_ssize_t _give(
    int64_t* lo, int64_t* hi, Py_ssize_t m, int64_t first, int64_t end
) noexcept nogil:
    """Return ``[first, end)`` to the ``m`` free ranges; the new count."""
    cdef Py_ssize_t j = _lower_bound(lo, m, first)
    if j > 0 and hi[j - 1] == first:
        if j < m and lo[j] == end:
            hi[j - 1] = hi[j]
            memmove(&lo[j], &lo[j + 1], (m - j - 1) * sizeof(int64_t))
            memmove(&hi[j], &hi[j + 1], (m - j - 1) * sizeof(int64_t))
            return m - 1
        hi[j - 1] = end
        return m
    if j < m and lo[j] == end:
        lo[j] = first
        return m
    memmove(&lo[j + 1], &lo[j], (m - j) * sizeof(int64_t))
    memmove(&hi[j + 1], &hi[j], (m - j) * sizeof(int64_t))
    lo[j] = first
    hi[j] = end
    return m + 1


def sweep(
    const int64_t[::1] order,
    const int64_t[::1] start,
    const int64_t[::1] end,
    const int64_t[::1] count,
    int64_t capacity,
):
    """Events in ``order`` (``< n``: request ``i``'s end; else ``n + i``: its start).

    Returns ``(at, pairs, bounds, failed)``: request ``i``'s ranges are ``pairs[i]`` flat
    ``[first, end)`` pairs from ``bounds[at[i]]``; ``failed`` is the first request that did not
    fit (-1: none).
    """
    cdef Py_ssize_t n = start.shape[0], m = 1, e, i, k, taken, size = 2 * n + 16
    cdef int64_t free_nodes = capacity, want, first, stop
    lo_a = np.empty(capacity + 2, dtype=np.int64)
    hi_a = np.empty(capacity + 2, dtype=np.int64)
    at_a = np.full(n, 0, dtype=np.int64)
    pairs_a = np.zeros(n, dtype=np.int64)
    bounds_a = np.empty(size, dtype=np.int64)
    cdef int64_t[::1] lo = lo_a, hi = hi_a, at = at_a, pairs = pairs_a, bounds = bounds_a
    cdef Py_ssize_t used = 0
    lo[0] = 1
    hi[0] = capacity + 1
    for e in range(order.shape[0]):
        if order[e] < n:
            i = order[e]
            if pairs[i] > 0 and end[i] > start[i]:
                for k in range(pairs[i]):
                    m = _give(&lo[0], &hi[0], m, bounds[at[i] + 2 * k], bounds[at[i] + 2 * k + 1])
                free_nodes += count[i]
            continue
        i = order[e] - n
        want = count[i]
        if want > free_nodes:
            return at_a, pairs_a, bounds_a[:used], i
        if used + 2 * m + 2 > size:  # at most every free range plus one
            size = 2 * size + 2 * m + 2
            bounds_a = np.resize(bounds_a, size)
            bounds = bounds_a
        at[i] = used
        taken = 0
        while want > 0:
            first, stop = lo[taken], hi[taken]
            if stop - first <= want:
                bounds[used] = first
                bounds[used + 1] = stop
                want -= stop - first
                taken += 1
            else:
                bounds[used] = first
                bounds[used + 1] = first + want
                lo[taken] = first + want
                want = 0
            used += 2
            pairs[i] += 1
        memmove(&lo[0], &lo[taken], (m - taken) * sizeof(int64_t))
        memmove(&hi[0], &hi[taken], (m - taken) * sizeof(int64_t))
        m -= taken
        if end[i] > start[i]:
            free_nodes -= count[i]
        else:
            for k in range(pairs[i]):
                m = _give(&lo[0], &hi[0], m, bounds[at[i] + 2 * k], bounds[at[i] + 2 * k + 1])
    return at_a, pairs_a, bounds_a[:used], -1
