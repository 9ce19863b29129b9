# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled line scanner of the ``sacct -P`` reader (see :mod:`hpcsched.workloads.sacct_lines`).

One pass over a piece of text finds, for every line, where it starts and ends (without its
``\\r\\n``), how many fields it has (separators + 1: the only check ``sacct -P`` output allows,
since it has no quoting), where two chosen fields start and end (JobID and MaxRSS: all a step row
is read for) and two flags: a ``\\r`` inside the line, a ``.`` in the JobID field (a step row).
``gather`` copies chosen lines (or fields) into one buffer, each followed by a newline;
``split`` splits chosen lines into Arrow string-view columns; ``sizes`` reads counts.

Why hand-written: no well-kept library reports per-line field counts of delimited text (Polars'
and PyArrow's CSV readers pad or truncate ragged lines, or stop), and the numpy equivalent
(:func:`hpcsched.workloads.sacct_lines.scan_numpy`, the reference this kernel is tested against)
makes two full-size temporaries per piece; this loop makes none and releases the GIL. It reads a
line eight bytes at a time (a separator mask per word, counted in byte lanes) and then finds the
two wanted fields from the nearer end of the line: 28 -> 18 ms per 32 MiB piece, measured on a
1M-job dump, against the byte-by-byte loop that kept every separator's offset.

``split`` is hand-written too: Polars' and PyArrow's CSV readers take 42 and 37 ms of CPU to
tokenise the 17k job lines (65 fields) of a 32 MiB piece, into the same columns ``split`` builds
in 18 ms (``sacct -P`` needs no quote handling, and the views are Polars' own layout).
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memchr, memcpy
from libc.stdlib cimport calloc, free, malloc, strtod
from libc.math cimport NAN

import sys

import numpy as np

if sys.byteorder != "little":  # the word scan reads bytes in little-endian order
    raise ImportError("the compiled sacct scan needs a little-endian machine (numpy is used)")

cdef enum:
    _INNER_CR = 1
    _STEP = 2

cdef extern from *:
    """
    static inline int hp_ctz(unsigned long long x) { return __builtin_ctzll(x); }
    static inline int hp_clz(unsigned long long x) { return __builtin_clzll(x); }
    """
    int hp_ctz(unsigned long long x) nogil
    int hp_clz(unsigned long long x) nogil

# Eight bytes at a time ("SIMD within a register"): the high bit of every byte equal to the
# separator, exactly (no false positives), counted with popcount, located with ctz/clz.
# Little-endian: byte j of a word is bits 8j..8j+7 (the module refuses to load otherwise).
cdef uint64_t _LOW7 = 0x7F7F7F7F7F7F7F7FULL
cdef uint64_t _HIGH = 0x8080808080808080ULL
cdef uint64_t _ONES = 0x0101010101010101ULL


cdef inline uint64_t _word(const uint8_t* p) noexcept nogil:
    cdef uint64_t w
    memcpy(&w, p, 8)
    return w


cdef inline uint64_t _zero_bytes(uint64_t x) noexcept nogil:
    """The high bit of each byte of ``x`` that is zero."""
    return ~(((x & _LOW7) + _LOW7) | x | _LOW7)


cdef inline uint64_t _count(uint64_t marks) noexcept nogil:
    """How many bytes of a :func:`_zero_bytes` result are marked (a multiply adds the bytes'
    0/1 into the top byte: no popcount instruction needed)."""
    return ((marks >> 7) * _ONES) >> 56


cdef inline uint64_t _lane_sum(uint64_t lanes) noexcept nogil:
    """The sum of a word's eight byte lanes (each at most 255)."""
    lanes = (lanes & 0x00FF00FF00FF00FFULL) + ((lanes >> 8) & 0x00FF00FF00FF00FFULL)
    return (lanes * 0x0001000100010001ULL) >> 48


cdef inline Py_ssize_t _forward(
    const uint8_t* data, Py_ssize_t start, Py_ssize_t end, Py_ssize_t n, uint8_t s
) noexcept nogil:
    """Offset of the ``n``-th (from 0) separator of ``data[start:end]``; -1 if there is none."""
    cdef uint64_t pattern = _ONES * s, m
    cdef Py_ssize_t i = start, c
    while i + 8 <= end:
        m = _zero_bytes(_word(data + i) ^ pattern)
        c = <Py_ssize_t>_count(m)
        if c > n:
            while n > 0:
                m &= m - 1
                n -= 1
            return i + (hp_ctz(m) >> 3)
        n -= c
        i += 8
    while i < end:
        if data[i] == s:
            if n == 0:
                return i
            n -= 1
        i += 1
    return -1


cdef inline Py_ssize_t _backward(
    const uint8_t* data, Py_ssize_t start, Py_ssize_t end, Py_ssize_t n, uint8_t s
) noexcept nogil:
    """Offset of the ``n``-th (from 0) separator of ``data[start:end]`` counted from its end."""
    cdef uint64_t pattern = _ONES * s, m
    cdef Py_ssize_t i = end, c
    while i - 8 >= start:
        m = _zero_bytes(_word(data + i - 8) ^ pattern)
        c = <Py_ssize_t>_count(m)
        if c > n:
            while n > 0:
                m &= ~(1ULL << (63 - hp_clz(m)))
                n -= 1
            return i - 8 + ((63 - hp_clz(m)) >> 3)
        n -= c
        i -= 8
    while i > start:
        i -= 1
        if data[i] == s:
            if n == 0:
                return i
            n -= 1
    return -1


cdef inline void _field(
    const uint8_t* data, Py_ssize_t start, Py_ssize_t end, Py_ssize_t k, Py_ssize_t seps,
    uint8_t s, int64_t* a, int64_t* b
) noexcept nogil:
    """Bounds of field ``k`` of a line with ``seps`` separators (``k <= seps``), found from the
    nearer end of the line (JobID is near the end of a default sacct format)."""
    cdef Py_ssize_t j
    if k <= seps - k:
        a[0] = start if k == 0 else _forward(data, start, end, k - 1, s) + 1
        if k == seps:
            b[0] = end
        else:
            j = a[0]
            while data[j] != s:
                j += 1
            b[0] = j
    else:
        b[0] = end if k == seps else _backward(data, start, end, seps - 1 - k, s)
        j = b[0] - 1
        while j >= start and data[j] != s:
            j -= 1
        a[0] = j + 1


cdef Py_ssize_t _lines(const uint8_t* data, Py_ssize_t size) noexcept nogil:
    """Lines in ``data[:size]``: newlines, plus one for a last line without one."""
    cdef Py_ssize_t pos = 0, n = 0
    cdef const uint8_t* hit
    while pos < size:
        hit = <const uint8_t*>memchr(data + pos, 10, size - pos)
        n += 1
        if hit == NULL:
            break
        pos = (hit - data) + 1
    return n


#: Flag bits of ``scan``'s ``flags``.
INNER_CR = _INNER_CR
STEP = _STEP


def scan(const uint8_t[::1] buf, int sep, int64_t ident, int64_t rss, Py_ssize_t lines=-1):
    """(starts, ends, fields, ident_start, ident_end, rss_start, rss_end, flags, ascii, nul) of
    every line of ``buf``; a field's bounds are -1 when the line has too few fields (``ident``
    or ``rss`` -1: not wanted); ``nul``: a zero byte is in ``buf``. ``lines`` is
    ``count_lines(buf)`` when the caller has it (one pass over the bytes fewer)."""
    cdef Py_ssize_t size = buf.shape[0]
    cdef const uint8_t* data = &buf[0] if size else NULL
    cdef Py_ssize_t n = lines, pos = 0, line = 0
    cdef const uint8_t* hit
    if n < 0:
        with nogil:
            n = _lines(data, size)
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
    cdef Py_ssize_t start, end, i
    cdef int64_t field, a, b
    cdef uint64_t sep_pattern = _ONES * <uint8_t>sep, cr_pattern = _ONES * 13, w, bits, crs
    cdef uint64_t lanes, zeros = 0
    cdef Py_ssize_t stop
    cdef uint8_t c, seen = 0
    cdef bint nul = False
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
            # the separators are only counted here; the wanted fields are found after
            field = 0
            bits = 0
            crs = 0
            i = start
            while i + 8 <= end:
                # per byte lane: separators seen (a lane holds up to 255: flushed every 248)
                lanes = 0
                stop = min(end, i + 8 * 248)
                while i + 8 <= stop:
                    w = _word(data + i)
                    bits |= w
                    zeros |= _zero_bytes(w)
                    crs |= _zero_bytes(w ^ cr_pattern)
                    lanes += _zero_bytes(w ^ sep_pattern) >> 7
                    i += 8
                field += _lane_sum(lanes)
            while i < end:
                c = data[i]
                seen |= c
                nul |= c == 0
                crs |= c == 13
                field += c == s
                i += 1
            if bits & _HIGH:
                seen |= 128
            fields[line] = <int32_t>(field + 1)
            flags[line] = _INNER_CR if crs else 0
            if 0 <= ident <= field:
                _field(data, start, end, ident, field, s, &a, &b)
                bounds[0, line] = a
                bounds[1, line] = b
                if b > a and memchr(data + a, 46, b - a) != NULL:
                    flags[line] |= _STEP
            if 0 <= rss <= field:
                _field(data, start, end, rss, field, s, &a, &b)
                bounds[2, line] = a
                bounds[3, line] = b
    return (
        starts_a[:n], ends_a[:n], fields_a[:n], bounds_a[0, :n], bounds_a[1, :n],
        bounds_a[2, :n], bounds_a[3, :n], flags_a[:n], seen < 128, nul or zeros != 0,
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
    cdef Py_ssize_t size = buf.shape[0], n
    cdef const uint8_t* data = &buf[0] if size else NULL
    with nogil:
        n = _lines(data, size)
    return n


def sizes(const uint8_t[::1] buf, const int64_t[::1] starts, const int64_t[::1] ends):
    """Counts printed with units (``2K`` = 2048, ``1.50K`` = 1536, a bare number as it is) at
    ``buf[starts[k]:ends[k]]``, as :func:`hpcsched.workloads.sacct_fields.size_expr` with a
    bare unit of 1 and its ``count`` check would read them: (values, states). State 1: a count;
    0: empty; -1: not a count (``\\d+(\\.\\d+)?[KMGTPE]?``); 2: left to the caller (non-ASCII
    bytes, which Polars' Unicode ``\\d`` may take for digits, or 64 bytes or more). Values are
    NaN unless the state is 1. The number is read by ``strtod`` (correctly rounded, as Polars')."""
    cdef Py_ssize_t n = starts.shape[0], k, a, b, i, j, length
    values_a = np.empty(n, dtype=np.float64)
    states_a = np.empty(n, dtype=np.int8)
    cdef double[::1] values = values_a
    cdef signed char[::1] states = states_a
    cdef const uint8_t* data = &buf[0] if buf.shape[0] else NULL
    cdef char text[64]
    cdef int power
    cdef uint8_t c
    cdef double value
    with nogil:
        for k in range(n):
            a = starts[k]
            b = ends[k]
            values[k] = NAN
            if b <= a:
                states[k] = 0
                continue
            states[k] = -1
            for i in range(a, b):
                if data[i] >= 128:
                    states[k] = 2
                    break
            if states[k] == 2 or b - a >= 64:
                states[k] = 2
                continue
            i = a
            while i < b and 48 <= data[i] <= 57:
                i += 1
            if i == a:
                continue
            if i < b and data[i] == 46:
                j = i + 1
                while j < b and 48 <= data[j] <= 57:
                    j += 1
                if j == i + 1:
                    continue
                i = j
            length = i - a
            power = 0
            if i < b:
                c = data[i]
                if c == 75: power = 1
                elif c == 77: power = 2
                elif c == 71: power = 3
                elif c == 84: power = 4
                elif c == 80: power = 5
                elif c == 69: power = 6
                else: continue
                i += 1
            if i != b:
                continue
            memcpy(text, data + a, length)
            text[length] = 0
            value = strtod(text, NULL)
            while power > 0:
                value *= 1024.0
                power -= 1
            values[k] = value
            states[k] = 1
    return values_a, states_a



cdef inline void _view(
    uint8_t* v, const uint8_t* data, Py_ssize_t a, Py_ssize_t j, Py_ssize_t size, int64_t* longs
) noexcept nogil:
    """Write the Arrow string view of ``data[a:j]`` at ``v`` (all 16 bytes): the length, then
    the text padded with zeros (12 bytes or less), else its first 4 bytes and, until
    :func:`split`'s second pass, its offset in ``data`` (added to ``longs``)."""
    cdef int32_t length = <int32_t>(j - a)
    cdef uint64_t low = 0
    cdef uint32_t high = 0
    cdef int64_t raw_at = a
    memcpy(v, &length, 4)
    if length > 12:
        memcpy(v + 4, data + a, 4)
        memcpy(v + 8, &raw_at, 8)
        longs[0] += length
        return
    if a + 12 <= size:  # two fixed-size loads, masked to the text
        memcpy(&low, data + a, 8)
        memcpy(&high, data + a + 8, 4)
        if length < 8:
            low &= (<uint64_t>1 << (8 * length)) - 1
            high = 0
        elif length < 12:
            high &= (<uint32_t>1 << (8 * (length - 8))) - 1
        memcpy(v + 4, &low, 8)
        memcpy(v + 12, &high, 4)
    else:  # near the end of the buffer
        memcpy(v + 4, &low, 8)
        memcpy(v + 12, &high, 4)
        if length:
            memcpy(v + 4, data + a, length)


def split(const uint8_t[::1] buf, const int64_t[::1] starts, const int64_t[::1] ends, int width,
          int sep):
    """The fields of the lines ``buf[starts[k]:ends[k]]`` (split at every ``sep``: ``sacct -P``
    has no quoting) as Arrow string views, one column per field: (views, data), each a list of
    ``width`` buffers. A column's views are 16 bytes per line (the length, then the text itself
    when it is 12 bytes or less, else its first 4 bytes, buffer 0 and its offset in the column's
    data); its data holds the longer texts. A line with more than ``width`` fields keeps its
    first ``width``; one with fewer is padded with empty texts. The bytes are not checked for
    UTF-8 here (:func:`hpcsched.workloads.sacct_lines.split` has Polars do it); an ASCII
    ``sep`` never cuts a UTF-8 character. Separators are found eight bytes at a time, as in
    :func:`scan`."""
    cdef Py_ssize_t n = starts.shape[0], size = buf.shape[0], k, f, a, i, j, e, total
    cdef const uint8_t* data = &buf[0] if size else NULL
    cdef uint8_t s = <uint8_t>sep
    cdef uint64_t sep_pattern = _ONES * <uint8_t>sep, marks
    cdef uint8_t* v
    cdef int64_t raw_at
    cdef int32_t at32, zero = 0, length32
    if size >= (1 << 31) or width < 1:
        raise ValueError("split: a piece must be under 2 GiB and have a field")
    views = [np.empty(n * 16, dtype=np.uint8) for _ in range(width)]
    cdef uint8_t** cols = <uint8_t**>malloc(width * sizeof(uint8_t*))
    cdef int64_t* longs = <int64_t*>calloc(width, sizeof(int64_t))
    cdef uint8_t[::1] col
    if cols == NULL or longs == NULL:
        free(cols)
        free(longs)
        raise MemoryError()
    cdef uint8_t* dst
    try:
        for f in range(width):
            col = views[f]
            cols[f] = &col[0] if n else NULL
        with nogil:
            # pass 1: lengths, short texts and prefixes; a long text's offset in buf is kept
            # in the view's last 8 bytes until its column's data is allocated
            for k in range(n):
                a = starts[k]
                e = ends[k]
                f = 0
                i = a
                while i + 8 <= e and f < width:
                    marks = _zero_bytes(_word(data + i) ^ sep_pattern)
                    while marks and f < width:
                        j = i + (hp_ctz(marks) >> 3)
                        _view(cols[f] + 16 * k, data, a, j, size, &longs[f])
                        f += 1
                        a = j + 1
                        marks &= marks - 1
                    i += 8
                while i < e and f < width:
                    if data[i] == s:
                        _view(cols[f] + 16 * k, data, a, i, size, &longs[f])
                        f += 1
                        a = i + 1
                    i += 1
                if f < width:  # the last field
                    _view(cols[f] + 16 * k, data, a, e, size, &longs[f])
                    f += 1
                while f < width:  # too few fields: empty texts
                    _view(cols[f] + 16 * k, data, a, a, size, &longs[f])
                    f += 1
        datas = []
        for f in range(width):
            total = longs[f]
            out = PyBytes_FromStringAndSize(NULL, total)  # filled below
            datas.append(out)
            dst = <uint8_t*>PyBytes_AS_STRING(out)
            with nogil:
                # pass 2: the long texts of column f, in line order, and their offsets
                total = 0
                for k in range(n):
                    v = cols[f] + 16 * k
                    memcpy(&length32, v, 4)
                    if length32 > 12:
                        memcpy(&raw_at, v + 8, 8)
                        memcpy(dst + total, data + raw_at, length32)
                        at32 = <int32_t>total
                        memcpy(v + 8, &zero, 4)
                        memcpy(v + 12, &at32, 4)
                        total += length32
    finally:
        free(cols)
        free(longs)
    return views, datas
