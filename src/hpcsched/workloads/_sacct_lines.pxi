# Included by _sacct_scan.pyx: per line of a piece, its bounds, field count, JobID and MaxRSS
# bounds and flags (``scan``); chosen lines gathered (``gather``); lines counted.

#: Flag bits of ``scan``'s ``flags``.
INNER_CR = _INNER_CR
STEP = _STEP
CONTROL = _CONTROL


cdef uint8_t _marks(const uint8_t* data, Py_ssize_t start, Py_ssize_t end, uint8_t s) noexcept nogil:
    """``_INNER_CR`` | ``_CONTROL`` | ``_NUL`` of ``data[start:end]``: a ``\\r``; a control
    character (a C0 byte but tab, the separator and NUL, which is reported on its own as binary
    data; DEL; C1, UTF-8 ``C2 80``-``C2 9F``); a zero byte. Called only for lines whose words
    showed a byte below 0x20, DEL or a high bit."""
    cdef Py_ssize_t i
    cdef uint8_t c, marks = 0
    for i in range(start, end):
        c = data[i]
        if c < 32:
            if c == 13:
                marks |= _INNER_CR
            if c == 0:
                marks |= _NUL
            elif c != 9 and c != s:
                marks |= _CONTROL
        elif c == 127:
            marks |= _CONTROL
        elif c == 0xC2 and i + 1 < end and 0x80 <= data[i + 1] <= 0x9F:
            marks |= _CONTROL
    return marks


def scan(const uint8_t[::1] buf, int sep, int64_t ident, int64_t rss, Py_ssize_t lines=-1):
    """(starts, ends, fields, ident_start, ident_end, rss_start, rss_end, flags, ascii, nul) of
    every line of ``buf``; a field's bounds are -1 when the line has too few fields (``ident``
    or ``rss`` -1: not wanted); ``nul``: a zero byte is in ``buf``; the ``CONTROL`` flag: a
    control character in the line (:func:`_control`, looked for only in lines whose words
    show a byte below 0x20, DEL or a high bit: a few operations per word). ``lines`` is
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
    cdef uint64_t sep_pattern = _ONES * <uint8_t>sep, w, bits
    cdef uint64_t lanes, ctl
    cdef uint64_t below_pattern = _ONES * 0x21
    cdef Py_ssize_t stop
    cdef uint8_t c, marks, seen = 0
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
            ctl = 0
            i = start
            while i + 8 <= end:
                # per byte lane: separators seen (a lane holds up to 255: flushed every 248)
                lanes = 0
                stop = min(end, i + 8 * 248)
                while i + 8 <= stop:
                    w = _word(data + i)
                    bits |= w
                    lanes += _zero_bytes(w ^ sep_pattern) >> 7
                    # a byte below 0x20 or DEL, as a yes/no: its low seven bits plus one,
                    # wrapped, are below 0x21 (hasless of Bit Twiddling Hacks; a high byte may
                    # be marked too). NUL and CR are below 0x20: they are looked for, with
                    # control characters, only in lines so marked (rare in sacct text)
                    ctl |= (((w & _LOW7) + _ONES) & _LOW7) - below_pattern
                    i += 8
                field += _lane_sum(lanes)
            while i < end:
                c = data[i]
                bits |= c
                ctl |= <uint64_t>((c < 32) | (c == 127)) << 7
                field += c == s
                i += 1
            if bits & _HIGH:
                seen |= 128
            fields[line] = <int32_t>(field + 1)
            marks = _marks(data, start, end, s) if (ctl | bits) & _HIGH else 0
            nul |= (marks & _NUL) != 0
            flags[line] = marks & (_INNER_CR | _CONTROL)
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
        bounds_a[2, :n], bounds_a[3, :n], flags_a[:n], seen < 128, nul,
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


def count_lines(const uint8_t[::1] buf):
    """Lines in ``buf`` (newlines, plus one for a last line without one), GIL released."""
    cdef Py_ssize_t size = buf.shape[0], n
    cdef const uint8_t* data = &buf[0] if size else NULL
    with nogil:
        n = _lines(data, size)
    return n
