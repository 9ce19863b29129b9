"""`trace pull`: sacct month by month, de-duplicated and cached, into the job table.

Unit tests replace :meth:`SlurmAdapter.run` with canned answers per window; the tests against the
REAL local cluster are in ``tests/test_trace_pull_live.py``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.slurm import DELIMITER, SlurmAdapter, SlurmError
from hpcsched.slurm.pull import (
    PULL_FIELDS,
    PullResult,
    month_windows,
    pull_accounting,
)

NOW = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
HEADER = DELIMITER.join(PULL_FIELDS)
FORMAT = "--format=" + ",".join(PULL_FIELDS)


def row(jobid: str, raw: str = "", submit: str = "", **values: str) -> str:
    """One sacct -P line in PULL_FIELDS order; a step gets its job's JobIDRaw + suffix."""
    raw = raw or jobid
    fields = {"JobID": jobid, "JobIDRaw": raw, "Submit": submit, "NNodes": "1", **values}
    if "." not in jobid:
        fields = {"State": "COMPLETED", "ExitCode": "0:0", "Flags": "SchedMain", **fields}
    return DELIMITER.join(fields.get(name, "") for name in PULL_FIELDS)


def answer(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


class FakeSlurm(SlurmAdapter):
    """Canned sacct answers keyed by (--starttime, --state); records every argv."""

    def __init__(self, answers: dict[tuple[str, Any], str], delay: float = 0.0) -> None:
        self.answers, self.delay = answers, delay
        self.calls: list[list[str]] = []
        self.running = self.most = 0
        self.lock = threading.Lock()

    def run(self, argv: list[str], *, input: str | None = None, timeout: float = 60) -> str:
        with self.lock:
            self.calls.append(argv)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)
            if argv[0] == "sinfo":
                return "debug\n"
            if argv[:3] == ["scontrol", "show", "config"]:
                return "AccountingStorageType   = accounting_storage/slurmdbd\nClusterName = t1\n"
            opts = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
            if opts["starttime"] == "2026-05-15T00:00:00":
                raise SlurmError("sacct: error: Problem talking to the database")
            header = opts["format"].replace(",", DELIMITER) + "\n"  # no jobs
            return self.answers.get((opts["starttime"], opts.get("state")), header)
        finally:
            with self.lock:
                self.running -= 1

    def sacct_calls(self) -> list[list[str]]:
        return [argv for argv in self.calls if argv[0] == "sacct"]


def pull(fake: FakeSlurm, tmp_path: Path, since: str = "2026-09-15", **kw: Any) -> PullResult:
    return pull_accounting(since, NOW, adapter=fake, cache_dir=tmp_path, now=NOW, **kw)


def test_windows_are_calendar_months_in_utc() -> None:
    cet = timezone(timedelta(hours=2))
    windows = month_windows(datetime(2026, 10, 1, 2, tzinfo=cet), datetime(2027, 2, 3, 12))
    assert [(w.since.isoformat(), w.until.isoformat()) for w in windows] == [
        ("2026-10-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00"),
        ("2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00"),
        ("2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"),
        ("2027-01-01T00:00:00+00:00", "2027-02-01T00:00:00+00:00"),
        ("2027-02-01T00:00:00+00:00", "2027-02-03T12:00:00+00:00"),
    ]
    assert month_windows(datetime(2026, 5, 1), datetime(2026, 5, 1)) == []


def test_each_month_is_one_query_of_all_jobs_and_one_of_cancelled_ones(tmp_path: Path) -> None:
    fake = FakeSlurm({})
    result = pull(fake, tmp_path, since="2026-09-15T12:30:00+02:00")
    bounds = [
        ("2026-09-15T10:30:00", "2026-10-01T00:00:00"),
        ("2026-10-01T00:00:00", "2026-11-01T00:00:00"),
        ("2026-11-01T00:00:00", "2026-11-21T01:00:00"),
    ]
    base = ["sacct", "--allusers", "-P", f"--delimiter={DELIMITER}", "-D", FORMAT]
    expected = [
        [*base, *state, f"--starttime={a}", f"--endtime={b}"]
        for a, b in bounds
        for state in ([], ["--state=CA"])
    ]
    assert sorted(fake.sacct_calls()) == sorted(expected)
    assert len(result.windows) == 3 and result.table.height == 0
    # the same flags SlurmAdapter.sacct uses, so the two never drift apart
    fake.calls.clear()
    fake.sacct(since=datetime(2026, 9, 15, 10, 30), until=datetime(2026, 10, 1), fields=PULL_FIELDS)
    assert fake.calls[0] == expected[0]


