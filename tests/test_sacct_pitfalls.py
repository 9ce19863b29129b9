"""sacct field values: one crafted line per README pitfall 2-13 (steps, JobID forms, requeues
and overlapping windows, times, time limits, units, legacy ReqMem, states, flags, TRES,
hostlists, renamed fields), exit codes, and a job cancelled before it started."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcsched.workloads.sacct import SacctError, read_sacct
from hpcsched.workloads.sacct_fields import hostlist_count
from sacct_helpers import (
    HEADER,
    MB,
    T0,
    epoch,
    job_line,
    job_row,
    one_line,
    read_lines,
    step_line,
    write_lines,
)


def test_pitfall2_steps_fold_into_their_job(tmp_path: Path) -> None:
    r = read_lines(
        tmp_path,
        job_line("7"),
        step_line("7.batch", "1.50K"),
        step_line("7.extern", "712K"),
        step_line("7.interactive", ""),  # steps leave most fields empty: not malformed
        step_line("7.0", "2G"),
        step_line("7.TBD"),
        job_line("8+0"),
        step_line("8+0.batch", "3M"),
        step_line("8.0+1", "5M"),  # a het step of job 8, not of component 8+0
        step_line("9.batch", "1K"),  # its job row is missing
    )
    assert (r.jobs, r.steps, r.malformed, r.orphan_steps) == (2, 8, [], 2)
    assert r.table.select("job_id", "step_count", "mem_used").rows() == [
        ("7", 5, 2.0 * 1024**3),
        ("8+0", 1, 3.0 * MB),
    ]


def test_pitfall3_jobid_forms(tmp_path: Path) -> None:
    r = read_lines(
        tmp_path,
        job_line("10"),
        job_line("11_4"),
        job_line(
            "11_[5-14%5]", Start="Unknown", End="Unknown", State="PENDING", NodeList="None assigned"
        ),
        job_line("11_[1,3]", State="PENDING"),
        job_line("12+0"),
        job_line("12+1"),
        job_line("x12"),
    )
    t = r.table
    assert t["job_id"].to_list() == ["10", "11_4", "11_[5-14%5]", "11_[1,3]", "12+0", "12+1"]
    assert t["array_id"].to_list() == [None, 11, 11, 11, None, None]
    assert t["sacct_array_tasks"].to_list() == [None, 1, 10, 2, None, None]
    assert t["state"][2] == "pending"
    assert [(m.line, m.reason) for m in r.malformed] == [(8, "field JobID is not a JobID: 'x12'")]


def test_pitfall3_requeues_and_pitfall12_overlapping_windows(tmp_path: Path) -> None:
    first = job_line("20", State="REQUEUED", Submit=T0)
    final = job_line("20", State="COMPLETED", Submit="2026-01-01T00:05:00")
    r = read_lines(
        tmp_path,
        first,
        step_line("20.batch", "9M"),  # the requeued attempt's step
        final,
        step_line("20.batch", "1M"),
        job_line("21"),
        # the same window again (sacct -S/-E windows overlap): repeated rows, not requeues
        first,
        step_line("20.batch", "9M"),
        final,
        step_line("20.batch", "1M"),
    )
    assert (r.jobs, r.requeues, r.duplicates, r.rows_read, r.malformed) == (2, 1, 4, 9, [])
    job = job_row(r, "20")
    assert (job["state"], job["sacct_requeues"], job["step_count"]) == ("completed", 1, 1)
    assert job["mem_used"] == 1.0 * MB  # the final attempt's step only
    assert job["submit"] == epoch("2026-01-01T00:05:00")
    assert job_row(r, "21")["sacct_requeues"] == 0
    # without Submit, each repeated job row is an attempt
    path = write_lines(
        tmp_path / "nosubmit.txt", "JobID|State", "5|REQUEUED", "5|REQUEUED", "5|FAILED"
    )
    again = read_sacct(path)
    assert (again.jobs, again.requeues, again.table["state"][0]) == (1, 2, "failed")


def test_pitfall4_times_and_durations(tmp_path: Path) -> None:
    r = read_lines(
        tmp_path,
        job_line("1", Start="Unknown", End="Unknown", State="PENDING"),
        job_line("2", Start="None", End="None", ElapsedRaw="INVALID"),
        job_line("3", Submit="1767225600", Start="1767225610"),  # SLURM_TIME_FORMAT=%s
        job_line("4", Submit="2026-02-30T00:00:00"),  # the pattern fits, the calendar does not
    )
    t = r.table
    assert t["start"].to_list() == [None, None, 1767225610.0]
    assert t["end"][:2].to_list() == [None, None]
    assert t["submit"].to_list() == [epoch(T0)] * 3
    assert t["runtime"].to_list() == [60.0, None, 60.0]
    assert [(m.line, m.reason) for m in r.malformed] == [
        (5, "field Submit is not a time (YYYY-MM-DDTHH:MM:SS): '2026-02-30T00:00:00'")
    ]
    # printed in another zone: sacct has no zone in its output, the reader is told
    paris = read_lines(tmp_path, job_line("1"), tz="Europe/Paris")
    assert paris.table["submit"][0] == epoch(T0) - 3600  # CET = UTC+1 in January
    with pytest.raises(SacctError) as exc:
        read_lines(tmp_path, job_line("1"), tz="Mars/Olympus")
    assert "unknown time zone 'Mars/Olympus'" in one_line(exc)
    spring = read_lines(
        tmp_path, job_line("1", Start="2026-03-29T02:30:00"), job_line("2"), tz="Europe/Paris"
    )
    assert spring.jobs == 1 and "does not exist in the time zone" in spring.malformed[0].reason
    durations = read_sacct(
        write_lines(
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
    r = read_lines(
        tmp_path,
        job_line("1", TimelimitRaw="90"),
        job_line("2", TimelimitRaw="UNLIMITED"),
        job_line("3", TimelimitRaw="Partition_Limit"),
        job_line("4", TimelimitRaw="1h"),
    )
    assert r.table["timelimit"].to_list() == [5400.0, None, None]
    assert r.malformed[0].reason == "field TimelimitRaw is not a number of minutes: '1h'"
    printed = read_sacct(
        write_lines(tmp_path / "t.txt", "JobID|Timelimit", "1|Partition_Limit", "2|2-00:00:00")
    )
    assert printed.table["timelimit"].to_list() == [None, 172800.0]


def test_pitfall6_units(tmp_path: Path) -> None:
    r = read_sacct(
        write_lines(
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
    r = read_lines(
        tmp_path,
        job_line("1", ReqMem="4000Mn", NNodes="2", NCPUS="8"),
        job_line("2", ReqMem="7996Mc", NNodes="2", NCPUS="8"),
        job_line("3", ReqMem="8000M", NNodes="2", NCPUS="8"),  # 21.08+: the job's total
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
    rows = [job_line(str(i), State=s) for i, s in enumerate(SLURM_TO_CANONICAL, 1)]
    r = read_lines(tmp_path, *rows)
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
    r = read_lines(tmp_path, *[job_line(str(i), Flags=f) for i, f in enumerate(flags, 1)])
    assert r.table["backfilled"].to_list() == [True, True, True, False, False, None, None]
    no_flags = read_sacct(write_lines(tmp_path / "n.txt", "JobID", "1"))
    assert no_flags.table["backfilled"].to_list() == [None]


def test_pitfall10_tres(tmp_path: Path) -> None:
    header = "JobID|State|ReqTRES|AllocTRES"
    r = read_sacct(
        write_lines(
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
        write_lines(
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
        write_lines(
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
    assert read_lines(tmp_path, job_line("1", NNodes="3", NodeList="n[1-3]")).table["nodes"][0] == 3


def test_pitfall13_renamed_fields(tmp_path: Path) -> None:
    old = read_sacct(write_lines(tmp_path / "o.txt", "JobID|Reserved|ResvCPURAW", "1|00:00:02|4"))
    new = read_sacct(write_lines(tmp_path / "n.txt", "JobID|Planned|PlannedCPURAW", "1|00:00:02|4"))
    for r in (old, new):
        assert r.table.select("sacct_planned", "sacct_plannedcpuraw").rows() == [("00:00:02", "4")]


def test_exit_codes(tmp_path: Path) -> None:
    codes = ["2:0", "0:9", "2"]
    r = read_lines(tmp_path, *[job_line(str(i), ExitCode=c) for i, c in enumerate(codes, 1)])
    assert r.table.select("exit_code", "sacct_exit_signal").rows() == [(2, 0), (0, 9)]
    assert r.malformed[0].reason == "field ExitCode is not an exit code (status:signal): '2'"


def test_a_job_cancelled_before_it_started_keeps_what_it_requested(tmp_path: Path) -> None:
    """NCPUS/NNodes are the allocation: 0 for a job that never ran; the request fills in, as
    sacct --json's empty allocated TRES does (so the simulator can replay the job)."""
    header = HEADER + "|ReqCPUS|ReqNodes|ReqTRES"
    never = {"Start": "None", "End": "2026-01-01T00:05:00", "ElapsedRaw": "0", "NCPUS": "0"}
    never |= {"NNodes": "0", "AllocTRES": "", "NodeList": "None assigned", "Flags": ""}
    never |= {"State": "CANCELLED by 0"}
    rows = [job_line("7", **never) + "|4|2|cpu=4,node=2", job_line("8") + "|2|1|cpu=2,node=1"]
    r = read_sacct(write_lines(tmp_path / "sacct.txt", header, *rows))
    assert (job_row(r, "7")["cpus"], job_row(r, "7")["nodes"], job_row(r, "7")["state"]) == (
        4, 2, "cancelled"
    )  # fmt: skip
    assert (job_row(r, "8")["cpus"], job_row(r, "8")["nodes"]) == (2, 1)
