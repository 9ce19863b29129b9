"""Issue 22, findings 4-9 and 11: hostile values in every reader end as counted malformed lines
(with their line numbers) or one-line refusals, never as tracebacks or silent nulls."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from hpcsched.analytics.derive import prepare
from hpcsched.workloads.anonymize import anonymize
from hpcsched.workloads.load import InputError, load_jobs
from hpcsched.workloads.sacct import SacctError, read_sacct
from hpcsched.workloads.sacct_json import read_sacct_json
from hpcsched.workloads.swf import SwfError, read_swf
from sacct_helpers import HEADER, job_line, read_lines, write_lines

SAMPLE_JSON = Path(__file__).parents[2] / "shared/data/sacct/local-slurm-sample.sacct.json"
SWF_LINE = "1 0 10 100 4 -1 -1 4 200 -1 1 7 3 -1 1 1 -1 -1"

# --- sacct -P text ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["NCPUS", "NNodes"])
@pytest.mark.parametrize("value", ["NaN", "inf", "-inf", "1e400", "99999999999999999999999", "20E"])
def test_sacct_numbers_out_of_range_are_malformed(tmp_path: Path, field: str, value: str) -> None:
    read = read_lines(tmp_path, job_line("1"), job_line("2", **{field: value}), job_line("3"))
    assert read.jobs == 2
    assert [m.line for m in read.malformed] == [3]
    assert f"field {field} is not a count" in read.malformed[0].reason


@pytest.mark.parametrize("field", ["Submit", "Start", "ElapsedRaw", "NCPUS", "TimelimitRaw"])
@pytest.mark.parametrize("digits", ["١٢٣", "１２３"])
def test_sacct_unicode_digits_are_malformed(tmp_path: Path, field: str, digits: str) -> None:
    read = read_lines(tmp_path, job_line("1"), job_line("2", **{field: digits}))
    assert read.jobs == 1
    assert [m.line for m in read.malformed] == [3]
    assert f"field {field} is not" in read.malformed[0].reason


def test_sacct_huge_epoch_submit_is_malformed(tmp_path: Path) -> None:
    read = read_lines(tmp_path, job_line("1", Submit="99999999999999999999999"), job_line("2"))
    assert read.table["job_id"].to_list() == ["2"]
    assert [m.line for m in read.malformed] == [2]


def test_sacct_nul_byte_is_one_malformed_line(tmp_path: Path) -> None:
    rows = [job_line(str(i)) for i in range(1, 200)]
    rows[-1] = rows[-1].replace("COMPLETED", "COMP\x00LETED")
    read = read_lines(tmp_path, *rows)
    assert (read.jobs, [m.line for m in read.malformed]) == (198, [200])
    assert "NUL" in read.malformed[0].reason
    assert read.rows_read + len(read.malformed) == 199


def test_sacct_missing_jobid_or_submit_is_refused_up_front(tmp_path: Path) -> None:
    no_id = HEADER.replace("JobID|JobIDRaw|", "")
    path = write_lines(tmp_path / "a.txt", no_id, "|".join(job_line("1").split("|")[2:]))
    with pytest.raises(SacctError, match="no JobID field"):
        read_sacct(path)
    no_submit = write_lines(tmp_path / "b.txt", "JobID|State", "1|COMPLETED")
    with pytest.raises(InputError, match="no Submit field"):
        load_jobs(no_submit)


def test_implausible_records_are_counted_and_have_no_wait(tmp_path: Path) -> None:
    early = job_line("2", Start="2025-12-31T23:32:00", End="2025-12-31T23:33:00")
    backwards = job_line("3", End="2025-12-31T00:00:00")
    path = write_lines(tmp_path / "s.txt", HEADER, job_line("1"), early, backwards)
    loaded = load_jobs(path)
    assert loaded.table.height == 3
    assert [(m.line, m.reason.split(",")[1].split("(")[0].strip()) for m in loaded.implausible] == [
        (3, "start before submit"),
        (4, "end before start"),
    ]
    waits = prepare(loaded.table).jobs["wait"].to_list()
    assert sum(w is None for w in waits) == 1
    assert all(w is None or w >= 0 for w in waits)


# --- sacct --json -----------------------------------------------------------------------------


def _json_with(tmp_path: Path, change: dict[str, Any]) -> tuple[Path, int]:
    data = json.loads(SAMPLE_JSON.read_text())
    job = copy.deepcopy(data["jobs"][0])
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        target = job
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[leaf]
        else:
            target[leaf] = value
    data["jobs"].append(job)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return path, len(data["jobs"])


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"job_id": 1.5}, "job_id"),
        ({"job_id": True}, "job_id"),
        ({"job_id": "12"}, "job_id"),
        ({"job_id": 10**30}, "job_id"),
        ({"time.submission": "yesterday"}, "time.submission"),
        ({"time.submission": KeyError}, "time.submission"),
        ({"time.start": [1]}, "time.start"),
        ({"user": 5}, "user"),
        ({"exit_code.return_code": 10**40}, "exit_code"),
    ],
)
def test_sacct_json_wrong_types_are_malformed(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    path, entries = _json_with(tmp_path, change)
    read = read_sacct_json(path)
    assert [m.line for m in read.malformed] == [entries]
    assert named in read.malformed[0].reason
    assert read.rows_read == entries - 1


def test_sacct_json_nested_too_deep_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SacctError, match="nested too deeply"):
        read_sacct_json(path)


# --- SWF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["\x1c", "\x1d", "\x1e", "\x1f", "\u00a0"])
@pytest.mark.parametrize("column", [2, 18])
def test_swf_field_of_odd_blanks_is_malformed(tmp_path: Path, blank: str, column: int) -> None:
    fields = SWF_LINE.split()
    fields[column - 1] = blank
    path = tmp_path / "t.swf"
    path.write_text(f"; MaxProcs: 8\n{SWF_LINE}\n{' '.join(fields)}\n")
    trace = read_swf(path)
    assert (trace.table.height, [m.line for m in trace.malformed]) == (1, [3])
    assert f"field {column} " in trace.malformed[0].reason
    assert repr(blank) in trace.malformed[0].reason


def test_swf_header_beyond_int64_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "t.swf"
    path.write_text(f"; MaxProcs: {2**63}\n{SWF_LINE}\n")
    with pytest.raises(SwfError, match="MaxProcs") as exc:
        read_swf(path)
    assert "\n" not in str(exc.value)


def test_swf_nul_byte_is_one_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "t.swf"
    lines = [SWF_LINE.replace("1 0", f"{i} 0", 1) for i in range(1, 500)]
    lines[-1] = lines[-1].replace(" 7 ", " 7\x00 ")
    path.write_bytes(("; MaxProcs: 8\n" + "\n".join(lines) + "\n").encode())
    trace = read_swf(path)
    assert (trace.table.height, [m.line for m in trace.malformed]) == (498, [500])
    assert "NUL" in trace.malformed[0].reason


# --- anonymize ----------------------------------------------------------------------------------


def test_anonymize_maps_swf_user_and_group(tmp_path: Path) -> None:
    path = tmp_path / "t.swf"
    other = SWF_LINE.replace(" 7 3 ", " 9 3 ").replace("1 0", "2 0", 1)
    path.write_text(f"{SWF_LINE}\n{other}\n{SWF_LINE.replace(' 7 3 ', ' -1 -1 ')}\n")
    table = read_swf(path).table
    out = anonymize(table, b"k")
    assert out["swf_user"].dtype == pl.Int64
    assert 7 not in out["swf_user"].to_list() and 3 not in out["swf_group"].to_list()
    assert out["swf_user"][2] == -1 and out["swf_group"][2] == -1  # unknown stays unknown
    assert out["swf_user"][0] != out["swf_user"][1]
    assert out["user"][0] != "7"


def test_a_job_table_without_submit_times_is_refused(tmp_path: Path) -> None:
    from hpcsched.workloads.load import write_table

    no_submit = HEADER.replace("|Submit", "")
    names = HEADER.split("|")
    row = "|".join(v for k, v in zip(names, job_line("1").split("|"), strict=True) if k != "Submit")
    text = write_lines(tmp_path / "s.txt", no_submit, row)
    write_table(read_sacct(text).table, tmp_path / "t.parquet")  # the reader alone allows it
    with pytest.raises(InputError, match="no job has a submit time"):
        load_jobs(tmp_path / "t.parquet")


def test_swf_fields_beyond_1e12_are_malformed(tmp_path: Path) -> None:
    path = tmp_path / "t.swf"
    huge = SWF_LINE.replace("1 0 10 100", "2 1e300 10 100", 1)
    path.write_text(f"{SWF_LINE}\n{huge}\n")
    trace = read_swf(path)
    assert (trace.table.height, [m.line for m in trace.malformed]) == (1, [2])
    assert "field 2 (submit time) is beyond" in trace.malformed[0].reason


def test_parquet_rows_with_nan_inf_or_negative_counts_are_malformed(tmp_path: Path) -> None:
    nan, inf = float("nan"), float("inf")
    frame = pl.DataFrame(
        {"job_id": ["1", "2", "3", "4"], "submit": [0.0, nan, inf, 5.0], "cpus": [1, 2, 3, -5]}
    )
    frame.write_parquet(tmp_path / "t.parquet")
    loaded = load_jobs(tmp_path / "t.parquet")
    assert loaded.table["job_id"].to_list() == ["1"]
    assert [(m.line, m.reason) for m in loaded.malformed] == [
        (2, "row 2: submit is not a finite number"),
        (3, "row 3: submit is not a finite number"),
        (4, "row 4: cpus is negative"),
    ]
    frame.slice(1).write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="no row can be used"):
        load_jobs(tmp_path / "bad.parquet")


@pytest.mark.parametrize("rss", ["20E", "8E", "1000P", "9999999999999999999", "1.", "١٢"])
def test_sacct_step_maxrss_beyond_int64_is_malformed(tmp_path: Path, rss: str) -> None:
    """Step rows' MaxRSS is read by the compiled kernel: the same bounds as the pattern."""
    from sacct_helpers import step_line

    read = read_lines(tmp_path, job_line("1"), step_line("1.batch", rss), step_line("1.0", "7E"))
    assert [m.line for m in read.malformed] == [3]
    assert "MaxRSS" in read.malformed[0].reason
    assert read.table["mem_used"].to_list() == [7 * 1024.0**6]


