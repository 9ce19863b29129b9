"""Lines of a piece of ``sacct -P`` text: where each starts and ends, its field count, where its
JobID and MaxRSS fields are, the bytes of chosen lines or fields gathered for Polars, and chosen
lines split into text columns (:func:`split`).

``sacct -P`` has no quoting, so a line is well formed iff it has the header's number of fields;
a step row is read for JobID and MaxRSS only. :func:`scan` answers both in one pass over the
bytes: in the compiled kernel :mod:`hpcsched.workloads._sacct_scan` when it is built (one pass,
no temporaries, the GIL released), else with numpy (:func:`scan_numpy`, the reference the kernel
is tested against: a separator mask and its offsets, searched per line).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final, cast

import numpy as np
import polars as pl
import pyarrow as pa

Array = np.ndarray[Any, Any]
#: A piece of text: bytes, or the bytearray the reader filled (never copied).
Buffer = bytes | bytearray
_CHUNK: Final = 1 << 22  # bytes compared at a time by the numpy scan (keeps the mask in cache)


def _kernel() -> ModuleType | None:
    try:
        return importlib.import_module("hpcsched.workloads._sacct_scan")
    except ImportError:  # a source checkout without the build step: numpy does the same
        return None


KERNEL: Final = _kernel()


@dataclass(frozen=True)
class Lines:
    """Per line: ``starts``/``ends`` (byte offsets, the end without ``\\r\\n``), ``fields``
    (separators + 1), the JobID and MaxRSS field bounds (-1 where the line has too few fields
    or the field is not wanted), ``inner_cr`` (a ``\\r`` inside the line), ``step`` (a ``.`` in
    the JobID field), ``control`` (a control character: C0 but tab, the separator and NUL; DEL;
    C1); ``ascii`` when every byte of the piece is ASCII, ``nul`` when one is 0."""

    starts: Array
    ends: Array
    fields: Array
    ident_start: Array
    ident_end: Array
    rss_start: Array
    rss_end: Array
    inner_cr: Array
    step: Array
    control: Array
    ascii: bool
    nul: bool

    def __len__(self) -> int:
        return len(self.starts)

    def drop(self, count: int) -> Lines:
        """Without the first ``count`` lines (those before and including the header)."""
        if not count:
            return self
        cut = slice(count, None)
        return Lines(
            self.starts[cut], self.ends[cut], self.fields[cut], self.ident_start[cut],
            self.ident_end[cut], self.rss_start[cut], self.rss_end[cut], self.inner_cr[cut],
            self.step[cut], self.control[cut], self.ascii, self.nul,
        )  # fmt: skip


def scan(
    raw: Buffer, sep: str, ident: int | None, rss: int | None, lines: int | None = None
) -> Lines:
    """The :class:`Lines` of ``raw``; ``ident``/``rss`` are field indexes (None: absent);
    ``lines`` is :func:`line_count` of ``raw`` when the caller has it (the kernel then skips
    counting: one pass over the bytes fewer)."""
    want = (-1 if ident is None else ident, -1 if rss is None else rss)
    if KERNEL is None:
        return scan_numpy(raw, sep, *want)
    count = -1 if lines is None else lines
    starts, ends, fields, i_s, i_e, r_s, r_e, flags, ascii, nul = KERNEL.scan(
        raw, ord(sep), *want, count
    )
    return Lines(
        starts, ends, fields, i_s, i_e, r_s, r_e,
        (flags & KERNEL.INNER_CR) > 0, (flags & KERNEL.STEP) > 0, (flags & KERNEL.CONTROL) > 0,
        bool(ascii), bool(nul),
    )  # fmt: skip


def line_count(raw: Buffer) -> int:
    """Lines in ``raw`` (the last may lack its newline); in the kernel without holding the GIL,
    so the reader's main thread does not hold up the workers while it counts."""
    if KERNEL is not None:
        return int(KERNEL.count_lines(raw))
    return raw.count(b"\n") + (bool(raw) and not raw.endswith(b"\n"))


def line_bounds(raw: Buffer) -> tuple[Array, Array]:
    """Start and end offsets of every line (the end excludes ``\\r\\n``)."""
    arr = np.frombuffer(raw, dtype=np.uint8)
    newlines = [np.flatnonzero(arr[a : a + _CHUNK] == 10) + a for a in range(0, len(arr), _CHUNK)]
    ends = np.concatenate([*newlines, np.array([len(raw)], dtype=np.int64)])
    starts = np.concatenate(([0], ends[:-1] + 1))
    if raw.endswith(b"\n") or not raw:
        starts, ends = starts[:-1], ends[:-1]
    has_cr = (ends > starts) & (arr[np.maximum(ends - 1, 0)] == 13)
    return starts.astype(np.int64), (ends - has_cr).astype(np.int64)


