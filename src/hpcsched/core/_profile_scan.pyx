# cython: boundscheck=False, wraparound=False
"""The availability profile's inner loops, compiled: the earliest start of a request, a request
taken from or given back to a range of steps, and the first hole of returned capacity that may
help a reservation.

They read the profile's own lists (step times, free vectors as tuples) and return what the
Python loops in :mod:`hpcsched.core.profile` and :mod:`hpcsched.policies.conservative` return,
value for value: two floats are compared as C doubles (the same comparison Python makes), any
other number through Python's own ``<=``, so an int amount is compared exactly too. Conservative
backfilling spends most of a re-fit in these loops (issue 16).

``refit_pass`` (``_profile_scan_refit.pxi``) runs conservative's whole re-fit loop after an end on
the plan's objects, with the profile as C arrays of doubles while every amount is a float
(``_profile_scan_steps.pxi``): the same steps as the Python plan, pinned to it bit for bit.
"""

from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact, PyFloat_FromDouble
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport Py_GT, Py_LE, Py_LT, PyObject_RichCompareBool
from cpython.ref cimport Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM


cdef inline bint _fits(tuple request, object free) except -1:
    """``request`` fits in ``free`` component by component (the lengths are checked)."""
    cdef Py_ssize_t n = PyTuple_GET_SIZE(request), i
    cdef object a, b
    if type(free) is not tuple or PyTuple_GET_SIZE(free) != n:
        from hpcsched.core.profile import fits

        return fits(request, free)  # raises the one-line length error
    for i in range(n):
        a = <object>PyTuple_GET_ITEM(request, i)
        b = <object>PyTuple_GET_ITEM(free, i)
        if PyFloat_CheckExact(a) and PyFloat_CheckExact(b):
            if not PyFloat_AS_DOUBLE(a) <= PyFloat_AS_DOUBLE(b):
                return False
        elif not PyObject_RichCompareBool(a, b, Py_LE):
            return False
    return True


cdef inline bint _at_or_after(object t, object candidate, object duration) except -1:
    """``t >= candidate + duration``, as Python computes it."""
    if PyFloat_CheckExact(t) and PyFloat_CheckExact(candidate) and PyFloat_CheckExact(duration):
        return PyFloat_AS_DOUBLE(t) >= PyFloat_AS_DOUBLE(candidate) + PyFloat_AS_DOUBLE(duration)
    return t >= candidate + duration


def earliest_start(list times, list free, tuple request, object duration, object after,
                   Py_ssize_t k):
    """:meth:`Profile.earliest_start` from step ``k`` (the step that holds at ``after``);
    returns ``after`` or the step time where the request first fits for ``duration``.
    ``None`` when it never fits (the caller raises)."""
    return _earliest_start(times, free, request, duration, after, k)


cdef object _earliest_start(list times, list free, tuple request, object duration, object after,
                            Py_ssize_t k):
    cdef Py_ssize_t last = PyList_GET_SIZE(times) - 1
    cdef object candidate = after
    cdef bint ok
    while True:
        ok = True
        while True:
            if not _fits(request, <object>PyList_GET_ITEM(free, k)):
                ok = False
                break
            if k == last or _at_or_after(<object>PyList_GET_ITEM(times, k + 1), candidate,
                                         duration):
                break
            k += 1
        if ok:
            return candidate
        if k == last:
            return None
        k += 1
        candidate = <object>PyList_GET_ITEM(times, k)


def next_hole(list items, Py_ssize_t k, object end, object since, tuple request):
    """From position ``k`` of the holes (``[start, seq, end, most]`` by start), the position of
    the first hole starting before ``end``, newer than ``since``, whose recorded ``most`` may
    hold ``request``; -1 when there is none."""
    return _next_hole(items, k, end, since, request)


