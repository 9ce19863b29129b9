"""`trace pull` against the REAL local cluster (``scripts/slurm-local.sh start``): a small workload
submitted and pulled back job by job. These skip without a cluster, or fail under CI=true, as in
``tests/test_slurm_live.py``; the unit tests of the pull are in ``tests/test_trace_pull.py``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.slurm import DELIMITER, SlurmAdapter, is_terminal
from hpcsched.slurm.pull import (
    PULL_FIELDS,
    Window,
    pull_accounting,
    sacct_argv,
)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["trace", "pull", *args])
    return result.exit_code, result.stdout, result.stderr


JOB_ARGS = ["-o", "/dev/null", "--chdir=/tmp", "-t", "1"]  # 1 min: timelimit 60 s


def wait_job(slurm: SlurmAdapter, job_id: int, ready: str, timeout: float = 30) -> None:
    """Poll slurmctld until the job's ``JobState Reason`` line matches ``ready``."""
    deadline = time.monotonic() + timeout
    job: dict[str, str] = {}
    while time.monotonic() < deadline:
        job = slurm.scontrol_show_job(job_id)
        if re.search(ready, f"{job.get('JobState')} {job.get('Reason')}"):
            return
        time.sleep(0.2)
    pytest.fail(f"job {job_id} never matched {ready!r}: {job.get('JobState')} {job.get('Reason')}")


