"""The drift half of the HARP loop against the real local Slurm (scripts/slurm-local.sh): a model
fitted on a history of ~2-second jobs, three real jobs that sleep 20 s, and ``hpcsched watch
--observe --once --model`` publishes one ``prediction-drift`` with coverage 0 (error 0.95); the
agents' refit action, given that event, swaps the model folder, and the next pass reads the new
model (``model-reloaded``). About a minute on an idle cluster (the jobs must run)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.agents.agent import Agent
from hpcsched.agents.journal import ActionJournal
from hpcsched.agents.refit import wants_refit
from hpcsched.agents.rules import load_rules, matching
from hpcsched.slurm import SlurmAdapter
from test_advise import synthetic_history
from test_watch import sacct_state, watch_app
from test_watch_drift import EXAMPLE_RULES

pytestmark = pytest.mark.slurm

RULES = """\
rules:
  - name: refit-on-drift
    when: {event: prediction-drift}
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


def test_real_jobs_longer_than_the_model_knows_are_reported_and_refit(
    slurm: SlurmAdapter, tmp_path: Path
) -> None:
    from hpcsched.cli import app

    short = history(tmp_path / "short.parquet", 2 / 1200)  # ~2 s jobs
    history(tmp_path / "long.parquet", 20 / 1200)  # ~20 s jobs: what the refit learns
    fit = CliRunner().invoke(app, ["predict", "fit", str(short), "--out", str(tmp_path / "model")])
    assert fit.exit_code == 0, fit.output
    args = ["-o", "/dev/null", "--chdir=/tmp", "--partition=debug", "--time=1"]
    script = "#!/bin/bash\nsleep 20\n"
    ids = [str(slurm.sbatch(script, extra_args=[*args, "--job-name=d19-drift"])) for _ in range(3)]
    out = tmp_path / "events.jsonl"
    watch = ["watch", "--observe", "--once", "--events", str(out)]
    watch += ["--state", str(tmp_path / "watch.json"), "--model", str(tmp_path / "model")]
    watch += ["--drift-window", "3", "--drift-threshold", "0.5", *(f"--job={j}" for j in ids)]
    try:
        first = CliRunner().invoke(watch_app(), watch)
        assert first.exit_code == 0, first.output
        deadline = time.monotonic() + 900  # the shared cluster may be busy with others' jobs
        while any(sacct_state(slurm, j) != "COMPLETED" for j in ids):
            assert time.monotonic() < deadline, f"jobs {ids} did not complete"
            time.sleep(3)
        second = CliRunner().invoke(watch_app(), watch)
        assert second.exit_code == 0, second.output
    finally:
        for job_id in ids:
            slurm.scancel(job_id)
    (drift,) = [e for e in events(out) if e["event"] == "prediction-drift"]
    # all three ran ~20 s, past a bound learnt from ~2 s jobs: observed coverage 0 of 0.95
    assert drift["error"] == pytest.approx(0.95) and drift["observed_coverage"] == 0.0
    assert drift["jobs"] == drift["window"] == 3 and drift["misses"] == 3
    assert {drift["first_job_id"], drift["last_job_id"]} <= set(ids)
    assert drift["model"] == str((tmp_path / "model").resolve())
    assert drift["source"] == "watch" and drift["event_id"]
    assert "prediction-drift" in second.output  # logged on stderr too
    # the example rules' refit-on-drift takes the event as written
    (rule,) = [r for r in matching(load_rules(EXAMPLE_RULES), drift) if r.action == "refit"]
    assert wants_refit(rule, drift) is None
    # the refit action runs on it, and the next watch pass reads the new model
    (tmp_path / "rules.yaml").write_text(RULES)
    journal = ActionJournal(tmp_path / "agents")
    Agent(load_rules(tmp_path / "rules.yaml"), journal).handle(1, json.dumps(drift).encode())
    assert [e["status"] for e in journal.entries()] == ["done"]
    journal.close()
    third = CliRunner().invoke(watch_app(), watch)
    assert third.exit_code == 0, third.output
    (reloaded,) = [e for e in events(out) if e["event"] == "model-reloaded"]
    assert reloaded["model_key"] == f"{drift['event_id']}/refit-on-drift"
    state = json.loads((tmp_path / "watch.json").read_text())["drift"]
    assert state["jobs"] == [] and state["quiet"] == 0  # a new model: a new window
