"""``hpcsched watch``: the TIMEOUT re-scheduler.

The policy (:func:`decide`) and a whole pass with :meth:`SlurmAdapter.run` replaced by canned
answers run everywhere; the ``slurm``-marked tests run one real job into TIMEOUT on the local
cluster (``scripts/slurm-local.sh start``: ``--time=1`` running ``sleep 90``, about 60-90 s, once
for the module) and let ``watch --once`` resubmit it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hpcsched.advise.watch import GROWTH, Watcher, decide, format_limit, resubmit_args
from hpcsched.cli import watch as cli_watch
from hpcsched.runtime.events import WATCH_EVENTS, EventSink
from hpcsched.slurm import DEFAULT_FIELDS, DELIMITER, SlurmAdapter, SlurmError

REPO = Path(__file__).resolve().parents[1]


def watch_app() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.callback()(lambda: None)  # keep "watch" a sub-command, as in the hpcsched app
    cli_watch.register(app)
    return app


# -- the policy ---------------------------------------------------------------------------------


def test_a_job_that_did_not_time_out_is_left_alone() -> None:
    for state in ("completed", "failed", "cancelled", "out_of_memory"):
        assert decide(
            state=state, old_limit=60, attempt=0, max_attempts=2, max_time=1800
        ).action == ("leave")


def test_the_bound_is_used_when_above_the_old_limit_and_rounded_to_minutes() -> None:
    d = decide(state="timeout", old_limit=60, attempt=0, max_attempts=2, max_time=1800, bound=301)
    assert (d.action, d.new_limit, d.limit_from) == ("resubmit", 360.0, "bound")


def test_a_bound_not_above_the_limit_falls_back_to_growth() -> None:
    for bound in (None, 45.0, 60.0, float("nan")):
        d = decide(
            state="timeout", old_limit=60, attempt=1, max_attempts=2, max_time=1800, bound=bound
        )
        assert (d.action, d.new_limit, d.limit_from) == ("resubmit", 60 * GROWTH, "growth")


def test_the_new_limit_is_capped_at_the_partition_max_time() -> None:
    d = decide(state="timeout", old_limit=1200, attempt=0, max_attempts=2, max_time=1800, bound=9e4)
    assert (d.action, d.new_limit) == ("resubmit", 1800)


def test_gives_up_at_the_partition_limit_and_after_max_attempts() -> None:
    at_max = decide(state="timeout", old_limit=1800, attempt=0, max_attempts=2, max_time=1800)
    assert (at_max.action, at_max.reason) == ("give-up", "limit-reached")
    spent = decide(state="timeout", old_limit=60, attempt=2, max_attempts=2, max_time=1800)
    assert (spent.action, spent.reason) == ("give-up", "attempts-exhausted")
    never = decide(state="timeout", old_limit=60, attempt=0, max_attempts=0, max_time=1800)
    assert never.reason == "attempts-exhausted"


def test_resubmit_args_repeat_the_request() -> None:
    info = {
        "Partition": "debug",
        "JobName": "sim",
        "WorkDir": "/w",
        "NumNodes": "1",
        "NumTasks": "2",
        "CPUs/Task": "1",
        "Account": "proj",
        "QOS": "normal",
        "MinMemoryCPU": "100M",
        "StdOut": "/w/slurm-7.out",  # Slurm's default: the new job gets its own
        "StdErr": "/w/err.txt",
    }
    args = resubmit_args(info, "7", 125, "note")
    assert args[:2] == ["--time=00:03:00", "--comment=note"]
    for expected in ("--partition=debug", "--ntasks=2", "--mem-per-cpu=100M", "--error=/w/err.txt"):
        assert expected in args
    assert not any(a.startswith("--output") for a in args)
    assert format_limit(90000) == "1-01:00:00"


# -- a whole pass against canned Slurm answers ---------------------------------------------------


def sacct_row(job_id: str, state: str, limit_min: int = 1, partition: str = "debug") -> str:
    values = {
        "JobID": job_id,
        "JobIDRaw": job_id,
        "JobName": "j",
        "User": "me",
        "Account": "a",
        "Partition": partition,
        "QOS": "normal",
        "Submit": "2026-11-21T01:00:00",
        "Eligible": "2026-11-21T01:00:00",
        "Start": "2026-11-21T01:00:01",
        "End": "2026-11-21T01:01:31",
        "ElapsedRaw": "90",
        "TimelimitRaw": str(limit_min),
        "NNodes": "1",
        "NCPUS": "1",
        "State": state,
        "ExitCode": "0:0",
        "Flags": "SchedMain",
    }
    return DELIMITER.join(values.get(name, "") for name in DEFAULT_FIELDS)


class FakeSlurm(SlurmAdapter):
    """squeue/sacct/scontrol/sbatch answers from ``self.queue`` and ``self.accounting``."""

    def __init__(self) -> None:
        self.queue: dict[str, str] = {}  # job id -> squeue state
        self.accounting: dict[str, tuple[str, int]] = {}  # job id -> (sacct state, limit min)
        self.calls: list[list[str]] = []
        self.submitted: list[tuple[list[str], str | None]] = []
        self.purged: set[str] = set()

    def run(self, argv: list[str], *, input: str | None = None, timeout: float = 60) -> str:
        self.calls.append(argv)
        if argv[0] == "squeue":
            jobs = [
                {"job_id": int(j), "job_state": s, "user_name": "me"} for j, s in self.queue.items()
            ]
            return json.dumps({"errors": [], "jobs": jobs})
        if argv[0] == "sacct":
            ids = next(a for a in argv if a.startswith("--jobs=")).split("=")[1].split(",")
            rows = [sacct_row(j, *self.accounting[j]) for j in ids if j in self.accounting]
            return "\n".join([DELIMITER.join(DEFAULT_FIELDS), *rows]) + "\n"
        if argv[:3] == ["scontrol", "write", "batch_script"]:
            if argv[3] in self.purged:
                raise SlurmError("scontrol: error: Invalid job id specified")
            return "#!/bin/bash\nsleep 90\n"
        if argv[:3] == ["scontrol", "show", "job"]:
            return f"JobId={argv[-1]} JobName=j Partition=debug WorkDir=/tmp NumNodes=1\n"
        if argv[:3] == ["scontrol", "show", "partition"]:
            return f"PartitionName={argv[-1]} MaxTime=00:30:00 DefaultTime=00:05:00\n"
        if argv[0] == "sbatch":
            self.submitted.append((argv, input))
            return f"{900 + len(self.submitted)}\n"
        raise AssertionError(f"unexpected command {argv}")

    def end(self, job_id: str, state: str, limit_min: int) -> None:
        self.queue.pop(job_id, None)
        self.accounting[job_id] = (state, limit_min)


def make_watcher(fake: FakeSlurm, tmp_path: Path, **kw: Any) -> tuple[Watcher, list[Any]]:
    seen: list[Any] = []
    watcher = Watcher(
        fake,
        user="me",
        state_path=tmp_path / "state.json",
        emit=lambda e, f: seen.append((e, f)),
        **kw,
    )
    return watcher, seen


def test_a_chain_is_resubmitted_until_attempts_run_out(tmp_path: Path) -> None:
    fake = FakeSlurm()
    fake.queue = {"10": "RUNNING", "11": "RUNNING"}
    watcher, seen = make_watcher(fake, tmp_path, max_attempts=2)
    assert watcher.once()["following"] == ["10", "11"]
    fake.end("10", "TIMEOUT", 1)
    fake.end("11", "COMPLETED", 1)
    watcher.once()
    decisions = [(e, f["job_id"]) for e, f in seen if e != "watch-pass"]
    assert decisions == [("job-resubmitted", "10"), ("job-left-alone", "11")]
    argv, script = fake.submitted[0]
    assert script == "#!/bin/bash\nsleep 90\n" and "--time=00:02:00" in argv
    assert "--partition=debug" in argv
    # the resubmission (901) times out too: attempt 2, doubled again
    fake.queue["901"] = "PENDING"
    watcher.once()
    fake.end("901", "TIMEOUT", 2)
    watcher.once()
    last = seen[-2]
    assert last[0] == "job-resubmitted"
    assert (last[1]["original_job_id"], last[1]["attempt"], last[1]["new_limit"]) == ("10", 2, 240)
    # and the third timeout of the chain is given up
    fake.end("902", "TIMEOUT", 4)
    watcher.once()
    gave_up = seen[-2]
    assert gave_up[0] == "job-gave-up"
    assert gave_up[1]["reason"] == "attempts-exhausted" and gave_up[1]["attempt"] == 2
    assert len(fake.submitted) == 2
    # a decided job still listed by squeue (MinJobAge) is not followed or decided again
    fake.queue["10"] = "TIMEOUT"
    assert watcher.once() == {"user": "me", "following": [], "ended": []}
    assert len(fake.submitted) == 2


def test_site_limit_gives_up_and_a_purged_job_is_reported(tmp_path: Path) -> None:
    fake = FakeSlurm()
    fake.queue = {"20": "RUNNING", "21": "RUNNING"}
    watcher, seen = make_watcher(fake, tmp_path, max_times={"debug": 1800.0})
    watcher.once()
    fake.end("20", "TIMEOUT", 30)  # already at MaxTime
    fake.end("21", "TIMEOUT", 1)
    fake.purged.add("21")
    watcher.once()
    reasons = {f["job_id"]: f["reason"] for e, f in seen if e == "job-gave-up"}
    assert reasons == {"20": "limit-reached", "21": "no-script"}
    assert not any(argv[:3] == ["scontrol", "show", "partition"] for argv in fake.calls)
    assert fake.submitted == []


def test_sacct_lag_keeps_following_and_other_jobs_are_ignored_with_job(tmp_path: Path) -> None:
    fake = FakeSlurm()
    fake.queue = {"30": "RUNNING", "31": "RUNNING"}
    watcher, seen = make_watcher(fake, tmp_path, jobs=["30"])
    watcher.once()
    fake.queue.pop("30")  # gone from squeue, not in accounting yet
    assert watcher.once()["following"] == ["30"]
    fake.accounting["30"] = ("TIMEOUT", 1)
    assert watcher.once()["ended"] == ["30"]
    assert all(f.get("job_id") != "31" for _, f in seen)


def test_event_fields_are_the_documented_ones(tmp_path: Path) -> None:
    fake = FakeSlurm()
    fake.queue = {"40": "RUNNING", "41": "RUNNING", "42": "RUNNING"}
    out = tmp_path / "events.jsonl"
    with EventSink(out, source="watch") as sink:
        watcher, _ = make_watcher(fake, tmp_path, max_attempts=1)
        watcher.emit = sink.emit
        watcher.once()
        fake.end("40", "TIMEOUT", 1)
        fake.end("41", "COMPLETED", 1)
        fake.end("42", "TIMEOUT", 30)
        watcher.once()
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert {e["event"] for e in events} == set(WATCH_EVENTS)
    for e in events:
        assert list(e) == ["time", "source", "event", "event_id", *WATCH_EVENTS[e["event"]]]


def test_cli_refuses_another_user_in_one_line() -> None:
    result = CliRunner().invoke(watch_app(), ["watch", "--user", "somebody-else", "--once"])
    assert result.exit_code == 2
    assert "resubmits jobs as you" in result.output


# -- against the real cluster --------------------------------------------------------------------


def sacct_state(slurm: SlurmAdapter, job_id: str) -> str:
    fields = ("JobID", "State", "Partition")
    for line in slurm.sacct([job_id], fields=fields, duplicates=False).splitlines()[1:]:
        values = line.split(DELIMITER)
        if values[0] == job_id and values[2]:
            return values[1]
    return ""


@pytest.fixture(scope="module")
def timed_out(
    slurm: SlurmAdapter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A job killed at its 1-minute limit and a completed one, both followed by watch --once."""
    tmp = tmp_path_factory.mktemp("watch")
    args = ["-o", "/dev/null", "--chdir=/tmp", "--partition=debug"]
    ids = {
        "timeout": str(
            slurm.sbatch(
                "#!/bin/bash\nsleep 90\n", extra_args=[*args, "--time=1", "--job-name=h15-timeout"]
            )
        ),
        "done": str(
            slurm.sbatch(
                "#!/bin/bash\nsleep 1\n", extra_args=[*args, "--time=1", "--job-name=h15-done"]
            )
        ),
    }
    base = ["watch", "--once", "--state", str(tmp / "state.json"), "--events", str(tmp / "e.jsonl")]
    base += [f"--job={j}" for j in ids.values()]
    first = CliRunner().invoke(watch_app(), base)
    assert first.exit_code == 0, first.output
    resubmitted: list[str] = []
    try:
        deadline = time.monotonic() + 150
        while sacct_state(slurm, ids["timeout"]) != "TIMEOUT" or not sacct_state(
            slurm, ids["done"]
        ):
            assert time.monotonic() < deadline, f"job {ids['timeout']} did not time out"
            time.sleep(3)
        second = CliRunner().invoke(watch_app(), base)
        assert second.exit_code == 0, second.output
        events = [json.loads(line) for line in (tmp / "e.jsonl").read_text().splitlines()]
        resubmitted = [e["new_job_id"] for e in events if e["event"] == "job-resubmitted"]
        yield {"ids": ids, "events": events, "output": second.output, "base": base}
    finally:
        for job_id in [*ids.values(), *resubmitted]:
            slurm.scancel(job_id)