def wait_idle(slurm: SlurmAdapter, timeout: float = 30) -> None:
    """Poll until no node is still completing a job (``sinfo`` state ``comp``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = slurm.run(["sinfo", "--noheader", "--Node", "--format=%t"]).split()
        if not any(state.startswith("comp") for state in states):
            return
        time.sleep(0.2)
    pytest.fail(f"nodes still completing after {timeout:g} s")


def wait_ended(slurm: SlurmAdapter, ids: list[int], rows: int, timeout: float = 60) -> None:
    """Poll sacct gently (it queries slurmdbd) until ``rows`` job rows are final.

    Final = a terminal state and a partition: slurmdbd stores records one by one."""
    deadline = time.monotonic() + timeout
    states: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        text = slurm.sacct(ids, fields=("JobID", "State", "Partition"), duplicates=False)
        lines = [line.split(DELIMITER) for line in text.splitlines()[1:]]
        states = [(job, state) for job, state, part in lines if "." not in job and part]
        if len(states) == rows and all(is_terminal(state) for _, state in states):
            return
        time.sleep(1)
    pytest.fail(f"jobs {ids} did not all end within {timeout:g} s: {states}")


@pytest.fixture(scope="module")
def workload(slurm: SlurmAdapter) -> Iterator[dict[str, int]]:
    """Submit the workload (the timeout job first: it alone takes 60-90 s) and let it end."""
    began = datetime.now(UTC)

    def submit(body: str, *extra: str) -> int:
        return slurm.sbatch(f"#!/bin/bash\n{body}\n", extra_args=[*JOB_ARGS, *extra])

    ids = {"timeout": submit("sleep 300", "-J", "hp-timeout")}
    ids["ok"] = submit("sleep 1", "-p", "batch", "-J", "hp-ok")
    ids["fail"] = submit("sleep 1; exit 3", "-J", "hp-fail")
    ids["held"] = submit("sleep 1", "--begin=now+3600", "-J", "hp-held")
    ids["array"] = submit("sleep 1", "--array=1-3", "-J", "hp-array")
    ids["a"] = submit("sleep 1", "-J", "hp-a")
    ids["b"] = submit("sleep 1", f"--dependency=afterok:{ids['a']}", "-J", "hp-b")
    ids["requeue"] = submit("sleep 3", "-J", "hp-requeue")
    ids["began"] = int(began.timestamp())
    try:
        slurm.scancel(ids["held"])  # cancelled while pending: it never became eligible
        wait_job(slurm, ids["requeue"], "^RUNNING")
        # Held, not plainly requeued: a requeued job may relaunch within a second, before slurmd
        # has cleaned up the first attempt, and that second attempt then fails at launch (exit 1,
        # seen here under load). Release it once the first attempt is over on its node.
        slurm.run(["scontrol", "requeuehold", str(ids["requeue"])])
        wait_job(slurm, ids["requeue"], "^PENDING")
        wait_idle(slurm)
        slurm.run(["scontrol", "release", str(ids["requeue"])])
        wait_job(slurm, ids["requeue"], "^PENDING BeginTime")  # Slurm holds it back 2 min
        slurm.run(["scontrol", "update", f"jobid={ids['requeue']}", "StartTime=now"])
        quick = [ids[k] for k in ("ok", "fail", "held", "array", "a", "b", "requeue")]
        wait_ended(slurm, quick, rows=9)
        yield ids
    finally:
        for name in ("timeout", "held", "requeue", "b"):
            slurm.scancel(ids[name])  # nothing when it has already ended


def pulled(slurm: SlurmAdapter, ids: dict[str, int], cache: Path) -> dict[str, dict[str, Any]]:
    since = datetime.fromtimestamp(ids["began"] - 60, UTC)
    result = pull_accounting(since, datetime.now(UTC), adapter=slurm, cache_dir=cache)
    assert result.cached == [] and result.malformed == []  # the current month: always queried
    assert "backfilled" in result.table.columns
    return {str(r["job_id"]): r for r in result.table.iter_rows(named=True)}


@pytest.mark.slurm
def test_live_pull_gives_each_job_as_it_ran(
    slurm: SlurmAdapter, workload: dict[str, int], tmp_path: Path
) -> None:
    jobs = pulled(slurm, workload, tmp_path)
    ok, fail = jobs[str(workload["ok"])], jobs[str(workload["fail"])]
    assert (ok["state"], ok["exit_code"], ok["partition"], ok["name"]) == (
        "completed", 0, "batch", "hp-ok"
    )  # fmt: skip
    assert (fail["state"], fail["exit_code"], fail["partition"]) == ("failed", 3, "debug")
    for job in (ok, fail):
        assert (job["nodes"], job["cpus"], job["timelimit"], job["source"]) == (1, 1, 60.0, "sacct")
        assert job["backfilled"] is not None  # SchedMain or SchedBackfill: known for started jobs
        assert job["submit"] <= job["start"] <= job["end"] and job["step_count"] >= 1
    held = jobs[str(workload["held"])]  # only the -s CANCELLED query finds it
    assert (held["state"], held["sacct_cancelled_by"], held["step_count"]) == ("cancelled", 0, 0)
    tasks = [jobs[f"{workload['array']}_{i}"] for i in (1, 2, 3)]
    assert {(t["state"], t["array_id"], t["sacct_array_tasks"]) for t in tasks} == {
        ("completed", workload["array"], 1)
    }
    a, b = jobs[str(workload["a"])], jobs[str(workload["b"])]
    assert a["state"] == b["state"] == "completed" and b["start"] >= a["end"]
    requeued = jobs[str(workload["requeue"])]
    assert (requeued["state"], requeued["sacct_requeues"]) == ("completed", 1)


@pytest.mark.slurm
def test_live_windowed_sacct_alone_misses_the_never_eligible_job(
    slurm: SlurmAdapter, workload: dict[str, int]
) -> None:
    """Why each window also asks ``-s CANCELLED`` (README pitfall 12)."""
    window = Window(datetime.fromtimestamp(workload["began"] - 60, UTC), datetime.now(UTC))
    plain = slurm.run(sacct_argv(window, PULL_FIELDS))
    cancelled = slurm.run(sacct_argv(window, PULL_FIELDS, "CA"))
    held = f"\n{workload['held']}{DELIMITER}"
    assert f"\n{workload['fail']}{DELIMITER}" in plain
    assert held not in plain and held in cancelled


@pytest.mark.slurm
def test_live_cli_pull_writes_the_same_jobs(
    slurm: SlurmAdapter, workload: dict[str, int], tmp_path: Path
) -> None:
    since = datetime.fromtimestamp(workload["began"] - 60, UTC).isoformat()
    out = tmp_path / "jobs.parquet"
    code, stdout, stderr = cli(
        "--since", since, "--out", str(out), "--cache-dir", str(tmp_path), "--json"
    )
    assert code == 0, stderr
    info = json.loads(stdout.strip().splitlines()[-1])
    assert info["windows"] >= 1 and info["cached_windows"] == 0 and info["malformed"] == 0
    table = pl.read_parquet(out)
    mine = {str(workload[k]): k for k in ("ok", "fail", "held", "a", "b", "requeue")}
    states = dict(
        table.filter(pl.col("job_id").is_in(list(mine))).select("job_id", "state").iter_rows()
    )
    assert {mine[j]: s for j, s in states.items()} == {
        "ok": "completed", "fail": "failed", "held": "cancelled",
        "a": "completed", "b": "completed", "requeue": "completed",
    }  # fmt: skip
    assert info["jobs"] == table.height


@pytest.mark.slurm
@pytest.mark.slow
def test_live_timeout_job_is_timeout(
    slurm: SlurmAdapter, workload: dict[str, int], tmp_path: Path
) -> None:
    """Slurm's time-limit check runs every 30 s, so a 1-minute job ends after 60-90 s."""
    wait_ended(slurm, [workload["timeout"]], rows=1, timeout=130)
    job = pulled(slurm, workload, tmp_path)[str(workload["timeout"])]
    assert (job["state"], job["timelimit"]) == ("timeout", 60.0)
    assert 60 <= job["runtime"] <= 100
