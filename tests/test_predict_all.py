"""``predict eval --model all``: every model against the users' requested walltimes, errors in
hours and minutes, one plain verdict (issue r21, item 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.core.durations import hours_minutes
from hpcsched.predict.evaluate import MODELS
from hpcsched.predict.leaderboard import verdict
from hpcsched.workloads.load import write_table
from test_predict_estimators import synthetic_jobs


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(4320, "1 h 12 min"), (2280, "38 min"), (45, "45 s"), (3600, "1 h 0 min"), (93784, "1 d 2 h")],
)
def test_errors_read_in_hours_and_minutes(seconds: float, text: str) -> None:
    assert hours_minutes(seconds) == text


def test_the_verdict_names_the_best_and_how_much_smaller_than_requested() -> None:
    rows = [
        {"model": "requested", "medae": 9348.0},
        {"model": "alea", "medae": 3000.0},
        {"model": "lightgbm", "medae": 2280.0},
    ]
    assert verdict(rows, "runtime") == (
        "lightgbm is best: its median error is 38 min, 4.1× smaller than requested walltimes"
    )
    rows[1]["mae"], rows[2]["mae"] = 3840.0, 4320.0  # a mean led by another model is said
    assert verdict(rows, "runtime").endswith(
        "4.1× smaller than requested walltimes (the lowest mean error is alea's, 1 h 4 min)"
    )
    rows[0]["medae"] = 1000.0
    assert verdict(rows, "runtime") == (
        "no model beats the requested walltimes (median error 17 min); the best, lightgbm, "
        "has 38 min"
    )


def test_eval_all_prints_one_table_and_the_verdict(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    write_table(synthetic_jobs(1500), path, machine_procs=256)
    args = ["predict", "eval", str(path), "--model", "all", "--retrain-every", "500"]
    runner = CliRunner()
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {row["model"]: row for row in report["models"]}
    assert set(rows) == set(MODELS)
    assert all(row["n"] == 1000 for row in rows.values())  # the same jobs for every model
    best = min((r for r in rows.values() if r["model"] != "requested"), key=lambda r: r["medae"])
    assert report["verdict"].startswith(f"{best['model']} is best: its median error is ")
    printed = runner.invoke(app, args)
    assert printed.exit_code == 0, printed.stderr
    lines = printed.stdout.splitlines()
    for model in MODELS:
        row = next(line for line in lines if re.search(rf"│ {re.escape(model)} +│", line))
        assert re.search(r"\d+ (h \d+ min|min|s)\b", row), row  # errors in hours and minutes
    assert any("median error" in line and "mean error" in line for line in lines)
    assert lines[-1] == report["verdict"]
