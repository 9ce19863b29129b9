# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled line scanner of the ``sacct -P`` reader (see :mod:`hpcsched.workloads.sacct_lines`).

One pass over a piece of text finds, for every line, where it starts and ends (without its
``\\r\\n``), how many fields it has (separators + 1: the only check ``sacct -P`` output allows,
since it has no quoting), where two chosen fields start and end (JobID and MaxRSS: all a step row
is read for) and two flags: a ``\\r`` inside the line, a ``.`` in the JobID field (a step row).
``gather`` copies chosen lines (or fields) into one buffer, each followed by a newline.

Why hand-written: no well-kept library reports per-line field counts of delimited text (Polars'
and PyArrow's CSV readers pad or truncate ragged lines, or stop), and the numpy equivalent
(:func:`hpcsched.workloads.sacct_lines.scan_numpy`, the reference this kernel is tested against)
makes two full-size temporaries per piece; this loop makes none and releases the GIL.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memchr, memcpy

import numpy as np

cdef enum:
    _INNER_CR = 1
    _STEP = 2
    _CAP = 1024  # separators whose offsets are kept per line (sacct has ~120 fields)
    _MASK = 1023

#: Flag bits of ``scan``'s ``flags``.
INNER_CR = _INNER_CR
STEP = _STEP


def scan(const uint8_t[::1] buf, int sep, int64_t ident, int64_t rss):
    """(starts, ends, fields, ident_start, ident_end, rss_start, rss_end, flags, ascii) of every
    line of ``buf``; a field's bounds are -1 when the line has too few fields (``ident`` or
    ``rss`` -1: not wanted)."""
    cdef Py_ssize_t size = buf.shape[0]
    cdef const uint8_t* data = &buf[0] if size else NULL
    cdef Py_ssize_t n = 0, pos = 0, line = 0
    cdef const uint8_t* hit
    with nogil:
        while pos < size:
            hit = <const uint8_t*>memchr(data + pos, 10, size - pos)
            n += 1
            if hit == NULL:
                break
            pos = (hit - data) + 1
    starts_a = np.empty(n, dtype=np.int64)
    ends_a = np.empty(n, dtype=np.int64)
    fields_a = np.empty(n, dtype=np.int32)
    bounds_a = np.full((4, n), -1, dtype=np.int64)
    flags_a = np.zeros(n, dtype=np.uint8)
    cdef int64_t[::1] starts = starts_a
    cdef int64_t[::1] ends = ends_a
    cdef int32_t[::1] fields = fields_a
    cdef int64_t[:, ::1] bounds = bounds_a
    cdef uint8_t[::1] flags = flags_a
    cdef Py_ssize_t start, end, i, j, a, b
    cdef Py_ssize_t seppos[_CAP]
    cdef int64_t field
    cdef uint8_t c, seen = 0, cr
    cdef uint8_t s = <uint8_t>sep
    with nogil:
        pos = 0
        for line in range(n):
            start = pos
            hit = <const uint8_t*>memchr(data + pos, 10, size - pos) if pos < size else NULL
            end = (hit - data) if hit != NULL else size
            pos = end + 1
            if end > start and data[end - 1] == 13:
                end -= 1
            starts[line] = start
            ends[line] = end
            # branch-free: the k-th separator's offset ends up in seppos[k] (the slot is
            # overwritten until the separator itself is written there)
            field = 0
            cr = 0
            for i in range(start, end):
                c = data[i]
                seen |= c
                cr |= c == 13
                seppos[field & _MASK] = i
                field += c == s
            fields[line] = <int32_t>(field + 1)
            flags[line] = _INNER_CR if cr else 0
            if field >= _CAP:
                continue  # far more fields than any sacct format: the line is malformed
            if 0 <= ident <= field:
                a = start if ident == 0 else seppos[ident - 1] + 1
                b = end if ident == field else seppos[ident]
                bounds[0, line] = a
                bounds[1, line] = b
                if b > a and memchr(data + a, 46, b - a) != NULL:
                    flags[line] |= _STEP
            if 0 <= rss <= field:
                bounds[2, line] = start if rss == 0 else seppos[rss - 1] + 1
                bounds[3, line] = end if rss == field else seppos[rss]
    return (
        starts_a[:n], ends_a[:n], fields_a[:n], bounds_a[0, :n], bounds_a[1, :n],
        bounds_a[2, :n], bounds_a[3, :n], flags_a[:n], seen < 128,
    )


def gather(const uint8_t[::1] buf, const int64_t[::1] starts, const int64_t[::1] ends):
    """The byte ranges ``buf[starts[k]:ends[k]]``, each followed by a newline, as one bytes."""
    cdef Py_ssize_t k, n = starts.shape[0], total = 0, at = 0, length
    for k in range(n):
        total += ends[k] - starts[k] + 1
    out = PyBytes_FromStringAndSize(NULL, total)  # filled below, before anyone sees it
    cdef uint8_t* dst = <uint8_t*>PyBytes_AS_STRING(out)
    cdef const uint8_t* data = &buf[0] if buf.shape[0] else NULL
    with nogil:
        for k in range(n):
            length = ends[k] - starts[k]
            if length > 0:
                memcpy(dst + at, data + starts[k], length)
            at += length
            dst[at] = 10
            at += 1
    return out


cdef inline bint _name_char(Py_UCS4 c) noexcept:
    return (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122) \
        or c == 95 or c == 46 or c == 45


cdef int64_t _number(str text, Py_ssize_t* pos, Py_ssize_t n) noexcept:
    """The decimal number at ``text[pos[0]:]`` (``pos`` moved past it); -1 when there is none,
    -2 when it has more than 18 digits."""
    cdef int64_t value = 0
    cdef Py_ssize_t digits = 0
    while pos[0] < n and 48 <= <int>text[pos[0]] <= 57:
        value = value * 10 + (<int>text[pos[0]] - 48)
        pos[0] += 1
        digits += 1
    if digits == 0:
        return -1
    return -2 if digits > 18 else value


cdef int64_t _hosts(str text) noexcept:
    """Hosts in one Slurm hostlist (``n[1-3,5]`` -> 4, ``a[1-2]b[1-3]`` -> 6), -1 when the text
    is not a hostlist, -2 when a number or the count is too large for 64 bits (both are null
    to the caller). The grammar is :data:`hpcsched.workloads.sacct_fields.PATTERNS` ``hostlist``."""
    cdef Py_ssize_t n = len(text), pos = 0
    cdef int64_t total = 0, hosts, group, low, high
    cdef Py_UCS4 c
    if n == 0:
        return -1
    while True:
        if pos >= n or not _name_char(text[pos]):
            return -1  # an entry starts with a name
        while pos < n and _name_char(text[pos]):
            pos += 1
        hosts = 1
        while pos < n and text[pos] == u'[':
            pos += 1
            group = 0
            while True:  # items low[-high], separated by commas
                low = _number(text, &pos, n)
                if low < 0:
                    return low
                high = low
                if pos < n and text[pos] == u'-':
                    pos += 1
                    high = _number(text, &pos, n)
                    if high < 0:
                        return high
                    if high < low:
                        return -1
                group += high - low + 1
                if group > (<int64_t>1 << 62):
                    return -2
                if pos < n and text[pos] == u',':
                    pos += 1
                    continue
                break
            if pos >= n or text[pos] != u']':
                return -1
            pos += 1
            if group > 0 and hosts > (<int64_t>1 << 62) // group:
                return -2
            hosts *= group
            while pos < n and _name_char(text[pos]):
                pos += 1
        if total > (<int64_t>1 << 62) - hosts:
            return -2
        total += hosts
        if pos == n:
            return total
        if text[pos] != u',':
            return -1
        pos += 1


def hostlist_counts(list texts):
    """:func:`_hosts` of each text (a list of str)."""
    out = np.empty(len(texts), dtype=np.int64)
    cdef int64_t[::1] view = out
    cdef Py_ssize_t k
    for k in range(len(texts)):
        view[k] = _hosts(<str>texts[k])
    return out


def count_lines(const uint8_t[::1] buf):
    """Lines in ``buf`` (newlines, plus one for a last line without one), GIL released."""
    cdef Py_ssize_t size = buf.shape[0], pos = 0, n = 0
    cdef const uint8_t* data = &buf[0] if size else NULL
    cdef const uint8_t* hit
    with nogil:
        while pos < size:
            hit = <const uint8_t*>memchr(data + pos, 10, size - pos)
            n += 1
            if hit == NULL:
                break
            pos = (hit - data) + 1
    return n