@pytest.mark.slurm
def test_live_timeout_is_resubmitted_with_a_longer_limit(
    slurm: SlurmAdapter, timed_out: dict[str, Any]
) -> None:
    events = timed_out["events"]
    (event,) = [e for e in events if e["event"] == "job-resubmitted"]
    assert event["job_id"] == event["original_job_id"] == timed_out["ids"]["timeout"]
    assert event["old_limit"] == 60 and event["max_time"] == 1800  # debug: MaxTime 30 min
    assert 60 < event["new_limit"] <= 1800 and event["attempt"] == 1
    job = slurm.scontrol_show_job(event["new_job_id"])
    assert job["TimeLimit"] == format_limit(event["new_limit"])
    assert job["Partition"] == "debug" and job["JobName"] == "h15-timeout"
    assert f"of {event['job_id']}" in job.get("Comment", "")
    assert "job-resubmitted" in timed_out["output"]  # logged on stderr too


@pytest.mark.slurm
def test_live_completed_job_is_left_alone(timed_out: dict[str, Any]) -> None:
    alone = [e for e in timed_out["events"] if e["event"] == "job-left-alone"]
    assert [(e["job_id"], e["state"]) for e in alone] == [(timed_out["ids"]["done"], "completed")]
    passes = [e for e in timed_out["events"] if e["event"] == "watch-pass"]
    assert len(passes) == 2 and passes[0]["ended"] == []


@pytest.mark.slurm
def test_live_resubmission_is_followed_and_not_resubmitted_twice(
    slurm: SlurmAdapter, timed_out: dict[str, Any]
) -> None:
    (event,) = [e for e in timed_out["events"] if e["event"] == "job-resubmitted"]
    third = CliRunner().invoke(watch_app(), timed_out["base"])
    assert third.exit_code == 0, third.output
    state = json.loads(Path(timed_out["base"][3]).read_text())
    assert state["following"] == {event["new_job_id"]: {"original": event["job_id"], "attempt": 1}}
    assert "job-resubmitted" not in third.output
