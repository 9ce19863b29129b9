# Included by _sacct_scan.pyx: the word-at-a-time helpers every scan of a line uses.

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
