# The compiled kernel's event loop (included by _fastsim.pyx): the decision, applying it, ends
# and overruns (the one overrun rule, as hpcsched.scheduler.overrun), and the loop over events in
# pyss's order. Module functions taking the engine: Cython allows no include in a class body.

cdef int commit(_Engine self) except -1:
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

cdef int decide(_Engine self) except -1:
    self.sn = 0
    self.wake = INFINITY
    if self.variant == V_CONSERVATIVE:
        pass_conservative(self)
    elif self.variant == V_PRIORITYBF:
        pass_prioritybf(self)
    else:
        self.build_ordered()
        if self.variant == V_EASY:
            pass_easy(self)
        elif self.variant == V_NONE:
            pass_none(self)
        else:
            pass_rlscheduler(self)
    return commit(self)

cdef int job_ended(_Engine self, int j) except -1:
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

cdef void extend_estimate(_Engine self, int j) noexcept:
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

cdef int run(_Engine self) except -1:
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
                job_ended(self, j)
            elif ev.order == EV_ESTIMATE_OVER:
                # as replay: every overrun of this instant before the one decision, and
                # no decision when all of them belong to jobs that already ended
                extended = False
                while True:
                    if self.state[j] == S_RUNNING:
                        extend_estimate(self, j)
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
        decide(self)
    return 0
