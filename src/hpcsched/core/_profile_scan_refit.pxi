# Included by _profile_scan.pyx: conservative backfilling's re-fit loop after an end.
#
# The ``for job in visit`` loop of :func:`hpcsched.policies.conservative.conservative_pass` in a
# pass that re-fits (a job ended), with :meth:`ConservativePlan.place`, ``may_move``, ``refit``,
# :meth:`Holes.first_help` (and its candidate scan) and :meth:`Holes.add` written out on the
# plan's own objects: the marks, the plan's dicts and heap, and the profile and the holes as C
# arrays (``_Steps``, ``_Holes``) while every amount is a float, their lists otherwise. Each step
# is the Python one, in the same order; the rare branches (a due reservation, a request that is
# not a tuple) go through the plan's Python methods, with the lists brought up to date first.
# A reserved job on the arrays is re-fitted in doubles by ``_profile_scan_move.pxi``.

from cpython.dict cimport PyDict_GetItem, PyDict_Next

cdef tuple _AFTER_ALL = (float("inf"), -1)


cdef object _never(object request, list free):
    """The error of :meth:`Profile.earliest_start` for a request that never fits."""
    return ValueError(f"request {request} never fits in capacity {free[len(free) - 1]}")


cdef int _opened(dict clear, list hole) except -1:
    """:meth:`Holes._opened`: no shape's mark may stay past a hole that has room for it."""
    cdef tuple key = (<object>PyList_GET_ITEM(hole, 0), <object>PyList_GET_ITEM(hole, 1))
    cdef object most = <object>PyList_GET_ITEM(hole, 3)
    cdef Py_ssize_t pos = 0
    cdef PyObject *request
    cdef PyObject *until
    cdef list moved = None
    while PyDict_Next(clear, &pos, &request, &until):
        if PyObject_RichCompareBool(key, <object>until, Py_LT) and _fits_any(
            <object>request, most
        ):
            if moved is None:
                moved = []
            moved.append(<object>request)
    if moved is not None:
        for shape in moved:
            clear[shape] = key
    return 0


cdef inline bint _fits_any(object request, object free) except -1:
    """``fits(request, free)``: the compiled comparison for a tuple request."""
    if type(request) is tuple:
        return _fits(<tuple>request, free)
    from hpcsched.core.profile import fits

    return fits(request, free)


cdef int _add_hole(object holes, object seq, object start, object end, object most) except -1:
    """:meth:`Holes.add`: inserted after the holes starting at or before ``start``."""
    cdef list items = holes.items
    cdef list hole = [start, seq, end, most]
    cdef Py_ssize_t lo = 0, hi = PyList_GET_SIZE(items), mid
    while lo < hi:  # insort_right by start
        mid = (lo + hi) >> 1
        if _less(start, <object>PyList_GET_ITEM(<list>PyList_GET_ITEM(items, mid), 0)):
            hi = mid
        else:
            lo = mid + 1
    items.insert(lo, hole)
    _opened(holes.clear, hole)
    return 0


