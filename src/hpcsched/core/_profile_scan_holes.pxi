# Included by _profile_scan.pyx: conservative's holes as C arrays for the re-fit loop.
#
# ``Holes.items`` (``[start, seq, end, most]`` by start, then seq) is loaded into arrays while the
# profile is (every bound and amount a float, every seq an int), scanned and changed there as
# :class:`hpcsched.policies.conservative.Holes` and the loops of this module do it, and stored
# back into the list: a hole that was loaded keeps its list object (its ``most`` written again
# when it was measured), a new hole gets a new one. Each hole's values stay in one slot of the
# arrays; the start order is an array of slots, so a hole added in the middle of thousands moves
# four bytes each of the holes after it, not the whole record (that move was a fifth of a re-fit
# after an early end with 10,000 queued).

from cpython.long cimport PyLong_AsLongLong, PyLong_CheckExact, PyLong_FromLongLong
from cpython.ref cimport Py_XDECREF


@cython.final
cdef class _Holes:
    """The ``k``-th hole in start order is in slot ``s = order[k]``: ``start[s]``, ``seq[s]``,
    ``end[s]``, ``most[s * n + d]`` and the list it came from."""

    cdef double *start
    cdef double *end
    cdef double *most
    cdef long long *seq
    cdef PyObject **item  # the hole's list in ``Holes.items`` (a reference), NULL when new
    cdef char *measured  # ``most`` changed since loaded
    cdef long long *seen  # the profile's ``version`` when ``most`` was measured (-1: never)
    cdef int *order  # the slots in start order
    cdef Py_ssize_t size, used, room, n  # holes, slots used (a removed hole's is not reused)
    cdef long long changes  # holes inserted or removed since loaded (positions moved)

    def __dealloc__(self):
        self.clear_items()
        c_free(self.start)
        c_free(self.end)
        c_free(self.most)
        c_free(self.seq)
        c_free(self.item)
        c_free(self.measured)
        c_free(self.seen)
        c_free(self.order)

    cdef void clear_items(self) noexcept:
        cdef Py_ssize_t s
        for s in range(self.used):
            Py_XDECREF(self.item[s])
            self.item[s] = NULL
        self.size = self.used = 0
        self.changes += 1

    cdef int _reserve(self, Py_ssize_t size) except -1:
        cdef Py_ssize_t room = self.room if self.room else 16
        if size <= self.room:
            return 0
        while room < size:
            room *= 2
        self.start = <double *>_grow(self.start, room * sizeof(double))
        self.end = <double *>_grow(self.end, room * sizeof(double))
        self.most = <double *>_grow(self.most, room * self.n * sizeof(double))
        self.seq = <long long *>_grow(self.seq, room * sizeof(long long))
        self.item = <PyObject **>_grow(self.item, room * sizeof(PyObject *))
        self.measured = <char *>_grow(self.measured, room * sizeof(char))
        self.seen = <long long *>_grow(self.seen, room * sizeof(long long))
        self.order = <int *>_grow(self.order, room * sizeof(int))
        self.room = room
        return 0

    cdef bint load(self, list items, Py_ssize_t n) except -1:
        """Copy the holes in; ``False`` when one does not fit the arrays."""
        cdef Py_ssize_t size = PyList_GET_SIZE(items), k, d
        cdef object hole, x, most
        self.clear_items()
        self.n = n
        self._reserve(size)
        for k in range(size):
            hole = <object>PyList_GET_ITEM(items, k)
            if type(hole) is not list or PyList_GET_SIZE(hole) != 4:
                return self.fail()
            x, most = hole[0], hole[3]
            if not PyFloat_CheckExact(x) or not PyFloat_CheckExact(hole[2]):
                return self.fail()
            if not PyLong_CheckExact(hole[1]) or type(most) is not tuple:
                return self.fail()
            if PyTuple_GET_SIZE(most) != n:
                return self.fail()
            self.start[k] = PyFloat_AS_DOUBLE(x)
            self.end[k] = PyFloat_AS_DOUBLE(hole[2])
            self.seq[k] = PyLong_AsLongLong(hole[1])
            for d in range(n):
                x = <object>PyTuple_GET_ITEM(most, d)
                if not PyFloat_CheckExact(x):
                    return self.fail()
                self.most[k * n + d] = PyFloat_AS_DOUBLE(x)
            Py_INCREF(hole)
            self.item[k] = <PyObject *>hole
            self.measured[k] = 0
            self.seen[k] = -1
            self.order[k] = <int>k
            self.size = self.used = k + 1
        return True

    cdef bint fail(self) noexcept:
        self.clear_items()
        return False

    cdef int store(self, list items) except -1:
        """Write the holes back into ``items`` (in place)."""
        cdef Py_ssize_t k, s, n = self.n, last = -1
        cdef list out = []
        cdef object hole
        cdef tuple most = None
        for k in range(self.size):
            s = self.order[k]
            if self.item[s] is NULL or self.measured[s]:
                # equal measures (bit for bit) share one tuple: it is never changed in place
                if last < 0 or memcmp(&self.most[s * n], &self.most[last * n],
                                      n * sizeof(double)) != 0:
                    most = _tuple(&self.most[s * n], n)
                    last = s
            if self.item[s] is NULL:
                hole = [PyFloat_FromDouble(self.start[s]), PyLong_FromLongLong(self.seq[s]),
                        PyFloat_FromDouble(self.end[s]), most]
            else:
                hole = <object>self.item[s]
                if self.measured[s]:
                    hole[3] = most
            out.append(hole)
        items[:] = out
        self.clear_items()
        return 0

    cdef inline bint fits(self, const double *request, Py_ssize_t k) noexcept:
        """The ``k``-th hole's ``most`` holds ``request``."""
        cdef Py_ssize_t n = self.n, d, s = self.order[k]
        for d in range(n):
            if not request[d] <= self.most[s * n + d]:
                return False
        return True

    cdef Py_ssize_t position(self, double start, long long seq) noexcept:
        """The first hole not before ``(start, seq)`` (halving without branches, as
        :meth:`_Steps.index`)."""
        cdef Py_ssize_t base = 0, size = self.size, half, s
        if size == 0:
            return 0
        while size > 1:
            half = size >> 1
            s = self.order[base + half]
            base = base + half if (
                self.start[s] < start or (self.start[s] == start and self.seq[s] < seq)
            ) else base
            size -= half
        s = self.order[base]
        return base + 1 if (
            self.start[s] < start or (self.start[s] == start and self.seq[s] < seq)
        ) else base

    cdef Py_ssize_t first_room(self, Py_ssize_t k, double end,
                               const double *request) noexcept:
        """:func:`first_room` on the arrays."""
        while k < self.size:
            if self.start[self.order[k]] >= end or self.fits(request, k):
                return k
            k += 1
        return self.size

    cdef Py_ssize_t next_hole(self, Py_ssize_t k, double end, long long since,
                              const double *request) noexcept:
        """:func:`next_hole` on the arrays."""
        while k < self.size:
            if self.start[self.order[k]] >= end:
                return -1
            if self.seq[self.order[k]] > since and self.fits(request, k):
                return k
            k += 1
        return -1

    cdef Py_ssize_t add(self, object seq, object start, object end,
                        const double *most) except -1:
        """:meth:`Holes.add` without the marks (``start`` and ``end`` floats, ``seq`` an int):
        after the holes starting at or before ``start``; returns its position. Its list is
        made now, its ``most`` written when stored."""
        cdef list hole = [start, seq, end, None]
        cdef Py_ssize_t k = self.insert(PyLong_AsLongLong(seq), PyFloat_AS_DOUBLE(start),
                                        PyFloat_AS_DOUBLE(end), most)
        Py_INCREF(hole)
        self.item[self.order[k]] = <PyObject *>hole
        self.measured[self.order[k]] = 1
        return k

    cdef Py_ssize_t insert(self, long long seq, double start, double end,
                           const double *most) except -1:
        cdef Py_ssize_t lo = 0, hi = self.size, mid, n = self.n, d, s
        while lo < hi:
            mid = (lo + hi) >> 1
            if start < self.start[self.order[mid]]:
                hi = mid
            else:
                lo = mid + 1
        self._reserve(self.used + 1)
        s = self.used
        self.used += 1
        self.start[s], self.end[s], self.seq[s] = start, end, seq
        for d in range(n):
            self.most[s * n + d] = most[d]
        self.item[s] = NULL
        self.measured[s] = 0
        self.seen[s] = -1
        memmove(&self.order[lo + 1], &self.order[lo], (self.size - lo) * sizeof(int))
        self.order[lo] = <int>s
        self.size += 1
        self.changes += 1
        return lo

    cdef void remove(self, Py_ssize_t k) noexcept:
        cdef Py_ssize_t s = self.order[k]
        Py_XDECREF(self.item[s])
        self.item[s] = NULL
        memmove(&self.order[k], &self.order[k + 1], (self.size - k - 1) * sizeof(int))
        self.size -= 1
        self.changes += 1


