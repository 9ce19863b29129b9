# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ``replay(jobs, BackfillPolicy(...), (capacity,))``, one resource dimension.

The schedule must be the reference's bit for bit, so the event loop is the reference's
(:mod:`hpcsched.sim.replay`): at equal times estimate_over < submit < end < wake, then in the
order events were scheduled; the policy decides after every single event (all estimate_over
events of an instant are applied before one decision, as the capacity rule needs); started jobs
schedule
their end, then their estimate_over, in decision order; overrun estimates are extended as Tsafrir
et al. do; conservative passes ask to be woken at their next reservation. Every floating-point
value is formed as the reference forms it (``now + estimate``; profile boundaries
a running job's share ends at its expected end; ``max(now + 1e-9, nextafter(now))`` for overdue jobs under
release="event") and compared the same way. Only the way the state is kept differs:

- waiting jobs sit in an array in queue order: static keys insert by a rank precomputed in
  :mod:`hpcsched.sim.fast`; dynamic keys (wfp3, unicep) are re-sorted at every pass;
- running jobs sit in an array sorted by expected end;
- EASY builds no profile: every running job started before now, so the profile only rises up to
  the head's reservation, and "fits now without touching the reservation" reduces to two
  counters, the processors free now and the extra processors at the shadow time;
- conservative keeps one profile (running jobs + every reservation) from pass to pass and applies
  what changed, where the reference rebuilds it at each event;
- PriorityBF rebuilds its per-class profiles at each pass, as the reference does.

