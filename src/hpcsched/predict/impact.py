"""Scheduling impact of a runtime predictor: EASY planned with predictions vs user estimates.

Tsafrir, Etsion and Feitelson (TPDS 2007) showed that EASY planning with system-generated
predictions, extended when a job outlives its prediction, beats EASY with the users' estimates.
Here the predictions are the chronological ones of :func:`.evaluate.chronological` (each made from
what was known at the job's submit in the real trace), put on the trace as a column; the simulator
plans with that column and extends a prediction that runs out to the job's timelimit (see
``sim/replay.py``). Runtimes are the trace's, so the killed-at-limit rule changes nothing on a
strong-filtered trace (runtime is clipped to the request there, rung 3 of VALIDATION.md).

Caveat: the history features come from the real trace's end times, not the simulated ones; a job
that ends earlier in the simulation than in the trace is not yet visible to the predictor.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from hpcsched.predict.evaluate import Progress, chronological
from hpcsched.sim.simulate import simulate

if TYPE_CHECKING:
    from hpcsched.predict.saved import SavedModel

PREDICTION_COLUMN = "predicted_runtime"
_KEYS = ("jobs", "avg_bsld", "avg_wait", "max_bsld", "utilization")


def with_predictions(
    table: pl.DataFrame, model: str, *, progress: Progress | None = None, **options: Any
) -> pl.DataFrame:
    """``table`` (sorted by submit) with a ``predicted_runtime`` column from ``model``; a
    bound model (``lightgbm-bound``) contributes its upper bound, the others their point."""
    table = table.sort("submit", maintain_order=True)
    evaluation = chronological(table, model, progress=progress, **options)
    values = evaluation.bound if evaluation.bound is not None else evaluation.point
    values = np.where(np.isfinite(values), np.maximum(values, 1.0), np.nan)
    return table.with_columns(pl.Series(PREDICTION_COLUMN, values, dtype=pl.Float64))


def with_saved_predictions(table: pl.DataFrame, saved: SavedModel) -> pl.DataFrame:
    """``table`` (sorted by submit) with the saved model's point prediction of each job's run time
    (its LightGBM model, as ``--model lightgbm``; capped at the timelimit) as
    ``predicted_runtime``: no refit; the history features read the jobs of ``table`` that ended
    before each submit, as a live scheduler would. The point, not the bound: on CTC-SP2 EASY
    planned with the saved 95 % bound had a mean bounded slowdown of 50.8 against 49.6 with the
    users' estimates (bounds are for advise's time limits, where being killed costs the run)."""
    table = table.sort("submit", maintain_order=True)
    values = saved.with_history(table).runtime.point(table)
    values = np.where(np.isfinite(values), np.maximum(values, 1.0), np.nan)
    return table.with_columns(pl.Series(PREDICTION_COLUMN, values, dtype=pl.Float64))


def easy_impact(
    table: pl.DataFrame,
    capacity: int,
    model: str | SavedModel,
    *,
    policy_name: str = "easy",
    progress: Progress | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Avg bsld and wait of EASY with user estimates and with ``model``'s predictions (a model
    name, retrained chronologically, or a saved model, reused as it is)."""
    from hpcsched.policies.registry import get_policy

    policy = get_policy(policy_name)
    started = time.perf_counter()
    if isinstance(model, str):
        predicted = with_predictions(table, model, progress=progress, **options)
    else:
        predicted = with_saved_predictions(table, model)
        model = "saved"
    predict_seconds = time.perf_counter() - started
    user = simulate(predicted, policy, capacity, estimate="requested").metrics
    ours = simulate(predicted, policy, capacity, estimate=PREDICTION_COLUMN).metrics
    return {
        "model": model,
        "policy": policy_name,
        "user_estimates": {k: user.get(k) for k in _KEYS},
        "predictions": {k: ours.get(k) for k in _KEYS},
        "estimate_missing": ours.get("estimate_missing", 0),
        "predict_seconds": round(predict_seconds, 2),
        "bsld_change": (ours["avg_bsld"] - user["avg_bsld"]) / user["avg_bsld"]
        if user.get("avg_bsld")
        else None,
    }
