"""``split`` carried out (``checkpointed: true``): the chain's sbatch arguments, exactly once
across a crash anywhere in the chain (the parts found by their comments in squeue or sacct,
only the missing ones submitted), the site's ``max_chain_parts``; and the emitter,
``hpcsched watch --observe`` reporting a job its partition's MaxTime holds back once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hpcsched.advise.watch import Watcher
from hpcsched.agents.actions import TAG, Resubmitter
from hpcsched.agents.agent import Agent
from hpcsched.agents.journal import ActionJournal, Intent
from hpcsched.agents.rules import Rules, RulesError, load_rules
from hpcsched.agents.splitter import chain_args, plan_split
from hpcsched.slurm import DELIMITER, SlurmAdapter


def rules(checkpointed: bool = True) -> Rules:
    rule = {"name": "split", "when": {"event": "job-refused-too-long"}, "action": "split"}
    return Rules.model_validate({"rules": [{**rule, "checkpointed": checkpointed}]})


SHOW_JOB = (
    "JobId={id} JobName=long UserId=me(1000) Account=a QOS=normal JobState={state} "
    "Reason=PartitionTimeLimit SubmitTime=2026-12-07T03:00:00 TimeLimit=00:40:00 "
    "Partition=batch NumNodes=1 NumCPUs=2 CPUs/Task=2 WorkDir=/w Command=/w/run.sh "
    "StdOut=/w/out.log StdErr=/w/out.log MinMemoryNode=1000M"
)


class FakeSlurm(SlurmAdapter):
    """slurmctld in a dict: jobs with a state and a comment; sbatch records its arguments;
    ``forget`` takes a job out of squeue (MinJobAge), sacct still has its comment."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, str]] = {"100": {"state": "PENDING", "comment": ""}}
        self.forgotten: set[str] = set()
        self.submitted: list[list[str]] = []
        self.cancelled: list[str] = []
        self.next_id = 200

    def run(self, argv: list[str], *, input: str | None = None, timeout: float = 60) -> str:
        if argv[:3] == ["scontrol", "show", "config"]:
            return (
                "AccountingStorageType = accounting_storage/slurmdbd\n"
                "AccountingStoreFlags = job_comment\n"
            )
        if argv[:3] == ["scontrol", "write", "batch_script"]:
            return "#!/bin/bash\n./resume-from-checkpoint\n"
        if argv[:3] == ["scontrol", "show", "partition"]:
            return f"PartitionName={argv[-1]} MaxTime=00:20:00\n"
        raise AssertionError(f"unexpected command {argv}")

    def squeue(self, user: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "job_id": int(i),
                "job_state": j["state"],
                "comment": j["comment"],
                "state_reason": "PartitionTimeLimit" if i == "100" else "None",
            }
            for i, j in self.jobs.items()
            if i not in self.forgotten
        ]

    def sacct(self, *args: Any, **kwargs: Any) -> str:
        rows = [DELIMITER.join((i, j["comment"])) for i, j in self.jobs.items()]
        return "\n".join(["JobIDRaw" + DELIMITER + "Comment", *rows]) + "\n"

    def scontrol_show_job(self, job_id: Any) -> dict[str, str]:
        from hpcsched.slurm.adapter import parse_key_values

        job = self.jobs[str(job_id)]
        return parse_key_values(SHOW_JOB.format(id=job_id, state=job["state"]))

    def sbatch(self, script: str | Path, *, extra_args: Any = ()) -> int:
        self.submitted.append(list(extra_args))
        self.next_id += 1
        comment = next(a for a in extra_args if a.startswith("--comment="))
        self.jobs[str(self.next_id)] = {"state": "PENDING", "comment": comment.split("=", 1)[1]}
        return self.next_id

    def scancel(self, job_id: Any) -> None:
        self.cancelled.append(str(job_id))
        self.jobs[str(job_id)]["state"] = "CANCELLED"


