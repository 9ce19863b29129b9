"""The drift half of the HARP loop against the real local Slurm (scripts/slurm-local.sh): a model
fitted on a history of ~2-second jobs, three real jobs that sleep 20 s, and ``hpcsched watch
--observe --once --model`` publishes one ``prediction-drift`` with coverage 0 (error 0.95); the
agents' refit action, given that event, swaps the model folder, and the next pass reads the new
model (``model-reloaded``); the second test runs the same loop over the real bus, with ``hpcsched
agents run`` consuming the event. About a minute on an idle cluster (the jobs must run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from hpcsched.agents.agent import Agent
from hpcsched.agents.journal import ActionJournal
from hpcsched.agents.refit import wants_refit
from hpcsched.agents.rules import load_rules, matching
from hpcsched.slurm import SlurmAdapter
from test_advise import synthetic_history
from test_watch import sacct_state
from test_watch_drift import EXAMPLE_RULES

from bus_support import fresh_subject

pytestmark = pytest.mark.slurm

RULES = """\
{head}rules:
  - name: refit-on-drift
    when: {{event: prediction-drift}}
    action: refit
    table: long.parquet
    out: model
    threshold: 0.15
"""


def history(path: Path, scale: float) -> Path:
    """``synthetic_history`` (runs of ~20 min) with every run time times ``scale``."""
    synthetic_history(path)
    table = pl.read_parquet(path).with_columns(pl.col("runtime") * scale)
    table.with_columns(end=pl.col("start") + pl.col("runtime")).write_parquet(path)
    return path


def events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def hpcsched(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env={**os.environ})


def drifting(slurm: SlurmAdapter, tmp_path: Path, target: str) -> tuple[list[str], str]:
    """A model of ~2 s jobs, three real jobs of 20 s followed by two ``watch --observe --once
    --model`` passes (before and after they ran) reporting to ``target``: (job ids, stderr of
    the second pass); ``watch`` options for more passes in ``tmp_path/watch.args``."""
    short = history(tmp_path / "short.parquet", 2 / 1200)  # ~2 s jobs
    history(tmp_path / "long.parquet", 20 / 1200)  # ~20 s jobs: what the refit learns
    fit = hpcsched("predict", "fit", str(short), "--out", str(tmp_path / "model"))
    assert fit.returncode == 0, fit.stderr
    args = ["-o", "/dev/null", "--chdir=/tmp", "--partition=debug", "--time=1"]
    script = "#!/bin/bash\nsleep 20\n"
    ids = [str(slurm.sbatch(script, extra_args=[*args, "--job-name=d19-drift"])) for _ in range(3)]
    watch = ["watch", "--observe", "--once", "--events", target]
    watch += ["--state", str(tmp_path / "watch.json"), "--model", str(tmp_path / "model")]
    watch += ["--drift-window", "3", "--drift-threshold", "0.5", *(f"--job={j}" for j in ids)]
    (tmp_path / "watch.args").write_text(json.dumps(watch))
    try:
        first = hpcsched(*watch)
        assert first.returncode == 0, first.stderr
        deadline = time.monotonic() + 900  # the shared cluster may be busy with others' jobs
        while any(sacct_state(slurm, j) != "COMPLETED" for j in ids):
            assert time.monotonic() < deadline, f"jobs {ids} did not complete"
            time.sleep(3)
        second = hpcsched(*watch)
        assert second.returncode == 0, second.stderr
    finally:
        for job_id in ids:
            slurm.scancel(job_id)
    return ids, second.stderr


def test_real_jobs_longer_than_the_model_knows_are_reported_and_refit(
    slurm: SlurmAdapter, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    ids, stderr = drifting(slurm, tmp_path, str(out))
    watch = json.loads((tmp_path / "watch.args").read_text())
    (drift,) = [e for e in events(out) if e["event"] == "prediction-drift"]
    # all three ran ~20 s, past a bound learnt from ~2 s jobs: observed coverage 0 of 0.95
    assert drift["error"] == pytest.approx(0.95) and drift["observed_coverage"] == 0.0
    assert drift["jobs"] == drift["window"] == 3 and drift["misses"] == 3
    assert {drift["first_job_id"], drift["last_job_id"]} <= set(ids)
    assert drift["model"] == str((tmp_path / "model").resolve())
    assert drift["source"] == "watch" and drift["event_id"]
    assert "prediction-drift" in stderr  # logged on stderr too
    # the example rules' refit-on-drift takes the event as written
    (rule,) = [r for r in matching(load_rules(EXAMPLE_RULES), drift) if r.action == "refit"]
    assert wants_refit(rule, drift) is None
    # the refit action runs on it, and the next watch pass reads the new model
    (tmp_path / "rules.yaml").write_text(RULES.format(head=""))
    journal = ActionJournal(tmp_path / "agents")
    Agent(load_rules(tmp_path / "rules.yaml"), journal).handle(1, json.dumps(drift).encode())
    assert [e["status"] for e in journal.entries()] == ["done"]
    journal.close()
    third = hpcsched(*watch)
    assert third.returncode == 0, third.stderr
    (reloaded,) = [e for e in events(out) if e["event"] == "model-reloaded"]
    assert reloaded["model_key"] == f"{drift['event_id']}/refit-on-drift"
    state = json.loads((tmp_path / "watch.json").read_text())["drift"]
    assert state["jobs"] == [] and state["quiet"] == 0  # a new model: a new window


@pytest.mark.bus
def test_the_loop_over_the_bus_refits_once_and_the_watch_reads_the_new_model(
    slurm: SlurmAdapter, bus_url: str, tmp_path: Path
) -> None:
    subject = fresh_subject("watch-drift")
    ids, stderr = drifting(slurm, tmp_path, f"{bus_url}/{subject}")
    assert "prediction-drift" in stderr and "error=0.95" in stderr
    head = f"subject: {subject}\ngroup: {subject}\nack_wait: 5\n"
    (tmp_path / "rules.yaml").write_text(RULES.format(head=head))
    run = ["agents", "run", str(tmp_path / "rules.yaml"), "--bus", bus_url]
    agents = hpcsched(*run, "--state", str(tmp_path / "agents"), "--until-idle", "5")
    assert agents.returncode == 0, agents.stderr
    log = hpcsched("agents", "log", str(tmp_path / "agents"), "--json")
    entries = [json.loads(line) for line in log.stdout.splitlines()]
    # three job-ended events match no rule; the one drift is one refit
    (entry,) = [e for e in entries if e["rule"] == "refit-on-drift"]
    assert entry["status"] == "done" and entry["event"]["error"] == pytest.approx(0.95)
    assert {entry["event"]["first_job_id"], entry["event"]["last_job_id"]} <= set(ids)
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["agent"]["key"] == entry["key"]
    watch = json.loads((tmp_path / "watch.args").read_text())
    third = hpcsched(*watch)
    assert third.returncode == 0, third.stderr
    assert f"model-reloaded model={(tmp_path / 'model').resolve()}" in third.stderr
    assert f"model_key={entry['key']}" in third.stderr
