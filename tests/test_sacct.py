"""sacct readers: real 22.05 samples, text vs JSON, one crafted line per README pitfall,
malformed-line accounting (property test), strict mode and one-line errors."""

from __future__ import annotations

import gzip
import json
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcsched.core.schema import CANONICAL_COLUMNS
from hpcsched.workloads.sacct import SacctError, SacctRead, read_sacct
from hpcsched.workloads.sacct_fields import JOBID_PATTERN, PATTERNS, hostlist_count
from hpcsched.workloads.sacct_json import read_sacct_json

from conftest import SHARED, require_shared

SACCT = SHARED / "data" / "sacct"
MB = 1024**2


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _write(path: Path, header: str, *rows: str) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _one_line(exc: pytest.ExceptionInfo[SacctError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def _job(read: SacctRead, job_id: str) -> dict[str, Any]:
    rows = read.table.filter(pl.col("job_id") == job_id).to_dicts()
    assert len(rows) == 1, job_id
    return rows[0]


def _sample(name: str) -> SacctRead:
    return read_sacct(require_shared(SACCT / name))


# --- the real Slurm 22.05 samples --------------------------------------------------------------

SAMPLE_STATES = {"cancelled": 1, "completed": 22, "failed": 2, "out_of_memory": 1, "timeout": 1}


def test_sample_jobs_steps_and_states() -> None:
    r = _sample("local-slurm-sample.txt")
    assert (r.rows_read, r.jobs, r.steps, r.malformed) == (83, 27, 56, [])
    assert (r.requeues, r.duplicates, r.orphan_steps) == (0, 0, 0)
    t = r.table
    assert t.columns[: len(CANONICAL_COLUMNS)] == list(CANONICAL_COLUMNS)
    assert r.states() == SAMPLE_STATES
    assert not any("." in j for j in t["job_id"])  # steps never become jobs
    assert t["job_id"].n_unique() == 27
    assert set(t["source"]) == {"sacct"}
    assert t["backfilled"].to_list() == [False] * 27  # every job: SchedMain,StartRecieved
    # job 3: .batch 4176K, .extern 712K, .0 828K, .1 832K -> peak over the steps
    three = _job(r, "3")
    assert (three["step_count"], three["mem_used"]) == (4, 4176 * 1024.0)
    assert (three["nodes"], three["cpus"], three["gpus"], three["mem_req"]) == (2, 4, 0, 400.0 * MB)
    assert (three["sacct_nodelist"], three["sacct_nodelist_nodes"]) == ("n[2,4]", 2)
    assert t["sacct_nodelist_nodes"].to_list() == t["nodes"].to_list()
    assert _job(r, "23")["step_count"] == 2  # srun without sbatch: .extern and .0, no .batch
    one = _job(r, "1")
    assert one["submit"] == _epoch("2026-11-20T22:51:20")
    assert (one["start"], one["end"]) == (
        _epoch("2026-11-20T22:51:22"),
        _epoch("2026-11-20T22:51:23"),
    )
    assert (one["runtime"], one["timelimit"], one["name"], one["user"]) == (
        1.0,
        60.0,
        "basic",
        "root",
    )
    timeout = _job(r, "8")  # Elapsed > Timelimit: slurmctld checks limits every ~30 s
    assert (timeout["state"], timeout["runtime"], timeout["timelimit"]) == ("timeout", 86.0, 60.0)
    assert (_job(r, "7")["state"], _job(r, "7")["sacct_cancelled_by"]) == ("cancelled", 0)
    assert (_job(r, "6")["exit_code"], _job(r, "6")["sacct_exit_signal"]) == (1, 0)
    assert (_job(r, "21")["exit_code"], _job(r, "21")["sacct_exit_signal"]) == (0, 11)
    assert _job(r, "15")["state"] == "out_of_memory"
    arrays = t.filter(pl.col("array_id") == 9)
    assert arrays["job_id"].to_list() == ["9_1", "9_2", "9_3", "9_4", "9_5"]
    assert arrays["sacct_job_id_raw"].to_list() == ["24", "25", "26", "27", "9"]
    assert arrays["sacct_array_tasks"].to_list() == [1] * 5
    assert _job(r, "10")["reason"] == "Dependency"
    assert t["sacct_line"][:3].to_list() == [2, 5, 8]
    assert t["sacct_flags"][0] == "SchedMain,StartRecieved"  # unmapped fields stay as text


def test_linuxproc_sample_backfill_flags_and_oom() -> None:
    r = _sample("local-slurm-sample-linuxproc.txt")
    assert (r.rows_read, r.jobs, r.steps, r.malformed) == (54, 26, 28, [])
    assert r.table["backfilled"].value_counts().sort("backfilled").rows() == [
        (False, 16),
        (True, 10),
    ]
    assert _job(r, "2")["backfilled"] is True  # SchedBackfill,StartRecieved
    oom = _job(r, "16")  # OverMemoryKill: FAILED 0:9, the step's MaxRSS shows the overrun
    assert (oom["state"], oom["exit_code"], oom["sacct_exit_signal"]) == ("failed", 0, 9)
    assert oom["mem_used"] == 424548 * 1024.0 > oom["mem_req"] == 50.0 * MB
    assert _job(r, "2")["mem_used"] is None  # its only step printed no MaxRSS


def test_alloc_sample_is_the_same_jobs_without_steps() -> None:
    steps, alloc = _sample("local-slurm-sample.txt"), _sample("local-slurm-sample-alloc.txt")
    assert (alloc.rows_read, alloc.jobs, alloc.steps) == (27, 27, 0)
    # sacct -X prints TotalCPU/UserCPU/SystemCPU as 00:00:00: the job row sums them from steps
    cpu = ["sacct_totalcpu", "sacct_usercpu", "sacct_systemcpu"]
    assert set(alloc.table.select(cpu).unpivot()["value"]) == {"00:00:00"}
    skip = ("mem_used", "step_count", "sacct_line", *cpu)
    same = [c for c in steps.table.columns if c not in skip]
    assert alloc.table.select(same).equals(steps.table.select(same))
    assert alloc.table["step_count"].to_list() == [0] * 27
    assert alloc.table["mem_used"].null_count() == 27


def test_duplicates_sample_folds_the_requeued_attempt() -> None:
    plain, dup = _sample("local-slurm-sample.txt"), _sample("local-slurm-sample-duplicates.txt")
    assert (dup.rows_read, dup.jobs, dup.steps, dup.requeues, dup.duplicates) == (86, 27, 58, 1, 0)
    requeued = _job(dup, "22")
    assert requeued["sacct_requeues"] == 1
    assert requeued["state"] == "completed"  # the final attempt, not the REQUEUED record
    assert requeued["submit"] == _epoch("2026-11-20T22:51:28")
    assert requeued["step_count"] == 2
    assert requeued["mem_used"] == 1176 * 1024.0  # final .batch; the first attempt's was 1172K
    same = [c for c in plain.table.columns if c not in ("sacct_requeues", "sacct_line")]
    assert dup.table.select(same).equals(plain.table.select(same))
    assert dup.table.filter(pl.col("job_id") != "22")["sacct_requeues"].sum() == 0


def test_allfields_sample_any_order() -> None:
    """109 fields in alphabetical order: the same jobs as the 43-field dump."""
    plain, every = _sample("local-slurm-sample.txt"), _sample("local-slurm-sample-allfields.txt")
    assert (every.rows_read, every.jobs, every.steps, every.malformed) == (83, 27, 56, [])
    assert every.table.select(CANONICAL_COLUMNS).equals(plain.table.select(CANONICAL_COLUMNS))
    assert every.table["sacct_planned"].to_list() == plain.table["sacct_planned"].to_list()
    assert every.table["sacct_uid"][0] == "0"


def test_json_agrees_with_text_job_for_job() -> None:
    """`sacct --json` (22.05) holds the REQUEUED record, like `-D`: same jobs as the -D text."""
    text = _sample("local-slurm-sample-duplicates.txt")
    doc = read_sacct_json(require_shared(SACCT / "local-slurm-sample.sacct.json"))
    assert (doc.rows_read, doc.jobs, doc.steps, doc.requeues, doc.malformed) == (28, 27, 58, 1, [])
    a, b = text.table.sort("job_id"), doc.table.sort("job_id")  # sacct --json orders by id
    assert a["job_id"].to_list() == b["job_id"].to_list()
    common = [c for c in a.columns if c in b.columns]
    compared = {"eligible", "reason", "array_id", "step_count", "workdir", "sacct_job_id_raw"}
    compared |= {"sacct_array_tasks", "sacct_requeues", "sacct_exit_signal", "sacct_nodelist"}
    compared |= {"sacct_nodelist_nodes", "sacct_group", "sacct_cluster", "sacct_priority"}
    assert {*CANONICAL_COLUMNS, *compared} == set(common)
    # 22.05's JSON reports `exit 1` as SUCCESS/0 (text: 1:0); only that job differs
    exit_diff = a.filter(pl.col("exit_code") != b["exit_code"])["job_id"].to_list()
    assert exit_diff == ["6"]
    # sample quirk, not Slurm: the JSON's WorkDirs were rewritten differently from the text's
    text_dirs, json_dirs = set(a["workdir"]), set(b["workdir"])
    assert (text_dirs, json_dirs) == ({"/home/ci/work", "/home/ci"}, {"\\/home/ci/work", "/tmp"})
    rest = [c for c in common if c not in ("exit_code", "workdir")]
    assert a.select(rest).equals(b.select(rest))
    # JSON names the canceller, text gives its uid
    assert (_job(text, "7")["sacct_cancelled_by"], _job(doc, "7")["sacct_cancelled_by_user"]) == (
        0,
        "root",
    )
    plain = _sample("local-slurm-sample.txt").table.sort("job_id")  # without -D: all but the count
    same = [c for c in rest if c != "sacct_requeues"]
    assert plain.select(same).equals(b.select(same))


def test_frontier_noheader_csv_units() -> None:
    """Derived Frontier CSVs: AllocNodes as sacct prints it (1K, 4.50K: 1024-based units)."""
    path = require_shared(SACCT / "peer-ucs-frontier-backfill2021.csv")  # no header line
    r = read_sacct(path, delimiter=",", fields=["ElapsedRaw", "AllocNodes"])
    lines = path.read_text().split()
    assert (r.rows_read, r.jobs, r.malformed) == (len(lines), len(lines), [])
    nodes = dict(zip([line.split(",")[1] for line in lines], r.table["nodes"], strict=True))
    assert (nodes["1"], nodes["1K"], nodes["2K"], nodes["4.50K"]) == (1, 1024, 2048, 4608)
    assert r.table["runtime"].to_list() == [float(line.split(",")[0]) for line in lines]
    assert r.table["job_id"].null_count() == r.jobs  # no JobID field: every row is a job
    # a file with its own header ("Elapsed,Nodes"): with fields=[...] it is a bad data line
    path = require_shared(SACCT / "peer-ucs-frontier-backfill2023.csv")
    r = read_sacct(path, delimiter=",", fields=["ElapsedRaw", "AllocNodes"])
    assert [(m.line, m.reason) for m in r.malformed] == [
        (1, "field ElapsedRaw is not a number of seconds: 'Elapsed'")
    ]
    printed = [line.split(",")[1] for line in path.read_text().split()[1:]]
    nodes = dict(zip(printed, r.table["nodes"], strict=True))
    assert (nodes["1.50K"], nodes["2.50K"], r.jobs) == (1536, 2560, len(printed))


# --- one crafted line per pitfall --------------------------------------------------------------

H = (
    "JobID|JobIDRaw|JobName|User|Partition|Submit|Start|End|ElapsedRaw|TimelimitRaw|NNodes|"
    "NCPUS|ReqMem|AllocTRES|NodeList|State|ExitCode|Flags|MaxRSS"
)
T0 = "2026-01-01T00:00:00"


def _row(job_id: str = "100", **values: str) -> str:
    """A job row in :data:`H` order with plausible defaults."""
    row = {
        "JobID": job_id,
        "JobIDRaw": job_id.split("_")[0].split("+")[0],
        "JobName": "j",
        "User": "u",
        "Partition": "p",
        "Submit": T0,
        "Start": "2026-01-01T00:00:10",
        "End": "2026-01-01T00:01:10",
        "ElapsedRaw": "60",
        "TimelimitRaw": "10",
        "NNodes": "1",
        "NCPUS": "2",
        "ReqMem": "100M",
        "AllocTRES": "cpu=2,mem=100M,node=1",
        "NodeList": "n1",
        "State": "COMPLETED",
        "ExitCode": "0:0",
        "Flags": "SchedMain",
        "MaxRSS": "",
    }
    row.update(values)
    return "|".join(row[name] for name in H.split("|"))


def _step(step_id: str, maxrss: str = "") -> str:
    blank = dict.fromkeys(("User", "Partition", "ReqMem", "Flags", "TimelimitRaw"), "")
    return _row(step_id, JobName="batch", MaxRSS=maxrss, **blank)


def _read(tmp_path: Path, *rows: str, **kwargs: Any) -> SacctRead:
    return read_sacct(_write(tmp_path / "sacct.txt", H, *rows), **kwargs)


def test_pitfall1_delimiter_or_newline_inside_a_field(tmp_path: Path) -> None:
    r = _read(
        tmp_path,
        _row("1"),
        _row("2", JobName="a|b"),  # a '|' in a name shifts every later column
        _row("3", JobName="two\nlines"),  # a newline splits the row in two
        _row("4"),
    )
    assert r.table["job_id"].to_list() == ["1", "4"]
    assert [m.line for m in r.malformed] == [3, 4, 5]
    assert r.malformed[0].reason.startswith("expected 19 fields, found 20 (a '|' inside JobName")
    assert "found 3 (a line cut short" in r.malformed[1].reason
    assert "found 17" in r.malformed[2].reason
    assert str(r.malformed[0]) == f"{tmp_path / 'sacct.txt'}:3: {r.malformed[0].reason}"
    # a control-character delimiter keeps the name whole
    path = tmp_path / "unit.txt"
    path.write_text("\n".join(line.replace("|", "\x1f") for line in [H, _row("1")]) + "\n")
    sep = "\x1f"
    name_with_bar = _row("2", JobName="PLACEHOLDER").replace("|", sep).replace("PLACEHOLDER", "a|b")
    path.write_text(path.read_text() + name_with_bar + "\n")
    unit = read_sacct(path, delimiter=sep)
    assert (unit.table["name"].to_list(), unit.malformed) == (["j", "a|b"], [])
    # a multi-character delimiter
    path.write_text("\n".join(line.replace("|", "::") for line in [H, _row("1")]) + "\n")
    assert read_sacct(path, delimiter="::").table["job_id"].to_list() == ["1"]


def test_any_subset_any_order_noheader_and_trailing_delimiter(tmp_path: Path) -> None:
    full = _read(tmp_path, _row("1"), _step("1.batch", "2K"))
    names = H.split("|")
    order = names[::-1]
    rows = [
        dict(zip(names, line.split("|"), strict=True))
        for line in (_row("1"), _step("1.batch", "2K"))
    ]
    lines = ["|".join(row[n] for n in order) for row in rows]
    reordered = read_sacct(_write(tmp_path / "rev.txt", "|".join(order), *lines))
    columns = [c for c in full.table.columns if c != "sacct_line"]
    assert reordered.table.select(columns).equals(full.table.select(columns))
    noheader = tmp_path / "noheader.txt"
    noheader.write_text("\n".join(lines) + "\n")
    bare = read_sacct(noheader, fields=order)
    assert bare.table.select(columns).equals(full.table.select(columns))
    assert bare.table["sacct_line"].to_list() == [1]
    # fields=[...] on a file that has the header anyway: the header is not data
    assert read_sacct(tmp_path / "rev.txt", fields=order).malformed == []
    subset = read_sacct(_write(tmp_path / "sub.txt", "State|JobID", "COMPLETED|5", "FAILED|5.0"))
    assert subset.table.select("job_id", "state", "step_count").rows() == [("5", "completed", 1)]
    # sacct -p: every line ends with the delimiter
    parsable = _write(tmp_path / "p.txt", "JobID|State|", "5|COMPLETED|", "6|FAILED|")
    assert read_sacct(parsable).table["state"].to_list() == ["completed", "failed"]


def test_gzip_input(tmp_path: Path) -> None:
    path = tmp_path / "sacct.txt.gz"
    path.write_bytes(gzip.compress((H + "\n" + _row("1") + "\n").encode()))
    assert read_sacct(path).table["job_id"].to_list() == ["1"]
    (tmp_path / "fake.gz").write_text(H + "\n")
    with pytest.raises(SacctError) as exc:
        read_sacct(tmp_path / "fake.gz")
    assert "named .gz but not gzip-compressed" in _one_line(exc)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(b"x" * 1000)[:20])
    with pytest.raises(SacctError) as exc:
        read_sacct(tmp_path / "cut.gz")
    assert "corrupt gzip data" in _one_line(exc)


def test_pitfall2_steps_fold_into_their_job(tmp_path: Path) -> None:
    r = _read(
        tmp_path,
        _row("7"),
        _step("7.batch", "1.50K"),
        _step("7.extern", "712K"),
        _step("7.interactive", ""),  # steps leave most fields empty: not malformed
        _step("7.0", "2G"),
        _step("7.TBD"),
        _row("8+0"),
        _step("8+0.batch", "3M"),
        _step("8.0+1", "5M"),  # a het step of job 8, not of component 8+0
        _step("9.batch", "1K"),  # its job row is missing
    )
    assert (r.jobs, r.steps, r.malformed, r.orphan_steps) == (2, 8, [], 2)
    assert r.table.select("job_id", "step_count", "mem_used").rows() == [
        ("7", 5, 2.0 * 1024**3),
        ("8+0", 1, 3.0 * MB),
    ]


def test_pitfall3_jobid_forms(tmp_path: Path) -> None:
    r = _read(
        tmp_path,
        _row("10"),
        _row("11_4"),
        _row(
            "11_[5-14%5]", Start="Unknown", End="Unknown", State="PENDING", NodeList="None assigned"
        ),
        _row("11_[1,3]", State="PENDING"),
        _row("12+0"),
        _row("12+1"),
        _row("x12"),
    )
    t = r.table
    assert t["job_id"].to_list() == ["10", "11_4", "11_[5-14%5]", "11_[1,3]", "12+0", "12+1"]
    assert t["array_id"].to_list() == [None, 11, 11, 11, None, None]
    assert t["sacct_array_tasks"].to_list() == [None, 1, 10, 2, None, None]
    assert t["state"][2] == "pending"
    assert [(m.line, m.reason) for m in r.malformed] == [(8, "field JobID is not a JobID: 'x12'")]


def test_pitfall3_requeues_and_pitfall12_overlapping_windows(tmp_path: Path) -> None:
    first = _row("20", State="REQUEUED", Submit=T0)
    final = _row("20", State="COMPLETED", Submit="2026-01-01T00:05:00")
    r = _read(
        tmp_path,
        first,
        _step("20.batch", "9M"),  # the requeued attempt's step
        final,
        _step("20.batch", "1M"),
        _row("21"),
        # the same window again (sacct -S/-E windows overlap): repeated rows, not requeues
        first,
        _step("20.batch", "9M"),
        final,
        _step("20.batch", "1M"),
    )
    assert (r.jobs, r.requeues, r.duplicates, r.rows_read, r.malformed) == (2, 1, 4, 9, [])
    job = _job(r, "20")
    assert (job["state"], job["sacct_requeues"], job["step_count"]) == ("completed", 1, 1)
    assert job["mem_used"] == 1.0 * MB  # the final attempt's step only
    assert job["submit"] == _epoch("2026-01-01T00:05:00")
    assert _job(r, "21")["sacct_requeues"] == 0
    # without Submit, each repeated job row is an attempt
    path = _write(tmp_path / "nosubmit.txt", "JobID|State", "5|REQUEUED", "5|REQUEUED", "5|FAILED")
    again = read_sacct(path)
    assert (again.jobs, again.requeues, again.table["state"][0]) == (1, 2, "failed")


def test_pitfall4_times_and_durations(tmp_path: Path) -> None:
    r = _read(
        tmp_path,
        _row("1", Start="Unknown", End="Unknown", State="PENDING"),
        _row("2", Start="None", End="None", ElapsedRaw="INVALID"),
        _row("3", Submit="1767225600", Start="1767225610"),  # SLURM_TIME_FORMAT=%s
        _row("4", Submit="2026-02-30T00:00:00"),  # the pattern fits, the calendar does not
    )
    t = r.table
    assert t["start"].to_list() == [None, None, 1767225610.0]
    assert t["end"][:2].to_list() == [None, None]
    assert t["submit"].to_list() == [_epoch(T0)] * 3
    assert t["runtime"].to_list() == [60.0, None, 60.0]
    assert [(m.line, m.reason) for m in r.malformed] == [
        (5, "field Submit is not a time (YYYY-MM-DDTHH:MM:SS): '2026-02-30T00:00:00'")
    ]
    # printed in another zone: sacct has no zone in its output, the reader is told
    paris = _read(tmp_path, _row("1"), tz="Europe/Paris")
    assert paris.table["submit"][0] == _epoch(T0) - 3600  # CET = UTC+1 in January
    with pytest.raises(SacctError) as exc:
        _read(tmp_path, _row("1"), tz="Mars/Olympus")
    assert "unknown time zone 'Mars/Olympus'" in _one_line(exc)
    spring = _read(tmp_path, _row("1", Start="2026-03-29T02:30:00"), _row("2"), tz="Europe/Paris")
    assert spring.jobs == 1 and "does not exist in the time zone" in spring.malformed[0].reason
    durations = read_sacct(
        _write(
            tmp_path / "d.txt",
            "JobID|Elapsed|Timelimit|TotalCPU",
            "1|22-08:05:48|1-00:00:00|00:00.003",
            "2|05:30|00:01:00|12:34.500",
            "3|INVALID|UNLIMITED|",
            "4|1:2:3:4|00:01:00|",
        )
    )
    assert durations.table["runtime"].to_list() == [1929948.0, 330.0, None]
    assert durations.table["timelimit"].to_list() == [86400.0, 60.0, None]
    assert durations.table["sacct_totalcpu"].to_list() == ["00:00.003", "12:34.500", ""]
    assert "field Elapsed is not a duration" in durations.malformed[0].reason


def test_pitfall5_timelimits(tmp_path: Path) -> None:
    r = _read(
        tmp_path,
        _row("1", TimelimitRaw="90"),
        _row("2", TimelimitRaw="UNLIMITED"),
        _row("3", TimelimitRaw="Partition_Limit"),
        _row("4", TimelimitRaw="1h"),
    )
    assert r.table["timelimit"].to_list() == [5400.0, None, None]
    assert r.malformed[0].reason == "field TimelimitRaw is not a number of minutes: '1h'"
    printed = read_sacct(
        _write(tmp_path / "t.txt", "JobID|Timelimit", "1|Partition_Limit", "2|2-00:00:00")
    )
    assert printed.table["timelimit"].to_list() == [None, 172800.0]


def test_pitfall6_units(tmp_path: Path) -> None:
    r = read_sacct(
        _write(
            tmp_path / "u.txt",
            "JobID|AllocNodes|ReqMem|MaxRSS",
            "1|2K|16G|",
            "1.batch|||1828196K",
            "2|1.50K|100M|",
            "3|4.50K|4000|",
            "4|4232|1T|",
            "5|3X|1G|",
        )
    )
    t = r.table
    assert t["nodes"].to_list() == [2048, 1536, 4608, 4232]
    assert t["mem_req"].to_list() == [16384.0 * MB, 100.0 * MB, 4000.0 * MB, 1024.0**4]
    assert t["mem_used"][0] == 1828196 * 1024.0  # MaxRSS is byte-based: K = KiB
    assert r.malformed[0].reason == "field AllocNodes is not a count: '3X'"


def test_pitfall7_legacy_reqmem_per_node_and_per_cpu(tmp_path: Path) -> None:
    r = _read(
        tmp_path,
        _row("1", ReqMem="4000Mn", NNodes="2", NCPUS="8"),
        _row("2", ReqMem="7996Mc", NNodes="2", NCPUS="8"),
        _row("3", ReqMem="8000M", NNodes="2", NCPUS="8"),  # 21.08+: the job's total
    )
    assert r.table["mem_req"].to_list() == [8000.0 * MB, 8 * 7996.0 * MB, 8000.0 * MB]


SLURM_TO_CANONICAL = {
    "COMPLETED": "completed",
    "FAILED": "failed",
    "TIMEOUT": "timeout",
    "CANCELLED": "cancelled",
    "CANCELLED by 1234": "cancelled",
    "OUT_OF_MEMORY": "out_of_memory",
    "NODE_FAIL": "node_fail",
    "PREEMPTED": "preempted",
    "BOOT_FAIL": "boot_fail",
    "DEADLINE": "deadline",
    "RUNNING": "running",
    "PENDING": "pending",
    "REQUEUED": "requeued",
    "SUSPENDED": "suspended",
    "SOMETHING_NEW": "unknown",
    "": "unknown",
}


def test_pitfall8_states(tmp_path: Path) -> None:
    rows = [_row(str(i), State=s) for i, s in enumerate(SLURM_TO_CANONICAL, 1)]
    r = _read(tmp_path, *rows)
    assert r.table["state"].to_list() == list(SLURM_TO_CANONICAL.values())
    assert r.table["sacct_cancelled_by"].to_list() == [None] * 4 + [1234] + [None] * 11
    assert r.states()["unknown"] == 2


def test_pitfall9_flags(tmp_path: Path) -> None:
    flags = [
        "SchedBackfill",
        "SchedBackfill,StartRecieved",  # 22.05-23.02 spelling
        "SchedBackfill,StartReceived",
        "SchedMain,StartRecieved",
        "SchedSubmit",
        "SchedNotSet",
        "",
    ]
    r = _read(tmp_path, *[_row(str(i), Flags=f) for i, f in enumerate(flags, 1)])
    assert r.table["backfilled"].to_list() == [True, True, True, False, False, None, None]
    no_flags = read_sacct(_write(tmp_path / "n.txt", "JobID", "1"))
    assert no_flags.table["backfilled"].to_list() == [None]


def test_pitfall10_tres(tmp_path: Path) -> None:
    header = "JobID|State|ReqTRES|AllocTRES"
    r = read_sacct(
        _write(
            tmp_path / "tres.txt",
            header,
            "1|COMPLETED|billing=4,cpu=4,mem=8G,node=1|billing=4,cpu=4,gres/gpu=2,mem=8G,node=1",
            "2|COMPLETED|cpu=8,node=2|cpu=8,gres/gpu:v100-32=1,gres/gpu:a100=2,mem=16G,node=2",
            "3|PENDING|cpu=2,gres/gpu=1,mem=500M,node=1|",  # nothing allocated yet: requested
            "4|COMPLETED|cpu=1|cpu=1,mem",
        )
    )
    t = r.table
    assert t.select("cpus", "gpus", "nodes").rows() == [(4, 2, 1), (8, 3, 2), (2, 1, 1)]
    assert t["mem_req"].to_list() == [8192.0 * MB, None, 500.0 * MB]  # requests, not allocations
    assert (
        r.malformed[0].reason == "field AllocTRES is not a TRES list (type=value,...): 'cpu=1,mem'"
    )
    # plain fields win over TRES; legacy AllocGRES (removed in 23.02) is a last resort for gpus
    legacy = read_sacct(
        _write(
            tmp_path / "g.txt",
            "JobID|NCPUS|AllocTRES|AllocGRES",
            "1|6|cpu=4|",
            "2|||gpu:v100:2(IDX:0-1)",
        )
    )
    assert legacy.table.select("cpus", "gpus").rows() == [(6, 0), (None, 2)]


def test_pitfall11_hostlists(tmp_path: Path) -> None:
    lists = ["n[1-3,5]", "node[01-02]", "n[1-2],gpu[3-4]", "frontier[00001-00004,00010]", "a1,b2"]
    r = read_sacct(
        _write(
            tmp_path / "h.txt",
            "JobID|NodeList",
            *[f"{i}|{nl}" for i, nl in enumerate(lists, 1)],
            "8|None assigned",
            "9|n[3-1]",
        )
    )
    assert r.table["nodes"].to_list() == [4, 2, 4, 5, 2, None]  # no NNodes: counted hosts
    assert r.table["sacct_nodelist"].to_list() == [*lists, "None assigned"]
    assert r.malformed[0].reason == "field NodeList is not a hostlist: 'n[3-1]'"
    assert hostlist_count("rack[1-2]n[1-3]") == 6
    assert _read(tmp_path, _row("1", NNodes="3", NodeList="n[1-3]")).table["nodes"][0] == 3


def test_pitfall13_renamed_fields(tmp_path: Path) -> None:
    old = read_sacct(_write(tmp_path / "o.txt", "JobID|Reserved|ResvCPURAW", "1|00:00:02|4"))
    new = read_sacct(_write(tmp_path / "n.txt", "JobID|Planned|PlannedCPURAW", "1|00:00:02|4"))
    for r in (old, new):
        assert r.table.select("sacct_planned", "sacct_plannedcpuraw").rows() == [("00:00:02", "4")]


def test_exit_codes(tmp_path: Path) -> None:
    r = _read(
        tmp_path, _row("1", ExitCode="2:0"), _row("2", ExitCode="0:9"), _row("3", ExitCode="2")
    )
    assert r.table.select("exit_code", "sacct_exit_signal").rows() == [(2, 0), (0, 9)]
    assert r.malformed[0].reason == "field ExitCode is not an exit code (status:signal): '2'"


def test_blank_lines_crlf_and_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    body = "\r\n".join([H, _row("1"), "", _row("2"), ""])
    bad_name = _row("3", JobName="\udcff").encode(errors="surrogateescape")  # a lone 0xff
    path.write_bytes(body.encode() + b"\xff|garbage\r\n" + bad_name)
    r = read_sacct(path)
    assert r.table["job_id"].to_list() == ["1", "2", "3"]
    assert r.table["name"][2] == "\ufffd"  # invalid UTF-8 is replaced, the row is kept
    assert [m.line for m in r.malformed] == [5]


# --- errors and strict mode --------------------------------------------------------------------


def test_strict_raises_one_line_at_the_first_bad_line(tmp_path: Path) -> None:
    rows = (_row("1"), _row("2", NCPUS="two"), _row("3", JobName="a|b"))
    assert len(_read(tmp_path, *rows).malformed) == 2
    with pytest.raises(SacctError) as exc:
        _read(tmp_path, *rows, strict=True)
    message = _one_line(exc)
    assert message.startswith(f"{tmp_path / 'sacct.txt'}:3: field NCPUS is not a count: 'two'")
    assert "strict" in message
    assert _read(tmp_path, _row("1"), strict=True).jobs == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file (check the path)"),
        ("", "empty (sacct prints nothing when a --format name is unknown)"),
        ("1|2|basic\n", "line 1 is not a sacct header (field 1 is '1'); for --noheader output"),
        ("JobID|State\nfoo|bar\n", "no line could be read as sacct -P output (first: "),
        ("JobID\x00|State\n", "binary data, not sacct text output"),
    ],
)
def test_unreadable_files_are_one_line_errors(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "sacct.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SacctError) as exc:
        read_sacct(path)
    assert expected in _one_line(exc)
    assert str(path) in str(exc.value)


def test_directory_and_header_only(tmp_path: Path) -> None:
    with pytest.raises(SacctError) as exc:
        read_sacct(tmp_path)
    assert "it is a directory" in _one_line(exc)
    empty = read_sacct(_write(tmp_path / "h.txt", H))
    assert (empty.jobs, empty.rows_read, empty.table.columns[:3]) == (
        0,
        0,
        ["job_id", "user", "account"],
    )
    assert read_sacct(_write(tmp_path / "blank.txt", H, "", "")).jobs == 0


# --- JSON ----------------------------------------------------------------------------------


def _json_job(job_id: int, **extra: Any) -> dict[str, Any]:
    job = {
        "job_id": job_id,
        "name": "j",
        "state": {"current": "COMPLETED", "reason": "None"},
        "time": {
            "submission": 1767225600,
            "start": 1767225610,
            "end": 1767225670,
            "elapsed": 60,
            "limit": {"set": True, "infinite": True, "number": 0},
        },
        "exit_code": {"status": "FAILED", "return_code": 3},
        "flags": ["STARTED_ON_BACKFILL"],
        "tres": {"allocated": [{"type": "gres", "name": "gpu:a100", "count": 2}], "requested": []},
        "steps": [],
    }
    job.update(extra)
    return job


def test_json_crafted_and_malformed_entries(tmp_path: Path) -> None:
    path = tmp_path / "sacct.json"
    jobs = [
        _json_job(1),
        {"name": "no id"},
        _json_job(2, array={"job_id": 2, "task_id": None, "task": "1-10%2"}, steps=None),
        _json_job(5, het={"job_id": 5, "job_offset": 1}),
    ]
    path.write_text(json.dumps({"meta": {}, "errors": [], "jobs": jobs}))
    r = read_sacct_json(path)
    assert r.table["job_id"].to_list() == ["1", "2_[1-10%2]", "5+1"]
    assert r.table["sacct_array_tasks"].to_list() == [None, 10, None]
    first = _job(r, "1")
    assert (first["timelimit"], first["exit_code"], first["gpus"], first["backfilled"]) == (
        None,
        3,
        2,
        True,
    )
    assert [(m.line, m.reason[:24]) for m in r.malformed] == [(2, "jobs entry cannot be rea")]
    path.write_text("{not json")
    with pytest.raises(SacctError) as exc:
        read_sacct_json(path)
    assert "not JSON" in _one_line(exc)
    path.write_text(json.dumps({"errors": ["slurmdbd down"]}))
    with pytest.raises(SacctError) as exc:
        read_sacct_json(path)
    assert "no 'jobs' list" in _one_line(exc) and "slurmdbd down" in str(exc.value)


# --- property: garbage lines never crash the reader and are all counted ------------------------

PROP_HEADER = "JobID|State|ElapsedRaw|MaxRSS"
_STATES = ["COMPLETED", "FAILED", "CANCELLED by 0", "PENDING", "RUNNING", "WEIRD", ""]


@st.composite
def _valid_line(draw: st.DrawFn) -> str:
    job = str(draw(st.integers(1, 40)))
    job += draw(st.sampled_from(["", "_3", "_[1-4%2]", "+0", "+1"]))
    if draw(st.booleans()):
        job += "." + draw(st.sampled_from(["batch", "extern", "0", "7", "TBD", "0+1"]))
    elapsed = draw(st.one_of(st.just(""), st.integers(0, 10**6).map(str)))
    maxrss = draw(st.sampled_from(["", "12K", "1.50K", "3M", "77"]))
    return "|".join([job, draw(st.sampled_from(_STATES)), elapsed, maxrss])


_TEXT = st.text(
    st.characters(blacklist_characters="\n\x00", blacklist_categories=["Cs"]), max_size=30
)
_garbage = st.one_of(
    _TEXT,
    st.lists(_TEXT, max_size=8).flatmap(
        lambda parts: st.sampled_from(["|", ",", ";", "\t", "||", "\x1f"]).map(
            lambda d: d.join(parts)
        )
    ),
    _valid_line().flatmap(  # a valid row with a field added or removed
        lambda line: st.sampled_from([line + "|x", line.rsplit("|", 1)[0], "|" + line])
    ),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").replace(b"\x00", b"")),
)


def _is_row(line: bytes) -> bool | None:
    """The spec of a readable line for PROP_HEADER; None for a blank line (skipped)."""
    line = line[:-1] if line.endswith(b"\r") else line
    if not line:
        return None
    fields = line.decode("utf-8", "replace").split("|")
    if len(fields) != 4 or not re.match(JOBID_PATTERN, fields[0]):
        return False
    count_ok = re.match(PATTERNS["count"], fields[3]) is not None
    return count_ok and ("." in fields[0] or re.match(PATTERNS["seconds"], fields[2]) is not None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    valid=st.lists(_valid_line(), min_size=1, max_size=12),
    garbage=st.lists(_garbage, max_size=12),
    seed=st.randoms(use_true_random=False),
)
def test_garbage_lines_are_counted_never_crash(
    valid: list[str], garbage: list[str | bytes], seed: Any
) -> None:
    lines: list[tuple[bytes, bool]] = [(v.encode(), True) for v in valid]
    lines += [(g if isinstance(g, bytes) else g.encode(), False) for g in garbage]
    seed.shuffle(lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mixed.txt"
        path.write_bytes(b"\n".join([PROP_HEADER.encode(), *(line for line, _ in lines)]) + b"\n")
        r = read_sacct(path)
    verdicts = [_is_row(line) for line, _ in lines]
    assert all(v for (_, is_valid), v in zip(lines, verdicts, strict=True) if is_valid)
    bad_lines = [n for n, v in enumerate(verdicts, 2) if v is False]
    assert [m.line for m in r.malformed] == bad_lines
    assert r.rows_read == sum(1 for v in verdicts if v)
    assert r.rows_read + len(r.malformed) == sum(1 for v in verdicts if v is not None)
    job_keys = set()
    for (line, _), verdict in zip(lines, verdicts, strict=True):
        jobid = line.decode("utf-8", "replace").split("|")[0]
        if verdict and "." not in jobid:
            job_keys.add(jobid)
    assert set(r.table["job_id"]) == job_keys


def test_a_job_cancelled_before_it_started_keeps_what_it_requested(tmp_path: Path) -> None:
    """NCPUS/NNodes are the allocation: 0 for a job that never ran; the request fills in, as
    sacct --json's empty allocated TRES does (so the simulator can replay the job)."""
    header = H + "|ReqCPUS|ReqNodes|ReqTRES"
    never = {"Start": "None", "End": "2026-01-01T00:05:00", "ElapsedRaw": "0", "NCPUS": "0"}
    never |= {"NNodes": "0", "AllocTRES": "", "NodeList": "None assigned", "Flags": ""}
    never |= {"State": "CANCELLED by 0"}
    rows = [_row("7", **never) + "|4|2|cpu=4,node=2", _row("8") + "|2|1|cpu=2,node=1"]
    r = read_sacct(_write(tmp_path / "sacct.txt", header, *rows))
    assert (_job(r, "7")["cpus"], _job(r, "7")["nodes"], _job(r, "7")["state"]) == (
        4, 2, "cancelled"
    )  # fmt: skip
    assert (_job(r, "8")["cpus"], _job(r, "8")["nodes"]) == (2, 1)