EVENT = {
    "event": "job-refused-too-long",
    "event_id": "r-1",
    "job_id": "100",
    "partition": "batch",
    "timelimit": 2400.0,
    "max_time": 1200.0,
}


def agent(fake: FakeSlurm, folder: Path, **kw: Any) -> Agent:
    journal = ActionJournal(folder)
    return Agent(rules(**kw), journal, resubmitter=Resubmitter(fake))


def test_the_chain_arguments_repeat_the_request_and_chain_afterok() -> None:
    plan = plan_split(EVENT, {}, 10)
    assert (plan["decision"], plan["pieces"], plan["piece_limit"]) == ("split", 2, 1200.0)
    info = FakeSlurm().scontrol_show_job("100")
    first = chain_args(info, "100", 1200.0, TAG + "k.part1", None)
    second = chain_args(info, "100", 1200.0, TAG + "k.part2", "201")
    assert "--time=00:20:00" in first and f"--comment={TAG}k.part1" in first
    assert {"--partition=batch", "--chdir=/w", "--cpus-per-task=2", "--output=/w/out.log"} <= set(
        first
    )
    assert not any(a.startswith("--dependency") for a in first)
    assert second[-1] == "--dependency=afterok:201" and f"--comment={TAG}k.part2" in second


def test_a_checkpointed_split_submits_the_chain_and_cancels_the_original(tmp_path: Path) -> None:
    fake = FakeSlurm()
    a = agent(fake, tmp_path / "state")
    a.handle(1, json.dumps(EVENT).encode())
    assert len(fake.submitted) == 2
    assert f"--comment={TAG}r-1/split.part1" in fake.submitted[0]
    assert fake.submitted[1][-1] == "--dependency=afterok:201"
    assert fake.cancelled == ["100"]
    (entry,) = list(a.journal.entries())
    assert entry["status"] == "done" and entry["result"]["parts"] == ["201", "202"]
    a.handle(1, json.dumps(EVENT).encode())  # a redelivery does nothing
    assert len(fake.submitted) == 2 and a.stats.redelivered == 1


def pending(a: Agent) -> Intent:
    plan = {**plan_split(EVENT, {}, 10)}
    intent = Intent("r-1/split", "r-1", "split", "split", 1, EVENT, plan, time.time())
    a.journal.intend(intent)
    return intent


def test_a_restart_submits_only_the_missing_parts_chained_to_the_existing_one(
    tmp_path: Path,
) -> None:
    fake = FakeSlurm()
    fake.jobs["150"] = {"state": "RUNNING", "comment": f"{TAG}r-1/split.part1"}  # made, then -9
    a = agent(fake, tmp_path / "state")
    pending(a)
    assert a.recover() == 1
    (args,) = fake.submitted
    assert f"--comment={TAG}r-1/split.part2" in args and args[-1] == "--dependency=afterok:150"
    assert fake.cancelled == ["100"]
    (entry,) = list(a.journal.entries())
    assert entry["result"]["parts"] == ["150", "201"] and entry["result"]["reused"] == 1


def test_a_restart_finds_a_finished_chain_in_squeue_or_sacct_and_submits_nothing(
    tmp_path: Path,
) -> None:
    fake = FakeSlurm()
    fake.jobs["100"]["state"] = "CANCELLED"
    fake.jobs["150"] = {"state": "COMPLETED", "comment": f"{TAG}r-1/split.part1"}
    fake.jobs["151"] = {"state": "PENDING", "comment": f"{TAG}r-1/split.part2"}
    fake.forgotten = {"150"}  # squeue forgot the ended part: sacct has it
    a = agent(fake, tmp_path / "state")
    pending(a)
    assert a.recover() == 1
    assert fake.submitted == [] and fake.cancelled == []
    (entry,) = list(a.journal.entries())
    assert entry["status"] == "found" and entry["result"]["parts"] == ["150", "151"]


