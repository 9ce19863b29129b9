# Included by _profile_scan.pyx (after the re-fit pass's ``_Pass``): the re-fit of one reserved
# job on the arrays, in doubles.
#
# :meth:`ConservativePlan.may_move` (the hole scan, :meth:`Holes.first_help`) and
# :meth:`ConservativePlan.refit` for a job whose estimate, reserved start and request are floats
# while the profile and the holes are arrays: the reserved end, the hole's start and the
# earliest start to try are doubles (the sums and differences Python computes for the floats),
# and Python objects are made only for what the plan keeps (a new start, a new hole).


cdef bint _first_help_arrays(_Pass state, long long since, double end, tuple request,
                             const double *amounts, double *first) except -1:
    """:meth:`Holes.first_help` on the arrays of the profile and of the holes: ``False`` when
    no hole may help, else the start of the first that may in ``first``."""
    cdef _Holes spans = state.spans
    cdef _Marks marks = state.marks
    cdef dict clear = state.holes.clear
    cdef Py_ssize_t k = 0, s, n = spans.n, e
    cdef Py_ssize_t marked = -1  # the position of the mark's hole, when there is one
    cdef bint found = False
    cdef list dead = None
    if spans.size == 0:
        return False
    e = marks.find(clear, request, amounts)
    if marks.marked[e]:
        k = marks.position(e, spans)
        if k < spans.size:
            s = spans.order[k]
            if spans.start[s] == marks.start[e] and spans.seq[s] == marks.seq[e]:
                marked = k
    k = spans.first_room(k, end, amounts)
    if k < spans.size:
        if k != marked:  # an equal mark is not written again
            marks.mark(clear, request, e, spans, k)
    elif not marks.after_all[e]:
        marks.mark_after_all(clear, request, e, spans)
    k = spans.next_hole(k, end, since, amounts)
    while k >= 0:
        s = spans.order[k]
        if spans.seen[s] != state.steps.version:  # else the profile is as when measured
            state.steps.max_free_into(spans.start[s], spans.end[s], &spans.most[s * n])
            spans.seen[s] = state.steps.version
        spans.measured[s] = 1
        if _opened_arrays(clear, spans, k):
            marks.clear()
        if spans.fits(amounts, k):
            first[0] = spans.start[s]
            found = True
            break
        if state.smallest is not None and not _smallest_fits(state.smallest,
                                                            &spans.most[s * n], n):
            if dead is None:
                dead = []
            dead.append(k)
        k = spans.next_hole(k + 1, end, since, amounts)
    if dead is not None:
        for k in reversed(dead):
            spans.remove(k)
    return found


cdef int _refit_on_arrays(_Pass state, object job_id, long long since, object reserved,
                          double estimate, tuple request, const double *amounts) except -1:
    """:meth:`_Pass.refit` when the profile and the holes are arrays."""
    cdef double t = PyFloat_AS_DOUBLE(reserved), first, after
    if not _first_help_arrays(state, since, t + estimate, request, amounts, &first):
        state.checked[job_id] = state.seq
        return 0
    after = first - estimate
    if not after > state.now_at:
        after = state.now_at
    return _move_on_arrays(state, job_id, reserved, estimate, after, request, amounts)


cdef int _move_on_arrays(_Pass state, object job_id, object reserved, double estimate,
                         double after, tuple request, const double *amounts) except -1:
    """:meth:`ConservativePlan.refit` on the arrays: no start before ``after`` can be better."""
    cdef _Steps steps = state.steps
    cdef double t = PyFloat_AS_DOUBLE(reserved), end = t + estimate, start = 0.0, lo, hi
    cdef double[_DIMS] most
    cdef Py_ssize_t i = 0, j = 0
    cdef bint opened = end > t, ok = False, restores = False, scanned = False
    cdef object earlier, seq, until
    state.stays.zone(after, t, estimate, amounts, &lo, &hi)
    if opened and state.slot.open(steps, t, end, amounts):
        # read through the slot given back: a job that stays changes nothing
        ok = state.slot.earliest(amounts, estimate, after, &start, lo, hi)
        if ok and start == t and state.slot.unchanged():
            state.stays.add(after, t, estimate, amounts)
            state.checked[job_id] = state.seq
            return 0
        scanned = True
    # The slot is given back with its merges put off until the scan is done: equal neighbours
    # change no earliest start (the scan fails or fits on both alike), and when the job stays
    # the slot is taken back at once, where merging and splitting again would have restored the
    # same arrays.
    state.dirty = True
    if opened:
        i = steps.split(t)
        j = steps.split(end)
        restores = _restores(steps, i, j, amounts)
        steps.add(i, j, amounts, True)
    if not scanned:
        ok = steps.earliest(amounts, estimate, after, &start, lo, hi)
    if not ok:
        if opened:
            steps.merge(i, j)
        state.sync()
        raise _never(request, state.free)
    if start == t:
        if opened:
            steps.add(i, j, amounts, False)
            steps.merge(i, j)
        if opened and not restores:
            state.stays.cut(t)
        state.stays.add(after, t, estimate, amounts)
        state.checked[job_id] = state.seq
        return 0
    if opened:
        steps.merge(i, j)
    steps.add_range(start, start + estimate, amounts, False)
    state.stays.cut(t)  # the old slot came back
    state.stays.taken(amounts)
    state.stays.add(after, start, estimate, amounts)
    earlier = PyFloat_FromDouble(start)
    seq = state.seq + 1
    state.plan.seq = state.seq = seq
    until = PyFloat_FromDouble(end)
    if state.hloaded:
        steps.max_free_into(t, end, most)
        if _opened_arrays(state.holes.clear, state.spans,
                          state.spans.add(seq, reserved, until, most)):
            state.marks.clear()
    else:
        _add_hole(state.holes, seq, reserved, until, steps.max_free(t, end))
    state.held[job_id] = earlier
    state.checked[job_id] = seq
    _push_start(state.starts, (earlier, job_id))
    return 0


