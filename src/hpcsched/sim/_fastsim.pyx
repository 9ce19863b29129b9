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

    cdef int pass_none(self) except -1:
        """List scheduling: start in queue order while the next job fits."""
        cdef i64 free_now = self.free_listing()
        cdef Py_ssize_t k
        cdef int j
        self.mem_head = -1
        for k in range(self.ord_n):
            j = self.ordered[k]
            if self.req[j] > free_now:
                self.mem_head = j
                break
            self.add_start(j, False)
            free_now -= self.req[j]
        return 0

    cdef i64 easy_shadow(self, i64 need, i64 free_now, double* shadow) noexcept:
        """The head's reservation (shadow time) and the processors free at that time.

        Every job in the profile started at or before now, so the profile only rises: the head's
        earliest start is the first boundary where enough processors are back, and the processors
        free there count every job whose boundary is at or before it (running jobs' boundaries
        are their expected ends, those of jobs started in this pass ``now + estimate``).
        """
        cdef EndList* run = &self.running
        cdef EndList* fresh = &self.fresh
        cdef double now = self.now, bk, bm, b, at = now
        cdef i64 avail = free_now
        cdef Py_ssize_t k = 0, m = 0
        cdef bint found = False
        while k < run.n and self.effective_end(run.end[k]) <= now:
            k += 1
        while k < run.n or m < fresh.n:
            bk = self.effective_end(run.end[k]) if k < run.n else INFINITY
            bm = fresh.end[m] if m < fresh.n else INFINITY
            b = bk if bk <= bm else bm
            if found and b > at:
                break
            if bk <= bm:
                avail += run.req[k]
                k += 1
            else:
                avail += fresh.req[m]
                m += 1
            if not found and avail >= need:
                found = True
                at = b
        shadow[0] = at
        return avail

    cdef int pass_easy(self) except -1:
        """EASY: the blocked head gets the one reservation; a later job starts if it fits now for
        its whole estimate beside it: it ends by the shadow time or uses only extra processors."""
        cdef double now = self.now, shadow = now, e
        cdef i64 free_now = self.free_profile(), extra, r
        cdef Py_ssize_t i = 0, k
        cdef int j, head
        cdef bint dip
        self.fresh.n = 0
        while i < self.ord_n:
            j = self.ordered[i]
            if self.req[j] > free_now:
                break
            self.add_start(j, False)
            e = now + self.estimate[j]
            if e > now:  # Profile.reserve of an empty range changes nothing
                free_now -= self.req[j]
                endlist_insert(&self.fresh, e, self.req[j], j)
            i += 1
        if i == self.ord_n:
            self.mem_head = -1
            return 0
        head = self.ordered[i]
        self.mem_head = head
        extra = self.easy_shadow(self.req[head], free_now, &shadow) - self.req[head]
        # the reservation covers [shadow, shadow + estimate), unless that range is empty
        dip = shadow + self.estimate[head] > shadow
        self.backfill_tail(i)
        for k in range(self.tail_n):
            if free_now < self.min_req:
                break  # nothing else can fit now
            j = self.tail[k]
            r = self.req[j]
            if self.state[j] != S_WAITING or j == head or r > free_now:
                continue
            e = now + self.estimate[j]
            # earliest_start == now: the reservation's first step is checked iff shadow < e
            if dip and shadow < e and r > extra:
                continue
            self.add_start(j, True)
            if e > now:
                free_now -= r
            if dip and e > shadow:
                extra -= r
        return 0

    cdef double rl_shadow(self, i64 need, i64 free_now) noexcept:
        """RLScheduler's shadow: walk the planned ends until the head fits (under "estimate",
        jobs past their expected end are already in ``free_now``)."""
        cdef EndList* run = &self.planned
        cdef EndList* fresh = &self.fresh
        cdef double shadow = self.now
        cdef i64 avail = free_now
        cdef Py_ssize_t k = 0, m = 0
        while k < run.n or m < fresh.n:
            if k < run.n and not self.event_release and self.exp_end[run.job[k]] <= self.now:
                k += 1
                continue
            if m >= fresh.n or (k < run.n and run.end[k] <= fresh.end[m]):
                shadow = run.end[k]
                avail += run.req[k]
                k += 1
            else:
                shadow = fresh.end[m]
                avail += fresh.req[m]
                m += 1
            if need <= avail:
                break
        return shadow

    cdef int pass_rlscheduler(self) except -1:
        """Heads start while they fit; a blocked head's shadow is computed once; other jobs, in
        FCFS order, start if they fit now and ``now + estimate < shadow``."""
        cdef double now = self.now, shadow
        cdef i64 free_now = self.free_listing()
        cdef Py_ssize_t p = 0, k
        cdef int head, j
        self.fresh.n = 0
        while p < self.ord_n:
            head = self.ordered[p]
            if self.req[head] <= free_now:
                self.add_start(head, False)
                free_now -= self.req[head]
                endlist_insert(&self.fresh, now + self.estimate[head], self.req[head], head)
                self.mem_head = -1
                p += 1
                continue
            if self.mem_head != head:
                self.mem_shadow = self.rl_shadow(self.req[head], free_now)
                self.mem_head = head
            shadow = self.mem_shadow
            for k in range(self.bfn):
                if free_now < self.min_req:
                    break
                j = self.bfq[k]
                if self.state[j] != S_WAITING or j == head:
                    continue
                if now + self.estimate[j] < shadow and self.req[j] <= free_now:
                    self.add_start(j, True)
                    free_now -= self.req[j]
            break
        return 0

    cdef int adjust_running(self) except -1:
        """Bring each running job's share of the kept profile to what from_running gives now.

        It changes only for a job overdue under release="event" (held until ``horizon``).
        """
        cdef EndList* run = &self.running
        cdef Profile* p = &self.prof
        cdef double now = self.now, e, want, have
        cdef Py_ssize_t k
        cdef i64 r
        cdef int j
        for k in range(run.n):
            j = run.job[k]
            e = self.effective_end(run.end[k])
            want = e if e > now else -INFINITY
            have = self.contrib[j] if self.contrib[j] > now else -INFINITY
            if want == have:
                continue
            r = run.req[k]
            if have == -INFINITY:
                prof_add_range(p, now, want, -r)
            elif want == -INFINITY:
                prof_add_range(p, now, have, r)
            elif want > have:
                prof_add_range(p, have, want, -r)
            else:
                prof_add_range(p, want, have, r)
            self.contrib[j] = want
        return 0

    cdef int pass_conservative(self) except -1:
        """Every waiting job holds a reservation; a new job takes the earliest slot, an end event
        re-fits every reservation in queue order; when running jobs outgrow their estimates, the
        reservations that overlap what the extensions took are placed again, in queue order."""
        cdef Profile* p = &self.prof
        cdef double now = self.now, t, d
        cdef Py_ssize_t k, e
        cdef i64 r
        cdef int j, x
        cdef bint refit = self.kind == EV_END, blocked = False
        for e in range(self.ext_n):
            x = self.ext_jobs[e]
            self.ext_a[e] = self.contrib[x] if self.contrib[x] > now else now
        self.adjust_running()
        for e in range(self.ext_n):
            self.ext_b[e] = self.contrib[self.ext_jobs[e]]
        if self.ext_n > 0:
            for k in range(self.qn):
                j = self.queue[k]
                t = self.held[j]
                if t != t:
                    continue
                for e in range(self.ext_n):
                    if self.ext_a[e] < self.ext_b[e] and t < self.ext_b[e] and (
                        t + self.estimate[j] > self.ext_a[e]
                    ):
                        prof_add(p, t, self.estimate[j], self.req[j])
                        self.held[j] = NAN
                        break
            self.ext_n = 0
        self.build_ordered()
        for k in range(self.ord_n):
            j = self.ordered[k]
            r = self.req[j]
            d = self.estimate[j]
            t = self.held[j]
            if t == t:
                if (refit and t > now) or (t <= now and r > prof_free_at(p, now)):
                    prof_add(p, t, d, r)
                    t = prof_earliest(p, r, d, now)
                    prof_add(p, t, d, -r)
                    self.held[j] = t
            else:
                t = prof_earliest(p, r, d, now)
                prof_add(p, t, d, -r)
                self.held[j] = t
            if t <= now:
                self.add_start(j, blocked)
            else:
                blocked = True
                if t < self.wake:
                    self.wake = t
        return 0

    cdef int pass_prioritybf(self) except -1:
        """PriorityBF: one profile per class present; a job starts if it fits in its class's
        profile; the first blocked job is reserved in every profile, later blocked ones only in
        those of lower classes (higher class numbers)."""
        cdef double now = self.now, t, d
        cdef Py_ssize_t k, c, level, lowest
        cdef i64 r
        cdef int j
        cdef bint system = False, blocked = False
        self.running_profile(&self.prof, False)
        self.build_ordered()
        for c in range(self.n_classes):
            if self.class_count[c] > 0:
                prof_copy(&self.levels[c], &self.prof)
        for k in range(self.ord_n):
            j = self.ordered[k]
            c = self.pclass[j]
            r = self.req[j]
            d = self.estimate[j]
            t = prof_earliest(&self.levels[c], r, d, now)
            if t == now:
                self.add_start(j, blocked)
                lowest = c
            else:
                blocked = True
                lowest = c if not system else c + 1
                system = True
            # Jobs come class by class, so the profiles of classes above c are never read again:
            # reserving there too, as the reference does, would change no decision.
            for level in range(lowest, self.n_classes):
                if self.class_count[level] > 0:
                    prof_add(&self.levels[level], t, d, -r)
        return 0

    # -- the event loop ---------------------------------------------------------------------

    cdef int commit(self) except -1:
        """replay's handling of a decision: start, then end/estimate_over events, then wake."""
        cdef double now = self.now, e
        cdef Py_ssize_t k, pos
        cdef int j, head
        for k in range(self.sn):
            j = self.started[k]
            e = now + self.estimate[j]
            self.start_out[j] = now
            self.bf_out[j] = self.started_bf[k]
            self.exp_end[j] = e
            endlist_insert(&self.running, e, self.req[j], j)
            self.used += self.req[j]
            heap_push(&self.heap, now + self.runtime[j], EV_END, j)
            if self.estimate[j] < self.runtime[j]:
                heap_push(&self.heap, e, EV_ESTIMATE_OVER, j)
            if self.variant == V_CONSERVATIVE:
                # its reservation [now, now + estimate) stays in the kept profile
                self.contrib[j] = e if self.estimate[j] > 0 else -INFINITY
            elif self.variant == V_PRIORITYBF:
                self.class_count[self.pclass[j]] -= 1
            elif self.variant == V_RLSCHEDULER:
                endlist_insert(&self.planned, e, self.req[j], j)
        if self.sn > 0:
            self.qn = compact(self.queue, self.qn, self.state, S_WAITING)
            self.bfn = compact(self.bfq, self.bfn, self.state, S_WAITING)
        if self.displaced >= 0:
            head = self.displaced
            self.displaced = -1
            if self.state[head] == S_WAITING:  # still queue[0]: back to its rank
                pos = rank_position(&self.queue[1], self.qn - 1, self.rank, self.rank[head])
                memmove(&self.queue[0], &self.queue[1], pos * sizeof(int))
                self.queue[pos] = head
        if self.wake < INFINITY and self.wake > now and timeset_add(&self.wakes, self.wake):
            heap_push(&self.heap, self.wake, EV_WAKE, -1)
        return 0

    cdef int decide(self) except -1:
        self.sn = 0
        self.wake = INFINITY
        if self.variant == V_CONSERVATIVE:
            self.pass_conservative()
        elif self.variant == V_PRIORITYBF:
            self.pass_prioritybf()
        else:
            self.build_ordered()
            if self.variant == V_EASY:
                self.pass_easy()
            elif self.variant == V_NONE:
                self.pass_none()
            else:
                self.pass_rlscheduler()
        return self.commit()

    cdef int job_ended(self, int j) except -1:
        endlist_remove(&self.running, self.exp_end[j], j)
        self.used -= self.req[j]
        self.state[j] = S_DONE
        self.end_out[j] = self.now
        if self.variant == V_CONSERVATIVE and self.contrib[j] > self.now:
            prof_add_range(&self.prof, self.now, self.contrib[j], self.req[j])
        elif self.variant == V_RLSCHEDULER:
            endlist_remove(&self.planned, self.start_out[j] + self.estimate[j], j)
        self.contrib[j] = -INFINITY
        return 0

    cdef void extend_estimate(self, int j) noexcept:
        """replay._extended_estimate: to the timelimit if that is later, else doubled."""
        cdef double start = self.start_out[j], limit = self.timelimit[j], over, new_end
        if limit == limit and start + limit > self.now:
            new_end = start + limit
        else:
            over = self.now - start
            new_end = self.now + (1.0 if 1.0 > over else over)
        endlist_remove(&self.running, self.exp_end[j], j)
        endlist_insert(&self.running, new_end, self.req[j], j)
        self.exp_end[j] = new_end
        if self.variant == V_CONSERVATIVE:
            self.ext_jobs[self.ext_n] = j
            self.ext_n += 1
        if start + self.runtime[j] > new_end:
            heap_push(&self.heap, new_end, EV_ESTIMATE_OVER, j)

    cdef int run(self) except -1:
        cdef Py_ssize_t sp = 0
        cdef int j = -1
        cdef bint submit_next, extended
        cdef Event ev
        prof_reset(&self.prof, self.submit[self.sub_order[0]], self.capacity)
        while sp < self.n or self.heap.n > 0:
            submit_next = False
            if sp < self.n:
                j = <int>self.sub_order[sp]
                # submissions were scheduled first, so they carry the smallest sequence numbers
                submit_next = self.heap.n == 0 or self.submit[j] < self.heap.items[0].t or (
                    self.submit[j] == self.heap.items[0].t and self.heap.items[0].order > EV_SUBMIT
                )
            if submit_next:
                sp += 1
                self.set_now(self.submit[j])
                self.kind = EV_SUBMIT
                self.enqueue(j)
            else:
                ev = heap_pop(&self.heap)
                j = ev.job
                self.set_now(ev.t)
                self.kind = ev.order
                if ev.order == EV_END:
                    self.job_ended(j)
                elif ev.order == EV_ESTIMATE_OVER:
                    # as replay: every overrun of this instant before the one decision, and
                    # no decision when all of them belong to jobs that already ended
                    extended = False
                    while True:
                        if self.state[j] == S_RUNNING:
                            self.extend_estimate(j)
                            extended = True
                        if not (self.heap.n > 0 and self.heap.items[0].t == ev.t
                                and self.heap.items[0].order == EV_ESTIMATE_OVER):
                            break
                        j = heap_pop(&self.heap).job
                    if not extended:
                        continue
                else:
                    timeset_discard(&self.wakes, ev.t)
            if self.variant == V_CONSERVATIVE:
                prof_advance(&self.prof, self.now)  # drop the past; any order with the END release
            self.decide()
        return 0