def scan_numpy(raw: Buffer, sep: str, ident: int, rss: int) -> Lines:
    """:func:`scan` with numpy: the offsets of every separator, searched per line."""
    arr = np.frombuffer(raw, dtype=np.uint8)
    starts, ends = line_bounds(raw)
    seps = np.flatnonzero(arr == ord(sep))
    low, high = np.searchsorted(seps, starts), np.searchsorted(seps, ends)
    count = high - low  # separators in each line
    padded = np.append(seps, 0)  # every index below is then valid (unused where it is padding)
    last_sep = len(seps)

    def bounds(i: int) -> tuple[Array, Array]:
        if i < 0:
            return np.full(len(starts), -1, np.int64), np.full(len(starts), -1, np.int64)
        has = count >= i
        first = starts if i == 0 else padded[np.minimum(low + i - 1, last_sep)] + 1
        last = np.where(count == i, ends, padded[np.minimum(low + i, last_sep)])
        return np.where(has, first, -1), np.where(has, last, -1)

    i_s, i_e = bounds(ident)
    r_s, r_e = bounds(rss)
    inner_cr = np.zeros(len(starts), dtype=bool)
    if b"\r" in raw:
        cr = np.flatnonzero(arr == 13)
        inner_cr = np.searchsorted(cr, ends) > np.searchsorted(cr, starts)
    step = np.zeros(len(starts), dtype=bool)
    if ident >= 0 and len(starts):
        dots = np.flatnonzero(arr == ord("."))
        step = (i_s >= 0) & (np.searchsorted(dots, i_e) > np.searchsorted(dots, i_s))
    ascii = not len(arr) or int(arr.max()) < 128
    nul = b"\x00" in raw
    control = _control_lines(arr, starts, ends, sep)
    return Lines(
        starts, ends, (count + 1).astype(np.int32), i_s, i_e, r_s, r_e, inner_cr, step, control,
        ascii, nul,
    )  # fmt: skip


def _control_lines(arr: Array, starts: Array, ends: Array, sep: str) -> Array:
    """Which lines hold a control character: a C0 byte but tab, ``sep`` and NUL (reported on
    its own), DEL, or C1 (UTF-8 ``C2 80``-``C2 9F``)."""
    c0 = (arr < 32) & (arr != 0) & (arr != 9) & (arr != ord(sep))
    where = np.flatnonzero(c0 | (arr == 127))
    follow = arr[1:]
    c1 = np.flatnonzero((arr[:-1] == 0xC2) & (follow >= 0x80) & (follow <= 0x9F))
    control = np.zeros(len(starts), dtype=bool)
    for at, width in ((where, 1), (c1, 2)):  # a C1 character's two bytes both in the line
        index = np.searchsorted(starts, at, side="right") - 1
        inside = (index >= 0) & (at + width <= ends[np.maximum(index, 0)])
        control[index[inside]] = True
    return control


def gather(raw: Buffer, starts: Array, ends: Array) -> bytes:
    """The byte ranges ``raw[starts[k]:ends[k]]``, each followed by a newline, as one buffer."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    if KERNEL is not None:
        return bytes(KERNEL.gather(raw, starts, ends))
    view = memoryview(raw)
    pairs = zip(starts.tolist(), ends.tolist(), strict=True)
    return b"\n".join([*(view[s:e] for s, e in pairs), b""])


def texts(raw: Buffer, starts: Array, ends: Array) -> pl.Series:
    """The byte ranges ``[starts, ends)`` of ``raw`` as strings (invalid UTF-8 replaced): one
    gather, one decode, one split by Polars; no Python loop over rows."""
    if not len(starts):
        return pl.Series([], dtype=pl.String)
    text = gather(raw, starts, ends).decode("utf-8", "replace")
    return pl.Series([text]).str.split("\n").explode().head(len(starts))


def sizes(raw: Buffer, starts: Array, ends: Array) -> tuple[Array, Array] | None:
    """(values, states) of the count fields at ``[starts, ends)`` by the kernel (see
    ``_sacct_scan.sizes``: states 1 count, 0 empty, -1 not a count, 2 for Polars to read); None
    without the kernel (Polars then reads every one)."""
    if KERNEL is None:
        return None
    values, states = KERNEL.sizes(raw, starts, ends)
    return values, states


def split(
    raw: Buffer, starts: Array, ends: Array, names: list[str], sep: str, ascii: bool = False
) -> pl.DataFrame | None:
    """The lines ``raw[starts[k]:ends[k]]`` split at every ``sep`` into text columns ``names``
    (the first ``len(names)`` fields; missing ones empty), by the kernel: each column is handed
    to Polars as Arrow views without a copy. ``sep`` is ASCII, so it never cuts a UTF-8
    character. Unless the caller knows the bytes are ``ascii``, Polars checks that they are
    UTF-8 (about 7 ms for a piece's 17k job lines); None if they are not (the caller then
    reads them with a reader that replaces bad bytes). Needs :data:`KERNEL`."""
    if KERNEL is None:
        raise RuntimeError("sacct_lines.split needs the compiled kernel (pip install -e .)")
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    views, datas = KERNEL.split(raw, starts, ends, len(names), ord(sep))
    n = len(starts)
    kind = pa.string_view() if ascii else pa.binary_view()
    columns = [
        pa.Array.from_buffers(kind, n, [None, pa.py_buffer(v), pa.py_buffer(d)], null_count=0)
        for v, d in zip(views, datas, strict=True)
    ]
    frame = pl.from_arrow(pa.Table.from_arrays(columns, names=names), rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    if ascii:
        return frame
    try:
        return frame.cast(pl.String)
    except pl.exceptions.ComputeError:  # "invalid utf8"
        return None


def _malloc_trim() -> Callable[[int], int] | None:
    try:  # glibc only; elsewhere there is nothing to hand back this way
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return cast(Callable[[int], int], trim)


_TRIM: Final = _malloc_trim()


def release_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``: the remedy
    Dask's documentation gives for memory "not released back to the OS"). :func:`split`'s
    columns are numpy buffers from the C heap; once the reader's fold has copied them into
    Polars' own allocator and freed them, glibc keeps the pages for later ``malloc`` calls that
    never come: 0.4 GB of a 1M-job read, measured."""
    if _TRIM is not None:
        _TRIM(0)
