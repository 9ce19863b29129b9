"""The materials campaign end to end: the same decisions under both clocks, a live run on real
processes that writes real files, the CLI's keys, and what priorities buy (PriorityBF vs FCFS)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpcsched.campaigns.materials.planner import GOALS, Plan, RuleBasedPlanner
from hpcsched.campaigns.materials.report import KEYS
from hpcsched.campaigns.materials.run import Outcome, run_sim
from hpcsched.cli.campaign import live_campaign
from hpcsched.core.pool import Pool
from hpcsched.runtime.executors.local import LocalExecutor
from hpcsched.runtime.journal import read_journal

PLANNER = RuleBasedPlanner()


def run_live(plan: Plan, policy: str, cpus: int, window: float, out: Path) -> Outcome:
    """The campaign on this machine's processes, wired as ``--clock live`` wires it by default."""
    executor, pool = LocalExecutor(max_workers=cpus), Pool.uniform(1, cpus, source="flags")
    return live_campaign(plan, policy, window, out, executor, pool)


def test_sim_and_live_run_the_same_task_sequence(tmp_path: Path) -> None:
    # one cpu: the order depends only on results and completions, not on how long tasks take
    plan = PLANNER.plan(GOALS["uo2"], materials=24)
    simulated = run_sim(plan, "prioritybf", 1)
    live = run_live(plan, "prioritybf", 1, float("inf"), tmp_path)
    assert live.order == simulated.order
    kinds = {tid.split("-", 1)[0] for tid in live.order}
    assert {"train", "predict", "drift", "validate", "log"} <= kinds
    for key in (
        "materials_investigated",
        "drift_checks",
        "drift_detections",
        "low_priority_misses",
    ):
        assert live.report[key] == simulated.report[key], key
    assert live.report["materials_investigated"] == 24
    assert live.report["best"] == simulated.report["best"]


def test_a_live_run_trains_predicts_checks_and_writes_its_files(tmp_path: Path) -> None:
    plan = PLANNER.plan(GOALS["usi"], materials=100, batch=10)
    outcome = run_live(plan, "prioritybf", 2, 120.0, tmp_path)
    report = outcome.report
    assert report["materials_investigated"] == 100
    assert report["prediction_tasks"] == 30 and report["drift_checks"] >= 20
    work = tmp_path / "work"
    assert {p.name for p in (work / "models").glob("*-v0.pkl")} == {
        "nn-v0.pkl",
        "rf-v0.pkl",
        "gnn-v0.pkl",
    }
    predictions = json.loads((work / "predictions" / "rf-50.json").read_text())
    assert len(predictions["values"]) == 10
    drift = json.loads(next((work / "drift").glob("gnn-*.json")).read_text())
    assert 0.0 <= drift["p_value"] <= 1.0 and drift["window"] >= 8
    # a queued validation is dropped when a newer one is queued, so which ones ran depends on timing
    validations = sorted((work / "validation").glob("*.json"))
    assert validations
    validation = json.loads(validations[-1].read_text())
    assert validation["mae"]["ensemble"] < 0.5
    assert "lowest ensemble enthalpy" in (work / "log" / "campaign.log").read_text()
    svg = (work / "plots" / "landscape.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<circle") >= 100
    assert list((work / "candidates").glob("*.json"))


def hpcsched(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def test_the_cli_reports_every_key_as_json() -> None:
    proc = hpcsched(
        "campaign", "materials", "--goal", "uo2", "--clock", "sim", "--policy", "easy",
        "--window", "5m", "--cpus", "4", "--materials", "120", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert tuple(report) == KEYS
    assert report["policy"] == "easy" and report["window"] == 300.0 and report["cpus"] == 4
    assert 0 < report["materials_investigated"] <= 120
    assert report["prediction_tasks"] >= 3 * report["materials_investigated"]
    assert 0 < report["utilisation"] <= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--goal", "uo3"], "--goal 'uo3': choose uo2 or usi"),
        (["--window", "soon"], "'soon' is not a duration"),
        (["--policy", "nope"], "unknown policy 'nope'"),
        (["--data", "missing.csv"], "--data missing.csv: no such file"),
        (["--executor", "dask"], "--executor dask runs tasks live; give --clock live"),
        (["--clock", "live", "--executor", "mpi"], "--executor 'mpi': choose local, dask or slurm"),
        (["--clock", "live", "--executor", "dask", "--cpus", "4"], "--cpus sizes the local pool"),
    ],
)
def test_the_cli_refuses_bad_options_in_one_line(args: list[str], message: str) -> None:
    proc = hpcsched("campaign", "materials", *args)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert message in line


def test_a_live_campaign_runs_on_a_dask_cluster(tmp_path: Path) -> None:
    # the executor is the command line's choice, as for `hpcsched run`: here a Dask LocalCluster
    proc = hpcsched(
        "campaign", "materials", "--goal", "uo2", "--clock", "live", "--materials", "12",
        "--window", "inf", "--executor", "dask", "--dask-workers", "2",
        "--out", str(tmp_path), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["clock"] == "live" and report["materials_investigated"] == 12
    assert report["cpus"] == 2  # the pool is the cluster's: two single-thread workers
    assert report["work_dir"] == str((tmp_path / "work").resolve())
    record = read_journal(tmp_path / "run")
    assert [run["executor"] for run in record.runs] == ["dask"]
    assert record.tasks and all(rec.state == "succeeded" for rec in record.tasks.values())
    assert list((tmp_path / "work" / "predictions").glob("*.json"))


def test_prioritybf_investigates_over_1_6_times_the_materials_of_fcfs_with_no_misses() -> None:
    plan = PLANNER.plan(GOALS["uo2"], materials=300)
    pbf = run_sim(plan, "prioritybf", 4, 400.0).report
    fcfs = run_sim(plan, "fcfs", 4, 400.0).report
    assert pbf["materials_investigated"] >= 1.6 * fcfs["materials_investigated"] > 0
    assert pbf["low_priority_misses"] == 0
    # the gain is work priorities let the campaign skip: analyses made obsolete while queued
    assert pbf["obsolete_removed"].get("analyse", 0) > fcfs["obsolete_removed"].get("analyse", 0)