@cython.final
cdef class _Pass:
    """One re-fit pass: the plan's parts, and its profile as arrays while that is possible."""

    cdef object plan, profile, holes, now, smallest
    cdef object seq  # ``plan.seq``, kept up to date by every change of it in the pass
    cdef double now_at  # ``now`` when it is a float
    cdef dict held, checked, jobs
    cdef list times, free, starts
    cdef _Steps steps
    cdef _Holes spans  # the holes as arrays, while ``hloaded``
    cdef _Slot slot  # the scan through a slot given back
    cdef _Marks marks  # the marks of the holes' arrays, as doubles
    cdef _Stays stays  # what the jobs that stayed since the last change of the profile proved
    cdef bint arrays, loaded, dirty, harrays, hloaded

    cdef int sync(self) except -1:
        """Bring the profile's and the holes' lists up to date (the arrays are loaded again
        when needed)."""
        self.stays.clear()  # the lists may change now
        self.marks.clear()
        if self.loaded and self.dirty:
            self.steps.store(self.times, self.free)
        if self.hloaded:
            self.spans.store(self.holes.items)
        self.loaded = self.dirty = self.hloaded = False
        return 0

    cdef bint load(self) except -1:
        """The arrays hold the profile (and the holes, when they fit) now; ``False`` (for the
        rest of the pass) when some amount is not a float."""
        if self.loaded:
            return True
        if self.arrays and self.steps.load(self.times, self.free, self.steps.n):
            self.loaded = True
            if self.harrays:
                self.hloaded = _marks_fit(self.holes.clear) and self.spans.load(
                    self.holes.items, self.steps.n
                )
                self.harrays = self.hloaded
            return True
        self.arrays = False
        return False

    cdef object most(self, object start, object end, bint arrays):
        if arrays:
            return self.steps.max_free(PyFloat_AS_DOUBLE(start), PyFloat_AS_DOUBLE(end))
        return _max_free(self.times, self.free, start, end)

    cdef object first_help(self, object since, object end, tuple request, bint arrays):
        """:meth:`Holes.first_help` with the compiled candidate scan of
        ``Holes._candidates``; ``arrays``: the hole bounds are floats and the arrays hold the
        profile."""
        cdef list items = self.holes.items
        cdef dict clear
        cdef list hole, dead = None
        cdef object until, most, found = None
        cdef Py_ssize_t k
        if not items:
            return None
        clear = self.holes.clear
        until = clear.get(request)
        k = 0 if until is None else _position(items, until[0], until[1])
        k = _first_room(items, k, end, request)
        if k < PyList_GET_SIZE(items):
            hole = <list>PyList_GET_ITEM(items, k)
            clear[request] = (hole[0], hole[1])
        else:
            clear[request] = _AFTER_ALL
        k = _next_hole(items, k, end, since, request)
        while k >= 0:
            hole = <list>PyList_GET_ITEM(items, k)
            if arrays and not (PyFloat_CheckExact(hole[0]) and PyFloat_CheckExact(hole[2])):
                self.sync()
                arrays = False
            if arrays and not self.load():
                arrays = False
            most = self.most(hole[0], hole[2], arrays)
            hole[3] = most
            _opened(clear, hole)
            if _fits(request, most):
                found = hole[0]
                break
            if self.smallest is not None and not _fits_any(self.smallest, most):
                if dead is None:
                    dead = []
                dead.append(k)
            k = _next_hole(items, k + 1, end, since, request)
        if dead is not None:
            for k in reversed(dead):
                del items[k]
        return found

    cdef int place(self, object job, tuple request, const double *amounts,
                   bint arrays) except -1:
        """:meth:`ConservativePlan.place`."""
        cdef double start, estimate
        if not arrays:
            self.sync()
            self.plan.place(job, self.now)
            self.seq = self.plan.seq
            return 0
        estimate = PyFloat_AS_DOUBLE(job.estimate)
        if not self.steps.earliest(amounts, estimate, PyFloat_AS_DOUBLE(self.now), &start,
                                   _INFINITY, -_INFINITY):
            self.sync()
            raise _never(request, self.free)
        self.steps.add_range(start, start + estimate, amounts, False)
        self.stays.taken(amounts)
        self.dirty = True
        t = PyFloat_FromDouble(start)
        self.held[job.id] = t
        self.jobs[job.id] = job
        self.checked[job.id] = self.seq
        _push_start(self.starts, (t, job.id))
        return 0

    cdef int refit(self, object job_id, object t, object estimate, tuple request,
                   const double *amounts, bint arrays) except -1:
        """:meth:`ConservativePlan.may_move`, then :meth:`ConservativePlan.refit` when a hole
        may help (on the arrays: ``_refit_on_arrays``)."""
        cdef object end, first, after, earlier, since = self.checked[job_id]
        if arrays and (self.loaded or PyList_GET_SIZE(self.holes.items) > 0):
            arrays = self.load()
        if arrays and self.hloaded and PyLong_CheckExact(since):
            return _refit_on_arrays(self, job_id, PyLong_AsLongLong(since), t,
                                    PyFloat_AS_DOUBLE(estimate), request, amounts)
        if self.hloaded:  # the list is scanned: the holes stay there for the rest of the pass
            self.sync()
            self.harrays = False
        end = t + estimate
        first = self.first_help(since, end, request, arrays)
        if first is None:
            self.checked[job_id] = self.seq
            return 0
        after = first - estimate
        if not after > self.now:
            after = self.now
        if arrays and not (self.loaded and PyFloat_CheckExact(after)):
            self.sync()
            arrays = False
        if arrays:
            return _move_on_arrays(self, job_id, t, PyFloat_AS_DOUBLE(estimate),
                                   PyFloat_AS_DOUBLE(after), request, amounts)
        self.stays.clear()
        _add_range(self.times, self.free, t, end, request, True)
        earlier = _earliest_start(self.times, self.free, request, estimate, after,
                                  _index(self.times, after))
        if earlier is None:
            raise _never(request, self.free)
        if earlier == t:
            _add_range(self.times, self.free, t, end, request, False)
            self.checked[job_id] = self.seq
            return 0
        _add_range(self.times, self.free, earlier, earlier + estimate, request, False)
        seq = self.seq + 1
        self.plan.seq = self.seq = seq
        _add_hole(self.holes, seq, t, end, self.most(t, end, False))
        self.held[job_id] = earlier
        self.checked[job_id] = seq
        _push_start(self.starts, (earlier, job_id))
        return 0