def test_sacct_runs_with_tz_utc_through_the_real_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in ``sacct`` on PATH records the TZ it was given; the user's zone is not UTC."""
    (tmp_path / "answer.txt").write_text(answer(row("7", submit="2026-11-02T10:00:00")))
    fake = tmp_path / "bin" / "sacct"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$TZ" >> {tmp_path}/tz.log\ncat {tmp_path}/answer.txt\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("TZ", "America/New_York")
    result = pull_accounting("2026-11-01", NOW, cache_dir=tmp_path, cluster="c", now=NOW)
    assert (tmp_path / "tz.log").read_text().split() == ["UTC", "UTC"]
    submit = datetime(2026, 11, 2, 10, tzinfo=UTC).timestamp()
    assert result.table["submit"].to_list() == [submit]


def test_windows_are_queried_in_parallel_up_to_the_bound(tmp_path: Path) -> None:
    for parallel, most in ((3, 3), (1, 1)):
        fake = FakeSlurm({}, delay=0.05)
        started = time.monotonic()
        result = pull(fake, tmp_path / str(parallel), since="2026-03-01", parallel=parallel)
        assert len(result.windows) == 9
        assert fake.most == most  # at most `parallel` sacct at once, and that many are used
        if parallel == 3:
            assert time.monotonic() - started < 18 * 0.05  # faster than one after the other


# Oct and Nov overlap: job 10 spans the boundary; array task 20_1 (JobIDRaw 21) too; job 30 was
# requeued in October (attempts differ in Submit) and its second attempt runs into November.
OCT = answer(
    row("10", submit="2026-10-31T20:00:00", Start="2026-10-31T20:00:00", End="2026-11-01T02:00:00"),
    row("10.batch", "10.batch", MaxRSS="2G"),
    row("10.extern", "10.extern"),
    row("20_1", "21", "2026-10-31T22:00:00", Start="2026-10-31T22:00:00"),
    row("20_1.batch", "21.batch"),
    row("30", submit="2026-10-30T00:00:00", State="REQUEUED"),
    row("30.batch", "30.batch", State="CANCELLED"),
    row("30", submit="2026-10-31T00:00:00", ExitCode="0:0"),
    row("30.batch", "30.batch", MaxRSS="1G"),
    row("31", submit="2026-10-02T00:00:00", JobName=f"a{DELIMITER}b"),  # breaks the field count
)
NOV = answer(
    row("30", submit="2026-10-31T00:00:00", ExitCode="0:0"),
    row("30.batch", "30.batch", MaxRSS="1G"),
    row("10", submit="2026-10-31T20:00:00", Start="2026-10-31T20:00:00", End="2026-11-01T02:00:00"),
    row("10.batch", "10.batch", MaxRSS="2G"),
    row("10.extern", "10.extern"),
    row("20_1", "21", "2026-10-31T22:00:00", Start="2026-10-31T22:00:00"),
    row("20_1.batch", "21.batch"),
    row("40", submit="2026-11-03T00:00:00"),
)
# -s CA finds job 50, cancelled while it waited for a dependency (never eligible)
NOV_CA = answer(row("50", submit="2026-11-04T00:00:00", State="CANCELLED by 0"), NOV.split("\n")[1])
ANSWERS = {
    ("2026-10-01T00:00:00", None): OCT,
    ("2026-11-01T00:00:00", None): NOV,
    ("2026-11-01T00:00:00", "CA"): NOV_CA,
}


