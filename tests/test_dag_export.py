"""An exported run keeps each task's ``depends`` and replays as a DAG (issue 20, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from fault_harness import hpcsched
from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy
from hpcsched.runtime.dag_sources import load_dag
from hpcsched.sim.workflow import simulate_workflow

DIAMOND = """\
jobs:
  - {id: a, command: 'true'}
  - {id: b, command: 'true', depends: [a]}
  - {id: c, command: 'true', depends: [a]}
  - {id: d, command: 'true', depends: [b, c]}
"""


def test_an_exported_run_keeps_depends_and_replays_as_a_dag(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(DIAMOND)
    assert hpcsched("run", "wf.yaml", "--cpus", "2", cwd=tmp_path).returncode == 0
    proc = hpcsched("export", "wf.run", "-o", "jobs.parquet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pl.read_parquet(tmp_path / "jobs.parquet")
    assert dict(zip(table["job_id"], table["depends"], strict=True)) == {
        "a": "",
        "b": "a",
        "c": "a",
        "d": "b,c",
    }

    dag = load_dag(tmp_path / "jobs.parquet")
    measured = dict(zip(table["job_id"], table["runtime"], strict=True))
    assert dag.runtimes == measured
    run = simulate_workflow(dag.tasks, get_policy("fcfs"), Pool.uniform(1, 1), dag.runtimes)
    assert run.trace.order[0] == "a" and run.trace.order[-1] == "d"  # the edges hold
    longest = measured["a"] + max(measured["b"], measured["c"]) + measured["d"]
    assert run.bound.critical_path == longest

    shown = hpcsched("simulate", "jobs.parquet", "--cpus", "1", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert (summary["tasks"], summary["cpus"]) == (4, 1)
    assert summary["makespan"] == round(sum(measured.values()), 6)


def test_run_a_wfcommons_instance_with_scaled_sleeps_in_bottom_level_order(tmp_path: Path) -> None:
    from test_dag_workflow import _diamond_15

    (tmp_path / "diamond.json").write_text(json.dumps(_diamond_15()))
    args = ("--cpus", "1", "--policy", "easy", "--order", "bottom-level", "--scale", "0.01")
    done = hpcsched("run", "diamond.json", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert hpcsched("export", "diamond.run", "-o", "jobs.parquet", cwd=tmp_path).returncode == 0
    table = pl.read_parquet(tmp_path / "jobs.parquet").sort("start")
    assert table["job_id"].to_list() == ["A", "C", "B", "D"]  # C's longer path first
    assert table["state"].to_list() == ["completed"] * 4
    elapsed = dict(zip(table["job_id"], table["runtime"], strict=True))
    assert elapsed["C"] >= 0.3 and elapsed["B"] >= 0.2  # slept 30 s x 0.01, 20 s x 0.01
    assert table["depends"].to_list() == ["", "A", "A", "B,C"]


def test_scale_is_refused_for_a_yaml_workflow(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(DIAMOND)
    done = hpcsched("run", "wf.yaml", "--scale", "0.5", cwd=tmp_path)
    assert done.returncode != 0
    assert "--scale applies to a WfCommons instance (.json); wf.yaml is not one" in done.stderr