def refit_pass(plan, visit, object now, object smallest, bint memo=True):
    """The re-fit pass's loop over ``visit`` (the queue in policy order), as
    :func:`hpcsched.policies.conservative.conservative_pass` runs it when a job ended;
    ``memo=False``: every scan from its hole (the memo's reference in the tests)."""
    from hpcsched.policies.conservative import _displaced

    cdef _Pass state = _Pass.__new__(_Pass)
    cdef _Fields fields = _Fields.__new__(_Fields)
    cdef object job, job_id, t, request, estimate
    cdef PyObject *found
    cdef double[_DIMS] amounts
    cdef bint arrays
    cdef Py_ssize_t n
    state.plan, state.profile, state.holes = plan, plan.profile, plan.holes
    state.now, state.smallest, state.seq = now, smallest, plan.seq
    state.now_at = PyFloat_AS_DOUBLE(now) if PyFloat_CheckExact(now) else 0.0
    state.held, state.checked, state.jobs = plan.held, plan.checked, plan.jobs
    state.times, state.free, state.starts = plan.profile.times, plan.profile.free, plan.starts
    state.steps = _Steps.__new__(_Steps)
    state.spans = _Holes.__new__(_Holes)
    state.stays = _Stays.__new__(_Stays)
    state.slot = _Slot.__new__(_Slot)
    state.marks = _Marks.__new__(_Marks)
    state.stays.off = not memo
    state.harrays = True
    first_step = state.free[0] if state.free else None
    n = PyTuple_GET_SIZE(first_step) if type(first_step) is tuple else 0
    state.steps.n = state.stays.n = state.marks.n = n
    state.arrays = PyFloat_CheckExact(now) and 0 < n <= _DIMS
    try:
        for job in visit:
            if type(job) is not fields.cls:
                fields.learn(type(job))
            job_id = fields.read(job, fields.at_id, "id")
            request = fields.read(job, fields.at_request, "request")
            estimate = fields.read(job, fields.at_estimate, "estimate")
            arrays = (
                state.arrays
                and PyFloat_CheckExact(estimate)
                and _request_doubles(request, n, amounts)
            )
            found = PyDict_GetItem(state.held, job_id)
            if found is NULL:
                state.place(job, request, amounts, arrays and state.load())
                continue
            t = <object>found
            if not (PyFloat_AS_DOUBLE(t) > state.now_at if state.arrays and PyFloat_CheckExact(t)
                    else t > now):
                state.sync()
                if _displaced(job, t, now, state.profile.free_at(now)):
                    plan.place(plan.unplace(job_id), now)
                    state.seq = plan.seq
                continue
            if type(request) is not tuple:
                state.sync()
                after = plan.may_move(job, t, smallest)
                if after is not None:
                    plan.refit(job, t, now, after)
                    state.seq = plan.seq
                else:
                    state.checked[job_id] = plan.seq
                continue
            if not (arrays and PyFloat_CheckExact(t)):
                state.sync()
                arrays = False
            state.refit(job_id, t, estimate, <tuple>request, amounts, arrays)
    finally:
        state.sync()
