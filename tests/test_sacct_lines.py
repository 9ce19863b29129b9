"""The sacct reader's line scan: the compiled kernel equals the numpy reference on any bytes,
and the reader gives the same table and the same malformed lines with either."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcsched.workloads import sacct_lines as sl
from hpcsched.workloads.sacct import read_sacct

pytestmark = pytest.mark.skipif(sl.KERNEL is None, reason="the compiled scan is not built")

# bytes that matter to the scan (separator, line ends, the step dot) and some that do not
ALPHABET = st.sampled_from(
    [
        *(b"|", b"\n", b"\r", b".", b"a", b"7", b"\xc3\xa9", b"\xff", b" ", b"\x00"),
        *(b"\t", b"\x07", b"\x7f", b"\xc2", b"\x85", b"\xc2\x9f"),  # control characters or not
    ]
)
TEXT = st.lists(ALPHABET, max_size=120).map(b"".join)
FIELDS = ("starts", "ends", "fields", "ident_start", "ident_end", "rss_start", "rss_end")


def assert_same(raw: bytes, ident: int, rss: int) -> None:
    fast = sl.scan(raw, "|", None if ident < 0 else ident, None if rss < 0 else rss)
    ref = sl.scan_numpy(raw, "|", ident, rss)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(fast, name), getattr(ref, name), err_msg=name)
    np.testing.assert_array_equal(fast.inner_cr, ref.inner_cr)
    np.testing.assert_array_equal(fast.step, ref.step)
    np.testing.assert_array_equal(fast.control, ref.control)
    assert fast.ascii == ref.ascii
    assert fast.nul == ref.nul == (b"\x00" in raw)
    counted = sl.scan(raw, "|", None if ident < 0 else ident, None if rss < 0 else rss,
                      sl.line_count(raw))  # fmt: skip
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(counted, name), getattr(fast, name), err_msg=name)


@settings(max_examples=400, deadline=None)
@given(TEXT, st.integers(-1, 4), st.integers(-1, 4))
def test_kernel_scan_equals_numpy_reference(raw: bytes, ident: int, rss: int) -> None:
    assert_same(raw, ident, rss)
    lines = len(sl.line_bounds(raw)[0])
    assert sl.line_count(raw) == lines
    assert raw.count(b"\n") + (bool(raw) and not raw.endswith(b"\n")) == lines


# sacct-like lines: many fields of a few bytes, so the scan's eight-byte words, the fields
# found from either end of a line and the step dot are all exercised
FIELD = st.lists(
    st.sampled_from(
        [b"a", b"7", b".", b"\r", b"\xc3\xa9", b"xyz12345", b"\t", b"\x1b", b"\xc2\x9f"]
    ),
    max_size=4,
)
LINE = st.lists(FIELD.map(b"".join), min_size=1, max_size=90).map(b"|".join)
LINES = st.lists(LINE, max_size=6).map(b"\n".join)


@settings(max_examples=300, deadline=None)
@given(LINES, st.integers(-1, 95), st.integers(-1, 95))
def test_kernel_scan_of_long_lines_equals_numpy_reference(raw: bytes, ident: int, rss: int) -> None:
    assert_same(raw, ident, rss)


def test_kernel_counts_thousands_of_fields_in_one_line() -> None:
    """More separators than one word lane can count before it is added up (248 words)."""
    raw = b"|".join(b"%d" % i for i in range(5000)) + b"\n" + b"|" * 4000 + b"\n1.2|x"
    for ident, rss in ((0, 4999), (2500, 17), (4998, 3999)):
        assert_same(raw, ident, rss)
    assert sl.scan(raw, "|", 0, 1).fields.tolist() == [5000, 4001, 2]


@pytest.mark.parametrize(
    ("raw", "fields", "step"),
    [
        (b"", [], []),
        (b"\n", [1], [False]),
        (b"1|2\r\n1.batch|3", [2, 2], [False, True]),
        (b"1|2|3\n\n4.0|5\n", [3, 1, 2], [False, False, True]),
    ],
)
def test_scan_counts_fields_and_marks_steps(
    raw: bytes, fields: list[int], step: list[bool]
) -> None:
    lines = sl.scan(raw, "|", 0, 1)
    assert lines.fields.tolist() == fields
    assert lines.step.tolist() == step
    assert_same(raw, 0, 1)


def test_gather_joins_ranges_with_newlines() -> None:
    raw = b"abc|de|f\nxyz"
    starts, ends = np.array([0, 4, 9, 2]), np.array([3, 6, 12, 2])
    assert sl.gather(raw, starts, ends) == b"abc\nde\nxyz\n\n"
    assert sl.texts(raw, starts, ends).to_list() == ["abc", "de", "xyz", ""]


def test_reader_gives_the_same_table_without_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpcsched.workloads.sacct_synth import write_sacct

    path = tmp_path / "dump.txt"
    write_sacct(path, 400, seed=3, malformed=5)
    fast = read_sacct(path)
    monkeypatch.setattr(sl, "KERNEL", None)
    ref = read_sacct(path)
    assert [m.line for m in fast.malformed] == [m.line for m in ref.malformed]
    assert len(fast.malformed) == 5
    assert fast.table.equals(ref.table)
    assert fast.table.height > 300


# fields around the 12 bytes an Arrow string view holds inline, and a few separators
SPLIT_FIELD = st.text(alphabet="ab7.\r \u00e9\u6d4b", max_size=30) | st.sampled_from(
    ["x" * 12, "y" * 13, ""]
)
SPLIT_LINE = st.lists(SPLIT_FIELD, min_size=1, max_size=9).map("|".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(SPLIT_LINE, min_size=1, max_size=8), st.integers(1, 9), st.booleans())
def test_kernel_split_equals_splitting_each_line(lines: list[str], width: int, end: bool) -> None:
    """Every line split at every separator, the first ``width`` fields kept and missing ones
    empty: short and long texts, a ``\r`` inside, and lines ending at the buffer's end (the
    inline copy must not read past it)."""
    raw = ("\n".join(lines) + ("\n" if end else "")).encode()
    starts, ends = sl.line_bounds(raw)
    names = [f"f{i}" for i in range(width)]
    frame = sl.split(raw, starts, ends, names, "|")
    texts = [raw[a:b].decode() for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    expected = [(text.split("|") + [""] * width)[:width] for text in texts]
    assert frame.columns == names
    assert frame.rows() == [tuple(row) for row in expected]
    views, _ = sl.KERNEL.split(raw, starts, ends, width, ord("|"))
    for view in views:  # an inline text is padded with zeros (Polars compares whole views)
        for length, rest in zip(view[0::16], view.reshape(-1, 16)[:, 4:], strict=True):
            if length <= 12:
                assert not rest[length:].any()


def test_kernel_split_refuses_bytes_that_are_not_utf8() -> None:
    raw = "a|\u00e9t\u00e9|c\n".encode() + b"d|\xff|f"
    starts, ends = sl.line_bounds(raw)
    assert sl.split(raw, starts, ends, ["f0", "f1", "f2"], "|") is None
    assert sl.split(raw, starts[:1], ends[:1], ["f0", "f1", "f2"], "|").rows() == [
        ("a", "\u00e9t\u00e9", "c")
    ]


def test_kernel_split_gives_each_column_its_own_buffers() -> None:
    """A column kept from a piece must not hold the other columns' memory alive."""
    raw = b"a|" + b"z" * 40 + b"|c\n" + b"d|e|" + b"q" * 20
    views, datas = sl.KERNEL.split(raw, *sl.line_bounds(raw), 3, ord("|"))
    assert [len(v) for v in views] == [32, 32, 32]
    assert [len(d) for d in datas] == [0, 40, 20]
    assert len({id(v) for v in views}) == 3


