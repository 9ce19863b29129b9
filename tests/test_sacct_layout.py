"""sacct text layout, one crafted file each: a delimiter or newline inside a field (README
pitfall 1), any field subset and order, no header line, a trailing delimiter (`sacct -p`),
gzip input, blank lines, CRLF and bytes that are not UTF-8."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from hpcsched.workloads.sacct import SacctError, read_sacct
from sacct_helpers import HEADER, job_line, one_line, read_lines, step_line, write_lines


def test_pitfall1_delimiter_or_newline_inside_a_field(tmp_path: Path) -> None:
    r = read_lines(
        tmp_path,
        job_line("1"),
        job_line("2", JobName="a|b"),  # a '|' in a name shifts every later column
        job_line("3", JobName="two\nlines"),  # a newline splits the row in two
        job_line("4"),
    )
    assert r.table["job_id"].to_list() == ["1", "4"]
    assert [m.line for m in r.malformed] == [3, 4, 5]
    assert r.malformed[0].reason.startswith("expected 19 fields, found 20 (a '|' inside JobName")
    assert "found 3 (a line cut short" in r.malformed[1].reason
    assert "found 17" in r.malformed[2].reason
    assert str(r.malformed[0]) == f"{tmp_path / 'sacct.txt'}:3: {r.malformed[0].reason}"
    # a control-character delimiter keeps the name whole
    path = tmp_path / "unit.txt"
    path.write_text("\n".join(line.replace("|", "\x1f") for line in [HEADER, job_line("1")]) + "\n")
    sep = "\x1f"
    name_with_bar = (
        job_line("2", JobName="PLACEHOLDER").replace("|", sep).replace("PLACEHOLDER", "a|b")
    )
    path.write_text(path.read_text() + name_with_bar + "\n")
    unit = read_sacct(path, delimiter=sep)
    assert (unit.table["name"].to_list(), unit.malformed) == (["j", "a|b"], [])
    # a multi-character delimiter
    path.write_text("\n".join(line.replace("|", "::") for line in [HEADER, job_line("1")]) + "\n")
    assert read_sacct(path, delimiter="::").table["job_id"].to_list() == ["1"]


def test_any_subset_any_order_noheader_and_trailing_delimiter(tmp_path: Path) -> None:
    full = read_lines(tmp_path, job_line("1"), step_line("1.batch", "2K"))
    names = HEADER.split("|")
    order = names[::-1]
    rows = [
        dict(zip(names, line.split("|"), strict=True))
        for line in (job_line("1"), step_line("1.batch", "2K"))
    ]
    lines = ["|".join(row[n] for n in order) for row in rows]
    reordered = read_sacct(write_lines(tmp_path / "rev.txt", "|".join(order), *lines))
    columns = [c for c in full.table.columns if c != "sacct_line"]
    assert reordered.table.select(columns).equals(full.table.select(columns))
    noheader = tmp_path / "noheader.txt"
    noheader.write_text("\n".join(lines) + "\n")
    bare = read_sacct(noheader, fields=order)
    assert bare.table.select(columns).equals(full.table.select(columns))
    assert bare.table["sacct_line"].to_list() == [1]
    # fields=[...] on a file that has the header anyway: the header is not data
    assert read_sacct(tmp_path / "rev.txt", fields=order).malformed == []
    subset = read_sacct(
        write_lines(tmp_path / "sub.txt", "State|JobID", "COMPLETED|5", "FAILED|5.0")
    )
    assert subset.table.select("job_id", "state", "step_count").rows() == [("5", "completed", 1)]
    # sacct -p: every line ends with the delimiter
    parsable = write_lines(tmp_path / "p.txt", "JobID|State|", "5|COMPLETED|", "6|FAILED|")
    assert read_sacct(parsable).table["state"].to_list() == ["completed", "failed"]


def test_gzip_input(tmp_path: Path) -> None:
    path = tmp_path / "sacct.txt.gz"
    path.write_bytes(gzip.compress((HEADER + "\n" + job_line("1") + "\n").encode()))
    assert read_sacct(path).table["job_id"].to_list() == ["1"]
    (tmp_path / "fake.gz").write_text(HEADER + "\n")
    with pytest.raises(SacctError) as exc:
        read_sacct(tmp_path / "fake.gz")
    assert "named .gz but not gzip-compressed" in one_line(exc)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(b"x" * 1000)[:20])
    with pytest.raises(SacctError) as exc:
        read_sacct(tmp_path / "cut.gz")
    assert "corrupt gzip data" in one_line(exc)


def test_blank_lines_crlf_and_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    body = "\r\n".join([HEADER, job_line("1"), "", job_line("2"), ""])
    bad_name = job_line("3", JobName="\udcff").encode(errors="surrogateescape")  # a lone 0xff
    path.write_bytes(body.encode() + b"\xff|garbage\r\n" + bad_name)
    r = read_sacct(path)
    assert r.table["job_id"].to_list() == ["1", "2", "3"]
    assert r.table["name"][2] == "\ufffd"  # invalid UTF-8 is replaced, the row is kept
    assert [m.line for m in r.malformed] == [5]