def test_overlapping_windows_give_each_job_attempt_once_with_its_steps(tmp_path: Path) -> None:
    result = pull(FakeSlurm(ANSWERS), tmp_path, since="2026-10-01")
    jobs = {r["job_id"]: r for r in result.table.iter_rows(named=True)}
    assert sorted(jobs) == ["10", "20_1", "30", "40", "50"]
    assert jobs["10"]["step_count"] == 2 and jobs["10"]["mem_used"] == 2 * 1024**3
    assert jobs["20_1"]["array_id"] == 20 and jobs["20_1"]["step_count"] == 1
    assert jobs["30"]["state"] == "completed" and jobs["30"]["sacct_requeues"] == 1
    assert jobs["30"]["step_count"] == 1 and jobs["30"]["mem_used"] == 1024**3
    assert jobs["50"]["state"] == "cancelled" and jobs["50"]["sacct_cancelled_by"] == 0
    summary = result.summary()
    assert summary["duplicates"] == 3  # 10, 20_1 and 30's second attempt, in both months
    assert result.duplicate_rows == 7  # with their 4 steps
    assert summary["rows_fetched"] == 10 + 8 + 1 and summary["rows_read"] == 19 - 1 - 7
    assert summary["jobs"] == 5 and summary["requeues"] == 1 and summary["malformed"] == 1
    bad = result.malformed[0]
    oct_file = tmp_path / "t1" / "20261001T000000Z_20261101T000000Z.txt"
    assert (bad.path, bad.line) == (str(oct_file), 11)  # the cache file and its line
    assert oct_file.read_text().splitlines()[10].startswith(f"31{DELIMITER}")


def test_closed_months_come_from_the_cache_and_the_current_one_is_queried(
    tmp_path: Path,
) -> None:
    first = FakeSlurm(ANSWERS)
    before = pull(first, tmp_path, since="2026-10-01")
    names = sorted(p.name for p in (tmp_path / "t1").iterdir())
    assert names == ["20261001T000000Z_20261101T000000Z.txt", "20261101T000000Z_open.txt"]
    again = FakeSlurm(ANSWERS)
    after = pull(again, tmp_path, since="2026-10-01")
    assert {argv[-2] for argv in again.sacct_calls()} == {"--starttime=2026-11-01T00:00:00"}
    assert after.summary()["cached_windows"] == 1
    assert after.table.equals(before.table)
    refresh = FakeSlurm(ANSWERS)
    pull(refresh, tmp_path, since="2026-10-01", use_cache=False)
    assert len(refresh.sacct_calls()) == 4
    other = FakeSlurm({}, delay=0)  # another field list: the cached text does not fit
    pull(other, tmp_path, since="2026-10-01", fields=("JobID", "JobIDRaw", "Submit", "State"))
    assert len(other.sacct_calls()) == 4


def test_a_month_that_ended_within_the_margin_is_not_cached(tmp_path: Path) -> None:
    fake = FakeSlurm({})
    now = datetime(2026, 11, 1, 5, tzinfo=UTC)  # October ended five hours ago
    pull_accounting("2026-10-01", "2026-11-01", adapter=fake, cache_dir=tmp_path, now=now)
    assert [p.name for p in (tmp_path / "t1").iterdir()] == ["20261001T000000Z_open.txt"]
    pull_accounting("2026-10-01", "2026-11-01", adapter=fake, cache_dir=tmp_path, now=now)
    assert len(fake.sacct_calls()) == 4


def test_a_month_with_a_job_still_running_is_not_cached(tmp_path: Path) -> None:
    running = row("70", submit="2026-10-30T00:00:00", State="RUNNING", End="Unknown")
    fake = FakeSlurm({("2026-10-01T00:00:00", None): answer(running)})
    pull_accounting("2026-10-01", "2026-11-01", adapter=fake, cache_dir=tmp_path, now=NOW)
    assert [p.name for p in (tmp_path / "t1").iterdir()] == ["20261001T000000Z_open.txt"]
    pull_accounting("2026-10-01", "2026-11-01", adapter=fake, cache_dir=tmp_path, now=NOW)
    assert len(fake.sacct_calls()) == 4


