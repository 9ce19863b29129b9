# Included by _sacct_scan.pyx: steps' MaxRSS counts with units, read straight from the bytes.

def sizes(const uint8_t[::1] buf, const int64_t[::1] starts, const int64_t[::1] ends):
    """Counts printed with units (``2K`` = 2048, ``1.50K`` = 1536, a bare number as it is) at
    ``buf[starts[k]:ends[k]]``, as :func:`hpcsched.workloads.sacct_fields.size_expr` with a
    bare unit of 1 and its ``count`` check would read them: (values, states). State 1: a count;
    0: empty; -1: not a count (``[0-9]+(\\.[0-9]+)?[KMGTPE]?`` with the pattern's digit bounds:
    at most 18 - 3 x the suffix's power digits before the point, ``[0-7]`` before ``E``, 19
    after it); 2: left to the caller (non-ASCII bytes or 64 bytes or more). Values are NaN
    unless the state is 1. The number is read by ``strtod`` (correctly rounded, as Polars')."""
    cdef Py_ssize_t n = starts.shape[0], k, a, b, i, j, length, whole
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
            whole = i - a
            if i < b and data[i] == 46:
                j = i + 1
                while j < b and 48 <= data[j] <= 57:
                    j += 1
                if j == i + 1 or j - i - 1 > 19:
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
            if power == 6:  # [0-7]E: 8E is 2^63
                if whole != 1 or data[a] > 55:
                    continue
            elif whole > 18 - 3 * power:
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
