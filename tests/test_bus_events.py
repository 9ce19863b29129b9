"""Runtime events on the real bus: `hpcsched run --events nats://…` against a live NATS JetStream
(scripts/bus-local.sh), read back with `hpcsched bus tail` as a user would."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bus_support import free_port, fresh_subject

pytestmark = pytest.mark.bus

# make fails on its first attempt (retried), left runs, broken fails, after never runs: every
# kind of runtime event; one CPU so the order of events is the same in every run
WORKFLOW = """\
jobs:
  - id: make
    command: "sh -c 'touch ran-$HPCSCHED_ATTEMPT; [ $HPCSCHED_ATTEMPT -ge 2 ] && echo hi > a.txt'"
    outputs: [a.txt]
    retries: 1
    backoff: 0.05
  - id: left
    command: "sh -c 'cat a.txt > l.txt'"
    inputs: [a.txt]
    outputs: [l.txt]
    depends: [make]
  - id: broken
    command: "sh -c 'echo no >&2; exit 3'"
    depends: [left]
  - id: after
    command: "true"
    depends: [broken]
"""
#: Fields whose values differ between two runs of the same workflow.
VARYING = {"time", "event_id", "run", "t", "workdir", "elapsed", "wall_seconds"}


def hpcsched(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=timeout)


def run_workflow(tmp_path: Path, name: str, events: str) -> subprocess.CompletedProcess[str]:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "wf.yaml").write_text(WORKFLOW)
    return hpcsched("run", "wf.yaml", "--cpus", "1", "--events", events, cwd=folder)


def tail(url: str, *args: str, cwd: Path) -> list[dict[str, Any]]:
    done = hpcsched("bus", "tail", url, "--jsonl", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_bus_gets_the_same_events_as_a_file(bus_url: str, tmp_path: Path) -> None:
    target = f"{bus_url}/{fresh_subject('run')}"
    on_bus = run_workflow(tmp_path, "bus", target)
    in_file = run_workflow(tmp_path, "file", str(tmp_path / "events.jsonl"))
    assert on_bus.returncode == in_file.returncode == 1  # broken failed
    assert "not delivered" not in on_bus.stderr
    published = tail(target, "--from-start", cwd=tmp_path)
    written = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert len(published) == len(written) >= 15
    for got, want in zip(published, written, strict=True):
        assert list(got) == list(want)  # the same fields, in the same order
        assert {k: v for k, v in got.items() if k not in VARYING} == {
            k: v for k, v in want.items() if k not in VARYING
        }
    assert published[0]["run"] == str(tmp_path / "bus" / "wf.run")
    ids = [event["event_id"] for event in published]
    assert all(ids) and len(set(ids)) == len(ids)
    assert not set(ids) & {event["event_id"] for event in written}  # unique across runs


def test_the_log_replays_from_any_offset(bus_url: str, tmp_path: Path) -> None:
    target = f"{bus_url}/{fresh_subject('replay')}"
    assert run_workflow(tmp_path, "one", target).returncode == 1
    everything = tail(target, cwd=tmp_path)  # after the run: the log kept them all
    assert everything[0]["event"] == "run-started" and everything[-1]["event"] == "run-finished"
    readable = hpcsched("bus", "tail", target, cwd=tmp_path)  # a line each, sequence first
    lines = readable.stdout.splitlines()
    assert len(lines) == len(everything)
    assert "run-started" in lines[0] and "run-finished" in lines[-1]
    fifth = int(lines[4].split()[0])
    assert tail(target, "--from", str(fifth), cwd=tmp_path) == everything[4:]
    assert tail(target, "--from", str(int(lines[-1].split()[0]) + 1), cwd=tmp_path) == []


def test_a_consumer_group_gets_each_event_once(bus_url: str, tmp_path: Path) -> None:
    target = f"{bus_url}/{fresh_subject('group')}"
    assert run_workflow(tmp_path, "one", target).returncode == 1
    group = fresh_subject("g")
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()"]
    members = [
        subprocess.Popen(
            [*argv, "bus", "tail", target, "--jsonl", "--group", group],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [member.communicate(timeout=60)[0] for member in members]
    assert [m.returncode for m in members] == [0, 0]
    seen = [[json.loads(line)["event_id"] for line in out.splitlines()] for out in outputs]
    assert not set(seen[0]) & set(seen[1])  # no event to both members
    assert sorted(seen[0] + seen[1]) == sorted(e["event_id"] for e in tail(target, cwd=tmp_path))
    # the group goes on where it stopped: a member started later gets nothing already taken
    assert tail(target, "--group", group, cwd=tmp_path) == []
    stats = hpcsched("bus", "stats", bus_url, "--json", cwd=tmp_path)
    assert json.loads(stats.stdout)["consumers"][group] == 0


def test_an_unreachable_bus_is_one_line_and_nothing_runs(tmp_path: Path) -> None:
    port = free_port()
    done = run_workflow(tmp_path, "down", f"nats://127.0.0.1:{port}/run1")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"hpcsched: error: --events nats://127.0.0.1:{port}/run1: cannot connect (connection "
        "refused); start one with 'hpcsched bus serve'"
    ]
    assert not list((tmp_path / "down").glob("ran-*"))  # no task started
    assert not (tmp_path / "down" / "wf.run").exists()  # no run directory either


def test_a_bad_bus_address_is_one_line(tmp_path: Path) -> None:
    done = run_workflow(tmp_path, "bad", "nats://127.0.0.1:4222/a/b")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "hpcsched: error: --events nats://127.0.0.1:4222/a/b: subject token 'a/b' is not "
        "allowed; dot-separated letters, digits, - and _"
    ]


def test_tail_follows_new_events_until_ctrl_c(bus_url: str, tmp_path: Path) -> None:
    target = f"{bus_url}/{fresh_subject('follow')}"
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()"]
    follower = subprocess.Popen(
        [*argv, "bus", "tail", target, "--follow", "--jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as from a terminal
    )
    try:
        time.sleep(1.0)  # subscribed before the run starts (it would replay them anyway)
        assert run_workflow(tmp_path, "live", target).returncode == 1
        time.sleep(1.5)
    finally:
        follower.send_signal(signal.SIGINT)  # the consumer we started, by its pid
        out, err = follower.communicate(timeout=20)
    assert follower.returncode == 0 and err == ""
    events = [json.loads(line) for line in out.splitlines()]
    assert events == tail(target, cwd=tmp_path)  # all of them, as the log has them
    assert events[-1]["event"] == "run-finished"