cdef bint _indices_ok(const i64[::1] values, i64 bound) noexcept:
    cdef Py_ssize_t k
    for k in range(values.shape[0]):
        if values[k] < 0 or values[k] >= bound:
            return False
    return True


def simulate(
    const double[::1] submit,
    const double[::1] runtime,
    const double[::1] estimate,
    const double[::1] timelimit,
    const i64[::1] request,
    const i64[::1] submit_order,
    const i64[::1] rank,
    const i64[::1] backfill_rank,
    const i64[::1] priority_class,
    Py_ssize_t n_classes,
    const double[::1] key_r,
    const double[::1] key_den,
    i64 capacity,
    int variant,
    int order_kind,
    int backfill_kind,
    bint sticky_head,
    bint event_release,
    double[::1] start,
    double[::1] end,
    unsigned char[::1] backfilled,
):
    """Run the jobs; fill ``start``, ``end``, ``backfilled``; return how many never started.

    Inputs are validated by :func:`hpcsched.sim.fast.replay_fast`; this only checks shapes.
    """
    cdef Py_ssize_t n = submit.shape[0]
    cdef _Engine engine
    lengths = (
        runtime.shape[0], estimate.shape[0], timelimit.shape[0], request.shape[0],
        submit_order.shape[0], rank.shape[0], backfill_rank.shape[0], priority_class.shape[0],
        key_r.shape[0], key_den.shape[0], start.shape[0], end.shape[0], backfilled.shape[0],
    )
    if min(lengths) != n or max(lengths) != n:
        raise ValueError("every job array must have one entry per job")
    if n == 0:
        return 0
    # bounds checks are off: refuse codes and indices that would read outside the arrays
    if variant not in VARIANT_CODES.values() or order_kind not in (KEY_STATIC, KEY_WFP3, KEY_UNICEP):
        raise ValueError(f"unknown variant or order code ({variant}, {order_kind})")
    if backfill_kind not in KEY_CODES.values() or (
        variant == V_RLSCHEDULER and backfill_kind != KEY_STATIC
    ):
        raise ValueError(f"backfill code {backfill_kind} does not fit variant {variant}")
    if not _indices_ok(submit_order, n) or not _indices_ok(priority_class, n_classes):
        raise ValueError("submit_order must index the jobs, priority_class lie in [0, n_classes)")
    engine = _Engine()
    engine.n = n
    engine.submit = &submit[0]
    engine.runtime = &runtime[0]
    engine.estimate = &estimate[0]
    engine.timelimit = &timelimit[0]
    engine.req = &request[0]
    engine.sub_order = &submit_order[0]
    engine.rank = &rank[0]
    engine.bf_rank = &backfill_rank[0]
    engine.pclass = &priority_class[0]
    engine.n_classes = n_classes
    engine.key_r = &key_r[0]
    engine.key_den = &key_den[0]
    engine.capacity = capacity
    engine.variant = variant
    engine.order_kind = order_kind
    engine.bf_kind = backfill_kind
    engine.sticky = sticky_head
    engine.event_release = event_release
    engine.start_out = &start[0]
    engine.end_out = &end[0]
    engine.bf_out = &backfilled[0]
    engine.allocate()
    engine.run()
    return engine.qn