cdef Py_ssize_t _next_hole(list items, Py_ssize_t k, object end, object since,
                           tuple request) except -2:
    cdef Py_ssize_t n = PyList_GET_SIZE(items)
    cdef list hole
    cdef bint fast = PyFloat_CheckExact(end)
    cdef double stop = PyFloat_AS_DOUBLE(end) if fast else 0.0
    cdef object start
    while k < n:
        hole = <list>PyList_GET_ITEM(items, k)
        start = <object>PyList_GET_ITEM(hole, 0)
        if fast and PyFloat_CheckExact(start):
            if PyFloat_AS_DOUBLE(start) >= stop:
                return -1
        elif start >= end:
            return -1
        if PyObject_RichCompareBool(<object>PyList_GET_ITEM(hole, 1), since, Py_GT) and _fits(
            request, <object>PyList_GET_ITEM(hole, 3)
        ):
            return k
        k += 1
    return -1


def add_to_steps(list free, Py_ssize_t i, Py_ssize_t j, tuple request, bint give):
    """``free[k] = free[k] + request`` (``give``) or ``- request`` for ``i <= k < j``, as
    :func:`hpcsched.core.profile.plus` and ``minus`` compute them; a step of another length,
    or an amount that is not a float, goes through those functions."""
    _add_to_steps(free, i, j, request, give)


cdef int _add_to_steps(list free, Py_ssize_t i, Py_ssize_t j, tuple request,
                       bint give) except -1:
    cdef Py_ssize_t n = PyTuple_GET_SIZE(request), k, d
    cdef object step, a, b, value
    cdef tuple out
    cdef double x
    for k in range(i, j):
        step = <object>PyList_GET_ITEM(free, k)
        out = None
        if type(step) is tuple and PyTuple_GET_SIZE(step) == n:
            out = PyTuple_New(n)
            for d in range(n):
                a = <object>PyTuple_GET_ITEM(step, d)
                b = <object>PyTuple_GET_ITEM(request, d)
                if not (PyFloat_CheckExact(a) and PyFloat_CheckExact(b)):
                    out = None
                    break
                if give:
                    x = PyFloat_AS_DOUBLE(a) + PyFloat_AS_DOUBLE(b)
                else:
                    x = PyFloat_AS_DOUBLE(a) - PyFloat_AS_DOUBLE(b)
                value = PyFloat_FromDouble(x)
                Py_INCREF(value)
                PyTuple_SET_ITEM(out, d, value)
        if out is None:
            from hpcsched.core.profile import minus, plus

            out = plus(step, request) if give else minus(step, request)
        free[k] = out
    return 0


def first_room(list items, Py_ssize_t k, object end, tuple request):
    """From position ``k`` of the holes, the position of the first hole whose recorded ``most``
    may hold ``request`` or that starts at or after ``end`` (the length when there is none)."""
    return _first_room(items, k, end, request)


cdef Py_ssize_t _first_room(list items, Py_ssize_t k, object end, tuple request) except -1:
    cdef Py_ssize_t n = PyList_GET_SIZE(items)
    cdef list hole
    cdef object start
    cdef bint fast = PyFloat_CheckExact(end)
    cdef double stop = PyFloat_AS_DOUBLE(end) if fast else 0.0
    while k < n:
        hole = <list>PyList_GET_ITEM(items, k)
        start = <object>PyList_GET_ITEM(hole, 0)
        if fast and PyFloat_CheckExact(start):
            if PyFloat_AS_DOUBLE(start) >= stop:
                return k
        elif start >= end:
            return k
        if _fits(request, <object>PyList_GET_ITEM(hole, 3)):
            return k
        k += 1
    return n


def position(list items, object start, object seq):
    """The first position whose hole is not before ``(start, seq)`` (holes are in start order,
    equal starts in ``seq`` order)."""
    return _position(items, start, seq)


