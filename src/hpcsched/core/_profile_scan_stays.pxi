# Included by _profile_scan.pyx: what the re-fit loop learnt from the jobs that stayed.
#
# After an early end most of the queue has some hole with room before its reservation, so each
# job's earliest-start scan runs from that hole to its own slot, hundreds of steps, and most
# jobs stay. A job A (request q_A, estimate e_A, reserved at t_A) that stays after a scan from
# a_A proves that q_A does not fit for e_A at any start c >= a_A with c + e_A <= t_A: those
# windows end before A's own slot, where the profile is the plan's own (a start between two
# step times fits only if the step time before it, or a_A, does; so the real interval is
# covered, not only the candidates the scan tried). That holds while no capacity comes back on
# those windows: taking a request only lowers the profile; a job that moves gives its old slot
# back, so the proofs are cut at that slot's start (as after a stay whose slot, given back and
# taken again, did not restore every value); and the job that moved proves the same up to its
# new start. Then a later job B with q_B >= q_A (each resource) and e_B >= e_A fits at no start c in [a_A, x]
# with x + e_A <= t_A and x + e_B <= t_B: B's window there is its own profile's too (it ends
# before t_B) and holds A's window. B's scan may then jump from the first candidate in that
# zone to x: every candidate the full scan tries up to x fails, and the first step that fails
# for the last of them fails for x as well, so both scans go on from the same step time
# (pinned by ``test_the_memo_of_stays_changes_no_plan``).

cdef enum:
    _STAYS = 32  # the last stays kept


@cython.final
cdef class _Stays:
    """The last stays since the profile last changed: ``after``, ``slot``, ``estimate`` and
    ``request[k * _DIMS + d]`` each."""

    cdef double after[_STAYS]
    cdef double slot[_STAYS]
    cdef double estimate[_STAYS]
    cdef double request[_STAYS * _DIMS]
    cdef Py_ssize_t size, next, n
    cdef bint off  # the memo is not used (the tests' reference)

    cdef inline void clear(self) noexcept:
        """The profile changed: nothing learnt holds any more."""
        self.size = self.next = 0

    cdef void cut(self, double at) noexcept:
        """Capacity may have come back from ``at`` on: a proof holds for the windows that end
        by ``at``."""
        cdef Py_ssize_t k
        for k in range(self.size):
            if self.slot[k] > at:
                self.slot[k] = at

    cdef void taken(self, const double *request) noexcept:
        """``request`` was taken from the profile: less is free, every proof holds (unless an
        amount is negative: then taking it gave)."""
        cdef Py_ssize_t d
        for d in range(self.n):
            if not request[d] >= 0.0:
                self.clear()
                return

    cdef void add(self, double after, double slot, double estimate,
                  const double *request) noexcept:
        cdef Py_ssize_t k = self.next, d
        self.after[k], self.slot[k], self.estimate[k] = after, slot, estimate
        for d in range(self.n):
            self.request[k * _DIMS + d] = request[d]
        self.next = (k + 1) % _STAYS
        if self.size < _STAYS:
            self.size += 1

    cdef void zone(self, double after, double slot, double estimate, const double *request,
                   double *lo, double *hi) noexcept:
        """Starts ``[lo, hi)`` where a job reserved at ``slot`` fits nowhere (empty when no
        stay covers it): of the stays with at most its request and estimate, the one that
        spares the most of its scan from ``after``."""
        cdef Py_ssize_t k, d
        cdef double x, start, gain = 0.0
        cdef bint covers
        lo[0], hi[0] = _INFINITY, -_INFINITY
        if self.off:
            return
        for k in range(self.size):
            if not self.estimate[k] <= estimate:
                continue
            x = self.slot[k] - self.estimate[k]
            if slot - estimate < x:
                x = slot - estimate
            start = self.after[k] if self.after[k] > after else after  # max(after, after[k])
            if not x - start > gain:  # spares no more than the best so far
                continue
            covers = True
            for d in range(self.n):
                if not self.request[k * _DIMS + d] <= request[d]:
                    covers = False
                    break
            # the windows end before both slots (a start at a slot would be no window at all
            # when the estimate is lost in rounding)
            if covers and x + self.estimate[k] <= self.slot[k] and (
                x + estimate <= slot and x < self.slot[k] and x < slot
            ):
                lo[0], hi[0] = self.after[k], x
                gain = x - start


cdef bint _restores(_Steps steps, Py_ssize_t i, Py_ssize_t j, const double *request) noexcept:
    """Giving ``request`` to steps ``i`` to ``j - 1`` and taking it again leaves every value
    equal (as compared: ``-0.0`` and ``0.0`` alike), as with whole numbers."""
    cdef Py_ssize_t k, d, n = steps.n
    cdef double v
    for k in range(i, j):
        for d in range(n):
            v = steps.values[k * n + d]
            if not (v + request[d]) - request[d] == v:
                return False
    return True
