# Included by _sacct_scan.pyx: hosts in Slurm hostlists (NodeList), one text at a time.

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
