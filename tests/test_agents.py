"""The agents' rules, journal and decisions, without a bus or a cluster: RULES.yaml errors are
one line with file:line, the resubmission limit never exceeds the partition's MaxTime, and a
redelivered or crash-interrupted event is acted on once."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hpcsched.agents.actions import Resubmitter, ledger_keys
from hpcsched.agents.agent import Agent
from hpcsched.agents.journal import ActionJournal
from hpcsched.agents.rules import Resubmit, Rules, RulesError, When, load_rules
from hpcsched.cli import app

LEDGER_RULES = """\
subject: t
group: g
rules:
  - name: note
    when: {event: job-ended, state: TIMEOUT}
    action: ledger
    path: LEDGER
  - name: over-requesters
    when: {event: job-ended}
    action: flag-user
    ratio: 10
    after: 2
  - name: split-too-long
    when: {event: job-refused-too-long}
    action: split
"""


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text.replace("LEDGER", str(tmp_path / "ledger.tsv")))
    return path


def event(n: int, **fields: Any) -> bytes:
    base = {"event": "job-ended", "event_id": f"e-{n}", "job_id": str(n), "state": "timeout"}
    return json.dumps({**base, **fields}).encode()


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("rules:\n  - name: a\n    when: {event: x}\n    action: ledger\n", 2,
         "rules[0].path' is missing"),
        ("rules:\n  - name: a\n    on: {event: x}\n    action: split\n", 2, "when:"),
        # the string "on" (quoted, or read by a loader without YAML 1.1's booleans; CI found it)
        ('rules:\n  - name: a\n    "on": {event: x}\n    action: split\n', 2, "when:"),
        ("rules:\n  - name: a\n    when: {event: x}\n    action: explode\n", 4, "unknown action"),
        ("group: g\ngroup: h\nrules: []\n", 2, "twice"),
        ("rules:\n  - name: a\n    when: {event: x}\n    action: resubmit\n"
         "    limit_factor: 0.5\n", 5, "limit_factor"),
        ("rules:\n  - name: a\n    when: {event: x}\n    action: split\n"
         "  - name: a\n    when: {event: y}\n    action: split\n", 5, "named twice"),
        ("rules:\n  - name: a\n    when: {event: x}\n    action: refit\n    out: m\n", 2,
         "rules[0].table' is missing"),
        ("rules:\n  - name: a\n    when: {event: x}\n    action: split\n    colour: red\n", 5,
         "unknown field"),
        ("rules: [\n", 2, "YAML syntax error"),
    ],
)  # fmt: skip
def test_rules_errors_are_one_line_with_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = write_rules(tmp_path, text)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message and "\n" not in message
    done = CliRunner().invoke(app, ["agents", "run", str(path), "--once"])
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert done.output.strip().splitlines() == [f"hpcsched: error: {message}"]


@settings(max_examples=300, deadline=None)
@given(
    old=st.floats(60, 7 * 86400),
    factor=st.floats(1.01, 100),
    max_time=st.floats(60, 30 * 86400) | st.just(math.inf),
    attempt=st.integers(0, 5),
)
def test_the_new_limit_never_exceeds_the_partition_max(
    old: float, factor: float, max_time: float, attempt: int
) -> None:
    rule = Resubmit(
        name="r", when=When(event="job-ended"), action="resubmit", limit_factor=factor,
        max_attempts=3,
    )  # fmt: skip
    resubmitter = Resubmitter(adapter=None, max_times={"p": max_time})  # type: ignore[arg-type]
    plan = resubmitter.plan(rule, {"partition": "p", "timelimit": old, "job_id": "1"}, attempt)
    if plan["decision"] == "resubmit":
        assert old < plan["new_limit"] <= max_time
        assert plan["new_limit"] % 60 == 0  # whole minutes, Slurm's unit
        assert attempt < 3
    else:
        assert attempt >= 3 or math.floor(max_time / 60) * 60 <= old  # no whole minute left


def test_each_event_is_acted_on_once_and_user_flags_count_jobs_once(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path, LEDGER_RULES))
    journal = ActionJournal(tmp_path / "state")
    agent = Agent(rules, journal)
    for n in range(3):
        agent.handle(n + 1, event(n, user="ann", runtime=10, timelimit=600))
    agent.handle(1, event(0, user="ann", runtime=10, timelimit=600))  # a redelivery
    agent.handle(4, event(9, user="bob", runtime=500, timelimit=600, state="completed"))
    agent.handle(5, b'{"event": "job-refused-too-long", "event_id": "r-1"}')
    agent.handle(6, b"not json")
    assert ledger_keys(tmp_path / "ledger.tsv") == ["e-0/note", "e-1/note", "e-2/note"]
    entries = list(journal.entries())
    flags = [e for e in entries if e["action"] == "flag-user"]
    assert [(f["key"], f["result"]["user"], f["result"]["jobs"]) for f in flags] == [
        ("e-1/over-requesters", "ann", 2)
    ]
    assert [e["status"] for e in entries if e["action"] == "split"] == ["proposed"]
    assert agent.stats.redelivered == 1 and agent.stats.unreadable == 1
    assert all(e["event"]["event_id"] == e["key"].split("/")[0] for e in entries)


def test_an_intent_cut_short_is_checked_before_it_is_redone(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path, LEDGER_RULES))
    journal = ActionJournal(tmp_path / "state")
    agent = Agent(rules, journal)
    agent.handle(1, event(1))
    agent.handle(2, event(2))
    # a crash after the ledger line of e-2 was written, before its result was journaled; and
    # one before the line of e-3 was written
    journal.db.execute("UPDATE actions SET status = NULL WHERE key = 'e-2/note'")
    from hpcsched.agents.agent import _with
    from hpcsched.agents.journal import Intent

    journal.intend(_with(Intent("e-3/note", "e-3", "note", "ledger", 3, {}, {}, 0.0), {}))
    again = Agent(rules, journal)
    assert again.recover() == 2
    assert again.stats.found == 1 and again.stats.acted == 1
    again.handle(2, event(2))  # the redelivery of the event whose ack the crash lost
    assert ledger_keys(tmp_path / "ledger.tsv") == ["e-1/note", "e-2/note", "e-3/note"]
    statuses = {e["key"]: e["status"] for e in journal.entries()}
    assert statuses == {"e-1/note": "done", "e-2/note": "found", "e-3/note": "done"}


def test_agents_log_shows_each_action_with_its_cause(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path, LEDGER_RULES))
    journal = ActionJournal(tmp_path / "state")
    Agent(rules, journal).handle(1, event(7))
    journal.close()
    done = CliRunner().invoke(app, ["agents", "log", str(tmp_path / "state")])
    assert done.exit_code == 0, done.output
    assert "done      note: ledger  <- job-ended e-7 job 7 timeout" in done.output
    as_json = CliRunner().invoke(app, ["agents", "log", str(tmp_path / "state"), "--json"])
    (entry,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert entry["event"]["event_id"] == "e-7" and entry["status"] == "done"
    missing = CliRunner().invoke(app, ["agents", "log", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no actions.sqlite there" in missing.output


def test_rules_defaults() -> None:
    rules = Rules.model_validate(
        {"rules": [{"name": "x", "when": {"event": "e"}, "action": "split", "threshold": 0.3}]}
    )
    assert rules.group == "hpcsched-agents" and rules.subject == ">" and rules.batch == 16
    assert rules.decider.kind == "rules"  # a language model decides only when asked to
