"""``predict fit --out MODEL`` saves a fitted bound that ``advise --model`` and ``predict impact
--model`` reuse without refitting; a missing or damaged model is refused in one line (issue r21,
item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hpcsched
from hpcsched.workloads.load import write_table
from test_advise import EXAMPLE_SITE, SCRIPT, synthetic_history
from test_predict_estimators import synthetic_jobs

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    from hpcsched.cli import app

    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(history, model folder): a 600-job history of alice and the model fitted on it."""
    folder = tmp_path_factory.mktemp("saved")
    synthetic_history(folder / "h.parquet", jobs=600)
    code, out, err = invoke(
        "predict", "fit", str(folder / "h.parquet"), "--out", str(folder / "model")
    )
    assert code == 0, err
    assert f"wrote {folder / 'model'}" in out
    return folder / "h.parquet", folder / "model"


def test_the_model_folder_says_what_it_was_fitted_on(fitted: tuple[Path, Path]) -> None:
    history, model = fitted
    meta = json.loads((model / "model.json").read_text())
    assert meta["hpcsched_version"] == hpcsched.__version__
    assert meta["trained_on"]["path"] == str(history.resolve())
    assert meta["targets"] == {
        "runtime": {"jobs": 600, "learnt": True},
        "mem_used": {"jobs": 600, "learnt": True},
    }
    assert "user" in meta["features"] and meta["created"].endswith("+00:00")
    assert (model / "runtime.joblib").exists() and (model / "memory.joblib").exists()


def test_advise_reuses_the_model_without_refitting(
    fitted: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history, model = fitted
    (tmp_path / "job.sbatch").write_text(SCRIPT)
    args = ["advise", str(tmp_path / "job.sbatch"), "--site", str(EXAMPLE_SITE), "--user", "alice"]
    code, out, err = invoke(*args, "--history", str(history), "--json")
    assert code == 0, err
    refitted = json.loads(out)["prediction"]

    def no_fit(*_: object, **__: object) -> None:
        raise AssertionError("advise --model must not fit")

    monkeypatch.setattr("hpcsched.predict.bound.fit_bound", no_fit)
    code, out, err = invoke(*args, "--model", str(model), "--json")
    assert code == 0, err
    reused = json.loads(out)["prediction"]
    # the same data and seed: the saved model gives the bound a fresh fit gives
    assert reused["runtime_upper"] == pytest.approx(refitted["runtime_upper"])
    assert reused["mem_upper"] == pytest.approx(refitted["mem_upper"])
    assert 1200 < reused["runtime_upper"] < 3600 and reused["note"] == ""


def test_impact_reuses_the_model(fitted: tuple[Path, Path], tmp_path: Path) -> None:
    history, model = fitted
    code, out, err = invoke(
        "predict", "impact", str(history), "--model", str(model), "--json", "--capacity", "8"
    )
    assert code == 0, err
    got = json.loads(out)
    assert got["model"] == str(model)
    assert {"avg_bsld", "avg_wait"} <= set(got["predictions"])
    assert "in-sample" in got["note"]  # fitted on this very trace


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        ("missing", "does not exist; make a model with: hpcsched predict fit"),
        ("no-json", "model.json: missing"),
        ("bad-json", "model.json: not readable JSON"),
        ("truncated", "runtime.joblib: not a readable model"),
        ("other", "runtime.joblib: holds no runtime bound"),
    ],
)
def test_a_missing_or_damaged_model_is_refused_in_one_line(
    fitted: tuple[Path, Path], tmp_path: Path, damage: str, needle: str
) -> None:
    import shutil

    import joblib

    _, good = fitted
    model = tmp_path / "model"
    if damage != "missing":
        shutil.copytree(good, model)
    if damage == "no-json":
        (model / "model.json").unlink()
    elif damage == "bad-json":
        (model / "model.json").write_text("{not json")
    elif damage == "truncated":
        data = (model / "runtime.joblib").read_bytes()
        (model / "runtime.joblib").write_bytes(data[: len(data) // 2])
    elif damage == "other":
        joblib.dump({"a": 1}, model / "runtime.joblib")
    (tmp_path / "job.sbatch").write_text(SCRIPT)
    for args in (
        [
            "advise",
            str(tmp_path / "job.sbatch"),
            "--site",
            str(EXAMPLE_SITE),
            "--model",
            str(model),
        ],
        ["predict", "impact", str(tmp_path / "job.sbatch"), "--model", str(model)],
    ):
        code, _, err = invoke(*args)
        assert code == 2, err
        assert needle in err and len(err.strip().splitlines()) == 1, err


def test_fit_refuses_a_history_with_nothing_to_learn(tmp_path: Path) -> None:
    write_table(synthetic_jobs(50), tmp_path / "short.parquet", machine_procs=8)
    code, _, err = invoke(
        "predict", "fit", str(tmp_path / "short.parquet"), "--out", str(tmp_path / "m")
    )
    assert code == 2
    assert "only 50 jobs with a known run time, 100 needed" in err
    assert not (tmp_path / "m").exists()


def test_advise_refuses_a_coverage_the_model_was_not_calibrated_for(
    fitted: tuple[Path, Path], tmp_path: Path
) -> None:
    _, model = fitted
    (tmp_path / "job.sbatch").write_text(SCRIPT)
    args = ["advise", str(tmp_path / "job.sbatch"), "--site", str(EXAMPLE_SITE)]
    code, _, err = invoke(*args, "--model", str(model), "--coverage", "0.8")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"--coverage 0.8: the model in {model} bounds 95% of jobs" in err
    code, _, err = invoke(*args)
    assert code == 2 and "give --history FILE" in err


def test_advise_takes_the_models_own_coverage(tmp_path: Path) -> None:
    synthetic_history(tmp_path / "h.parquet", jobs=300)
    fit = ["predict", "fit", str(tmp_path / "h.parquet"), "--out", str(tmp_path / "m90")]
    code, out, err = invoke(*fit, "--coverage", "0.9")
    assert code == 0, err
    (tmp_path / "job.sbatch").write_text(SCRIPT)
    args = ["advise", str(tmp_path / "job.sbatch"), "--site", str(EXAMPLE_SITE), "--json"]
    code, out, err = invoke(*args, "--model", str(tmp_path / "m90"))
    assert code == 0, err  # no --coverage: the model's 90 %, not a refusal of the default 95 %
    assert json.loads(out)["prediction"]["coverage"] == 0.9


def test_impact_plans_with_the_saved_point_prediction(fitted: tuple[Path, Path]) -> None:
    import numpy as np
    import polars as pl

    from hpcsched.predict.impact import PREDICTION_COLUMN, with_saved_predictions
    from hpcsched.predict.saved import load_model

    history, folder = fitted
    table = pl.read_parquet(history).sort("submit")
    saved = load_model(folder)
    got = with_saved_predictions(table, saved)[PREDICTION_COLUMN].to_numpy()
    point = saved.with_history(table).runtime.point(table)
    assert np.allclose(got, np.maximum(point, 1.0))
    assert not np.allclose(got, saved.with_history(table).runtime.upper(table))


def test_impact_names_both_kinds_of_model_when_neither_matches(fitted: tuple[Path, Path]) -> None:
    history, _ = fitted
    code, _, err = invoke("predict", "impact", str(history), "--model", "lightgmb")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--model 'lightgmb' is not one of requested" in err
    assert "nor a model folder (make one with: hpcsched predict fit --out)" in err