def test_parquet_values_each_go_through_their_kind_parser(tmp_path: Path) -> None:
    """Strings, uint64 past int64, fractions, times past 10^12 s and codes past int32 in a
    Parquet job table are malformed rows with the column named; good rows are read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "job_id": ["1", "2", "3", "4", "5", "6", "7"],
            "submit": ["10", "x", "20", "1e300", "30", "40", "١٢"],
            "cpus": pa.array([1, 2, 2**64 - 1, 4, 5, 6, 7], "uint64"),
            "nodes": [1.0, 1.0, 1.0, 1.0, 1.5, 1.0, 1.0],
            "exit_code": [0, 0, 0, 0, 0, 2**40, 0],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    loaded = load_jobs(tmp_path / "t.parquet")
    assert loaded.table["job_id"].to_list() == ["1"]
    assert loaded.table["submit"].to_list() == [10.0]
    assert [m.reason for m in loaded.malformed] == [
        "row 2: submit is not a number",
        "row 3: cpus is beyond 10^18",
        "row 4: submit is beyond +-10^12 s",
        "row 5: nodes is not a whole number",
        "row 6: exit_code is beyond int32",
        "row 7: submit is not a number",
    ]
    assert loaded.counts["rows_read"] + len(loaded.malformed) == 7


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("list", r"column cpus holds List\(Int64\), not numbers"),
        ("procs", "recorded machine size 'x' is not a whole number"),
    ],
)
def test_parquet_unreadable_columns_refuse_the_file(
    tmp_path: Path, column: str, message: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, Any] = {"job_id": ["1"], "submit": [1.0]}
    if column == "list":
        columns["cpus"] = pa.array([[1]])
    table = pa.table(columns)
    if column == "procs":
        table = table.replace_schema_metadata({b"hpcsched.machine_procs": b"x"})
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(InputError, match=message) as caught:
        load_jobs(tmp_path / "t.parquet")
    assert "\n" not in str(caught.value)
