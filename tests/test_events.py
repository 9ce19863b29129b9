"""Events as JSON lines: the documented shape, and a real `hpcsched run --events` workflow."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hpcsched.runtime.events import (
    RUNTIME_EVENTS,
    WATCH_EVENTS,
    WITH_ATTEMPT,
    EventSink,
    RunEvents,
    runtime_fields,
)
from hpcsched.runtime.journal import EVENT_KINDS

# make fails on its first attempt (retried), then left and right run; join never runs
WORKFLOW = """\
jobs:
  - id: make
    command: "sh -c '[ $HPCSCHED_ATTEMPT -ge 2 ] && echo hello > a.txt'"
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
    depends: [make]
  - id: after
    command: "true"
    depends: [broken]
"""


def hpcsched(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120)


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def check_envelope(event: dict[str, Any], source: str) -> None:
    assert list(event)[:4] == ["time", "source", "event", "event_id"]
    assert event["event_id"]  # a random prefix per sink and a count: unique across runs
    assert event["source"] == source
    assert datetime.fromisoformat(event["time"]).utcoffset() is not None  # aware, UTC
    assert event["time"].endswith("+00:00")


def test_every_journal_kind_has_a_documented_event() -> None:
    assert set(RUNTIME_EVENTS) == set(EVENT_KINDS)
    import hpcsched.runtime.events as module

    doc = module.__doc__ or ""
    names = {name for name, _ in RUNTIME_EVENTS.values()} | {"run-resumed"} | set(WATCH_EVENTS)
    for name in names:
        assert f"\n{name} " in doc, f"{name} is not documented in events.py"


@pytest.mark.parametrize("kind", sorted(RUNTIME_EVENTS))
def test_each_runtime_event_has_its_fields_even_when_unknown(kind: str, tmp_path: Path) -> None:
    name, keys = RUNTIME_EVENTS[kind]
    needs_task = EVENT_KINDS[kind][0]
    out = tmp_path / "events.jsonl"
    with EventSink(out, source="runtime") as sink:
        RunEvents(sink)(
            kind=kind,
            run="/r",
            t=1.5,
            task_id="a" if needs_task else None,
            attempt=2,
            data={keys[0]: 7} if keys else {},
        )
    (event,) = lines(out.read_text())
    check_envelope(event, "runtime")
    assert event["event"] == name and event["run"] == "/r" and event["t"] == 1.5
    assert ("task" in event) == needs_task
    assert ("attempt" in event) == (kind in WITH_ATTEMPT)
    assert set(keys) <= set(event)
    if keys:
        assert event[keys[0]] == 7 and all(event[k] is None for k in keys[1:])


def test_finished_carries_elapsed_and_resumed_renames_the_start() -> None:
    _, fields = runtime_fields(
        "finished",
        run="r",
        t=0,
        task_id="a",
        attempt=1,
        data={"ok": True, "start": 10.0, "end": 12.5},
    )
    assert fields["elapsed"] == 2.5 and fields["ok"] is True
    name, _ = runtime_fields(
        "run-started", run="r", t=0, task_id=None, attempt=None, data={"resumed": True}
    )
    assert name == "run-resumed"


def test_sink_appends_and_survives_a_closed_stream(tmp_path: Path) -> None:
    out = tmp_path / "e.jsonl"
    out.write_text('{"old": 1}\n')
    sink = EventSink(out, source="watch")
    sink.emit("watch-pass", {"user": "u", "following": [], "ended": []})
    assert len(lines(out.read_text())) == 2  # flushed per line, before close
    sink._stream.close()  # type: ignore[union-attr]  # a consumer that went away
    with pytest.warns(UserWarning, match="stopped after 1"):
        sink.emit("watch-pass", {})
    sink.emit("watch-pass", {})  # silent from now on
    sink.close()


def test_run_events_to_a_file_follow_the_workflow(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(WORKFLOW)
    out = tmp_path / "events.jsonl"
    proc = hpcsched("run", "wf.yaml", "--cpus", "2", "--json", "--events", str(out), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr  # broken fails
    events = lines(out.read_text())
    for event in events:
        check_envelope(event, "runtime")
        assert event["run"] == str((tmp_path / "wf.run").resolve())
    names = [e["event"] for e in events]
    assert names[0] == "run-started" and names[-1] == "run-finished"
    per_task = {
        tid: [e["event"] for e in events if e.get("task") == tid]
        for tid in ("make", "left", "broken", "after")
    }
    assert per_task["make"] == [
        "task-submitted",
        "task-started",
        "task-finished",
        "task-retried",
        "task-started",
        "task-committing",
        "task-finished",
    ]
    assert per_task["left"][-1] == "task-finished"
    assert per_task["broken"] == ["task-submitted", "task-started", "task-finished", "task-failed"]
    assert per_task["after"] == ["task-submitted", "task-failed"]  # never started
    attempts = [
        (e["attempt"], e["ok"])
        for e in events
        if e["event"] == "task-finished" and e["task"] == "make"
    ]
    assert attempts == [(1, False), (2, True)]
    failed = next(e for e in events if e["event"] == "task-failed" and e["task"] == "after")
    assert failed["root"] == "broken"
    end = events[-1]
    # "after" never ran: blocked, counted apart from the failed "broken"
    assert (end["tasks"], end["succeeded"], end["failed"], end["retried"]) == (4, 2, 1, 1)
    assert end["blocked"] == 1
    # the run's own --json summary still ends stdout: events went to the file only
    assert json.loads(proc.stdout.strip().splitlines()[-1])["succeeded"] == 2


def test_run_events_to_stdout_and_resume(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text("jobs:\n  - id: one\n    command: 'true'\n")
    first = hpcsched("run", "wf.yaml", "--events", "-", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    events = [e for e in lines(first.stdout) if "event" in e]
    assert [e["event"] for e in events] == [
        "run-started",
        "task-submitted",
        "task-started",
        "task-finished",
        "run-finished",
    ]
    again = hpcsched("run", "wf.yaml", "--events", "-", cwd=tmp_path)
    assert lines(again.stdout)[0]["event"] == "run-resumed"


def test_events_file_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text("jobs:\n  - id: one\n    command: 'true'\n")
    proc = hpcsched("run", "wf.yaml", "--events", str(tmp_path / "no" / "e.jsonl"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--events" in proc.stderr