def test_the_newest_answer_wins_over_an_old_cached_copy(tmp_path: Path) -> None:
    pending = row("60", submit="2026-10-20T00:00:00", State="PENDING", Start="Unknown")
    done = row("60", submit="2026-10-20T00:00:00", State="TIMEOUT", ExitCode="0:1")
    cached = tmp_path / "t1" / "20261001T000000Z_20261101T000000Z.txt"
    cached.parent.mkdir()
    cached.write_text(answer(pending))
    os.utime(cached, (NOW.timestamp() - 86400 * 10,) * 2)
    answers = {("2026-11-01T00:00:00", None): answer(done)}
    result = pull(FakeSlurm(answers), tmp_path, since="2026-10-01")
    assert result.table["state"].to_list() == ["timeout"]


def test_progress_is_told_each_window_once(tmp_path: Path) -> None:
    pull(FakeSlurm(ANSWERS), tmp_path, since="2026-10-01")
    seen: list[tuple[str, bool]] = []
    pull(
        FakeSlurm(ANSWERS),
        tmp_path,
        since="2026-10-01",
        progress=lambda w, c: seen.append((w.label[:8], c)),
    )
    assert sorted(seen) == [("20261001", True), ("20261101", False)]


def test_library_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(SlurmError, match=r"^sacct: error: Problem talking to the database$"):
        pull(FakeSlurm({}), tmp_path, since="2026-05-15")
    bad = {("2026-11-01T00:00:00", None): "JobID|State\n"}
    with pytest.raises(SlurmError, match="window 20261101T000000Z_20261121T010000Z printed no hea"):
        pull(FakeSlurm(bad), tmp_path, since="2026-11-01")
    with pytest.raises(ValueError, match="must include JobIDRaw"):
        pull(FakeSlurm({}), tmp_path, fields=("JobID", "Submit"))
    with pytest.raises(ValueError, match="is not before"):
        pull(FakeSlurm({}), tmp_path, since="2026-12-01")


runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["trace", "pull", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_writes_the_job_table_and_ends_with_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeSlurm(ANSWERS)
    monkeypatch.setattr(SlurmAdapter, "run", fake.run)
    out = tmp_path / "jobs.parquet"
    code, stdout, stderr = cli(
        "--since", "2026-10-01", "--until", "2026-11-21T01:00:00", "--out", str(out),
        "--cache-dir", str(tmp_path), "--json", "--parallel", "2",
    )  # fmt: skip
    assert code == 0, stderr
    info = json.loads(stdout.strip().splitlines()[-1])
    assert {k: info[k] for k in ("rows_read", "jobs", "steps", "malformed", "duplicates")} == {
        "rows_read": 11, "jobs": 5, "steps": 5, "malformed": 1, "duplicates": 3,
    }  # fmt: skip
    assert (info["windows"], info["cached_windows"]) == (2, 0)
    assert info["states"] == {"cancelled": 1, "completed": 4}
    assert (
        "malformed line skipped" in stderr and "20261001T000000Z_20261101T000000Z.txt:11" in stderr
    )
    assert pl.read_parquet(out)["job_id"].sort().to_list() == ["10", "20_1", "30", "40", "50"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-02-30"], "--since: '2026-02-30' is not a date"),
        (["--since", "2026-11-01", "--until", "2026-10-01"], "is not before --until 2026-10-01"),
        (["--since", "2026-11-01", "--parallel", "0"], "--parallel 0 is out of range"),
        (["--since", "2026-11-01", "--out", "x.txt"], "must end in .parquet or .csv"),
    ],
)
def test_cli_user_errors_are_one_line(args: list[str], message: str) -> None:
    code, _, stderr = cli(*(args if "--out" in args else [*args, "--out", "t.parquet"]))
    assert code == 2 and stderr.count("\n") == 1 and message in stderr, stderr


def test_cli_without_slurm_names_the_cause(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no sinfo, no sacct
    code, _, stderr = cli("--since", "2026-11-01", "--out", str(tmp_path / "t.parquet"))
    assert code == 2
    assert stderr == (
        "hpcsched: error: no Slurm cluster to pull from: sinfo: command not found (Slurm client "
        "tools are not installed) (run where sacct and slurmctld answer)\n"
    )


# --- against the REAL local cluster ---------------------------------------------------------
