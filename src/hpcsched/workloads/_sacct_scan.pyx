# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled line scanner of the ``sacct -P`` reader (see :mod:`hpcsched.workloads.sacct_lines`).

One pass over a piece of text finds, for every line, where it starts and ends (without its
``\\r\\n``), how many fields it has (separators + 1: the only check ``sacct -P`` output allows,
since it has no quoting), where two chosen fields start and end (JobID and MaxRSS: all a step row
is read for) and three flags: a ``\\r`` inside the line, a ``.`` in the JobID field (a step row),
a control character in the line (issue 22: the record is malformed).
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
    _CONTROL = 4
    _NUL = 8  # scan's own: a zero byte in the line

cdef extern from *:
    """
    static inline int hp_ctz(unsigned long long x) { return __builtin_ctzll(x); }
    static inline int hp_clz(unsigned long long x) { return __builtin_clzll(x); }
    """
    int hp_ctz(unsigned long long x) nogil
    int hp_clz(unsigned long long x) nogil

# One module, cut by job into textual includes (Cython's ``include``): the pieces share the
# cimports above and compile exactly as one file did.
include "_sacct_words.pxi"
include "_sacct_lines.pxi"
include "_sacct_hosts.pxi"
include "_sacct_sizes.pxi"
include "_sacct_split.pxi"
