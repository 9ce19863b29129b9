"""``split`` closed loop against the real local Slurm (scripts/slurm-local.sh) and the real bus:
a 40-minute job waits on partition batch after its MaxTime was lowered to 20 minutes
(Reason=PartitionTimeLimit), ``hpcsched watch --observe`` publishes job-refused-too-long, the
agent's ``{action: split, checkpointed: true}`` submits two 20-minute parts chained afterok and
cancels the original, exactly once across kill -9 before and after the effect (about 20 s).

The test lowers batch's MaxTime for a few seconds (other sessions' sbatch to batch with more
than 20 minutes is refused meanwhile, EnforcePartLimits=ALL) and always restores 02:00:00."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcsched.agents.actions import TAG
from hpcsched.slurm import SlurmAdapter
from test_agents_slurm import hpcsched

from bus_support import fresh_subject

pytestmark = [pytest.mark.slurm, pytest.mark.bus]

RULES = """\
subject: {subject}
group: {subject}
ack_wait: 2
rules:
  - name: split-too-long
    when: {{event: job-refused-too-long}}
    action: split
    checkpointed: true
"""
MAX_TIME = "02:00:00"


def max_time(slurm: SlurmAdapter) -> str:
    info = slurm.run(["scontrol", "show", "partition", "-o", "batch"])
    return next(f.split("=", 1)[1] for f in info.split() if f.startswith("MaxTime="))


@pytest.fixture
def batch_restored(slurm: SlurmAdapter) -> Iterator[None]:
    assert max_time(slurm) == MAX_TIME, "partition batch is not as scripts/slurm-local.sh made it"
    try:
        yield
    finally:
        slurm.run(["scontrol", "update", "PartitionName=batch", f"MaxTime={MAX_TIME}"])
        assert max_time(slurm) == MAX_TIME


def named(slurm: SlurmAdapter, name: str) -> dict[str, dict[str, object]]:
    return {str(j["job_id"]): j for j in slurm.squeue() if j.get("name") == name}


def test_a_job_past_its_partition_max_time_is_split_once_across_kill_9(
    slurm: SlurmAdapter, bus_url: str, tmp_path: Path, batch_restored: None
) -> None:
    subject = fresh_subject("agents-split")
    name = f"sp19-split-{uuid.uuid4().hex[:8]}"
    args = ["-o", "/dev/null", "--chdir=/tmp", "--partition=batch", "--time=40", "--hold"]
    job = str(slurm.sbatch("#!/bin/bash\nsleep 600\n", extra_args=[*args, f"--job-name={name}"]))
    try:
        watch = ["watch", "--observe", "--once", f"--job={job}"]
        watch += ["--events", f"{bus_url}/{subject}", "--state", str(tmp_path / "watch.json")]
        try:
            slurm.run(["scontrol", "update", "PartitionName=batch", "MaxTime=00:20:00"])
            slurm.run(["scontrol", "release", job])
            deadline = time.monotonic() + 20
            while named(slurm, name)[job].get("state_reason") != "PartitionTimeLimit":
                assert time.monotonic() < deadline, "slurmctld gave no PartitionTimeLimit"
                time.sleep(0.5)
            seen = hpcsched(*watch)
            assert seen.returncode == 0 and "job-refused-too-long" in seen.stderr, seen.stderr
            # held again, so that it cannot start once MaxTime is back (the agent splits it)
            slurm.run(["scontrol", "hold", job])
        finally:
            slurm.run(["scontrol", "update", "PartitionName=batch", f"MaxTime={MAX_TIME}"])
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULES.format(subject=subject))
        run = ["agents", "run", str(rules), "--bus", bus_url, "--state", str(tmp_path / "a")]
        # killed after the intent is journaled, before any sbatch: nothing is submitted
        first = hpcsched(*run, "--until-idle", "2", env={"HPCSCHED_AGENTS_KILL_AT": "intended"})
        assert first.returncode == -signal.SIGKILL
        assert set(named(slurm, name)) == {job}
        # the restart splits, and is killed before journaling its result
        crashed = hpcsched(*run, "--until-idle", "2", env={"HPCSCHED_AGENTS_KILL_AT": "acted"})
        assert crashed.returncode == -signal.SIGKILL
        parts = sorted((j for j in named(slurm, name) if j != job), key=int)
        assert len(parts) == 2
        # the next restart finds both parts by their comments instead of submitting more
        final = hpcsched(*run, "--until-idle", "2")
        assert final.returncode == 0 and "was done before the crash" in final.stderr, final.stderr
        assert sorted((j for j in named(slurm, name) if j != job), key=int) == parts
        one, two = (slurm.scontrol_show_job(p) for p in parts)
        assert one["TimeLimit"] == two["TimeLimit"] == "00:20:00"
        assert one["Partition"] == two["Partition"] == "batch"
        assert two["Dependency"].startswith(f"afterok:{parts[0]}")
        assert one["Comment"].startswith(TAG) and one["Comment"].endswith(".part1")
        assert two["Comment"] == one["Comment"].removesuffix("1") + "2"
        assert slurm.scontrol_show_job(job)["JobState"] == "CANCELLED"
    finally:
        for job_id in named(slurm, name):
            slurm.scancel(job_id)