cdef inline bint _smallest_fits(object smallest, const double *most, Py_ssize_t n) except -1:
    """``fits(smallest, most)`` for the ``n`` values of a hole's ``most``."""
    if type(smallest) is tuple:
        return _request_fits(<tuple>smallest, most, n)
    return _fits_any(smallest, _tuple(most, n))


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member

cdef enum:
    _OBJECT_EX = 16  # T_OBJECT_EX (structmember.h): a slot that raises when it is unset

from types import MemberDescriptorType as _Member


@cython.final
cdef class _Fields:
    """A queued job's ``id``, ``request`` and ``estimate`` read straight from its slots (three
    attribute look-ups per job were a tenth of a re-fit with 10,000 queued): for the one class
    whose slots they are and whose attribute access is ``object``'s, so the read is the one
    ``getattr`` makes; through ``getattr`` for any other object or an unset slot."""

    cdef object cls
    cdef Py_ssize_t at_id, at_request, at_estimate  # -1: through ``getattr``

    cdef int learn(self, object cls) except -1:
        self.cls = cls
        self.at_id = self.at_request = self.at_estimate = -1
        if getattr(cls, "__getattribute__", None) is object.__getattribute__:
            self.at_id = _slot_offset(cls, "id")
            self.at_request = _slot_offset(cls, "request")
            self.at_estimate = _slot_offset(cls, "estimate")
        return 0

    cdef inline object read(self, object job, Py_ssize_t at, str name):
        cdef PyObject *value
        if at >= 0 and type(job) is self.cls:
            value = (<PyObject **>((<char *><PyObject *>job) + at))[0]
            if value is not NULL:
                return <object>value
        return getattr(job, name)


cdef Py_ssize_t _slot_offset(object cls, str name) except -2:
    """Where an instance of ``cls`` keeps its slot ``name`` (-1: not a slot of its own)."""
    descriptor = cls.__dict__.get(name)
    if type(descriptor) is not _Member or descriptor.__objclass__ is not cls:
        return -1
    if (<PyMemberDescrObject *><PyObject *>descriptor).d_member.type != _OBJECT_EX:
        return -1
    return (<PyMemberDescrObject *><PyObject *>descriptor).d_member.offset


cdef int _push_start(list heap, tuple item) except -1:
    """``heapq.heappush(heap, item)`` for the plan's ``(start, job id)`` entries: the same sift
    (``heapq._siftdown``), a float start compared as a double, the ids through ``<`` on ties
    (and any other entry through the tuples' own ``<``)."""
    cdef Py_ssize_t pos = PyList_GET_SIZE(heap), up
    cdef object parent
    heap.append(item)
    while pos > 0:
        up = (pos - 1) >> 1
        parent = <object>PyList_GET_ITEM(heap, up)
        if not _start_before(item, parent):
            break
        heap[pos] = parent
        pos = up
    heap[pos] = item
    return 0


cdef inline bint _start_before(tuple item, object other) except -1:
    """``item < other`` for two ``(float, id)`` entries."""
    cdef object a, b
    if type(other) is tuple and PyTuple_GET_SIZE(item) == 2 and PyTuple_GET_SIZE(other) == 2:
        a = <object>PyTuple_GET_ITEM(item, 0)
        b = <object>PyTuple_GET_ITEM(other, 0)
        if PyFloat_CheckExact(a) and PyFloat_CheckExact(b):
            if PyFloat_AS_DOUBLE(a) != PyFloat_AS_DOUBLE(b):
                return PyFloat_AS_DOUBLE(a) < PyFloat_AS_DOUBLE(b)
            return PyObject_RichCompareBool(<object>PyTuple_GET_ITEM(item, 1),
                                            <object>PyTuple_GET_ITEM(other, 1), Py_LT)
    return PyObject_RichCompareBool(item, other, Py_LT)
