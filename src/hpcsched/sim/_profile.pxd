# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Flat-array availability profile for the compiled engine (one dimension: processors).

The same step function as :class:`hpcsched.core.profile.Profile`: ``f[k]`` processors are free on
``[t[k], t[k + 1])`` and the last step holds forever. ``earliest`` replays ``earliest_start``
step for step, so the answers (and the floating-point sums they compare) are the reference's.

Equal neighbouring steps are merged after every update. That is safe because every question the
policies ask (``free_at``, ``earliest_start``) depends on the function, not on where its
breakpoints lie: inside a failing stretch an extra breakpoint is only an extra failing candidate,
inside a fitting one it is only an extra step that also fits. It keeps the arrays short, which is
what makes the persistent conservative profile cheap.
"""

from libc.math cimport INFINITY
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memmove

ctypedef long long i64


cdef struct Profile:
    double* t
    i64* f
    Py_ssize_t n
    Py_ssize_t cap


cdef inline int prof_init(Profile* p, Py_ssize_t cap) except -1:
    p.n = 0
    p.cap = cap if cap > 4 else 4
    p.t = <double*>malloc(p.cap * sizeof(double))
    p.f = <i64*>malloc(p.cap * sizeof(i64))
    if p.t == NULL or p.f == NULL:
        raise MemoryError()
    return 0


cdef inline void prof_release(Profile* p) noexcept:
    free(p.t)
    free(p.f)
    p.t = NULL
    p.f = NULL


cdef inline int prof_grow(Profile* p, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap
    cdef double* t
    cdef i64* f
    if need <= p.cap:
        return 0
    cap = 2 * p.cap if 2 * p.cap > need else need
    t = <double*>realloc(p.t, cap * sizeof(double))
    if t == NULL:
        raise MemoryError()
    p.t = t
    f = <i64*>realloc(p.f, cap * sizeof(i64))
    if f == NULL:
        raise MemoryError()
    p.f = f
    p.cap = cap
    return 0


cdef inline void prof_reset(Profile* p, double origin, i64 free_now) noexcept:
    p.n = 1
    p.t[0] = origin
    p.f[0] = free_now


cdef inline int prof_copy(Profile* dst, Profile* src) except -1:
    prof_grow(dst, src.n)
    memmove(dst.t, src.t, src.n * sizeof(double))
    memmove(dst.f, src.f, src.n * sizeof(i64))
    dst.n = src.n
    return 0


cdef inline Py_ssize_t prof_index(Profile* p, double x) noexcept:
    """Index of the step that holds at ``x``: ``max(0, bisect_right(t, x) - 1)``."""
    cdef Py_ssize_t lo = 0, hi = p.n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < p.t[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo - 1 if lo > 0 else 0


cdef inline i64 prof_free_at(Profile* p, double x) noexcept:
    return p.f[prof_index(p, x)]


cdef inline Py_ssize_t prof_split(Profile* p, double x) except -1:
    """Make a step start at ``x`` (``x`` >= origin) and return its index."""
    cdef Py_ssize_t i = prof_index(p, x)
    if p.t[i] == x:
        return i
    prof_grow(p, p.n + 1)
    i += 1
    memmove(&p.t[i + 1], &p.t[i], (p.n - i) * sizeof(double))
    memmove(&p.f[i + 1], &p.f[i], (p.n - i) * sizeof(i64))
    p.t[i] = x
    p.f[i] = p.f[i - 1]
    p.n += 1
    return i


cdef inline void prof_merge_at(Profile* p, Py_ssize_t k) noexcept:
    """Drop the breakpoint at step ``k`` if it separates two equal steps."""
    if 0 < k < p.n and p.f[k] == p.f[k - 1]:
        memmove(&p.t[k], &p.t[k + 1], (p.n - k - 1) * sizeof(double))
        memmove(&p.f[k], &p.f[k + 1], (p.n - k - 1) * sizeof(i64))
        p.n -= 1


cdef inline int prof_add_range(Profile* p, double a, double b, i64 delta) except -1:
    """Add ``delta`` to the free processors on ``[a, b)`` (negative: reserve, positive: release)."""
    cdef Py_ssize_t i = prof_split(p, a)
    cdef Py_ssize_t j = prof_split(p, b)
    cdef Py_ssize_t k
    for k in range(i, j):
        p.f[k] += delta
    prof_merge_at(p, j)
    prof_merge_at(p, i)
    return 0


cdef inline int prof_add(Profile* p, double start, double duration, i64 delta) except -1:
    """``Profile.reserve``/``release``: the range ends at ``start + duration``, as there."""
    if duration <= 0:
        return 0
    return prof_add_range(p, start, start + duration, delta)


cdef inline void prof_advance(Profile* p, double now) noexcept:
    """Move the origin to ``now``: steps wholly in the past are dropped."""
    cdef Py_ssize_t k = prof_index(p, now)
    if k > 0:
        memmove(p.t, &p.t[k], (p.n - k) * sizeof(double))
        memmove(p.f, &p.f[k], (p.n - k) * sizeof(i64))
        p.n -= k
    if p.t[0] < now:
        p.t[0] = now


cdef inline double prof_earliest(Profile* p, i64 request, double duration, double after) noexcept:
    """``Profile.earliest_start``, the same walk: earliest ``c >= after`` free on ``[c, c + d)``.

    Requests are validated against the capacity up front, so the last step always fits.
    """
    cdef Py_ssize_t last = p.n - 1
    cdef Py_ssize_t k = prof_index(p, after)
    cdef double candidate = after
    cdef bint ok
    while True:
        ok = True
        while True:
            if request > p.f[k]:
                ok = False
                break
            if k == last or p.t[k + 1] >= candidate + duration:
                break
            k += 1
        if ok:
            return candidate
        if k == last:
            return INFINITY  # unreachable for validated requests
        k += 1
        candidate = p.t[k]
