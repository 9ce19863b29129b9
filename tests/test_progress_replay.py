"""Progress bars of compare, simulate and report (issue 21, item 2): drawn on stderr only when it
is a terminal; off one, stderr stays empty and the JSON on stdout still parses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcsched.cli import app, render
from hpcsched.workloads.load import write_table
from test_predict_estimators import synthetic_jobs
from test_progress import terminal


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.parquet"
    write_table(synthetic_jobs(300), path, machine_procs=64)
    return path


def invoke(*args: str) -> tuple[str, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def test_off_a_terminal_stderr_stays_empty(jobs: Path, tmp_path: Path) -> None:
    out, err = invoke("compare", str(jobs), "--policies", "fcfs,easy", "--json")
    assert err == "" and [row["policy"] for row in json.loads(out)] == ["fcfs", "easy"]
    out, err = invoke("simulate", str(jobs), "--json")
    assert err == "" and json.loads(out)["jobs"] == 300
    out, err = invoke("report", str(jobs), "--out", str(tmp_path / "r"), "--json")
    assert err == "" and json.loads(out)["report"].endswith("report.html")


def test_compare_simulate_and_report_draw_their_bars_on_a_terminal(
    jobs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console, drawn = terminal()
    monkeypatch.setattr(render, "stderr_console", lambda: console)
    out, _ = invoke("compare", str(jobs), "--policies", "fcfs,easy,sjf", "--json")
    assert len(json.loads(out)) == 3  # the bar is on stderr, not in the JSON
    assert "comparing 3 policies on 300 jobs" in drawn.getvalue()
    assert "3/3" in drawn.getvalue()
    invoke("simulate", str(jobs), "--policy", "easy", "--json")
    assert "easy: replaying 300 jobs" in drawn.getvalue()
    invoke("report", str(jobs), "--out", str(tmp_path / "r"), "--json")
    text = drawn.getvalue()
    for step in ("report: reading jobs.parquet", "report of 300 jobs: figures", "5/5"):
        assert step in text, step


def test_simulate_steps_through_the_protocol_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.parquet"  # the rlscheduler windows start as late as job 8,850
    write_table(synthetic_jobs(9900), path, machine_procs=64)
    console, drawn = terminal()
    monkeypatch.setattr(render, "stderr_console", lambda: console)
    out, _ = invoke("simulate", str(path), "--protocol", "rlscheduler", "--json")
    assert json.loads(out)["windows"] == 10
    assert "replaying 10 windows of 9,900 jobs" in drawn.getvalue()
    assert "10/10" in drawn.getvalue()


def test_compare_on_dask_steps_per_finished_case(
    jobs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console, drawn = terminal()
    monkeypatch.setattr(render, "stderr_console", lambda: console)
    out, _ = invoke("compare", str(jobs), "--policies", "fcfs,easy", "--dask", "local", "--json")
    assert all("worker_host" in row for row in json.loads(out))
    assert "comparing 2 policies on 300 jobs" in drawn.getvalue() and "2/2" in drawn.getvalue()