cdef void *_grow(void *block, size_t size) except NULL:
    cdef void *out = realloc(block, size if size else 1)
    if out is NULL:
        raise MemoryError()
    return out


cdef tuple _tuple(const double *values, Py_ssize_t n):
    cdef tuple out = PyTuple_New(n)
    cdef object value
    cdef Py_ssize_t d
    for d in range(n):
        value = PyFloat_FromDouble(values[d])
        Py_INCREF(value)
        PyTuple_SET_ITEM(out, d, value)
    return out


cdef bint _marks_fit(dict clear) except -1:
    """Every mark is a ``(float, int)`` after a tuple request (what the arrays compare)."""
    cdef Py_ssize_t pos = 0
    cdef PyObject *request
    cdef PyObject *until
    while PyDict_Next(clear, &pos, &request, &until):
        if type(<object>request) is not tuple or type(<object>until) is not tuple:
            return False
        if PyTuple_GET_SIZE(<object>until) != 2:
            return False
        if not PyFloat_CheckExact(<object>PyTuple_GET_ITEM(<object>until, 0)):
            return False
        if not PyLong_CheckExact(<object>PyTuple_GET_ITEM(<object>until, 1)):
            return False
    return True


cdef bint _request_fits(tuple request, const double *most, Py_ssize_t n) except -1:
    """``all(map(le, request, most))`` for the ``n`` values of ``most``."""
    cdef Py_ssize_t d
    cdef object a
    if PyTuple_GET_SIZE(request) != n:
        return _fits(request, _tuple(most, n))
    for d in range(n):
        a = <object>PyTuple_GET_ITEM(request, d)
        if not PyFloat_CheckExact(a):
            return _fits(request, _tuple(most, n))
        if not PyFloat_AS_DOUBLE(a) <= most[d]:
            return False
    return True