Entry point: :func:`simulate` (called by :func:`hpcsched.sim.fast.replay_fast`).
"""

from libc.math cimport INFINITY, NAN, nextafter
from libc.stdlib cimport free, qsort
from libc.string cimport memmove

from ._containers cimport (
    EndList,
    Event,
    EventHeap,
    SortItem,
    TimeSet,
    checked_malloc,
    compact,
    endlist_init,
    endlist_insert,
    endlist_release,
    endlist_remove,
    heap_init,
    heap_pop,
    heap_push,
    i64,
    insert_by_rank,
    item_cmp,
    py_cube,
    rank_position,
    timeset_add,
    timeset_discard,
)
from ._profile cimport (
    Profile,
    prof_add,
    prof_add_range,
    prof_advance,
    prof_copy,
    prof_earliest,
    prof_free_at,
    prof_grow,
    prof_init,
    prof_release,
    prof_reset,
)

# Event kinds, in the order they run at equal times (hpcsched.sim.kernel).
cdef enum:
    EV_ESTIMATE_OVER = 0
    EV_SUBMIT = 1
    EV_END = 2
    EV_WAKE = 3

cdef enum:
    V_NONE = 0
    V_EASY = 1
    V_CONSERVATIVE = 2
    V_PRIORITYBF = 3
    V_RLSCHEDULER = 4

cdef enum:
    KEY_QUEUE = -1  # (backfill scan) in queue order
    KEY_STATIC = 0  # by a rank precomputed in hpcsched.sim.fast
    KEY_WFP3 = 1
    KEY_UNICEP = 2

cdef enum:
    S_NEW = 0
    S_WAITING = 1
    S_RUNNING = 2
    S_DONE = 3

VARIANT_CODES = {
    "none": V_NONE,
    "easy": V_EASY,
    "conservative": V_CONSERVATIVE,
    "prioritybf": V_PRIORITYBF,
    "rlscheduler": V_RLSCHEDULER,
}
KEY_CODES = {"queue": KEY_QUEUE, "static": KEY_STATIC, "wfp3": KEY_WFP3, "unicep": KEY_UNICEP}


cdef class _Engine:
    # the state is declared in _fastsim.pxd

    def __dealloc__(self):
        cdef Py_ssize_t c
        free(self.state)
        free(self.exp_end)
        free(self.held)
        free(self.contrib)
        free(self.ext_jobs)
        free(self.ext_a)
        free(self.ext_b)
        free(self.queue)
        free(self.bfq)
        free(self.order_buf)
        free(self.tail_buf)
        free(self.items)
        free(self.started)
        free(self.started_bf)
        free(self.heap.items)
        free(self.wakes.t)
        free(self.class_count)
        endlist_release(&self.running)
        endlist_release(&self.planned)
        endlist_release(&self.fresh)
        prof_release(&self.prof)
        if self.levels != NULL:
            for c in range(self.n_levels):
                prof_release(&self.levels[c])
            free(self.levels)

    cdef int allocate(self) except -1:
        cdef Py_ssize_t n = self.n, c
        self.state = <unsigned char*>checked_malloc(n)
        self.exp_end = <double*>checked_malloc(n * sizeof(double))
        self.held = <double*>checked_malloc(n * sizeof(double))
        self.contrib = <double*>checked_malloc(n * sizeof(double))
        self.ext_jobs = <int*>checked_malloc(n * sizeof(int))
        self.ext_a = <double*>checked_malloc(n * sizeof(double))
        self.ext_b = <double*>checked_malloc(n * sizeof(double))
        self.ext_n = 0
        self.queue = <int*>checked_malloc(n * sizeof(int))
        self.bfq = <int*>checked_malloc(n * sizeof(int))
        self.order_buf = <int*>checked_malloc(n * sizeof(int))
        self.tail_buf = <int*>checked_malloc(n * sizeof(int))
        self.items = <SortItem*>checked_malloc(n * sizeof(SortItem))
        self.started = <int*>checked_malloc(n * sizeof(int))
        self.started_bf = <unsigned char*>checked_malloc(n)
        self.class_count = <i64*>checked_malloc(self.n_classes * sizeof(i64))
        endlist_init(&self.running, n)
        endlist_init(&self.planned, n)
        endlist_init(&self.fresh, n)
        heap_init(&self.heap, 2 * n)
        prof_init(&self.prof, 64)
        for c in range(self.n_classes):
            self.class_count[c] = 0
        self.min_req = self.capacity + 1
        for c in range(n):
            self.state[c] = S_NEW
            self.contrib[c] = -INFINITY
            if self.req[c] < self.min_req:
                self.min_req = self.req[c]
        if self.variant == V_PRIORITYBF:
            self.levels = <Profile*>checked_malloc(self.n_classes * sizeof(Profile))
            for c in range(self.n_classes):
                self.levels[c].t = NULL
                self.levels[c].f = NULL
            self.n_levels = self.n_classes
            for c in range(self.n_classes):
                prof_init(&self.levels[c], 64)
        self.mem_head = -1
        self.displaced = -1
        return 0

    # -- running jobs -----------------------------------------------------------------------

    cdef void set_now(self, double t) noexcept:
        self.now = t
        # BackfillPolicy._profile: max(now + 1e-9, nextafter(now, inf))
        self.horizon = t + 1e-9
        if nextafter(t, INFINITY) > self.horizon:
            self.horizon = nextafter(t, INFINITY)

    cdef double effective_end(self, double end) noexcept:
        # BackfillPolicy._profile under release="event": max(expected_end, horizon)
        if self.event_release and self.horizon > end:
            return self.horizon
        return end

    cdef i64 free_listing(self) noexcept:
        """BackfillPolicy._free_now: under "estimate" a job whose expected end has come is free."""
        cdef i64 free_now = self.capacity - self.used
        cdef Py_ssize_t k = 0
        if self.event_release:
            return free_now
        while k < self.running.n and self.running.end[k] <= self.now:
            free_now += self.running.req[k]
            k += 1
        return free_now

    cdef i64 free_profile(self) noexcept:
        """``Profile.from_running(...).free_at(now)``: jobs whose effective end is past now."""
        cdef i64 free_now = self.capacity - self.used
        cdef Py_ssize_t k = 0
        while k < self.running.n and self.effective_end(self.running.end[k]) <= self.now:
            free_now += self.running.req[k]
            k += 1
        return free_now

    cdef int running_profile(self, Profile* p, bint record) except -1:
        """``Profile.from_running``: a running job holds its processors on [now, end).

        Running jobs are sorted by expected end and that boundary is monotone in it, so the
        profile is a running sum. ``record`` notes each job's share for the kept profile.
        """
        cdef double now = self.now, e, b
        cdef i64 released = 0, base
        cdef Py_ssize_t k
        prof_reset(p, now, 0)
        for k in range(self.running.n):
            e = self.effective_end(self.running.end[k])
            if e > now:
                b = e
                released += self.running.req[k]
                if p.t[p.n - 1] != b:
                    prof_grow(p, p.n + 1)
                    p.t[p.n] = b
                    p.n += 1
                p.f[p.n - 1] = released
                if record:
                    self.contrib[self.running.job[k]] = b
            elif record:
                self.contrib[self.running.job[k]] = -INFINITY
        base = self.capacity - released
        for k in range(p.n):
            p.f[k] += base
        return 0

    # -- waiting jobs -----------------------------------------------------------------------

    cdef void enqueue(self, int j) noexcept:
        self.state[j] = S_WAITING
        self.held[j] = NAN
        if self.order_kind == KEY_STATIC:
            insert_by_rank(self.queue, self.qn, self.rank, j)
        else:
            self.queue[self.qn] = j
        self.qn += 1
        if self.bf_kind == KEY_STATIC:
            insert_by_rank(self.bfq, self.bfn, self.bf_rank, j)
            self.bfn += 1
        if self.variant == V_PRIORITYBF:
            self.class_count[self.pclass[j]] += 1

    cdef double dynamic_key(self, int kind, int j) noexcept:
        """``order._wfp3`` / ``order._unicep`` at now (``key_r`` = _r(job), ``key_den`` =
        log2(n + 1e-15) * _r(job), both precomputed with Python's math)."""
        cdef double wait = self.now - self.submit[j]
        cdef double den
        if kind == KEY_WFP3:
            return -py_cube(wait / self.key_r[j]) * <double>self.req[j]
        den = self.key_den[j]
        if den != 0:
            return -(wait + 1e-15) / den
        return -INFINITY

    cdef void sort_jobs(self, const int* src, Py_ssize_t m, int kind, bint by_class, int* dst) noexcept:
        cdef Py_ssize_t k
        cdef int j
        for k in range(m):
            j = src[k]
            self.items[k].cls = self.pclass[j] if by_class else 0
            self.items[k].val = self.dynamic_key(kind, j)
            self.items[k].sub = self.submit[j]
            self.items[k].idx = j
        qsort(self.items, m, sizeof(SortItem), item_cmp)
        for k in range(m):
            dst[k] = self.items[k].idx

    cdef void build_ordered(self) noexcept:
        """``BackfillPolicy._ordered``: queue order, the remembered head first when sticky."""
        cdef int head = self.mem_head if self.sticky else -1
        cdef Py_ssize_t pos
        if head >= 0 and self.state[head] != S_WAITING:
            head = -1
        self.ord_n = self.qn
        if self.order_kind == KEY_STATIC:
            self.ordered = self.queue
            if head >= 0 and self.queue[0] != head:
                # moved back to its rank at commit(), so insertions stay binary searches
                pos = rank_position(self.queue, self.qn, self.rank, self.rank[head]) - 1
                memmove(&self.queue[1], &self.queue[0], pos * sizeof(int))
                self.queue[0] = head
                self.displaced = head
            return
        self.sort_jobs(self.queue, self.qn, self.order_kind, self.variant == V_PRIORITYBF, self.order_buf)
        self.ordered = self.order_buf
        if head >= 0 and self.order_buf[0] != head:
            pos = 0
            while self.order_buf[pos] != head:
                pos += 1
            memmove(&self.order_buf[1], &self.order_buf[0], pos * sizeof(int))
            self.order_buf[0] = head

    cdef void backfill_tail(self, Py_ssize_t head_pos) noexcept:
        """The jobs after the head in backfill-scan order (may list jobs already started)."""
        if self.bf_kind == KEY_QUEUE:
            self.tail = &self.ordered[head_pos + 1]
            self.tail_n = self.ord_n - head_pos - 1
        elif self.bf_kind == KEY_STATIC:
            self.tail = self.bfq
            self.tail_n = self.bfn
        else:
            self.tail_n = self.ord_n - head_pos - 1
            self.sort_jobs(&self.ordered[head_pos + 1], self.tail_n, self.bf_kind, False, self.tail_buf)
            self.tail = self.tail_buf

    cdef void add_start(self, int j, bint backfilled) noexcept:
        self.started[self.sn] = j
        self.started_bf[self.sn] = backfilled
        self.sn += 1
        self.state[j] = S_RUNNING

    # -- variants ---------------------------------------------------------------------------


include "_fastsim_passes.pxi"
include "_fastsim_loop.pxi"
include "_fastsim_entry.pxi"
