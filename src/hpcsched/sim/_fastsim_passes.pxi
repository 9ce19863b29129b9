# The scheduling passes of the compiled kernel (included by _fastsim.pyx): one function per
# backfilling variant, each the twin of the reference pass in hpcsched.policies (pinned to it by
# tests/test_fast_engine.py and tests/test_invariants.py). They read and write the engine's
# fields; Cython allows no include inside a class body, so they take the engine as an argument.

cdef int pass_none(_Engine self) except -1:
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

cdef i64 easy_shadow(_Engine self, i64 need, i64 free_now, double* shadow) noexcept:
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

cdef int pass_easy(_Engine self) except -1:
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
    extra = easy_shadow(self, self.req[head], free_now, &shadow) - self.req[head]
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

cdef double rl_shadow(_Engine self, i64 need, i64 free_now) noexcept:
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

cdef int pass_rlscheduler(_Engine self) except -1:
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
            self.mem_shadow = rl_shadow(self, self.req[head], free_now)
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

cdef int adjust_running(_Engine self) except -1:
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

cdef int pass_conservative(_Engine self) except -1:
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
    adjust_running(self)
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

cdef int pass_prioritybf(_Engine self) except -1:
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
