"""``hpcsched predict``: the JSON contract and bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.workloads.load import write_table
from test_predict_estimators import synthetic_jobs

runner = CliRunner()
POINT_KEYS = {"n", "mae", "medae", "mape", "accuracy", "under_rate"}


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "history.parquet"
    write_table(synthetic_jobs(3000), path, machine_procs=256)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["predict", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("model", ["requested", "user-last-two", "alea", "lightgbm"])
def test_eval_json_has_the_point_metrics(history: Path, model: str) -> None:
    code, out, err = run("eval", str(history), "--model", model, "--retrain-every", "500", "--json")
    assert code == 0, err
    got = json.loads(out.strip().splitlines()[-1])
    assert set(got) >= POINT_KEYS
    assert got["n"] == 2500 and got["model"] == model  # the first block is never scored
    assert got["mae"] > 0


def test_eval_bound_json_has_coverage_and_reserved_ratio(history: Path) -> None:
    code, out, err = run(
        "eval", str(history), "--model", "lightgbm-bound", "--coverage", "0.9", "--json"
    )
    assert code == 0, err
    got = json.loads(out.strip().splitlines()[-1])
    assert POINT_KEYS | {"coverage", "reserved_ratio", "request_reserved_ratio"} <= set(got)
    assert got["coverage"] >= 0.85
    assert got["reserved_ratio"] < got["request_reserved_ratio"]


def test_eval_memory_target(history: Path) -> None:
    code, out, err = run("eval", str(history), "--model", "alea", "--target", "memory", "--json")
    assert code == 0, err
    assert json.loads(out)["target"] == "memory"


def test_impact_json_compares_user_estimates_with_predictions(history: Path) -> None:
    code, out, err = run("impact", str(history), "--model", "user-last-two", "--json")
    assert code == 0, err
    got = json.loads(out)
    for side in ("user_estimates", "predictions"):
        assert {"avg_bsld", "avg_wait"} <= set(got[side])
    assert got["capacity"] == 256


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["eval", "/nonexistent.swf", "--model", "alea"], "no such file"),
        (["eval", "HISTORY", "--model", "magic"], "--model 'magic'"),
        (["eval", "HISTORY", "--target", "gpu"], "--target"),
        (["eval", "HISTORY", "--coverage", "1.5"], "--coverage"),
    ],
)
def test_user_errors_are_one_line(history: Path, args: list[str], needle: str) -> None:
    code, _, err = run(*[str(history) if a == "HISTORY" else a for a in args])
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1
