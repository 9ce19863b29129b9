"""The closed loop against the real local Slurm (scripts/slurm-local.sh) and the real bus: a job
ends in TIMEOUT, ``hpcsched watch --observe`` publishes it, the agent resubmits it with twice
the limit, and kill -9 at both ends of the action (before sbatch, after sbatch and before the
journal) still makes exactly one new job (about 1.5-2 minutes: the job must run into its limit)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpcsched.agents.actions import TAG
from hpcsched.slurm import DELIMITER, SlurmAdapter

from bus_support import fresh_subject

pytestmark = [pytest.mark.slurm, pytest.mark.bus]

RULES = """\
subject: {subject}
group: {subject}
ack_wait: 2
rules:
  - name: timeout-resubmit
    when: {{event: job-ended, state: timeout}}
    action: resubmit
    limit_factor: 2
    max_attempts: 2
"""


def hpcsched(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", *args]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def sacct_state(slurm: SlurmAdapter, job_id: str) -> str:
    fields = ("JobID", "State", "Partition")
    for line in slurm.sacct([job_id], fields=fields, duplicates=False).splitlines()[1:]:
        values = line.split(DELIMITER)
        if values[0] == job_id and values[2]:
            return values[1]
    return ""


def tagged(slurm: SlurmAdapter) -> list[dict[str, object]]:
    return [j for j in slurm.squeue() if str(j.get("comment") or "").startswith(TAG)]


def test_a_real_timeout_is_resubmitted_once_across_kill_9(
    slurm: SlurmAdapter, bus_url: str, tmp_path: Path
) -> None:
    subject = fresh_subject("agents-slurm")
    target = f"{bus_url}/{subject}"
    args = ["-o", "/dev/null", "--chdir=/tmp", "--partition=debug", "--time=1"]
    job = str(slurm.sbatch("#!/bin/bash\nsleep 300\n", extra_args=[*args, "--job-name=h19-agent"]))
    made: list[str] = []
    before = {str(j["job_id"]) for j in tagged(slurm)}
    try:
        watch = ["watch", "--observe", "--once", f"--job={job}", "--events", target]
        watch += ["--state", str(tmp_path / "watch.json")]
        assert hpcsched(*watch).returncode == 0  # follows the job
        deadline = time.monotonic() + 300
        while sacct_state(slurm, job) != "TIMEOUT":
            assert time.monotonic() < deadline, f"job {job} did not time out"
            time.sleep(3)
        second = hpcsched(*watch)
        assert second.returncode == 0 and "job-ended" in second.stderr, second.stderr
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULES.format(subject=subject))
        run = ["agents", "run", str(rules), "--bus", bus_url, "--state", str(tmp_path / "a")]
        # killed after the intent is journaled, before sbatch: nothing is submitted
        first = hpcsched(*run, "--until-idle", "3", env={"HPCSCHED_AGENTS_KILL_AT": "intended"})
        assert first.returncode == -signal.SIGKILL
        # (not == before: a tagged job of an earlier run may leave squeue meanwhile, MinJobAge)
        assert {str(j["job_id"]) for j in tagged(slurm)} - before == set()
        # the restart does the pending resubmission, and is killed before journaling its result
        crashed = hpcsched(*run, "--until-idle", "3", env={"HPCSCHED_AGENTS_KILL_AT": "acted"})
        assert crashed.returncode == -signal.SIGKILL
        made = [str(j["job_id"]) for j in tagged(slurm) if str(j["job_id"]) not in before]
        assert len(made) == 1
        # the next restart finds that job in squeue instead of submitting another
        final = hpcsched(*run, "--until-idle", "4")
        assert final.returncode == 0, final.stderr
        assert "was done before the crash" in final.stderr
        after = [str(j["job_id"]) for j in tagged(slurm) if str(j["job_id"]) not in before]
        assert after == made
        new = slurm.scontrol_show_job(made[0])
        assert new["TimeLimit"] == "00:02:00" and new["JobName"] == "h19-agent"
        assert new["Partition"] == "debug"
        log = hpcsched("agents", "log", str(tmp_path / "a"), "--json")
        (entry,) = [json.loads(line) for line in log.stdout.splitlines()]
        assert entry["status"] == "found" and entry["result"]["made"] == made[0]
        assert entry["event"]["job_id"] == job and entry["event"]["source"] == "watch"
        assert new["Comment"] == TAG + entry["key"]
    finally:
        for job_id in [job, *made]:
            slurm.scancel(job_id)
