"""SlurmAdapter without Slurm: `run` is replaced, so these check the argv built and the parsing."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hpcsched.core.schema import STATES
from hpcsched.slurm import (
    DEFAULT_FIELDS,
    DELIMITER,
    SLURM_JOB_STATES,
    TERMINAL_STATES,
    SlurmAdapter,
    SlurmError,
    cancelled_by,
    canonical_state,
    is_terminal,
)
from hpcsched.slurm.adapter import error_line, parse_key_values, parse_parsable


class FakeSlurm(SlurmAdapter):
    """Records every command and answers from a queue of canned outputs."""

    def __init__(self, *outputs: str) -> None:
        self.outputs = list(outputs)
        self.calls: list[tuple[list[str], str | None, float]] = []

    def run(self, argv: list[str], *, input: str | None = None, timeout: float = 60) -> str:
        self.calls.append((argv, input, timeout))
        return self.outputs.pop(0) if self.outputs else ""


SCRIPT = "#!/bin/bash\nsleep 1\n"

# a real `scontrol show job -o` line from Slurm 22.05 (the job name has a space on purpose)
SCONTROL_LINE = (
    "JobId=5 JobName=my job UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=2000 Nice=0 "
    "Account=hpcsched QOS=normal JobState=RUNNING Reason=None Dependency=(null) Requeue=1 "
    "ExitCode=0:0 RunTime=00:00:01 TimeLimit=00:05:00 SubmitTime=2026-11-21T00:03:41 "
    "Partition=batch AllocNode:Sid=localhost:17021 ReqNodeList=(null) NodeList=n1 NumNodes=1 "
    "NumCPUs=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=100M,node=1,billing=1 "
    "WorkDir=/tmp StdOut=/dev/null Power= \n"
)


# ------------------------------------------------------------------------------ argv + parsing
def test_sbatch_text_goes_on_stdin() -> None:
    fake = FakeSlurm("123\n")
    assert fake.sbatch(SCRIPT, extra_args=["-p", "debug", "-t", "1"]) == 123
    assert fake.calls == [(["sbatch", "--parsable", "-p", "debug", "-t", "1"], SCRIPT, 60)]


def test_sbatch_path_is_the_last_argument(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    fake = FakeSlurm("77;hpcsched\n", "78\n")
    assert fake.sbatch(script, extra_args=["-J", "x"]) == 77
    assert fake.sbatch(str(script)) == 78  # a str without "#!" is a path too
    assert fake.calls[0] == (["sbatch", "--parsable", "-J", "x", str(script)], None, 60)
    assert fake.calls[1][0] == ["sbatch", "--parsable", str(script)]


@pytest.mark.parametrize(
    ("output", "job_id"),
    [("123\n", 123), ("123;hpcsched\n", 123), ("sbatch: warning: x\n456;c\n", 456)],
)
def test_parse_parsable(output: str, job_id: int) -> None:
    assert parse_parsable(output) == job_id


@pytest.mark.parametrize("output", ["", "Submitted batch job 5\n", "abc;cluster"])
def test_parse_parsable_rejects_other_output(output: str) -> None:
    with pytest.raises(SlurmError, match=r"^sbatch: unexpected --parsable output"):
        parse_parsable(output)


def test_squeue_json_and_user_filter() -> None:
    jobs = [{"job_id": 1, "user_name": "alice"}, {"job_id": 2, "user_name": "bob"}]
    payload = json.dumps({"meta": {}, "errors": [], "jobs": jobs})
    fake = FakeSlurm(payload, payload)
    assert fake.squeue() == jobs
    # Slurm 22.05 ignores --user with --json, so the adapter filters as well
    assert fake.squeue(user="bob") == [jobs[1]]
    assert [c[0] for c in fake.calls] == [
        ["squeue", "--json"],
        ["squeue", "--json", "--user", "bob"],
    ]


def test_squeue_reports_json_errors_in_one_line() -> None:
    fake = FakeSlurm(json.dumps({"errors": [{"error": "Invalid user", "errno": 1}], "jobs": []}))
    with pytest.raises(SlurmError, match=r"^squeue: Invalid user$"):
        fake.squeue()
    with pytest.raises(SlurmError, match=r"^squeue: --json output is not JSON"):
        FakeSlurm("not json").squeue()


def test_sacct_default_argv() -> None:
    fake = FakeSlurm("header\n")
    assert fake.sacct() == "header\n"
    assert fake.calls[0][0] == [
        "sacct",
        "--allusers",
        "-P",
        "--delimiter=\x1f",
        "-D",
        "--format=" + ",".join(DEFAULT_FIELDS),
    ]
    assert DELIMITER == "\x1f"
    assert "-X" not in fake.calls[0][0]  # steps come too


def test_sacct_ids_window_fields_and_no_duplicates() -> None:
    fake = FakeSlurm()
    plus2 = timezone(timedelta(hours=2))
    fake.sacct(
        [5, "6_1"],
        since=datetime(2026, 1, 1, 12, 0, 0, tzinfo=plus2),
        until="2026-01-02T00:00:00",
        fields=("JobID", "State"),
        duplicates=False,
    )
    assert fake.calls[0][0] == [
        "sacct",
        "--allusers",
        "-P",
        "--delimiter=\x1f",
        "--format=JobID,State",
        "--jobs=5,6_1",
        "--starttime=2026-01-01T10:00:00",  # aware times are converted to UTC
        "--endtime=2026-01-02T00:00:00",
    ]
    fake.sacct(since=datetime(2026, 1, 1, 12, 0, 0))  # naive = UTC already
    assert fake.calls[1][0][-1] == "--starttime=2026-01-01T12:00:00"
    fake.sacct(since=datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC))
    assert fake.calls[2][0][-1] == "--starttime=2026-01-01T12:00:00"


def test_scancel_argv() -> None:
    fake = FakeSlurm()
    fake.scancel(42)
    fake.scancel("43_2")
    assert [c[0] for c in fake.calls] == [["scancel", "42"], ["scancel", "43_2"]]


def test_scontrol_show_job_parses_key_values() -> None:
    fake = FakeSlurm(SCONTROL_LINE)
    job = fake.scontrol_show_job(5)
    assert fake.calls[0][0] == ["scontrol", "show", "job", "-o", "5"]
    assert job["JobId"] == "5"
    assert job["JobName"] == "my job"
    assert job["Partition"] == "batch"
    assert job["JobState"] == "RUNNING"
    assert job["AllocNode:Sid"] == "localhost:17021"
    assert job["CPUs/Task"] == "1"
    assert job["ReqB:S:C:T"] == "0:0:*:*"
    assert job["TRES"] == "cpu=1,mem=100M,node=1,billing=1"
    assert job["Power"] == ""


def test_parse_key_values_takes_the_first_record() -> None:
    text = "\nJobId=7_1 JobState=PENDING\nJobId=7_2 JobState=RUNNING\n"
    assert parse_key_values(text) == {"JobId": "7_1", "JobState": "PENDING"}
    assert parse_key_values("") == {}


def test_available() -> None:
    fake = FakeSlurm("debug\n")
    assert fake.available() is None
    assert fake.calls[0][0] == ["sinfo", "--noheader", "--format=%P"]

    class Down(SlurmAdapter):
        def run(self, argv: list[str], *, input: str | None = None, timeout: float = 60) -> str:
            raise SlurmError("sinfo: slurm_load_partitions: Unable to contact slurm controller")

    assert Down().available() == "sinfo: slurm_load_partitions: Unable to contact slurm controller"


# ------------------------------------------------------------------------------ SlurmError
SBATCH_STDERR = (
    "sbatch: error: invalid partition specified: nope\n"
    "sbatch: error: Batch job submission failed: Invalid partition name specified\n"
)


@pytest.mark.parametrize(
    ("command", "stderr", "line"),
    [
        ("sbatch", SBATCH_STDERR, "sbatch: error: invalid partition specified: nope"),
        (
            "scontrol",
            "slurm_load_jobs error: Invalid job id specified\n",
            "scontrol: slurm_load_jobs error: Invalid job id specified",
        ),
        (
            "sacctmgr",
            "sacctmgr: error: fetch_config: DNS SRV lookup failed\n"
            "sacctmgr: fatal: Could not establish a configuration source\n",
            "sacctmgr: fatal: Could not establish a configuration source",
        ),
        ("sinfo", "", "sinfo: failed with exit status 1"),
    ],
)
def test_error_line(command: str, stderr: str, line: str) -> None:
    assert error_line(command, stderr, "", 1) == line


def fake_command(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_run_raises_one_line_slurm_error(tmp_path: Path) -> None:
    sbatch = fake_command(tmp_path, "sbatch", f"printf '{SBATCH_STDERR}' >&2\nexit 1\n")
    with pytest.raises(SlurmError) as info:
        SlurmAdapter().run([str(sbatch), "-p", "nope"])
    assert str(info.value) == "sbatch: error: invalid partition specified: nope"
    assert info.value.returncode == 1
    assert info.value.argv == [str(sbatch), "-p", "nope"]
    assert "Batch job submission failed" in info.value.stderr


def test_run_uses_utc_and_passes_stdin(tmp_path: Path) -> None:
    echo = fake_command(tmp_path, "squeue", 'echo "$TZ $SLURM_TIME_FORMAT"; cat\n')
    assert SlurmAdapter().run([str(echo)], input="hello") == "UTC standard\nhello"
    assert SlurmAdapter().run([str(echo)]) == "UTC standard\n"  # stdin is /dev/null


def test_run_missing_command_and_timeout(tmp_path: Path) -> None:
    with pytest.raises(SlurmError, match=r"^no-such-sbatch: command not found"):
        SlurmAdapter().run([str(tmp_path / "no-such-sbatch")])
    slow = fake_command(tmp_path, "sacct", "exec sleep 5\n")
    with pytest.raises(SlurmError, match=r"^sacct: no answer within 0.2 s$"):
        SlurmAdapter().run([str(slow)], timeout=0.2)


# ------------------------------------------------------------------------------ state table
# written out by hand from the man pages, so a change to the table must change this too
EXPECTED = {
    "BOOT_FAIL": ("BF", "boot_fail"),
    "CANCELLED": ("CA", "cancelled"),
    "COMPLETED": ("CD", "completed"),
    "CONFIGURING": ("CF", "running"),
    "COMPLETING": ("CG", "running"),
    "DEADLINE": ("DL", "deadline"),
    "FAILED": ("F", "failed"),
    "NODE_FAIL": ("NF", "node_fail"),
    "OUT_OF_MEMORY": ("OOM", "out_of_memory"),
    "PENDING": ("PD", "pending"),
    "PREEMPTED": ("PR", "preempted"),
    "RUNNING": ("R", "running"),
    "RESV_DEL_HOLD": ("RD", "pending"),
    "REQUEUE_FED": ("RF", "requeued"),
    "REQUEUE_HOLD": ("RH", "requeued"),
    "REQUEUED": ("RQ", "requeued"),
    "RESIZING": ("RS", "running"),
    "REVOKED": ("RV", "cancelled"),
    "SIGNALING": ("SI", "running"),
    "SPECIAL_EXIT": ("SE", "failed"),
    "STAGE_OUT": ("SO", "running"),
    "STOPPED": ("ST", "suspended"),
    "SUSPENDED": ("S", "suspended"),
    "TIMEOUT": ("TO", "timeout"),
}


def test_table_covers_every_man_page_code() -> None:
    assert SLURM_JOB_STATES == EXPECTED
    assert {canonical for _, canonical in EXPECTED.values()} <= set(STATES)
    assert set(STATES) >= TERMINAL_STATES


@pytest.mark.parametrize(("name", "code_and_state"), sorted(EXPECTED.items()))
def test_every_code_long_short_and_lower_case(name: str, code_and_state: tuple[str, str]) -> None:
    code, state = code_and_state
    assert canonical_state(name) == state
    assert canonical_state(code) == state
    assert canonical_state(name.lower()) == state
    assert canonical_state(f" {name}+ ") == state  # truncation mark, stray spaces


@pytest.mark.parametrize(("text", "uid"), [("CANCELLED by 0", 0), ("CANCELLED by 123", 123)])
def test_cancelled_by(text: str, uid: int) -> None:
    assert canonical_state(text) == "cancelled"
    assert cancelled_by(text) == uid
    assert is_terminal(text)


def test_unknown_fallback_and_terminal_states() -> None:
    for text in ["", "   ", "LAUNCH_FAILED", "cancelled_by", "42"]:
        assert canonical_state(text) == "unknown"
    assert cancelled_by("CANCELLED") is None
    assert cancelled_by("COMPLETED") is None
    assert set(TERMINAL_STATES) == {
        "completed",
        "failed",
        "timeout",
        "cancelled",
        "out_of_memory",
        "node_fail",
        "preempted",
        "boot_fail",
        "deadline",
        "blocked",  # not Slurm's: a workflow task that never ran because a dependency failed
    }
    for live in ["PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED", "SUSPENDED", "??"]:
        assert not is_terminal(live)
