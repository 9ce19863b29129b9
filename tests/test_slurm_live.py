"""SlurmAdapter against a REAL cluster: start one with `sudo bash scripts/slurm-local.sh start`.

Without a cluster these skip, or fail under CI=true, with the one-line reason. Jobs sleep 1-2 s
so the file runs in well under a minute on the 4-node cluster the script starts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from hpcsched.slurm import (
    DELIMITER,
    SlurmAdapter,
    SlurmError,
    cancelled_by,
    canonical_state,
    is_terminal,
)

pytestmark = pytest.mark.slurm

# jobs write nothing into the checkout, and run where every user may cd
JOB_ARGS = ["-o", "/dev/null", "--chdir=/tmp", "-t", "1"]


def script(body: str) -> str:
    return f"#!/bin/bash\n{body}\n"


def sacct_job(slurm: SlurmAdapter, job_id: int) -> dict[str, str]:
    """The job's own sacct row (not its steps), or {} while slurmdbd has not got it yet."""
    fields = ("JobID", "State", "ExitCode", "Partition")
    lines = slurm.sacct([job_id], fields=fields).splitlines()
    rows = [dict(zip(fields, line.split(DELIMITER), strict=True)) for line in lines[1:]]
    return next((row for row in rows if row["JobID"] == str(job_id)), {})


def wait_for_end(slurm: SlurmAdapter, job_id: int, timeout: float = 40) -> dict[str, str]:
    """Poll sacct (gently: it queries slurmdbd) until the job row is final.

    Final = a terminal state AND a partition: on 22.05 we saw a COMPLETED row whose Partition
    was still empty for a moment (slurmdbd stores the records slurmctld sends one by one).
    """
    deadline = time.monotonic() + timeout
    row: dict[str, str] = {}
    while time.monotonic() < deadline:
        row = sacct_job(slurm, job_id)
        if row and is_terminal(row["State"]) and row["Partition"]:
            return row
        time.sleep(0.5)
    pytest.fail(f"job {job_id} did not end within {timeout:g} s; last sacct row: {row}")


def wait_running(slurm: SlurmAdapter, job_id: int, timeout: float = 30) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    job: dict[str, str] = {}
    while time.monotonic() < deadline:
        job = slurm.scontrol_show_job(job_id)
        if job.get("JobState") == "RUNNING":
            return job
        time.sleep(0.3)
    pytest.fail(f"job {job_id} did not start within {timeout:g} s: {job.get('JobState')}")


@pytest.fixture(scope="module")
def running_job(slurm: SlurmAdapter) -> Iterator[int]:
    """A job held running in the non-default partition while the queries below look at it."""
    job_id = slurm.sbatch(script("sleep 30"), extra_args=[*JOB_ARGS, "-p", "batch", "-J", "hs-run"])
    wait_running(slurm, job_id)
    yield job_id
    slurm.scancel(job_id)


def test_completed_job_in_debug(slurm: SlurmAdapter) -> None:
    job_id = slurm.sbatch(script("sleep 1"), extra_args=[*JOB_ARGS, "-p", "debug", "-J", "hs-ok"])
    row = wait_for_end(slurm, job_id)
    assert row["State"] == "COMPLETED"
    assert row["ExitCode"] == "0:0"
    assert row["Partition"] == "debug"


def test_failing_job_is_failed_with_its_exit_code(slurm: SlurmAdapter) -> None:
    job_id = slurm.sbatch(script("sleep 1; exit 3"), extra_args=[*JOB_ARGS, "-J", "hs-fail"])
    row = wait_for_end(slurm, job_id)
    assert canonical_state(row["State"]) == "failed"
    assert row["ExitCode"] == "3:0"  # exit status : signal


def test_scancel_gives_cancelled(slurm: SlurmAdapter) -> None:
    job_id = slurm.sbatch(script("sleep 60"), extra_args=[*JOB_ARGS, "-J", "hs-cancel"])
    wait_running(slurm, job_id)
    slurm.scancel(job_id)
    row = wait_for_end(slurm, job_id)
    assert canonical_state(row["State"]) == "cancelled"
    assert cancelled_by(row["State"]) == os.getuid()  # sacct prints "CANCELLED by <uid>"


def test_invalid_partition_is_one_line_error(slurm: SlurmAdapter) -> None:
    with pytest.raises(SlurmError) as info:
        slurm.sbatch(script("true"), extra_args=[*JOB_ARGS, "-p", "nope"])
    message = str(info.value)
    assert "\n" not in message
    assert message == "sbatch: error: invalid partition specified: nope"


def test_squeue_json_sees_the_running_job(slurm: SlurmAdapter, running_job: int) -> None:
    jobs = {job["job_id"]: job for job in slurm.squeue()}
    assert running_job in jobs
    assert jobs[running_job]["job_state"] == "RUNNING"
    assert jobs[running_job]["partition"] == "batch"
    user = jobs[running_job]["user_name"]
    assert running_job in {job["job_id"] for job in slurm.squeue(user=user)}
    assert slurm.squeue(user="no-such-user-hpcsched") == []


def test_scontrol_show_job_gives_its_partition(slurm: SlurmAdapter, running_job: int) -> None:
    job = slurm.scontrol_show_job(running_job)
    assert job["JobId"] == str(running_job)
    assert job["Partition"] == "batch"
    assert job["JobName"] == "hs-run"
    assert canonical_state(job["JobState"]) == "running"