def test_a_chain_longer_than_the_site_allows_is_refused_with_its_reason(tmp_path: Path) -> None:
    fake = FakeSlurm()
    journal = ActionJournal(tmp_path / "state")
    a = Agent(rules(), journal, resubmitter=Resubmitter(fake), max_chain_parts=3)
    a.handle(1, json.dumps({**EVENT, "timelimit": 5 * 1200.0}).encode())
    assert fake.submitted == [] and fake.cancelled == []
    (entry,) = list(journal.entries())
    assert entry["status"] == "refused"
    assert entry["result"]["reason"] == (
        "the chain needs 5 parts of 20 min; the site allows 3 (max_chain_parts): not split"
    )


def test_a_job_no_longer_waiting_is_not_split(tmp_path: Path) -> None:
    fake = FakeSlurm()
    fake.jobs["100"]["state"] = "RUNNING"  # MaxTime raised again meanwhile
    a = agent(fake, tmp_path / "state")
    a.handle(1, json.dumps(EVENT).encode())
    assert fake.submitted == [] and fake.cancelled == []
    (entry,) = list(a.journal.entries())
    assert entry["status"] == "failed"
    assert entry["result"]["error"] == "job 100 is running, no longer waiting: not split"


def test_without_checkpointed_the_split_stays_a_proposal(tmp_path: Path) -> None:
    fake = FakeSlurm()
    a = agent(fake, tmp_path / "state", checkpointed=False)
    a.handle(1, json.dumps(EVENT).encode())
    assert fake.submitted == [] and fake.cancelled == []
    (entry,) = list(a.journal.entries())
    assert entry["status"] == "proposed" and entry["plan"]["pieces"] == 2


def test_checkpointed_must_be_a_yes_or_no(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - name: s\n    when: {event: job-refused-too-long}\n    action: split\n"
        "    checkpointed: sometimes\n"
    )
    with pytest.raises(RulesError) as err:
        load_rules(path)
    assert str(err.value).startswith(f"{path}:5: field 'rules[0].checkpointed'")
    assert "\n" not in str(err.value)


def test_watch_observe_reports_a_job_held_back_by_max_time_once(tmp_path: Path) -> None:
    fake = FakeSlurm()
    seen: list[tuple[str, dict[str, Any]]] = []
    watcher = Watcher(
        fake,
        user="me",
        state_path=tmp_path / "watch.json",
        emit=lambda e, f: seen.append((e, f)),
        observe=True,
    )
    watcher.once()
    watcher.once()
    refused = [f for e, f in seen if e == "job-refused-too-long"]
    assert len(refused) == 1
    (fields,) = refused
    assert fields["job_id"] == "100" and fields["partition"] == "batch"
    assert (fields["timelimit"], fields["max_time"]) == (2400.0, 1200.0)
    assert (fields["user"], fields["name"], fields["work_dir"]) == ("me", "long", "/w")
    assert (fields["script"], fields["state"], fields["cpus"]) == ("/w/run.sh", "pending", 2)
    # without --observe the watcher acts as before and reports nothing of the kind
    seen.clear()
    Watcher(
        fake, user="me", state_path=tmp_path / "w2.json", emit=lambda e, f: seen.append((e, f))
    ).once()
    assert [e for e, _ in seen] == ["watch-pass"]


def test_a_held_back_job_that_left_meanwhile_is_not_reported_and_the_pass_goes_on(
    tmp_path: Path,
) -> None:
    class Gone(FakeSlurm):
        def scontrol_show_job(self, job_id: Any) -> dict[str, str]:
            from hpcsched.slurm.adapter import SlurmError

            raise SlurmError("scontrol: error: Invalid job id specified")

    seen: list[str] = []
    watcher = Watcher(
        Gone(), user="me", state_path=tmp_path / "w.json", emit=lambda e, f: seen.append(e),
        observe=True,
    )  # fmt: skip
    watcher.once()
    assert seen == ["watch-pass"]
