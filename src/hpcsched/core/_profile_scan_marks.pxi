# Included by _profile_scan.pyx: the holes' per-shape marks (``Holes.clear``) read through a
# small table while the holes are arrays.
#
# Every job the re-fit checks looks its request's mark up in ``Holes.clear``: hashing a tuple of
# floats and comparing it with the key cost a tenth of a re-fit after an early end with 10,000
# queued, for a queue of a few shapes. ``_Marks`` keeps the marks of the shapes seen in the pass
# as doubles, found by comparing the request's amounts with ``==`` (what the dictionary's lookup
# decides for a tuple of floats: equal tuples, equal hashes). Writes go to the dictionary and to
# the table; the table is emptied whenever the dictionary may change without it (a mark moved by
# a new hole, the lists brought up to date for the Python methods).

cdef enum:
    _MARKS = 8  # shapes kept (the oldest is replaced when a ninth comes)


@cython.final
cdef class _Marks:
    """``shape[e * _DIMS + d]`` and its mark: ``start[e]``, ``seq[e]`` when ``marked[e]``;
    ``after_all[e]``: the mark is the ``_AFTER_ALL`` object itself; ``at[e]``: the position of
    the mark among the holes while their ``changes`` are ``at_changes[e]``."""

    cdef double shape[_MARKS * _DIMS]
    cdef double start[_MARKS]
    cdef long long seq[_MARKS]
    cdef bint marked[_MARKS]
    cdef bint after_all[_MARKS]
    cdef Py_ssize_t at[_MARKS]
    cdef long long at_changes[_MARKS]
    cdef Py_ssize_t size, next, n

    cdef inline void clear(self) noexcept:
        self.size = self.next = 0

    cdef Py_ssize_t find(self, dict clear, tuple request, const double *amounts) except -1:
        """The entry of ``request``'s shape, read from ``clear`` when it is not in the table
        (marks checked by :func:`_marks_fit`)."""
        cdef Py_ssize_t e, d, n = self.n
        cdef bint same
        cdef object until
        for e in range(self.size):
            same = True
            for d in range(n):
                if not self.shape[e * _DIMS + d] == amounts[d]:
                    same = False
                    break
            if same:
                return e
        until = clear.get(request)
        e = self.next
        self.next = (e + 1) % _MARKS
        if self.size < _MARKS:
            self.size += 1
        for d in range(n):
            self.shape[e * _DIMS + d] = amounts[d]
        self.marked[e] = until is not None
        self.at_changes[e] = -1
        self.after_all[e] = until is _AFTER_ALL
        if until is not None:
            self.start[e] = PyFloat_AS_DOUBLE(<object>PyTuple_GET_ITEM(until, 0))
            self.seq[e] = PyLong_AsLongLong(<object>PyTuple_GET_ITEM(until, 1))
        return e

    cdef int mark(self, dict clear, tuple request, Py_ssize_t e, _Holes holes,
                  Py_ssize_t k) except -1:
        """``clear[request]`` is the ``k``-th hole, in the dictionary and the table."""
        cdef Py_ssize_t s = holes.order[k]
        clear[request] = (PyFloat_FromDouble(holes.start[s]), PyLong_FromLongLong(holes.seq[s]))
        self.marked[e] = True
        self.after_all[e] = False
        self.start[e], self.seq[e] = holes.start[s], holes.seq[s]
        self.at[e], self.at_changes[e] = k, holes.changes
        return 0

    cdef int mark_after_all(self, dict clear, tuple request, Py_ssize_t e,
                            _Holes holes) except -1:
        clear[request] = _AFTER_ALL
        self.marked[e] = self.after_all[e] = True
        self.start[e], self.seq[e] = _INFINITY, -1
        self.at[e], self.at_changes[e] = holes.size, holes.changes
        return 0

    cdef Py_ssize_t position(self, Py_ssize_t e, _Holes holes) noexcept:
        """:meth:`_Holes.position` of entry ``e``'s mark (kept while no hole came or went)."""
        if self.at_changes[e] != holes.changes:
            self.at[e] = holes.position(self.start[e], self.seq[e])
            self.at_changes[e] = holes.changes
        return self.at[e]
