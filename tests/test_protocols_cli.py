"""Protocols and defaults from the command line (issue: one scheduler core, item 6).

- ``--filter rlscheduler`` implies RLScheduler's environment and their ten windows: ``compare``
  prints all six cells of each row of their table (VALIDATION.md rung 2), no-backfill ones too;
- ``simulate`` and ``compare`` share one PriorityBF class default and say what the classes are;
- a job table with ``eligible`` releases jobs at ``eligible`` (``--release submit`` to opt out);
- the overrun repro of the issue: utilisation <= 1 and job 3 starting at 100, every policy and
  both engines.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.policies.registry import registered_policies

from conftest import TRACES, require_shared

runner = CliRunner()
ROWS = {
    "lublin_256.swf.gz": [7273.77, 277.35, 258.37, 235.82, 73.31, 75.07],
    "SDSC-SP2-1998-4.2-cln.swf.gz": [1727.54, 2680.55, 1232.06, 1595.12, 2167.84, 1098.22],
    "HPC2N-2002-2.2-cln.swf.gz": [297.18, 157.71, 118.01, 127.38, 122.04, 71.95],
}
CELLS = "fcfs:none,sjf:none,f1:none,fcfs:rlscheduler,sjf:rlscheduler,f1:rlscheduler"


def last_json(out: str) -> object:
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("trace", sorted(ROWS))
def test_compare_reproduces_every_rlscheduler_cell(trace: str) -> None:
    path = require_shared(TRACES / trace)
    result = runner.invoke(
        app, ["compare", str(path), "--filter", "rlscheduler", "--policies", CELLS, "--json"]
    )
    assert result.exit_code == 0, result.stderr
    rows = last_json(result.stdout)
    assert isinstance(rows, list)
    assert [round(row["avg_bsld"], 2) for row in rows] == ROWS[trace]
    assert {row["protocol"] for row in rows} == {"rlscheduler"}
    assert {row["windows"] for row in rows} == {10}


def test_the_table_says_it_is_the_protocols_mean() -> None:
    path = require_shared(TRACES / "lublin_256.swf.gz")
    result = runner.invoke(
        app, ["simulate", str(path), "--filter", "rlscheduler", "--order", "sjf"]
    )
    assert result.exit_code == 0, result.stderr
    assert "rlscheduler protocol: means over 10 windows" in " ".join(result.stdout.split())


def _small_trace(tmp_path: Path) -> Path:
    lines = ["; MaxProcs: 8"]
    for i in range(60):
        procs = 1 + (i * 5) % 8
        run = 20 + (i * 7) % 50
        lines.append(
            f"{i + 1} {i * 3} -1 {run} {procs} -1 -1 {procs} {run + 30} -1 1 1 1 -1 -1 -1 -1 -1"
        )
    path = tmp_path / "small.swf"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_simulate_and_compare_share_the_prioritybf_classes(tmp_path: Path) -> None:
    path = str(_small_trace(tmp_path))
    one = runner.invoke(app, ["simulate", path, "--policy", "prioritybf", "--json"])
    many = runner.invoke(app, ["compare", path, "--policies", "prioritybf,easy", "--json"])
    assert one.exit_code == 0 and many.exit_code == 0
    single, rows = last_json(one.stdout), last_json(many.stdout)
    assert isinstance(single, dict) and isinstance(rows, list)
    assert single["avg_bsld"] == rows[0]["avg_bsld"]
    assert single["classes"] == rows[0]["classes"]
    assert single["classes"].startswith("size: class 0 = more than")
    human = runner.invoke(app, ["simulate", path, "--policy", "prioritybf"])
    assert "classes: size: class 0" in " ".join(human.stdout.split())


def test_jobs_are_released_at_eligible(tmp_path: Path) -> None:
    # job 1 is held until t=500 (--begin); with --release submit it would start at once
    table = pl.DataFrame(
        {
            "job_id": ["1", "2"],
            "submit": [0.0, 10.0],
            "eligible": [500.0, None],
            "start": [500.0, 10.0],
            "end": [600.0, 110.0],
            "runtime": [100.0, 100.0],
            "timelimit": [200.0, 200.0],
            "cpus": [4, 4],
            "user": ["a", "b"],
        }
    )
    path = tmp_path / "held.parquet"
    table.write_parquet(path)
    out = tmp_path / "sim.parquet"
    eligible = runner.invoke(
        app, ["simulate", str(path), "--procs", "4", "--json", "--out", str(out)]
    )
    assert eligible.exit_code == 0, eligible.stderr
    metrics = last_json(eligible.stdout)
    assert isinstance(metrics, dict)
    assert metrics["held"] == 1 and metrics["released_at"] == "eligible"
    starts = dict(pl.read_parquet(out).select("job_id", "start").iter_rows())
    assert starts == {"1": 500.0, "2": 10.0}
    assert metrics["avg_wait"] == 0.0  # waits count from eligible
    submit = runner.invoke(
        app,
        ["simulate", str(path), "--procs", "4", "--release", "submit", "--json", "--out", str(out)],
    )
    assert submit.exit_code == 0
    starts = dict(pl.read_parquet(out).select("job_id", "start").iter_rows())
    assert starts == {"1": 0.0, "2": 100.0}


OVERRUN = """; MaxProcs: 10
1 0 0 100 5 -1 -1 5 60 -1 1 1 1 -1 -1 -1 -1 -1
2 0 0 100 5 -1 -1 5 60 -1 1 1 1 -1 -1 -1 -1 -1
3 0 0 10 1 -1 -1 1 10 -1 1 1 1 -1 -1 -1 -1 -1
"""


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("policy", sorted(registered_policies()))
def test_two_overruns_at_one_instant_do_not_over_commit(
    tmp_path: Path, policy: str, engine: str
) -> None:
    from hpcsched.sim.simulate import compiled_twin

    if engine == "fast" and not compiled_twin(registered_policies()[policy]):
        pytest.skip("no compiled twin: --engine fast refuses it (tested in test_cli)")
    trace = tmp_path / "overrun.swf"
    trace.write_text(OVERRUN)
    out = tmp_path / "o.parquet"
    args = ["simulate", str(trace), "--policy", policy, "--engine", engine, "--json"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    metrics = last_json(result.stdout)
    assert isinstance(metrics, dict)
    assert metrics["utilization"] <= 1.0
    assert metrics["violations"] == 0
    starts = dict(pl.read_parquet(out).select("job_id", "start").iter_rows())
    assert starts["3"] == 100.0


def test_the_cli_class_default_is_the_policies_one() -> None:
    from hpcsched.cli.options import DEFAULT_CLASSES as CLI_DEFAULT
    from hpcsched.policies.classes import DEFAULT_CLASSES

    assert CLI_DEFAULT == DEFAULT_CLASSES
