"""``refit`` is a real action: ``predict fit``'s run-time bound fitted on the rule's job table and
renamed into place whole; ``model.json`` records the action's key, so a kill -9 between the
intent and its result neither loses the model nor fits it twice. ``split`` without
``checkpointed: true`` stays a proposal, journaled with the suggested pieces."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hpcsched.agents.agent import Agent
from hpcsched.agents.journal import ActionJournal
from hpcsched.agents.rules import load_rules
from hpcsched.agents.split import suggest_split
from hpcsched.cli import app
from hpcsched.predict.saved import load_model
from test_advise import synthetic_history

RULES = """\
rules:
  - name: refit-runtime
    when: {event: prediction-drift}
    action: refit
    table: history.parquet
    out: model
    threshold: 0.3
  - name: split-too-long
    when: {event: job-refused-too-long}
    action: split
"""

CHILD = """\
import sys
from pathlib import Path
from hpcsched.agents.agent import Agent
from hpcsched.agents.journal import ActionJournal
from hpcsched.agents.rules import load_rules
Agent(load_rules(sys.argv[1]), ActionJournal(Path(sys.argv[2]))).handle(1, sys.argv[3].encode())
"""


def drift(n: int, error: float = 0.5) -> bytes:
    return json.dumps({"event": "prediction-drift", "event_id": f"d-{n}", "error": error}).encode()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    synthetic_history(tmp_path / "history.parquet")  # 150 jobs: enough to learn, fast to fit
    (tmp_path / "rules.yaml").write_text(RULES)
    return tmp_path


def killed_agent(folder: Path, event: bytes, at: str) -> None:
    """An agent in its own process, SIGKILLed at ``at`` (intended, acted) of its first action."""
    argv = [sys.executable, "-c", CHILD, str(folder / "rules.yaml"), str(folder / "state")]
    env = {**os.environ, "HPCSCHED_AGENTS_KILL_AT": at}
    done = subprocess.run([*argv, event.decode()], env=env, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-400:]


def no_fit(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("the model was fitted a second time")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".model."))


def test_killed_after_the_model_was_written_it_is_found_not_refitted(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed_agent(folder, drift(1), "acted")
    meta_path = folder / "model" / "model.json"
    written = meta_path.read_bytes()
    inode = (folder / "model" / "runtime.joblib").stat().st_ino
    assert json.loads(written)["agent"]["key"] == "d-1/refit-runtime"
    monkeypatch.setattr("hpcsched.predict.saved.fit_model", no_fit)
    journal = ActionJournal(folder / "state")
    agent = Agent(load_rules(folder / "rules.yaml"), journal)
    assert agent.recover() == 1
    assert agent.stats.found == 1 and agent.stats.acted == 0
    agent.handle(1, drift(1))  # the redelivery of the event whose ack the kill lost
    assert agent.stats.redelivered == 1
    assert meta_path.read_bytes() == written  # written once
    assert (folder / "model" / "runtime.joblib").stat().st_ino == inode
    (entry,) = list(journal.entries())
    assert entry["status"] == "found" and entry["result"]["model"] == str(folder / "model")
    assert load_model(folder / "model").runtime.known == 150
    assert leftovers(folder) == []


def test_killed_before_the_fit_the_restart_fits_once(folder: Path) -> None:
    killed_agent(folder, drift(1), "intended")
    assert not (folder / "model").exists()
    journal = ActionJournal(folder / "state")
    agent = Agent(load_rules(folder / "rules.yaml"), journal)
    assert agent.recover() == 1
    assert agent.stats.acted == 1 and agent.stats.found == 0
    meta = json.loads((folder / "model" / "model.json").read_text())
    assert meta["agent"] == {"key": "d-1/refit-runtime", "event_id": "d-1", "rule": "refit-runtime"}
    assert meta["trained_on"]["path"] == str((folder / "history.parquet").resolve())
    assert [e["status"] for e in journal.entries()] == ["done"]


def test_a_refit_replaces_the_model_whole_and_only_past_the_threshold(folder: Path) -> None:
    journal = ActionJournal(folder / "state")
    agent = Agent(load_rules(folder / "rules.yaml"), journal)
    agent.handle(1, drift(1))
    agent.handle(2, drift(2, error=0.1))  # below the threshold: no refit
    agent.handle(3, drift(3, error=0.4))
    meta = json.loads((folder / "model" / "model.json").read_text())
    assert meta["agent"]["key"] == "d-3/refit-runtime"  # the second model replaced the first
    assert leftovers(folder) == []  # no staging or old folder left beside it
    statuses = [(e["key"], e["status"]) for e in journal.entries()]
    assert statuses == [
        ("d-1/refit-runtime", "done"),
        ("d-2/refit-runtime", "skipped"),
        ("d-3/refit-runtime", "done"),
    ]
    journal.close()
    shown = CliRunner().invoke(app, ["agents", "log", str(folder / "state")])
    assert f"done      refit-runtime: refit -> {folder / 'model'} (150 jobs)" in shown.output
    assert "error 0.1 below the threshold 0.3" in shown.output


def test_a_refit_that_cannot_learn_fails_in_one_line_and_keeps_the_old_model(
    folder: Path,
) -> None:
    synthetic_history(folder / "short.parquet", jobs=20)
    (folder / "rules.yaml").write_text(RULES.replace("history.parquet", "short.parquet"))
    journal = ActionJournal(folder / "state")
    agent = Agent(load_rules(folder / "rules.yaml"), journal)
    agent.handle(1, drift(1))
    (entry,) = list(journal.entries())
    assert entry["status"] == "failed" and "needed to learn a model" in entry["result"]["error"]
    assert not (folder / "model").exists() and leftovers(folder) == []


def test_a_folder_that_is_not_a_model_is_never_replaced(folder: Path) -> None:
    (folder / "model").mkdir()
    (folder / "model" / "thesis.tex").write_text("years of work")
    journal = ActionJournal(folder / "state")
    Agent(load_rules(folder / "rules.yaml"), journal).handle(1, drift(1))
    (entry,) = list(journal.entries())
    assert entry["status"] == "failed" and "is not a model folder" in entry["result"]["error"]
    assert (folder / "model" / "thesis.tex").read_text() == "years of work"
    assert leftovers(folder) == []


def test_split_is_journaled_as_a_proposal_with_its_pieces(folder: Path) -> None:
    journal = ActionJournal(folder / "state")
    agent = Agent(load_rules(folder / "rules.yaml"), journal)
    refused = {"event": "job-refused-too-long", "event_id": "r-1", "job_id": "42"}
    agent.handle(1, json.dumps({**refused, "timelimit": 5000, "max_time": 1800}).encode())
    (entry,) = list(journal.entries())
    assert entry["status"] == "proposed"
    assert entry["plan"]["pieces"] == 3 and entry["plan"]["piece_limit"] == 1680
    assert entry["plan"]["dependency"] == "afterok" and entry["plan"]["job_id"] == "42"


@settings(max_examples=300, deadline=None)
@given(limit=st.floats(1, 30 * 86400), max_time=st.floats(60, 7 * 86400))
def test_the_suggested_pieces_cover_the_job_and_each_fits(limit: float, max_time: float) -> None:
    plan = suggest_split({"timelimit": limit, "max_time": max_time}, {})
    assert plan["piece_limit"] <= max_time and plan["piece_limit"] % 60 == 0
    assert plan["pieces"] * plan["piece_limit"] >= limit
    assert plan["pieces"] == max(1, math.ceil(limit / (math.floor(max_time / 60) * 60)))
