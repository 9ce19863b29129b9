# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Plain C containers of the compiled engine (:mod:`hpcsched.sim._fastsim`).

- :c:type:`EventHeap`: the reference kernel's heap of ``(time, order, seq, job)``;
- :c:type:`EndList`: jobs sorted by an end time (running jobs by expected end, ...);
- :c:type:`TimeSet`: the pending wake-up times (replay's ``pending_wake``);
- rank helpers: the waiting queue is an int array sorted by a precomputed rank;
- :c:type:`SortItem`: one job's dynamic key tuple, for ``qsort``.

All functions are inline: the engine's inner loops call them millions of times.
"""

from libc.math cimport pow
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memmove

ctypedef long long i64


cdef inline void* checked_malloc(Py_ssize_t size) except NULL:
    cdef void* ptr = malloc(size if size > 0 else 1)
    if ptr == NULL:
        raise MemoryError()
    return ptr


cdef inline void* checked_realloc(void* ptr, Py_ssize_t size) except NULL:
    cdef void* grown = realloc(ptr, size)
    if grown == NULL:
        raise MemoryError()
    return grown


# -- events ---------------------------------------------------------------------------------


cdef struct Event:
    double t
    int order
    int job
    i64 seq


cdef struct EventHeap:
    Event* items
    Py_ssize_t n
    Py_ssize_t cap
    i64 seq


cdef inline bint ev_before(const Event* a, const Event* b) noexcept nogil:
    # the reference heap compares (time, order, seq, ...) tuples
    if a.t != b.t:
        return a.t < b.t
    if a.order != b.order:
        return a.order < b.order
    return a.seq < b.seq


cdef inline int heap_init(EventHeap* h, Py_ssize_t cap) except -1:
    h.cap = cap if cap > 16 else 16
    h.items = <Event*>checked_malloc(h.cap * sizeof(Event))
    h.n = 0
    h.seq = 0
    return 0


cdef inline int heap_push(EventHeap* h, double t, int order, int job) except -1:
    cdef Event ev
    cdef Py_ssize_t i, parent
    if h.n == h.cap:
        h.items = <Event*>checked_realloc(h.items, 2 * h.cap * sizeof(Event))
        h.cap *= 2
    ev.t = t
    ev.order = order
    ev.job = job
    ev.seq = h.seq
    h.seq += 1
    i = h.n
    h.n += 1
    while i > 0:
        parent = (i - 1) >> 1
        if not ev_before(&ev, &h.items[parent]):
            break
        h.items[i] = h.items[parent]
        i = parent
    h.items[i] = ev
    return 0


cdef inline Event heap_pop(EventHeap* h) noexcept:
    cdef Event top = h.items[0]
    cdef Event last
    cdef Py_ssize_t i = 0, c
    h.n -= 1
    if h.n > 0:
        last = h.items[h.n]
        while True:
            c = 2 * i + 1
            if c >= h.n:
                break
            if c + 1 < h.n and ev_before(&h.items[c + 1], &h.items[c]):
                c += 1
            if not ev_before(&h.items[c], &last):
                break
            h.items[i] = h.items[c]
            i = c
        h.items[i] = last
    return top


# -- jobs sorted by an end time -------------------------------------------------------------


cdef struct EndList:
    double* end
    i64* req
    int* job
    Py_ssize_t n


cdef inline int endlist_init(EndList* l, Py_ssize_t cap) except -1:
    l.end = <double*>checked_malloc(cap * sizeof(double))
    l.req = <i64*>checked_malloc(cap * sizeof(i64))
    l.job = <int*>checked_malloc(cap * sizeof(int))
    l.n = 0
    return 0


cdef inline void endlist_release(EndList* l) noexcept:
    free(l.end)
    free(l.req)
    free(l.job)


cdef inline void endlist_insert(EndList* l, double end, i64 req, int job) noexcept:
    """Insert after the entries with the same end (bisect_right)."""
    cdef Py_ssize_t lo = 0, hi = l.n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if end < l.end[mid]:
            hi = mid
        else:
            lo = mid + 1
    memmove(&l.end[lo + 1], &l.end[lo], (l.n - lo) * sizeof(double))
    memmove(&l.req[lo + 1], &l.req[lo], (l.n - lo) * sizeof(i64))
    memmove(&l.job[lo + 1], &l.job[lo], (l.n - lo) * sizeof(int))
    l.end[lo] = end
    l.req[lo] = req
    l.job[lo] = job
    l.n += 1


cdef inline void endlist_remove(EndList* l, double end, int job) noexcept:
    """Remove ``job``, listed with ``end``."""
    cdef Py_ssize_t lo = 0, hi = l.n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if l.end[mid] < end:
            lo = mid + 1
        else:
            hi = mid
    while l.job[lo] != job:
        lo += 1
    memmove(&l.end[lo], &l.end[lo + 1], (l.n - lo - 1) * sizeof(double))
    memmove(&l.req[lo], &l.req[lo + 1], (l.n - lo - 1) * sizeof(i64))
    memmove(&l.job[lo], &l.job[lo + 1], (l.n - lo - 1) * sizeof(int))
    l.n -= 1


# -- pending wake-up times ------------------------------------------------------------------


cdef struct TimeSet:
    double* t
    Py_ssize_t n
    Py_ssize_t cap


cdef inline Py_ssize_t timeset_position(TimeSet* s, double t) noexcept:
    cdef Py_ssize_t lo = 0, hi = s.n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if s.t[mid] < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline bint timeset_add(TimeSet* s, double t) except -1:
    """Add ``t``; False if it was already there."""
    cdef Py_ssize_t pos = timeset_position(s, t)
    if pos < s.n and s.t[pos] == t:
        return False
    if s.n == s.cap:
        s.cap = 2 * s.cap if s.cap > 0 else 16
        s.t = <double*>checked_realloc(s.t, s.cap * sizeof(double))
    memmove(&s.t[pos + 1], &s.t[pos], (s.n - pos) * sizeof(double))
    s.t[pos] = t
    s.n += 1
    return True


cdef inline void timeset_discard(TimeSet* s, double t) noexcept:
    cdef Py_ssize_t pos = timeset_position(s, t)
    if pos < s.n and s.t[pos] == t:
        memmove(&s.t[pos], &s.t[pos + 1], (s.n - pos - 1) * sizeof(double))
        s.n -= 1


# -- the waiting queue ----------------------------------------------------------------------


cdef inline Py_ssize_t rank_position(const int* jobs, Py_ssize_t n, const i64* rank, i64 key) noexcept:
    """First position whose job ranks after ``key`` (ranks are unique)."""
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if rank[jobs[mid]] > key:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef inline void insert_by_rank(int* jobs, Py_ssize_t n, const i64* rank, int job) noexcept:
    cdef Py_ssize_t pos = rank_position(jobs, n, rank, rank[job])
    memmove(&jobs[pos + 1], &jobs[pos], (n - pos) * sizeof(int))
    jobs[pos] = job


cdef inline Py_ssize_t compact(int* jobs, Py_ssize_t n, const unsigned char* state, unsigned char keep) noexcept:
    """Keep, in order, the jobs whose state is ``keep``; return how many."""
    cdef Py_ssize_t k, m = 0
    for k in range(n):
        if state[jobs[k]] == keep:
            jobs[m] = jobs[k]
            m += 1
    return m


cdef struct SortItem:
    i64 cls
    double val
    double sub
    int idx


cdef inline int item_cmp(const void* pa, const void* pb) noexcept nogil:
    # the key tuples (priority_class?, value, submit, id): ids are unique, so the order is total
    cdef const SortItem* a = <const SortItem*>pa
    cdef const SortItem* b = <const SortItem*>pb
    if a.cls != b.cls:
        return -1 if a.cls < b.cls else 1
    if a.val < b.val:
        return -1
    if b.val < a.val:
        return 1
    if a.sub < b.sub:
        return -1
    if b.sub < a.sub:
        return 1
    return (a.idx > b.idx) - (a.idx < b.idx)


cdef inline double py_cube(double x) noexcept nogil:
    # CPython's float ``x ** 3``: a negative base is raised as -((-x) ** 3), zero keeps its sign
    if x == 0:
        return x
    if x < 0:
        return -pow(-x, 3.0)
    return pow(x, 3.0)