cdef Py_ssize_t _position(list items, object start, object seq) except -1:
    cdef Py_ssize_t lo = 0, hi = PyList_GET_SIZE(items), mid
    cdef list hole
    cdef object s
    while lo < hi:
        mid = (lo + hi) >> 1
        hole = <list>PyList_GET_ITEM(items, mid)
        s = <object>PyList_GET_ITEM(hole, 0)
        if s < start or (s == start and <object>PyList_GET_ITEM(hole, 1) < seq):
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline bint _less(object a, object b) except -1:
    if PyFloat_CheckExact(a) and PyFloat_CheckExact(b):
        return PyFloat_AS_DOUBLE(a) < PyFloat_AS_DOUBLE(b)
    return PyObject_RichCompareBool(a, b, Py_LT)


cdef Py_ssize_t _index(list times, object t) except -1:
    """The step that holds at ``t``: ``max(0, bisect_right(times, t) - 1)``."""
    cdef Py_ssize_t lo = 0, hi = PyList_GET_SIZE(times), mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if _less(t, <object>PyList_GET_ITEM(times, mid)):
            hi = mid
        else:
            lo = mid + 1
    return lo - 1 if lo > 0 else 0


cdef Py_ssize_t _split(list times, list free, object t) except -1:
    """:meth:`Profile._split`: a step starts at ``t``; its index."""
    cdef Py_ssize_t i = _index(times, t)
    if <object>PyList_GET_ITEM(times, i) == t:
        return i
    times.insert(i + 1, t)
    free.insert(i + 1, <object>PyList_GET_ITEM(free, i))
    return i + 1


def add_range(list times, list free, object start, object end, tuple request, bint give):
    """:meth:`Profile._add_range` with ``plus`` (``give``) or ``minus``: the request on
    ``[start, end)``, then equal neighbours at both ends merged."""
    _add_range(times, free, start, end, request, give)


cdef int _add_range(list times, list free, object start, object end, tuple request,
                    bint give) except -1:
    cdef Py_ssize_t i, j, k
    if end <= start:
        return 0
    i = _split(times, free, start)
    j = _split(times, free, end)
    _add_to_steps(free, i, j, request, give)
    for k in (j, i):
        if 0 < k < PyList_GET_SIZE(free) and (
            <object>PyList_GET_ITEM(free, k) == <object>PyList_GET_ITEM(free, k - 1)
        ):
            del times[k]
            del free[k]
    return 0


def max_free(list times, list free, object start, object end):
    """:meth:`Profile.max_free`: component by component, the most free on ``[start, end)``
    (the first of equal values, as ``max`` keeps it)."""
    return _max_free(times, free, start, end)


cdef object _max_free(list times, list free, object start, object end):
    cdef Py_ssize_t i = _index(times, start), lo = 0, hi = PyList_GET_SIZE(times), mid, k, d, n
    cdef tuple first, step, out
    cdef object best, value
    while lo < hi:  # bisect_left(times, end)
        mid = (lo + hi) >> 1
        if _less(<object>PyList_GET_ITEM(times, mid), end):
            lo = mid + 1
        else:
            hi = mid
    first = <tuple>PyList_GET_ITEM(free, i)
    if lo <= i + 1:
        return first
    n = PyTuple_GET_SIZE(first)
    out = PyTuple_New(n)
    for d in range(n):
        best = <object>PyTuple_GET_ITEM(first, d)
        for k in range(i + 1, lo):
            step = <tuple>PyList_GET_ITEM(free, k)
            if PyTuple_GET_SIZE(step) != n:
                raise ValueError("profile steps of different lengths")
            value = <object>PyTuple_GET_ITEM(step, d)
            if _less(best, value):
                best = value
        Py_INCREF(best)
        PyTuple_SET_ITEM(out, d, best)
    return out


include "_profile_scan_steps.pxi"
include "_profile_scan_holes.pxi"
include "_profile_scan_stays.pxi"
include "_profile_scan_slot.pxi"
include "_profile_scan_marks.pxi"
include "_profile_scan_refit.pxi"
include "_profile_scan_move.pxi"
