# Included by _sacct_scan.pyx: job lines split into Arrow string-view columns for Polars.

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
