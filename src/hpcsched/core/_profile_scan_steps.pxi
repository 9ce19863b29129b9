# Included by _profile_scan.pyx: a profile as C arrays for the re-fit loop.
#
# A Profile whose times and step values are all floats is loaded into two arrays of doubles
# (times, and ``n`` values per step) for the length of a re-fit pass, and stored back into the
# profile's lists afterwards (or before any of the plan's Python methods runs). Each operation
# is the one of :class:`hpcsched.core.profile.Profile` step for step: the same splits, the same
# additions as IEEE doubles (what Python computes for floats), the same merges of equal
# neighbours, the same scan. Values are kept finite and far from overflow (checked when loaded
# and for each request), so comparisons of doubles are comparisons of Python floats.

cimport cython
from libc.math cimport INFINITY as _INFINITY, fabs
from libc.stdlib cimport free as c_free, malloc, realloc
from libc.string cimport memcmp, memcpy, memmove

cdef enum:
    _DIMS = 8  # at most this many resources go through the arrays

cdef double _LARGEST = 1e300  # values and requests stay below this (no overflow, no NaN)


@cython.final
cdef class _Steps:
    """``times[k]`` and ``values[k * n + d]``: the profile's steps as C arrays, inside blocks
    with room on both sides: a step split off or merged away moves the shorter side of the
    arrays (half the bytes of moving the tail, on average; those moves were a fifth of a re-fit
    after an early end with 10,000 queued)."""

    cdef double *times
    cdef double *values
    cdef double *tblock  # the blocks that hold them, ``front`` steps before ``times[0]``
    cdef double *vblock
    cdef Py_ssize_t size, front, room, n  # ``room``: steps the blocks hold
    cdef long long version  # changes of the steps so far (a measure older than it may be stale)

    def __dealloc__(self):
        c_free(self.tblock)
        c_free(self.vblock)

    cdef int _reserve(self, Py_ssize_t size) except -1:
        """Room for ``size`` steps from ``times[0]``: new blocks when there is none, the steps
        moved to the middle of them."""
        cdef Py_ssize_t room, front, n = self.n
        cdef double *tblock
        cdef double *vblock
        if self.front + size <= self.room:
            return 0
        room = 2 * size + 64
        front = (room - size) // 2
        tblock = <double *>malloc(room * sizeof(double))
        vblock = <double *>malloc(room * n * sizeof(double))
        if tblock is NULL or vblock is NULL:
            c_free(tblock)
            c_free(vblock)
            raise MemoryError()
        if self.size:
            memcpy(&tblock[front], self.times, self.size * sizeof(double))
            memcpy(&vblock[front * n], self.values, self.size * n * sizeof(double))
        c_free(self.tblock)
        c_free(self.vblock)
        self.tblock, self.vblock, self.front, self.room = tblock, vblock, front, room
        self.times, self.values = &tblock[front], &vblock[front * n]
        return 0

    cdef bint load(self, list times, list free, Py_ssize_t n) except -1:
        """Copy the profile in; ``False`` (nothing usable) when a time or value is not a
        float of moderate size or a step does not have ``n`` values."""
        cdef Py_ssize_t size = PyList_GET_SIZE(times), k, d
        cdef object x, step
        if n < 1 or n > _DIMS or size < 1 or PyList_GET_SIZE(free) != size:
            return False
        self.n = n
        self.size = 0
        self.version += 1
        self._reserve(size)
        for k in range(size):
            x = <object>PyList_GET_ITEM(times, k)
            step = <object>PyList_GET_ITEM(free, k)
            if not PyFloat_CheckExact(x) or type(step) is not tuple:
                return False
            if PyTuple_GET_SIZE(step) != n or not fabs(PyFloat_AS_DOUBLE(x)) < _LARGEST:
                return False
            self.times[k] = PyFloat_AS_DOUBLE(x)
            for d in range(n):
                x = <object>PyTuple_GET_ITEM(step, d)
                if not PyFloat_CheckExact(x) or not fabs(PyFloat_AS_DOUBLE(x)) < _LARGEST:
                    return False
                self.values[k * n + d] = PyFloat_AS_DOUBLE(x)
        self.size = size
        return True

    cdef int store(self, list times, list free) except -1:
        """Write the steps back into the profile's lists (in place), the ones loaded from them
        (lists of floats and tuples of floats, unchanged since) read in step: a step time or
        a step's values equal bit for bit to the old ones keep their objects (a pass changes a
        few hundred steps of thousands, and making every object again was a twentieth of it)."""
        cdef Py_ssize_t k, j = 0, old = PyList_GET_SIZE(times)
        cdef list new_times = [], new_free = []
        cdef object x, step
        for k in range(self.size):
            while j < old and PyFloat_AS_DOUBLE(<object>PyList_GET_ITEM(times, j)) < self.times[k]:
                j += 1
            x = step = None
            if j < old:
                x = <object>PyList_GET_ITEM(times, j)
                if _same_bits(PyFloat_AS_DOUBLE(x), self.times[k]):
                    step = <object>PyList_GET_ITEM(free, j)
                    if not self.same_step(k, <tuple>step):
                        step = None
                else:
                    x = None
            new_times.append(PyFloat_FromDouble(self.times[k]) if x is None else x)
            new_free.append(self.step(k) if step is None else step)
        times[:] = new_times
        free[:] = new_free
        return 0

    cdef bint same_step(self, Py_ssize_t k, tuple step) noexcept:
        """Step ``k``'s values are those of ``step`` (floats), bit for bit."""
        cdef Py_ssize_t d
        for d in range(self.n):
            if not _same_bits(PyFloat_AS_DOUBLE(<object>PyTuple_GET_ITEM(step, d)),
                              self.values[k * self.n + d]):
                return False
        return True

    cdef tuple step(self, Py_ssize_t k):
        cdef Py_ssize_t n = self.n, d
        cdef tuple out = PyTuple_New(n)
        cdef object value
        for d in range(n):
            value = PyFloat_FromDouble(self.values[k * n + d])
            Py_INCREF(value)
            PyTuple_SET_ITEM(out, d, value)
        return out

    cdef inline Py_ssize_t index(self, double t) noexcept:
        """``max(0, bisect_right(times, t) - 1)``: the last step at or before ``t``, halving
        without branches (a binary search's branches are coin flips the processor mispredicts
        half the time, and a re-fit makes three searches per job)."""
        cdef const double *times = self.times
        cdef Py_ssize_t base = 0, size = self.size, half
        while size > 1:
            half = size >> 1
            base = base + half if times[base + half] <= t else base
            size -= half
        return base

    cdef Py_ssize_t split(self, double t) except -1:
        """:meth:`Profile._split`."""
        cdef Py_ssize_t i = self.index(t), n = self.n, d
        if self.times[i] == t:
            return i
        if self.front > 0 and i + 1 <= self.size - i - 1:  # steps 0..i move one back
            memmove(self.times - 1, self.times, (i + 1) * sizeof(double))
            memmove(self.values - n, self.values, (i + 1) * n * sizeof(double))
            self.times -= 1
            self.values -= n
            self.front -= 1
        else:
            self._reserve(self.size + 1)
            memmove(&self.times[i + 2], &self.times[i + 1],
                    (self.size - i - 1) * sizeof(double))
            memmove(&self.values[(i + 2) * n], &self.values[(i + 1) * n],
                    (self.size - i - 1) * n * sizeof(double))
        self.times[i + 1] = t
        self.version += 1
        for d in range(n):
            self.values[(i + 1) * n + d] = self.values[i * n + d]
        self.size += 1
        return i + 1

    cdef void remove(self, Py_ssize_t k) noexcept:
        cdef Py_ssize_t n = self.n
        if k < self.size - k - 1:  # steps 0..k-1 move one on
            memmove(&self.times[1], self.times, k * sizeof(double))
            memmove(&self.values[n], self.values, k * n * sizeof(double))
            self.times += 1
            self.values += n
            self.front += 1
        else:
            memmove(&self.times[k], &self.times[k + 1], (self.size - k - 1) * sizeof(double))
            memmove(&self.values[k * n], &self.values[(k + 1) * n],
                    (self.size - k - 1) * n * sizeof(double))
        self.size -= 1
        self.version += 1

    cdef inline bint equal(self, Py_ssize_t k) noexcept:
        """``free[k] == free[k - 1]``."""
        cdef Py_ssize_t n = self.n, d
        for d in range(n):
            if not self.values[k * n + d] == self.values[(k - 1) * n + d]:
                return False
        return True

    cdef int add_range(self, double start, double end, const double *request,
                       bint give) except -1:
        """:meth:`Profile._add_range` with ``plus`` (``give``) or ``minus``."""
        cdef Py_ssize_t i, j
        if end <= start:
            return 0
        i = self.split(start)
        j = self.split(end)
        self.add(i, j, request, give)
        self.merge(i, j)
        return 0

    cdef void add(self, Py_ssize_t i, Py_ssize_t j, const double *request, bint give) noexcept:
        """The request given to (``give``) or taken from steps ``i`` to ``j - 1``."""
        cdef Py_ssize_t k, d, n = self.n
        self.version += 1
        for k in range(i, j):
            for d in range(n):
                if give:
                    self.values[k * n + d] = self.values[k * n + d] + request[d]
                else:
                    self.values[k * n + d] = self.values[k * n + d] - request[d]

    cdef void merge(self, Py_ssize_t i, Py_ssize_t j) noexcept:
        """A range ``[times[i], times[j])`` was changed: equal neighbours at its ends merged."""
        if 0 < j < self.size and self.equal(j):
            self.remove(j)
        if 0 < i < self.size and self.equal(i):
            self.remove(i)

    cdef inline bint fits(self, const double *request, Py_ssize_t k) noexcept:
        cdef Py_ssize_t n = self.n, d
        for d in range(n):
            if not request[d] <= self.values[k * n + d]:
                return False
        return True

    cdef bint earliest(self, const double *request, double duration, double after,
                       double *found, double lo, double hi) noexcept:
        """:meth:`Profile.earliest_start`: the start in ``found``; ``False`` when it never
        fits. Starts in ``[lo, hi)`` are known to fit nowhere (``_Stays``): the scan jumps
        to ``hi``, and goes on from where the scan through them would have gone on."""
        cdef Py_ssize_t k, last = self.size - 1
        cdef double candidate = after
        cdef bint ok
        if lo <= candidate < hi:
            candidate = hi
        k = self.index(candidate)
        while True:
            ok = True
            while True:
                if not self.fits(request, k):
                    ok = False
                    break
                if k == last or self.times[k + 1] >= candidate + duration:
                    break
                k += 1
            if ok:
                found[0] = candidate
                return True
            if k == last:
                return False
            k += 1
            candidate = self.times[k]
            if lo <= candidate < hi:
                candidate = hi
                k = self.index(hi)

    cdef void max_free_into(self, double start, double end, double *out) noexcept:
        """:meth:`max_free` into ``out``."""
        cdef Py_ssize_t i = self.index(start), k = i + 1, d, n = self.n
        cdef const double *values
        cdef double[_DIMS] best
        for d in range(n):
            best[d] = self.values[i * n + d]
        while k < self.size and self.times[k] < end:  # up to bisect_left(times, end)
            values = &self.values[k * n]
            for d in range(n):
                if best[d] < values[d]:
                    best[d] = values[d]
            k += 1
        for d in range(n):
            out[d] = best[d]

    cdef tuple max_free(self, double start, double end):
        """:meth:`Profile.max_free` (the first of equal values, as ``max`` keeps it)."""
        cdef Py_ssize_t i = self.index(start), lo = 0, hi = self.size, mid, k, d, n = self.n
        cdef double best
        cdef tuple out
        cdef object value
        while lo < hi:  # bisect_left(times, end)
            mid = (lo + hi) >> 1
            if self.times[mid] < end:
                lo = mid + 1
            else:
                hi = mid
        if lo <= i + 1:
            return self.step(i)
        out = PyTuple_New(n)
        for d in range(n):
            best = self.values[i * n + d]
            for k in range(i + 1, lo):
                if best < self.values[k * n + d]:
                    best = self.values[k * n + d]
            value = PyFloat_FromDouble(best)
            Py_INCREF(value)
            PyTuple_SET_ITEM(out, d, value)
        return out


cdef inline bint _same_bits(double a, double b) noexcept:
    return memcmp(&a, &b, sizeof(double)) == 0


cdef bint _request_doubles(object request, Py_ssize_t n, double *amounts) except -1:
    """A request of ``n`` floats of moderate size, copied into ``amounts``."""
    cdef Py_ssize_t d
    cdef object a
    if type(request) is not tuple or PyTuple_GET_SIZE(request) != n:
        return False
    for d in range(n):
        a = <object>PyTuple_GET_ITEM(request, d)
        if not PyFloat_CheckExact(a) or not fabs(PyFloat_AS_DOUBLE(a)) < _LARGEST:
            return False
        amounts[d] = PyFloat_AS_DOUBLE(a)
    return True
