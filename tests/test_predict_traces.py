"""Predictors on real traces: rung 4 exactly, the learned model against the baselines on KTH,
and EASY planned with predictions (VALIDATION.md rungs 3 and 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpcsched.policies.presets import PRESETS
from hpcsched.predict.evaluate import alea_rung4, chronological
from hpcsched.predict.impact import PREDICTION_COLUMN, easy_impact, with_predictions
from hpcsched.sim.simulate import simulate
from hpcsched.workloads.load import load_jobs

RUNG4 = [
    ("KTH-SP2-1996-2.1-cln", 28476, 3879, 189),
    ("SDSC-SP2-1998-4.2-cln", 59715, 5491, 284),
    ("CTC-SP2-1996-3.1-cln", 77222, 7118, 636),
    ("HPC2N-2002-2.2-cln", 202871, 8984, 78),
    ("LANL-CM5-1994-4.1-cln", 122060, 5865, 646),
    ("NASA-iPSC-1993-3.1-cln", 18239, 694, 45),
]
KTH = "KTH-SP2-1996-2.1-cln.swf.gz"


@pytest.mark.parametrize(("trace", "jobs", "mae", "medae"), RUNG4, ids=[r[0] for r in RUNG4])
def test_alea_reproduces_rung4_exactly(
    traces_dir: Path, trace: str, jobs: int, mae: int, medae: int
) -> None:
    m = alea_rung4(load_jobs(traces_dir / f"{trace}.swf.gz", filter_name="none").table)
    assert m["n"] == jobs
    assert (round(m["mae"]), round(m["medae"])) == (mae, medae)


@pytest.mark.slow
def test_lightgbm_beats_both_baselines_on_kth(traces_dir: Path) -> None:
    table = load_jobs(traces_dir / KTH, filter_name="strong").table
    mae = {m: chronological(table, m).metrics()["mae"] for m in ("user-last-two", "alea")}
    learned = chronological(table, "lightgbm")
    assert learned.retrains >= 5
    assert learned.metrics()["mae"] < min(mae.values())


@pytest.mark.slow
def test_easy_with_predictions_on_kth(traces_dir: Path) -> None:
    loaded = load_jobs(traces_dir / KTH, filter_name="strong")
    assert loaded.machine_procs is not None
    result = easy_impact(loaded.table, loaded.machine_procs, "lightgbm")
    user, ours = result["user_estimates"], result["predictions"]
    assert user["avg_bsld"] > 1 and ours["avg_bsld"] > 1 and ours["avg_wait"] > 0
    assert result["estimate_missing"] == 0
    assert user["jobs"] == ours["jobs"] == loaded.table.height
    # the prediction run really planned with the column: it matches neither user estimates
    # nor exact runtimes, and replaying the same column gives the same schedule
    predicted = with_predictions(loaded.table, "lightgbm")
    assert not np.allclose(predicted[PREDICTION_COLUMN], predicted["timelimit"])
    again = simulate(predicted, PRESETS["easy"], loaded.machine_procs, estimate=PREDICTION_COLUMN)
    exact = simulate(predicted, PRESETS["easy"], loaded.machine_procs, estimate="exact")
    assert again.metrics["avg_bsld"] == pytest.approx(ours["avg_bsld"])
    assert again.metrics["avg_bsld"] not in (user["avg_bsld"], exact.metrics["avg_bsld"])
