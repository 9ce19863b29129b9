"""A resubmission is found again after squeue forgot it: the check asks sacct for the job whose
comment carries the action's key (slurm.conf ``AccountingStoreFlags=job_comment``), so a restart
more than ``MinJobAge`` after a crash does not resubmit twice; a site without the flag is told
once that the check is squeue's only."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hpcsched.agents.actions import TAG, Resubmitter
from hpcsched.agents.agent import Agent
from hpcsched.agents.journal import ActionJournal, Intent
from hpcsched.agents.rules import Rules
from hpcsched.slurm import DELIMITER, SlurmAdapter

RULES = Rules.model_validate(
    {
        "rules": [
            {
                "name": "timeout-resubmit",
                "when": {"event": "job-ended", "state": "timeout"},
                "action": "resubmit",
            }
        ]
    }
)


class Forgetful(SlurmAdapter):
    """The real cluster, with squeue past ``MinJobAge``: it no longer lists the job; and an
    sbatch that records instead of submitting (a second resubmission is the failure)."""

    def __init__(self) -> None:
        self.submitted: list[Any] = []

    def squeue(self, user: str | None = None) -> list[dict[str, Any]]:
        return []

    def sbatch(self, script: str | Path, *, extra_args: Any = ()) -> int:
        self.submitted.append(extra_args)
        return 999999


def pending_intent(journal: ActionJournal, key: str, job_id: str, at: float) -> Intent:
    event_id = key.split("/")[0]
    event = {"event": "job-ended", "event_id": event_id, "job_id": job_id, "state": "timeout"}
    plan = {"job_id": job_id, "new_limit": 120.0, "attempt": 1, "decision": "resubmit"}
    intent = Intent(key, event_id, "timeout-resubmit", "resubmit", 1, event, plan, at)
    journal.intend(intent)
    return intent


def accounted_comment(slurm: SlurmAdapter, job_id: str, since: float) -> str:
    """The comment of an ended job as a time-window query lists it (slurmdbd lists a job by
    time a second or two after ``sacct -j`` has it)."""
    start = datetime.fromtimestamp(since - 60, UTC)
    text = slurm.sacct(since=start, fields=("JobIDRaw", "State", "Comment"), duplicates=False)
    for line in text.splitlines()[1:]:
        raw, state, comment = line.split(DELIMITER)
        if raw == job_id and state not in {"PENDING", "RUNNING"}:
            return comment
    return ""


@pytest.mark.slurm
def test_a_resubmission_squeue_forgot_is_found_in_sacct(
    slurm: SlurmAdapter, tmp_path: Path
) -> None:
    key = f"e-{uuid.uuid4().hex[:12]}/timeout-resubmit"
    intended_at = time.time()
    args = ["-o", "/dev/null", "--chdir=/tmp", "--time=1", f"--comment={TAG}{key}"]
    made = str(slurm.sbatch("#!/bin/bash\ntrue\n", extra_args=args))  # the crash's job
    deadline = time.monotonic() + 60
    while accounted_comment(slurm, made, intended_at) != TAG + key:
        assert time.monotonic() < deadline, f"job {made}: no comment in sacct (job_comment?)"
        time.sleep(1)
    journal = ActionJournal(tmp_path / "state")
    pending_intent(journal, key, made, intended_at)
    adapter, said = Forgetful(), []
    agent = Agent(RULES, journal, resubmitter=Resubmitter(adapter, say=said.append))
    assert agent.recover() == 1
    assert adapter.submitted == []  # not resubmitted a second time
    assert agent.stats.found == 1 and agent.stats.acted == 0
    (entry,) = list(journal.entries())
    assert entry["status"] == "found"
    assert entry["result"] == {"made": made, "new_limit": 120.0, "found_in": "sacct"}
    assert said == []  # this cluster keeps comments: no warning


class NoCommentSite(SlurmAdapter):
    """A site whose slurm.conf lacks ``AccountingStoreFlags=job_comment``."""

    def run(self, argv: list[str], *, input: str | None = None, timeout: float = 60) -> str:
        assert argv[:3] == ["scontrol", "show", "config"], argv
        return (
            "AccountingStorageType   = accounting_storage/slurmdbd\n"
            "AccountingStoreFlags    = (null)\nMinJobAge               = 300 sec\n"
        )

    def squeue(self, user: str | None = None) -> list[dict[str, Any]]:
        return []

    def sacct(self, *args: Any, **kwargs: Any) -> str:
        raise AssertionError("sacct has no comments here: it must not be asked")


def test_a_site_without_job_comment_is_told_once_and_checked_in_squeue_only(
    tmp_path: Path,
) -> None:
    journal = ActionJournal(tmp_path / "state")
    said: list[str] = []
    resubmitter = Resubmitter(NoCommentSite(), say=said.append)
    for n in range(2):
        intent = pending_intent(journal, f"e-{n}/timeout-resubmit", str(n), time.time())
        assert resubmitter.check(intent) is None
    (warning,) = said
    assert "AccountingStoreFlags=job_comment" in warning and "squeue only" in warning
    assert "\n" not in warning