cdef int _opened_arrays(dict clear, _Holes holes, Py_ssize_t k) except -1:
    """:meth:`Holes._opened` for the hole at ``k`` of the arrays (marks checked by
    :func:`_marks_fit`); 1 when a mark moved."""
    cdef Py_ssize_t s = holes.order[k]
    cdef double start = holes.start[s], mark
    cdef long long seq = holes.seq[s], mark_seq
    cdef Py_ssize_t pos = 0
    cdef PyObject *request
    cdef PyObject *until
    cdef list moved = None
    while PyDict_Next(clear, &pos, &request, &until):
        mark = PyFloat_AS_DOUBLE(<object>PyTuple_GET_ITEM(<object>until, 0))
        mark_seq = PyLong_AsLongLong(<object>PyTuple_GET_ITEM(<object>until, 1))
        if (start < mark or (start == mark and seq < mark_seq)) and _request_fits(
            <tuple>request, &holes.most[s * holes.n], holes.n
        ):
            if moved is None:
                moved = []
            moved.append(<object>request)
    if moved is None:
        return 0
    key = (PyFloat_FromDouble(start), PyLong_FromLongLong(seq))
    for shape in moved:
        clear[shape] = key
    return 1


def kept_holes(list items, object now, object smallest, object since):
    """The holes of ``items`` (in their order) that end after ``now``, whose ``most`` holds
    ``smallest`` (any, when ``None``) and that are newer than ``since`` (any, when ``None``):
    :meth:`Holes.expire` and :meth:`Holes.keep_newer` without a Python call per hole."""
    cdef list out = []
    cdef list hole
    cdef Py_ssize_t k
    for k in range(PyList_GET_SIZE(items)):
        hole = <list>PyList_GET_ITEM(items, k)
        if since is not None and not PyObject_RichCompareBool(
            <object>PyList_GET_ITEM(hole, 1), since, Py_GT
        ):
            continue
        if now is not None and not PyObject_RichCompareBool(
            <object>PyList_GET_ITEM(hole, 2), now, Py_GT
        ):
            continue
        if smallest is not None and not _fits_any(smallest, <object>PyList_GET_ITEM(hole, 3)):
            continue
        out.append(hole)
    return out
