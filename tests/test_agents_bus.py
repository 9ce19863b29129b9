"""The closed loop's crash safety on the real bus (scripts/bus-local.sh): 200 events, the agent
killed with SIGKILL five times at random moments (and once at the worst one, after an effect and
before its result is journaled), restarted each time: every event has exactly one effect."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpcsched.agents.journal import ActionJournal
from hpcsched.bus.publisher import JetStreamPublisher
from hpcsched.runtime.events import envelope, to_json

from bus_support import fresh_subject

pytestmark = pytest.mark.bus

EVENTS = 200
RULES = """\
subject: {subject}
group: {group}
batch: 8
ack_wait: 2
rules:
  - name: ledger
    when: {{event: job-ended, state: timeout}}
    action: command
    run: 'printf "%s\\n" "$HPCSCHED_KEY" >> {ledger}; sleep 0.05'
    check: 'grep -qxF "$HPCSCHED_KEY" {ledger}'
"""


def publish(server: str, subject: str, count: int) -> list[str]:
    publisher = JetStreamPublisher(server)
    publisher.start()
    ids = []
    for n in range(count):
        record = envelope("test", "job-ended", f"{subject}-{n}", {"job_id": n, "state": "timeout"})
        publisher.publish(
            f"hpcsched.events.{subject}", to_json(record).encode(), record["event_id"]
        )
        ids.append(record["event_id"])
    stats = publisher.close()
    assert stats.acked == count and not stats.undelivered
    return ids


def agent(rules: Path, server: str, state: Path, **env: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", "agents", "run"]
    argv += [str(rules), "--bus", server, "--state", str(state), "--until-idle", "5"]
    return subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})


def test_kill_9_and_restart_do_each_action_exactly_once(bus_url: str, tmp_path: Path) -> None:
    subject, ledger, state = fresh_subject("agents"), tmp_path / "ledger.txt", tmp_path / "state"
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(subject=subject, group=subject, ledger=ledger))
    ids = publish(bus_url, subject, EVENTS)
    # the worst moment: the effect is done, its result is not journaled, the event is not acked
    worst = agent(rules, bus_url, state, HPCSCHED_AGENTS_KILL_AT="acted")
    assert worst.wait(60) == -signal.SIGKILL
    assert ledger.read_text().splitlines() == [f"{ids[0]}/ledger"]
    seen = [1]
    rng = random.Random(19)
    for _ in range(5):
        proc = agent(rules, bus_url, state)
        time.sleep(rng.uniform(1.5, 3.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        seen.append(len(ledger.read_text().splitlines()))
    final = agent(rules, bus_url, state)
    _, err = final.communicate(timeout=240)
    assert final.returncode == 0, err
    lines = ledger.read_text().splitlines()
    assert len(lines) == len(set(lines)) == EVENTS, (len(lines), len(set(lines)))
    assert set(lines) == {f"{i}/ledger" for i in ids}
    assert sum(n < EVENTS for n in seen[1:]) >= 3, seen  # kills came mid-stream
    journal = ActionJournal(state)
    entries = list(journal.entries())
    journal.close()
    assert len(entries) == EVENTS
    assert {e["key"] for e in entries} == set(lines)
    assert {e["status"] for e in entries} <= {"done", "found"}
    assert sum(e["status"] == "found" for e in entries) >= 1  # the worst-moment kill's effect
    assert all(e["event"]["event_id"] == e["key"].removesuffix("/ledger") for e in entries)
    print(f"ledger after each kill: {seen}; final run: {err.strip().splitlines()[-1]}")