def test_reader_splits_utf8_in_the_kernel_and_polars_reads_bad_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ASCII and other UTF-8 job lines are split by the kernel; a piece with bytes that are
    not UTF-8 is read by Polars' CSV reader, which replaces them. Every way gives the table the
    reader gives without the kernel."""
    from hpcsched.workloads.sacct_synth import write_sacct

    kernel: list[bool] = []
    split = sl.split

    def counted(*args: Any) -> pl.DataFrame | None:
        frame = split(*args)
        kernel.append(frame is not None)
        return frame

    monkeypatch.setattr(sl, "split", counted)
    plain = tmp_path / "plain.txt"
    write_sacct(plain, 300, seed=5, malformed=3)
    text = plain.read_bytes()
    assert max(text) < 128 and text.count(b"|nekrs|") > 1
    for name, used, renamed in (
        ("plain", True, b"nekrs"),
        ("accented", True, "nekrs-\u00e9t\u00e9-\u6d4b".encode()),
        ("latin1", False, "nekrs-\u00e9t\u00e9".encode("latin-1")),
    ):
        path = tmp_path / f"{name}.txt"
        path.write_bytes(text.replace(b"|nekrs|", b"|" + renamed + b"|", 1))
        kernel.clear()
        fast = read_sacct(path)
        assert kernel == [used]
        with monkeypatch.context() as patch:
            patch.setattr(sl, "KERNEL", None)
            ref = read_sacct(path)
        assert fast.table.equals(ref.table)
        assert [m.line for m in fast.malformed] == [m.line for m in ref.malformed]
        assert renamed.decode("utf-8", "replace") in fast.table["name"].to_list()


HOST_PART = st.sampled_from(["n", "gpu", "a-b", "x.y", "[1-3]", "[2,5-6]", "[3-1]", "[", "]", ","])
HOST_PART |= st.from_regex(r"\[0*[0-9]{1,20}(-[0-9]{1,20})?\]", fullmatch=True)
HOSTLIST = st.lists(HOST_PART, max_size=8).map("".join) | st.sampled_from(
    ["None assigned", "(null)", "", "frontier[00001-09408]", "n[1-2]b[1-3],c"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(HOSTLIST, max_size=6))
def test_compiled_hostlist_counts_equal_the_python_reference(texts: list[str]) -> None:
    from hpcsched.workloads import sacct_fields as sf

    series = pl.Series("nodelist", texts, dtype=pl.String)
    expected = [sf.hostlist_count(t) for t in texts]
    assert sf.hostlist_counts(series).to_list() == expected
    assert sf.hostlist_counts_polars(series).to_list() == expected


SIZE_TEXT = st.lists(
    st.sampled_from(["1", "0", "9", ".", "K", "M", "E", "n", "x", "-", "e", "٣", " "]), max_size=8
).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(SIZE_TEXT, max_size=12))
def test_kernel_sizes_read_counts_as_polars_does(texts: list[str]) -> None:
    """MaxRSS of step rows is read by the kernel: the same value and verdict as Polars'
    ``size_expr`` and the ``count`` pattern, or left to Polars (state 2)."""
    from hpcsched.workloads.sacct_fields import size_expr, valid_expr

    raw = "".join(f"{text}\n" for text in texts).encode()
    starts, ends = sl.line_bounds(raw)
    values, states = sl.KERNEL.sizes(raw, starts, ends)
    frame = pl.DataFrame({"t": sl.texts(raw, starts, ends)}).select(
        value=size_expr(pl.col("t"), 1.0), ok=valid_expr(pl.col("t"), "count")
    )
    for text, value, state, want, ok in zip(
        texts, values, states, frame["value"], frame["ok"], strict=True
    ):
        if state == 2:
            assert len(text.encode()) >= 64 or not text.isascii()
            continue
        assert (state >= 0) == ok, text
        if state == 1:
            assert value == want, text
        else:
            assert np.isnan(value) and (state == -1 or want is None), text
