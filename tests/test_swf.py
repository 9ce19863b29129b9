"""SWF reader/writer: parsing, malformed lines, errors, round trips, real-trace headers."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hpcsched.core.schema import CANONICAL_COLUMNS
from hpcsched.workloads.swf import SWF_COLUMNS, Malformed, SwfError, Trace, read_swf, write_swf

HEADER = """; Version: 2.2
; UnixStartTime: 1000000
; MaxNodes: 64 (batch partition; 80 total)
; MaxProcs: 128
"""
# job 1: complete; job 2: no wait/runtime known, requested procs only, status 0;
# job 3: fractional times, status 5; job 4: status 3 (partial, completed), unknown status 7 -> job 5
ROWS = """1 0 10 100 4 90 1000 4 200 2000 1 3 7 1 1 2 -1 -1
2 5 -1 -1 -1 -1 -1 8 300 -1 0 4 7 -1 1 2 -1 -1
3 6.5 0.25 50.75 2 -1 -1 2 -1 -1 5 3 8 -1 1 1 -1 -1
4 7 0 1 1 -1 -1 1 60 -1 3 5 8 -1 1 1 -1 -1
5 8 0 1 1 -1 -1 1 60 -1 7 5 8 -1 1 1 -1 -1
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _one_line(exc: pytest.ExceptionInfo[SwfError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_fields_and_canonical_columns(tmp_path: Path) -> None:
    trace = read_swf(_write(tmp_path / "t.swf", HEADER + ROWS))
    t = trace.table
    assert t.columns[: len(CANONICAL_COLUMNS)] == list(CANONICAL_COLUMNS)
    assert t.columns[len(CANONICAL_COLUMNS) :] == [*SWF_COLUMNS, "swf_line"]
    assert t["swf_line"].to_list() == [5, 6, 7, 8, 9]
    assert t["swf_job_number"].dtype == pl.Int64
    assert t["swf_submit"].dtype == pl.Float64
    assert (trace.max_procs, trace.max_nodes, trace.unix_start_time) == (128, 64, 1000000)
    assert trace.header == HEADER.splitlines()
    assert trace.machine_procs == 128
    assert t["job_id"].to_list() == ["1", "2", "3", "4", "5"]
    assert t["submit"].to_list() == [0.0, 5.0, 6.5, 7.0, 8.0]  # relative: no UnixStartTime added
    assert t["start"].to_list() == [10.0, None, 6.75, 7.0, 8.0]
    assert t["runtime"].to_list() == [100.0, None, 50.75, 1.0, 1.0]
    assert t["end"].to_list() == [110.0, None, 57.5, 8.0, 9.0]
    assert t["timelimit"].to_list() == [200.0, 300.0, None, 60.0, 60.0]
    assert t["cpus"].to_list() == [4, 8, 2, 1, 1]
    assert t["nodes"].null_count() == 5
    assert t["gpus"].to_list() == [0] * 5
    assert t["mem_req"].to_list() == [2000 * 1024 * 4.0, None, None, None, None]
    assert t["mem_used"].to_list() == [1000 * 1024 * 4.0, None, None, None, None]
    assert t["state"].to_list() == ["completed", "failed", "cancelled", "completed", "unknown"]
    assert t["user"].to_list() == ["3", "4", "3", "5", "5"]
    assert t["account"][0] == "7"
    assert t["partition"][0] == "2"
    assert set(t["source"]) == {"swf"}
    assert set(t["qos"]) == {""}
    assert set(t["name"]) == {""}
    assert t["backfilled"].null_count() == 5
    assert t["exit_code"].null_count() == 5


def test_malformed_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    lines = ROWS.splitlines()
    text = "\n".join(
        [
            "; MaxProcs: 16",
            lines[0],
            "",  # blank: ignored
            "1 2 3 4 5 6 7",
            lines[1],
            "   ; a comment in the middle",
            "6 0 0 abc 1 -1 -1 1 60 -1 1 1 1 -1 1 1 -1 -1",
            "7 0 0 5 1.5 -1 -1 1 60 -1 1 1 1 -1 1 1 -1 -1",
            "8 0 0 5 1 -1 -1 1 60 -1 1 1 1 -1 1 1 -1 -1 99",
            "9 0 0 nan 1 -1 -1 1 60 -1 1 1 1 -1 1 1 -1 -1",
            "\t" + lines[2].replace(" ", "\t  "),
        ]
    )
    path = _write(tmp_path / "bad.swf", text + "\n\n")
    trace = read_swf(path)
    assert trace.table["swf_job_number"].to_list() == [1, 2, 3]
    assert trace.table["swf_line"].to_list() == [2, 5, 11]
    assert trace.malformed == [
        Malformed(str(path), 4, "expected 18 fields, found 7"),
        Malformed(str(path), 7, "field 4 (run time) is not a number: 'abc'"),
        Malformed(str(path), 8, "field 5 (allocated processors) is not an integer: '1.5'"),
        Malformed(str(path), 9, "expected 18 fields, found 19"),
        Malformed(str(path), 10, "field 4 (run time) is not a number: 'nan'"),
    ]
    assert str(trace.malformed[0]) == f"{path}:4: expected 18 fields, found 7"
    assert trace.header == ["; MaxProcs: 16", "   ; a comment in the middle"]
    with pytest.raises(SwfError) as exc:
        read_swf(path, strict=True)
    assert _one_line(exc).startswith(f"{path}:4: expected 18 fields, found 7")
    assert "--strict" in str(exc.value)


def test_strict_reads_clean_file(tmp_path: Path) -> None:
    assert read_swf(_write(tmp_path / "t.swf", HEADER + ROWS), strict=True).table.height == 5


def test_unreadable_files_raise_one_line(tmp_path: Path) -> None:
    with pytest.raises(SwfError) as exc:
        read_swf(tmp_path / "foo.swf")
    assert (
        _one_line(exc) == f"cannot read trace {tmp_path / 'foo.swf'}: no such file (check the path)"
    )
    with pytest.raises(SwfError, match="not gzip-compressed"):
        read_swf(_write(tmp_path / "plain.swf.gz", ROWS))
    corrupt = tmp_path / "corrupt.swf.gz"
    corrupt.write_bytes(gzip.compress(ROWS.encode())[:30])
    with pytest.raises(SwfError, match="corrupt gzip"):
        read_swf(corrupt)
    garbage = tmp_path / "garbage.swf"
    garbage.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(SwfError, match="binary data") as exc:
        read_swf(garbage)
    _one_line(exc)
    with pytest.raises(SwfError, match="not an SWF file"):
        read_swf(_write(tmp_path / "a.csv", "a,b,c\n1,2,3\n"))
    with pytest.raises(SwfError, match="directory"):
        read_swf(tmp_path)


def test_line_endings_and_encodings(tmp_path: Path) -> None:
    rows = ROWS.splitlines()
    crlf = tmp_path / "crlf.swf"
    crlf.write_bytes(("; MaxProcs: 16\r\n\r\n" + "\r\n".join(rows) + "\r\n").encode())
    trace = read_swf(crlf)
    assert trace.header == ["; MaxProcs: 16"]
    assert trace.table["swf_line"].to_list() == [3, 4, 5, 6, 7]
    latin1 = tmp_path / "latin1.swf"  # not UTF-8: decoded as latin-1
    latin1.write_bytes("; Acknowledge: Müller\n".encode("latin-1") + ROWS.encode())
    trace = read_swf(latin1)
    assert trace.header == ["; Acknowledge: Müller"]
    assert trace.table.height == 5
    unit_sep = tmp_path / "us.swf"  # a \x1f byte defeats the fast line splitter
    unit_sep.write_text(ROWS + "6\x1f0 0 1 1 -1 -1 1 60 -1 1 1 1 -1 1 1 -1 -1\n" + rows[0] + "\n")
    trace = read_swf(unit_sep)
    assert trace.table["swf_line"].to_list() == [1, 2, 3, 4, 5, 7]
    assert [m.line for m in trace.malformed] == [6]


def test_gzip_detected_by_magic_bytes(tmp_path: Path) -> None:
    path = tmp_path / "actually-gzip.swf"
    path.write_bytes(gzip.compress((HEADER + ROWS).encode()))
    assert read_swf(path).table.height == 5


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    assert read_swf(_write(tmp_path / "e.swf", "")).table.height == 0
    trace = read_swf(_write(tmp_path / "h.swf", HEADER))
    assert trace.table.height == 0
    assert trace.max_procs == 128


@pytest.mark.parametrize("name", ["out.swf", "out.swf.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    first = read_swf(_write(tmp_path / "t.swf", HEADER + ROWS))
    write_swf(first, tmp_path / name)
    if name.endswith(".gz"):
        assert (tmp_path / name).read_bytes()[:2] == b"\x1f\x8b"
    second = read_swf(tmp_path / name)
    assert_frame_equal(first.table, second.table)
    assert second.header == first.header
    raw = (tmp_path / name).read_bytes()
    text = (gzip.decompress(raw) if name.endswith(".gz") else raw).decode()
    assert text.splitlines()[4:6] == ROWS.splitlines()[:2]


def test_round_trip_real_trace(tmp_path: Path, traces_dir: Path) -> None:
    first = read_swf(traces_dir / "SDSC-SP2-1998-4.2-cln.swf.gz")
    write_swf(first, tmp_path / "sdsc.swf.gz")
    second = read_swf(tmp_path / "sdsc.swf.gz")
    assert_frame_equal(first.table, second.table)
    assert second.header == first.header


def test_write_table_without_swf_columns(tmp_path: Path) -> None:
    table = pl.DataFrame(
        {
            "job_id": ["10", "x_1"],
            "user": ["alice", "42"],
            "submit": [0.0, 5.0],
            "start": [3.0, None],
            "runtime": [7.5, None],
            "timelimit": [60.0, None],
            "cpus": [2, 4],
            "mem_req": [2 * 1024.0 * 2048, None],
            "state": ["completed", "timeout"],
        }
    )
    write_swf(Trace(table=table, path="sim", max_procs=16), tmp_path / "sim.swf")
    assert (tmp_path / "sim.swf").read_text().splitlines() == [
        "; MaxProcs: 16",
        "10 0 3 7.5 2 -1 -1 2 60 2048 1 -1 -1 -1 -1 -1 -1 -1",
        "2 5 -1 -1 4 -1 -1 4 -1 -1 0 42 -1 -1 -1 -1 -1 -1",
    ]
    back = read_swf(tmp_path / "sim.swf")
    assert back.max_procs == 16
    assert back.table["runtime"].to_list() == [7.5, None]


def test_with_table_keeps_header(tmp_path: Path) -> None:
    trace = read_swf(_write(tmp_path / "t.swf", HEADER + ROWS))
    small = trace.with_table(trace.table.head(2))
    assert small.table.height == 2
    assert small.header == trace.header
    assert small.max_procs == 128
    no_header = Trace(table=trace.table, path="x")
    assert no_header.machine_procs == 8  # largest job


def test_real_trace_headers(traces_dir: Path) -> None:
    sdsc = read_swf(traces_dir / "SDSC-SP2-1998-4.2-cln.swf.gz")
    assert (sdsc.max_procs, sdsc.max_nodes, sdsc.table.height) == (128, 128, 59715)
    assert sdsc.unix_start_time == 893466664
    assert sdsc.malformed == []
    lublin = read_swf(traces_dir / "lublin_256.swf.gz")
    assert (lublin.max_procs, lublin.max_nodes, lublin.table.height) == (None, 256, 10000)
    assert lublin.machine_procs == 256
    ctc = read_swf(traces_dir / "CTC-SP2-1996-3.1-cln.swf.gz")  # "; MaxNodes: 338 (batch ...)"
    assert (ctc.max_procs, ctc.max_nodes, ctc.table.height) == (338, 338, 77222)
