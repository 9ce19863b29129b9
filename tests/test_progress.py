"""Progress bars on stderr only when it is a terminal: ``predict eval``/``impact`` retrainings and
``advise``'s fits (issue r21, item 4)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from hpcsched.cli import app, render
from hpcsched.workloads.load import write_table
from test_advise import EXAMPLE_SITE, SCRIPT, synthetic_history
from test_predict_estimators import synthetic_jobs


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def test_the_helper_draws_a_bar_on_a_terminal() -> None:
    console, out = terminal()
    with render.progress_bar("lightgbm: retraining", console=console) as advance:
        advance(3, 4)
    text = out.getvalue()
    assert "lightgbm: retraining" in text and "3/4" in text and "━" in text


def test_the_helper_draws_nothing_off_a_terminal() -> None:
    out = io.StringIO()
    with render.progress_bar("lightgbm: retraining", console=Console(file=out)) as advance:
        advance(3, 4)
    assert out.getvalue() == ""


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.parquet"
    write_table(synthetic_jobs(1200), path, machine_procs=64)
    return path


def test_eval_off_a_terminal_prints_only_its_json(jobs: Path) -> None:
    args = ["predict", "eval", str(jobs), "--model", "lightgbm", "--retrain-every", "300"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["retrains"] >= 1  # the one line is the JSON


def test_eval_and_advise_on_a_terminal_show_their_bars(
    jobs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console, out = terminal()
    monkeypatch.setattr(render, "stderr_console", lambda: console)
    args = ["predict", "eval", str(jobs), "--model", "lightgbm", "--retrain-every", "300"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    assert "lightgbm: retraining" in out.getvalue() and "3/3" in out.getvalue()
    synthetic_history(tmp_path / "h.parquet", jobs=300)
    (tmp_path / "job.sbatch").write_text(SCRIPT)
    advise = ["advise", str(tmp_path / "job.sbatch"), "--history", str(tmp_path / "h.parquet")]
    result = CliRunner().invoke(app, [*advise, "--site", str(EXAMPLE_SITE), "--json"])
    assert result.exit_code == 0, result.stderr
    assert "learning 95% bounds from 300 jobs" in out.getvalue() and "6/6" in out.getvalue()


def test_advise_off_a_terminal_prints_nothing_on_stderr(tmp_path: Path) -> None:
    synthetic_history(tmp_path / "h.parquet", jobs=300)
    (tmp_path / "job.sbatch").write_text(SCRIPT)
    args = ["advise", str(tmp_path / "job.sbatch"), "--history", str(tmp_path / "h.parquet")]
    result = CliRunner().invoke(app, [*args, "--site", str(EXAMPLE_SITE), "--user", "alice"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
