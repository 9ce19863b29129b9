# Included by _profile_scan.pyx: the re-fit's scan with a reservation's own slot given back,
# read through instead of written.
#
# The re-fit of a reserved job gives its slot ``[t, end)`` back (the steps split at ``t`` and
# ``end``, the request added between), scans for the earliest start, and, when the job stays at
# ``t`` (most jobs after an early end), takes the slot again and merges the splits away: four
# moves of the arrays for a profile that ends as it began (those moves were a fifth of a re-fit
# after an early end with 10,000 queued). ``_Slot`` scans the profile as it would be with the
# slot given back: virtual steps at ``t`` and ``end`` when they are not step times already, and
# the request added to each value between them as the arrays would hold it (the same IEEE sum).
# The scan tries the same candidates and compares the same doubles as
# :meth:`_Steps.earliest` on the changed arrays, so it finds the same start; the arrays are
# changed only when the job moves, or when giving and taking back would not leave them bit for
# bit as they were (see :meth:`_Slot.unchanged`).


@cython.final
cdef class _Slot:
    """The profile of ``steps`` with ``request`` given back on ``[t, end)`` (``t < end``, ``t``
    not before the first step), as virtual steps: ``at_t``, ``at_end`` are the positions of the
    steps that start at ``t`` and at ``end``; ``it``, ``je`` the real steps that hold them."""

    cdef _Steps steps
    cdef const double *request
    cdef double t, end
    cdef Py_ssize_t it, je, at_t, at_end, size
    cdef bint new_t, new_end  # ``t`` / ``end`` is not a step time of the arrays

    cdef bint open(self, _Steps steps, double t, double end, const double *request) noexcept:
        """``False`` (nothing to read through) when ``t`` is before the first step."""
        if steps.times[0] > t:
            return False
        self.steps, self.t, self.end, self.request = steps, t, end, request
        self.it = steps.index(t)
        self.je = steps.index(end)
        self.new_t = steps.times[self.it] != t
        self.new_end = steps.times[self.je] != end
        self.at_t = self.it + self.new_t
        self.at_end = self.je + self.new_end + self.new_t
        self.size = steps.size + self.new_t + self.new_end
        return True

    cdef inline double time(self, Py_ssize_t v) noexcept:
        """The time of virtual step ``v`` (those before ``t`` are the real ones: most of a
        scan)."""
        if v < self.at_t:
            return self.steps.times[v]
        if v == self.at_t:
            return self.t
        if v < self.at_end:
            return self.steps.times[v - self.new_t]
        if v == self.at_end:
            return self.end
        return self.steps.times[v - self.new_t - self.new_end]

    cdef inline bint fits(self, const double *request, Py_ssize_t v) noexcept:
        """``request`` fits in virtual step ``v``: a split copies the values of the step it
        splits, and the slot's request is added between ``t`` and ``end``."""
        cdef Py_ssize_t n = self.steps.n, d
        cdef const double *values
        if v < self.at_t:
            values = &self.steps.values[v * n]
        elif v < self.at_end:
            values = &self.steps.values[(v - self.new_t) * n]
            for d in range(n):
                if not request[d] <= values[d] + self.request[d]:
                    return False
            return True
        else:
            values = &self.steps.values[(v - self.new_t - self.new_end) * n]
        for d in range(n):
            if not request[d] <= values[d]:
                return False
        return True

    cdef Py_ssize_t index(self, double c) noexcept:
        """:meth:`_Steps.index` on the virtual steps."""
        cdef Py_ssize_t k = self.steps.index(c), v
        v = k + (self.new_t and k > self.it) + (self.new_end and k > self.je)
        if self.new_t and self.t <= c and self.at_t > v:
            v = self.at_t
        if self.new_end and self.end <= c and self.at_end > v:
            v = self.at_end
        return v

    cdef bint earliest(self, const double *request, double duration, double after,
                       double *found, double lo, double hi) noexcept:
        """:meth:`_Steps.earliest` on the virtual steps: the steps before ``t``, most of a scan,
        read straight from the arrays."""
        cdef _Steps steps = self.steps
        cdef Py_ssize_t k, last = self.size - 1, at_t = self.at_t
        cdef double candidate = after, until
        cdef bint ok
        if lo <= candidate < hi:
            candidate = hi
        k = self.index(candidate)
        while True:
            ok = True
            until = candidate + duration
            while k + 1 < at_t:  # steps k and k + 1 are real ones (and k is not the last)
                if not steps.fits(request, k):
                    ok = False
                    break
                if steps.times[k + 1] >= until:
                    break
                k += 1
            else:
                while True:
                    if not self.fits(request, k):
                        ok = False
                        break
                    if k == last or self.time(k + 1) >= until:
                        break
                    k += 1
            if ok:
                found[0] = candidate
                return True
            if k == last:
                return False
            k += 1
            candidate = self.time(k)
            if lo <= candidate < hi:
                candidate = hi
                k = self.index(hi)

    cdef bint unchanged(self) noexcept:
        """Giving the slot back, taking it again and merging equal neighbours at ``t`` and
        ``end`` (what a job that stays does to the arrays) leaves every time and value bit for
        bit as it was: each value between comes back to its own bits, and a step time that
        was there at ``t`` or ``end`` is not merged into an equal neighbour."""
        cdef _Steps steps = self.steps
        cdef Py_ssize_t n = steps.n, k, d, stop = self.je + 1 if self.new_end else self.je
        cdef double v, back
        if not self.new_t and 0 < self.it and steps.equal(self.it):
            return False
        if not self.new_end and self.je < steps.size and steps.equal(self.je):
            return False
        for k in range(self.it, stop):
            for d in range(n):
                v = steps.values[k * n + d]
                back = (v + self.request[d]) - self.request[d]
                if memcmp(&back, &v, sizeof(double)) != 0:
                    return False
        return True
